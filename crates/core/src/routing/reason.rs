//! Why the engine decided what it did, as typed values.
//!
//! Every decision carries a [`Reason`]: the chain of facts that led to it, each a
//! [`Why`]. Behaviour reads the typed facts ([`Reason::after_hours`],
//! [`Reason::overflow`]); only logs, call records and `switchboard explain` print them
//! (their `Display` is the one-line story an admin reads). Rewording a message can
//! therefore never change what a call does or what is stored about it.

use std::fmt;

use crate::config::Action;

/// Why a department overflowed instead of ringing or queueing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverflowCause {
    /// Nobody in the department can take the call: none signed in, all already tried
    /// on this call, off hours, or no members at all.
    NobodyAvailable,
    /// Everyone is busy and `max_waiting` callers already wait.
    QueueFull,
    /// The caller waited `queue_timeout` in the queue.
    QueueTimeout,
}

/// One fact in a decision's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// The dialled number matched an entry of `[numbers]` (`pattern: None`: the
    /// catch-all `*`).
    NumberMatched {
        number: String,
        pattern: Option<String>,
        source: String,
    },
    /// No entry for the dialled number and no catch-all.
    NoRoute { number: String },
    /// The number's own hours are closed.
    NumberClosed { state: String, action: Action },
    /// A department's hours are closed.
    DepartmentClosed {
        department: String,
        state: String,
        action: Action,
    },
    /// The plan's action that runs next.
    Then(Action),
    /// A menu, department, manager or mailbox named in the plan does not exist.
    Missing { kind: &'static str, name: String },
    /// After-hours/unavailable actions refer to each other.
    Circular,
    /// A manager named directly cannot take calls now.
    ManagerUnavailable {
        manager: String,
        availability: String,
        action: Action,
    },
    /// Returning-caller routing and what it decided.
    Returning(Returning),
    /// What a key (or its absence) did in a menu.
    Menu(MenuWhy),
    /// A department is ringing `managers`.
    Ringing {
        department: String,
        strategy: &'static str,
        note: String,
        all_at_once: bool,
        managers: Vec<String>,
    },
    /// Everyone reachable is busy: the caller queues.
    Queueing {
        department: String,
        busy: Vec<String>,
        position: u32,
        timeout_secs: u64,
    },
    /// Nobody in the department can take the call: it overflows. `detail` lists who
    /// is unreachable and who was already tried (empty, or `: it has no members`).
    OverflowNobody {
        department: String,
        detail: String,
        action: Action,
    },
    /// Everyone is busy and the queue is full: it overflows.
    OverflowQueueFull {
        department: String,
        busy: Vec<String>,
        waiting: u32,
        max_waiting: u32,
        action: Action,
    },
    /// The caller waited the whole `queue_timeout`: it overflows.
    QueueTimedOut {
        department: String,
        secs: u64,
        action: Action,
    },
    /// A direct connect to one manager ended without them.
    ManagerMissed {
        manager: String,
        how: ManagerMiss,
        fallback: String,
    },
    /// A manager passed the call on.
    TransferredBy { manager: String },
    /// What the CRM's answer did (`[lookup]`).
    Crm(CrmWhy),
}

/// How a direct connect to one manager failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagerMiss {
    /// Rung, but did not answer (or declined, or was busy at the phone).
    DidNotAnswer,
    /// No phone address to ring.
    Unreachable,
    /// Not available (offline, paused, off hours) or still busy after the wait.
    Unavailable(String),
    /// Waited for them to be free until the wait ran out.
    WaitOver,
}

/// What returning-caller routing found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Returning {
    /// History exists but the feature is off for this number/department.
    Off { manager: String, ago: String },
    /// The last interaction is older than the lookback.
    TooOld {
        manager: String,
        ago: String,
        lookback_days: u64,
    },
    /// That manager left the plan.
    Gone { manager: String, ago: String },
    /// That manager is unreachable (offline, paused, off hours): fall back at once.
    Unreachable {
        manager: String,
        ago: String,
        availability: String,
        fallback: Action,
    },
    /// Back to the same manager (waiting up to `wait_secs` if they are occupied).
    ToManager {
        manager: String,
        ago: String,
        /// Set when the manager is busy or in wrap-up now.
        occupied: Option<String>,
        wait_secs: u64,
        fallback: Action,
    },
}

/// What happened in a menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuWhy {
    OutsideMenu,
    Repeat {
        menu: String,
        key: char,
    },
    Back {
        menu: String,
        key: char,
        to: String,
    },
    BackAtFirst {
        menu: String,
        key: char,
    },
    Chose {
        menu: String,
        key: char,
        action: Action,
    },
    /// A wrong key or no key; `gave_up` when the retries are used up.
    Failed {
        menu: String,
        /// `Some(key)`: not an option; `None`: no key within `timeout_secs`.
        key: Option<char>,
        timeout_secs: u64,
        attempt: u32,
        attempts: u32,
        gave_up: Option<Action>,
    },
}

/// The facts behind a decision, in the order they were established.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reason(pub Vec<Why>);

impl Reason {
    pub fn new() -> Self {
        Reason(Vec::new())
    }

    pub fn one(why: Why) -> Self {
        Reason(vec![why])
    }

    pub fn push(&mut self, why: Why) {
        self.0.push(why);
    }

    pub fn extend(&mut self, other: Reason) {
        self.0.extend(other.0);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn facts(&self) -> &[Why] {
        &self.0
    }

    /// The call met closed hours (of its number or a department) on the way.
    pub fn after_hours(&self) -> bool {
        self.0
            .iter()
            .any(|w| matches!(w, Why::NumberClosed { .. } | Why::DepartmentClosed { .. }))
    }

    /// Why a department overflowed, when it did.
    pub fn overflow(&self) -> Option<OverflowCause> {
        self.0.iter().rev().find_map(|w| match w {
            Why::OverflowNobody { .. } => Some(OverflowCause::NobodyAvailable),
            Why::OverflowQueueFull { .. } => Some(OverflowCause::QueueFull),
            Why::QueueTimedOut { .. } => Some(OverflowCause::QueueTimeout),
            _ => None,
        })
    }

    /// The number has no route at all (the call is refused before answering).
    pub fn no_route(&self) -> bool {
        self.0.iter().any(|w| matches!(w, Why::NoRoute { .. }))
    }

    /// The caller was sent back to a manager they spoke with before.
    pub fn returning(&self) -> Option<&Returning> {
        self.0.iter().find_map(|w| match w {
            Why::Returning(r) => Some(r),
            _ => None,
        })
    }
}

impl From<Why> for Reason {
    fn from(why: Why) -> Self {
        Reason::one(why)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, why) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{why}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::NumberMatched {
                number,
                pattern: None,
                source,
            } => write!(
                f,
                "number \"{number}\" matched the catch-all entry (source \"{source}\")"
            ),
            Why::NumberMatched {
                number,
                pattern: Some(p),
                source,
            } => write!(
                f,
                "number \"{number}\" matched \"{p}\" (source \"{source}\")"
            ),
            Why::NoRoute { number } => write!(
                f,
                "number \"{number}\" is not in the dial plan and there is no catch-all (\"*\") \
                 entry; rejecting the call"
            ),
            Why::NumberClosed { state, action } => {
                write!(f, "the number is {state} → after hours: {action}")
            }
            Why::DepartmentClosed {
                department,
                state,
                action,
            } => write!(
                f,
                "department \"{department}\" is {state} → after hours: {action}"
            ),
            Why::Then(action) => write!(f, "→ {action}"),
            Why::Missing { kind, name } => {
                write!(f, "{kind} \"{name}\" is not in the plan; hanging up")
            }
            Why::Circular => f.write_str(
                "after-hours/unavailable actions point at each other in a circle; hanging up",
            ),
            Why::ManagerUnavailable {
                manager,
                availability,
                action,
            } => write!(f, "manager \"{manager}\" is {availability} → {action}"),
            Why::Returning(r) => write!(f, "{r}"),
            Why::Menu(m) => write!(f, "{m}"),
            Why::Ringing {
                department,
                strategy,
                note,
                all_at_once,
                managers,
            } => write!(
                f,
                "department \"{department}\" ({strategy}{note}): {}: {}",
                if *all_at_once {
                    "ringing all at once"
                } else {
                    "ringing in order"
                },
                managers.join(", ")
            ),
            Why::Queueing {
                department,
                busy,
                position,
                timeout_secs,
            } => write!(
                f,
                "everyone in department \"{department}\" is busy ({}); queueing as caller \
                 {position} for up to {timeout_secs} s",
                busy.join(", ")
            ),
            Why::OverflowNobody {
                department,
                detail,
                action,
            } => write!(
                f,
                "nobody in department \"{department}\" can take the call{detail} → overflow: \
                 {action}"
            ),
            Why::OverflowQueueFull {
                department,
                busy,
                waiting,
                max_waiting,
                action,
            } => write!(
                f,
                "everyone in department \"{department}\" is busy ({}) and the queue is full \
                 ({waiting} waiting, max_waiting = {max_waiting}) → overflow: {action}",
                busy.join(", ")
            ),
            Why::QueueTimedOut {
                department,
                secs,
                action,
            } => write!(
                f,
                "waited {secs} s in the \"{department}\" queue → overflow: {action}"
            ),
            Why::ManagerMissed {
                manager,
                how,
                fallback,
            } => match how {
                ManagerMiss::DidNotAnswer => {
                    write!(f, "{manager} did not take the call → {fallback}")
                }
                ManagerMiss::Unreachable => {
                    write!(f, "{manager}'s phone cannot be reached → {fallback}")
                }
                ManagerMiss::Unavailable(why) => write!(f, "{manager} is {why} → {fallback}"),
                ManagerMiss::WaitOver => {
                    write!(f, "waited for {manager} to be free → {fallback}")
                }
            },
            Why::TransferredBy { manager } => write!(f, "transferred by {manager}"),
            Why::Crm(c) => write!(f, "{c}"),
        }
    }
}

impl fmt::Display for Returning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Returning::Off { manager, ago } => write!(
                f,
                "caller spoke with {manager} {ago}, but returning-caller routing is off for \
                 this call"
            ),
            Returning::TooOld {
                manager,
                ago,
                lookback_days,
            } => write!(
                f,
                "returning caller: last spoke with {manager} {ago}, longer ago than the \
                 {lookback_days}-day lookback; normal routing"
            ),
            Returning::Gone { manager, ago } => write!(
                f,
                "returning caller: spoke with {manager} {ago}, but {manager} is no longer in \
                 the dial plan; normal routing"
            ),
            Returning::Unreachable {
                manager,
                ago,
                availability,
                fallback,
            } => write!(
                f,
                "returning caller: spoke with {manager} {ago}, but {manager} is \
                 {availability}; falling back at once → {fallback}"
            ),
            Returning::ToManager {
                manager,
                ago,
                occupied,
                wait_secs,
                fallback,
            } => {
                write!(f, "returning caller: spoke with {manager} {ago}")?;
                if let Some(a) = occupied {
                    write!(
                        f,
                        "; {manager} is {a}, waiting up to {wait_secs} s, then {fallback}"
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for MenuWhy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MenuWhy::OutsideMenu => f.write_str("a key arrived outside any menu; hanging up"),
            MenuWhy::Repeat { menu, key } => {
                write!(f, "menu \"{menu}\": caller pressed {key} → repeat the menu")
            }
            MenuWhy::Back { menu, key, to } => write!(
                f,
                "menu \"{menu}\": caller pressed {key} → back to menu \"{to}\""
            ),
            MenuWhy::BackAtFirst { menu, key } => write!(
                f,
                "menu \"{menu}\": caller pressed {key} (back), but this is the first menu; \
                 playing it again"
            ),
            MenuWhy::Chose { menu, key, action } => {
                write!(f, "menu \"{menu}\": caller pressed {key} → {action}")
            }
            MenuWhy::Failed {
                menu,
                key,
                timeout_secs,
                attempt,
                attempts,
                gave_up,
            } => {
                write!(f, "menu \"{menu}\": ")?;
                match key {
                    Some(k) => write!(f, "{k} is not an option")?,
                    None => write!(f, "no key within {timeout_secs} s")?,
                }
                match gave_up {
                    Some(action) => {
                        write!(f, "; no valid choice after {attempts} tries → {action}")
                    }
                    None => write!(f, " (try {attempt} of {attempts}); playing the menu again"),
                }
            }
        }
    }
}

/// What the CRM answer did to a call's routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrmWhy {
    /// The CRM named a department of the plan: the call goes there.
    Department { department: String },
    /// The CRM named a department the plan does not have: ignored.
    DepartmentUnknown { name: String },
    /// The owner is rung first (waiting up to `wait_secs` while they are occupied).
    Owner {
        manager: String,
        occupied: Option<String>,
        wait_secs: u64,
        fallback: Action,
    },
    /// The owner cannot take calls now: the normal route at once.
    OwnerUnreachable {
        manager: String,
        availability: String,
        fallback: Action,
    },
    /// The CRM named an owner who is not a manager of the plan: ignored.
    OwnerUnknown { name: String },
}

impl fmt::Display for CrmWhy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrmWhy::Department { department } => {
                write!(
                    f,
                    "the CRM sends this caller to department \"{department}\""
                )
            }
            CrmWhy::DepartmentUnknown { name } => write!(
                f,
                "the CRM named department \"{name}\", which is not in the dial plan; ignored"
            ),
            CrmWhy::Owner {
                manager,
                occupied,
                wait_secs,
                fallback,
            } => {
                write!(
                    f,
                    "the CRM says {manager} owns this caller: ringing them first"
                )?;
                if let Some(a) = occupied {
                    write!(f, "; {manager} is {a}, waiting up to {wait_secs} s")?;
                }
                write!(f, ", then {fallback}")
            }
            CrmWhy::OwnerUnreachable {
                manager,
                availability,
                fallback,
            } => write!(
                f,
                "the CRM says {manager} owns this caller, but {manager} is {availability} → \
                 {fallback}"
            ),
            CrmWhy::OwnerUnknown { name } => write!(
                f,
                "the CRM named owner \"{name}\", who is not a manager in the dial plan; ignored"
            ),
        }
    }
}
