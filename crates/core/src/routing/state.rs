//! The state the engine reads but never owns: managers' presence and load, queue
//! lengths, the strategies' memory, a caller's history. The caller (the call layer, or
//! a simulation) keeps these and passes them in, which is what keeps the engine pure.

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;

/// One manager as the engine needs to know them right now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagerState {
    /// Their phone has a live registration. Managers with a static `contact` are
    /// reachable without one.
    pub registered: bool,
    /// They set themselves unavailable (break, do-not-disturb).
    pub paused: bool,
    /// Calls they are on now (compared with `max_calls`).
    pub active_calls: u32,
    /// When their last call ended; drives wrap-up and longest-idle.
    pub last_call_end: Option<Timestamp>,
    /// Calls answered today; drives fewest-calls.
    pub calls_today: u32,
    /// Do not disturb: not rung at all, not even for direct calls and returning
    /// callers (a pause only keeps department calls away).
    pub dnd: bool,
    /// Departments whose queue they signed out of (their other departments still
    /// ring them).
    pub signed_out_of: std::collections::BTreeSet<String>,
}

/// Everyone's state plus queue lengths, keyed by name. A manager missing from the map
/// is treated as `ManagerState::default()`: not registered, no calls.
#[derive(Debug, Clone, Default)]
pub struct ManagerStates {
    pub managers: HashMap<String, ManagerState>,
    /// Callers waiting in each department's queue, *not counting* the call being routed.
    pub queued: HashMap<String, u32>,
}

impl ManagerStates {
    pub fn get(&self, manager: &str) -> ManagerState {
        self.managers.get(manager).cloned().unwrap_or_default()
    }

    pub fn set(&mut self, manager: &str, state: ManagerState) {
        self.managers.insert(manager.to_string(), state);
    }

    /// Mutable access, creating a default entry.
    pub fn entry(&mut self, manager: &str) -> &mut ManagerState {
        self.managers.entry(manager.to_string()).or_default()
    }

    pub fn queued(&self, department: &str) -> u32 {
        self.queued.get(department).copied().unwrap_or(0)
    }
}

/// The last time this caller spoke with someone: the store's type, so a lookup result
/// goes straight into the engine.
pub use crate::model::PreviousInteraction;

/// What the engine knows about a call when it decides.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The dialled number: Request-URI user part, falling back to the To user.
    pub dialled: String,
    /// Caller ID (From user part).
    pub caller: String,
    /// Wall-clock time of the decision.
    pub now: Timestamp,
    /// Menu keys already pressed, in order. Empty for a new call; `explain` uses it to
    /// simulate a caller walking the menus.
    pub digits: String,
}

impl CallContext {
    pub fn new(dialled: &str, caller: &str, now: Timestamp) -> Self {
        CallContext {
            dialled: dialled.into(),
            caller: caller.into(),
            now,
            digits: String::new(),
        }
    }

    pub fn with_digits(mut self, digits: &str) -> Self {
        self.digits = digits.into();
        self
    }
}

/// The strategies' memory, kept by the caller across calls: the round-robin position
/// of each department, whom each department offered a call to last, and the random
/// generator. Plain data, so a simulation can seed it and replay a day exactly.
#[derive(Debug, Clone)]
pub struct StrategyState {
    /// Department → index into its member list where the next round starts.
    pub(crate) round_robin: HashMap<String, usize>,
    /// (department, manager) → sequence number of the last offer.
    pub(crate) last_offered: HashMap<(String, String), u64>,
    pub(crate) sequence: u64,
    /// SplitMix64 state: tiny, seedable, good enough to spread calls evenly.
    pub(crate) rng: u64,
}

impl Default for StrategyState {
    fn default() -> Self {
        StrategyState::with_seed(0x5EED_CA11)
    }
}

impl StrategyState {
    /// A state whose `random` strategy draws from a generator seeded with `seed`.
    pub fn with_seed(seed: u64) -> Self {
        StrategyState {
            round_robin: HashMap::new(),
            last_offered: HashMap::new(),
            sequence: 0,
            rng: seed,
        }
    }

    /// SplitMix64 (Steele, Lea, Flood 2014).
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by rejection so no value is favoured.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let n = n.max(1) as u64;
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next_u64();
            if v < zone {
                return (v % n) as usize;
            }
        }
    }
}

/// Managers already rung on this call who declined or did not answer: never rung again
/// for the same call.
pub type Tried = BTreeSet<String>;
