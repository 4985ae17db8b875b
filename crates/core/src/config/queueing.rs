//! The dial plan's contact-center settings (issue 13), compiled and validated:
//! outbound trunks (`[outbound.NAME]`) for dialling callers back, the callback
//! policy (`[callbacks]`), queue priorities (`[priority]`, `[[numbers]] priority`) and
//! the managers' feature codes (`[features]`). Per-department announcement and
//! callback-key settings live on [`super::Department`] ([`QueueAnnouncements`]).
//!
//! Security: the only numbers Switchboard ever dials out are a caller's own number or
//! one they keyed in for their callback, and every one passes
//! [`OutboundTrunk::check_number`] (digits only, a sane length, an allowed prefix and
//! no denied one), so nobody can make it call a premium-rate number.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::plan::{NumberPattern, Secret, normalize_number};

/// Prompts of the position and wait announcement. Numbers are spoken with
/// [`number_prompts`] (`num_0` … `num_19`, `num_20` … `num_90`).
pub mod prompts {
    /// "You are number"
    pub const POSITION: &str = "queue_position";
    /// "in line."
    pub const IN_LINE: &str = "queue_in_line";
    /// "Your expected wait is less than a minute."
    pub const WAIT_UNDER_A_MINUTE: &str = "queue_wait_less_minute";
    /// "Your expected wait is about"
    pub const WAIT_ABOUT: &str = "queue_wait_about";
    /// "Your expected wait is more than"
    pub const WAIT_MORE_THAN: &str = "queue_wait_more_than";
    /// "minutes."
    pub const MINUTES: &str = "queue_minutes";
    /// "minute."
    pub const MINUTE: &str = "queue_minute";
    /// "To be called back instead of waiting, press"
    pub const CALLBACK_OFFER: &str = "callback_offer";
    /// "We will call you back at"
    pub const CALLBACK_WILL_CALL: &str = "callback_will_call";
    /// "To confirm, press 1. To enter another number, press 2."
    pub const CALLBACK_CONFIRM_OPTIONS: &str = "callback_confirm_options";
    /// "To confirm, press 1."
    pub const CALLBACK_CONFIRM_ONLY: &str = "callback_confirm_only";
    /// "Please enter the number we should call, then press the pound key."
    pub const CALLBACK_ENTER_NUMBER: &str = "callback_enter_number";
    /// "Sorry, we cannot call that number."
    pub const CALLBACK_REFUSED: &str = "callback_number_refused";
    /// "Thank you. You keep your place in line, and we will call you back. Goodbye."
    pub const CALLBACK_QUEUED: &str = "callback_queued";
    /// "plus" (the `+` of a number read back).
    pub const PLUS: &str = "digit_plus";
    /// To the manager: "Callback for"
    pub const WHISPER_FOR: &str = "whisper_callback_for";
    /// To the manager: "The caller is"
    pub const WHISPER_CALLER: &str = "whisper_caller";
    /// To the manager: "The customer could not be reached. We will try again later."
    pub const CUSTOMER_UNREACHABLE: &str = "dialback_unreachable";
    /// Feature-code answers.
    pub const AGENT_PAUSED: &str = "agent_paused";
    pub const AGENT_UNPAUSED: &str = "agent_unpaused";
    pub const AGENT_SIGNED_IN: &str = "agent_signed_in";
    pub const AGENT_SIGNED_OUT: &str = "agent_signed_out";
    pub const AGENT_DND_ON: &str = "agent_dnd_on";
    pub const AGENT_DND_OFF: &str = "agent_dnd_off";

    /// Every prompt an announcing department needs besides the numbers.
    pub const ANNOUNCE: [&str; 7] = [
        POSITION,
        IN_LINE,
        WAIT_UNDER_A_MINUTE,
        WAIT_ABOUT,
        WAIT_MORE_THAN,
        MINUTES,
        MINUTE,
    ];
    /// Every prompt the callback offer needs besides the digits.
    pub const CALLBACK: [&str; 11] = [
        CALLBACK_OFFER,
        CALLBACK_WILL_CALL,
        CALLBACK_CONFIRM_OPTIONS,
        CALLBACK_CONFIRM_ONLY,
        CALLBACK_ENTER_NUMBER,
        CALLBACK_REFUSED,
        CALLBACK_QUEUED,
        PLUS,
        WHISPER_FOR,
        WHISPER_CALLER,
        CUSTOMER_UNREACHABLE,
    ];
}

/// The prompts that say `n` (0 ≤ n ≤ 99): `num_0`…`num_19`, tens `num_20`…`num_90`
/// followed by the unit (`num_40`, `num_2` for 42). Larger numbers are said as 99.
pub fn number_prompts(n: u64) -> Vec<String> {
    let n = n.min(99);
    if n < 20 {
        return vec![format!("num_{n}")];
    }
    let (tens, unit) = (n / 10 * 10, n % 10);
    let mut v = vec![format!("num_{tens}")];
    if unit > 0 {
        v.push(format!("num_{unit}"));
    }
    v
}

/// Every number prompt [`number_prompts`] can name.
pub fn all_number_prompts() -> Vec<String> {
    (0..20)
        .chain((20..100).step_by(10))
        .map(|n| format!("num_{n}"))
        .collect()
}

/// The prompts reading a phone number digit by digit (`+` as "plus").
pub fn digit_prompts(number: &str) -> Vec<String> {
    number
        .chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(format!("digit_{c}")),
            '+' => Some(prompts::PLUS.to_string()),
            '*' => Some("digit_star".to_string()),
            '#' => Some("digit_pound".to_string()),
            _ => None,
        })
        .collect()
}

/// How a queued caller is told their place and wait (per department).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueAnnouncements {
    /// Announce the position on entering the queue and then this often; `None`: never.
    pub every: Option<Duration>,
    /// Include the estimated wait.
    pub wait: bool,
    /// Waits above this are announced as "more than N minutes".
    pub max_minutes: u32,
    /// The key a queued caller presses to be called back instead of waiting
    /// (`None`: no callback offer in this department).
    pub callback_key: Option<char>,
    /// Service level: the share of calls answered within this wait.
    pub service_level: Duration,
    /// Says the department's name in the dial-back whisper (`[departments.X]
    /// name_prompt`).
    pub name_prompt: Option<String>,
}

impl Default for QueueAnnouncements {
    fn default() -> Self {
        Self {
            every: None,
            wait: true,
            max_minutes: 30,
            callback_key: None,
            service_level: Duration::from_secs(20),
            name_prompt: None,
        }
    }
}

/// Transport to an outbound trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundTransport {
    Udp,
    Tcp,
}

/// A number rewrite rule: a dialled number starting with `from` has that prefix
/// replaced by `to` (the first matching rule wins), e.g. `+49` → `0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    pub from: String,
    pub to: String,
}

/// An `[outbound.NAME]` trunk: where dial-back calls go.
#[derive(Debug, Clone)]
pub struct OutboundTrunk {
    pub name: String,
    /// The PBX or carrier's SIP address (IP and port: nothing is looked up).
    pub address: SocketAddr,
    pub transport: OutboundTransport,
    /// Digest credentials for 401/407 challenges on our INVITEs.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The number presented to the customer (From and P-Asserted-Identity).
    pub caller_id: String,
    pub caller_name: Option<String>,
    pub rewrite: Vec<Rewrite>,
    /// A number must start with one of these (empty: any).
    pub allowed_prefixes: Vec<String>,
    /// ... and with none of these (premium rate, short codes).
    pub denied_prefixes: Vec<String>,
    /// How long the customer's phone rings.
    pub ring_timeout: Duration,
}

/// Why a number may not be dialled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberRefused {
    /// Not a phone number (letters, `anonymous`, too short or long).
    NotANumber,
    /// Starts with no allowed prefix.
    NotAllowed,
    /// Starts with a denied prefix.
    Denied(String),
}

impl fmt::Display for NumberRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumberRefused::NotANumber => f.write_str("not a phone number"),
            NumberRefused::NotAllowed => f.write_str("outside the allowed prefixes"),
            NumberRefused::Denied(p) => write!(f, "starts with the denied prefix {p}"),
        }
    }
}

/// Shortest and longest number accepted for a dial-back (E.164 allows 15 digits).
pub const NUMBER_DIGITS: std::ops::RangeInclusive<usize> = 3..=15;

impl OutboundTrunk {
    /// Whether `number` (a caller's number or one they keyed in, as the plan writes
    /// numbers, usually E.164) may be dialled through this trunk; the dial string
    /// after rewriting when it may.
    pub fn check_number(&self, number: &str) -> Result<String, NumberRefused> {
        let n = normalize_number(number);
        let digits = n.strip_prefix('+').unwrap_or(&n);
        if !digits.chars().all(|c| c.is_ascii_digit()) || !NUMBER_DIGITS.contains(&digits.len()) {
            return Err(NumberRefused::NotANumber);
        }
        if let Some(p) = self
            .denied_prefixes
            .iter()
            .find(|p| n.starts_with(p.as_str()))
        {
            return Err(NumberRefused::Denied(p.clone()));
        }
        if !self.allowed_prefixes.is_empty()
            && !self
                .allowed_prefixes
                .iter()
                .any(|p| n.starts_with(p.as_str()))
        {
            return Err(NumberRefused::NotAllowed);
        }
        Ok(self.rewrite(&n))
    }

    /// The number as the trunk wants it dialled (first matching rule).
    pub fn rewrite(&self, number: &str) -> String {
        for r in &self.rewrite {
            if let Some(rest) = number.strip_prefix(r.from.as_str()) {
                return format!("{}{rest}", r.to);
            }
        }
        number.to_string()
    }
}

/// The `[callbacks]` table: how queued callers are called back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackPolicy {
    /// The `[outbound.NAME]` trunk dial-backs go through.
    pub trunk: Option<String>,
    /// Dial-outs to the customer before the request is left open for a person.
    pub attempts: u32,
    /// Wait before the next attempt after busy/no answer, doubled each time.
    pub retry: Duration,
    /// Callers may key in another number than their caller ID.
    pub keyed_numbers: bool,
    /// Country code for keyed-in national numbers (`0301234` → `+49301234`).
    pub country_code: Option<String>,
    /// The manager hears "callback for DEPARTMENT, caller NUMBER" before the customer
    /// is dialled.
    pub whisper: bool,
}

impl Default for CallbackPolicy {
    fn default() -> Self {
        Self {
            trunk: None,
            attempts: 3,
            retry: Duration::from_secs(300),
            keyed_numbers: true,
            country_code: None,
            whisper: true,
        }
    }
}

impl CallbackPolicy {
    /// A keyed-in number in the plan's form: `00…` → `+…`, `0…` → `+CC…` when a
    /// country code is set, else as keyed.
    pub fn keyed_to_number(&self, keyed: &str) -> String {
        if let Some(rest) = keyed.strip_prefix("00") {
            return format!("+{rest}");
        }
        match (&self.country_code, keyed.strip_prefix('0')) {
            (Some(cc), Some(rest)) => format!("+{cc}{rest}"),
            _ => keyed.to_string(),
        }
    }

    /// The back-off before attempt `n + 1` after `n` failed attempts (1-based `n`):
    /// `retry`, then twice that, four times…, capped at a day.
    pub fn backoff(&self, failed: u32) -> Duration {
        let factor = 1u32 << failed.saturating_sub(1).min(10);
        self.retry
            .saturating_mul(factor)
            .min(Duration::from_secs(86_400))
    }
}

/// The `[priority]` table and `[[numbers]] priority`: who is served first in a queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriorityPolicy {
    /// Caller number (exact) or prefix (`+4930*`) → priority, from the plan and the
    /// priority file.
    pub callers: BTreeMap<NumberPattern, u8>,
}

impl PriorityPolicy {
    /// The priority of calls from `caller` (0: none): an exact entry, else the longest
    /// matching prefix.
    pub fn of_caller(&self, caller: &str) -> u8 {
        let n = normalize_number(caller);
        if let Some(p) = self.callers.get(&NumberPattern::Exact(n.clone())) {
            return *p;
        }
        self.callers
            .iter()
            .filter_map(|(pat, p)| match pat {
                NumberPattern::Prefix(pre) if n.starts_with(pre.as_str()) => Some((pre.len(), *p)),
                _ => None,
            })
            .max_by_key(|(len, _)| *len)
            .map_or(0, |(_, p)| p)
    }
}

/// What a feature code dialled from a manager's phone does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeatureAction {
    Pause {
        reason: String,
    },
    Unpause,
    /// Sign in to (or out of) one department's queue, or every one (`None`).
    SignIn {
        department: Option<String>,
        on: bool,
    },
    DoNotDisturb {
        on: bool,
    },
}

/// The `[features]` table: codes a manager dials from their registered phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureCodes {
    pub pause: String,
    pub unpause: String,
    pub sign_in: String,
    pub sign_out: String,
    pub dnd_on: String,
    pub dnd_off: String,
    /// Key after the pause code → reason (`*451` → lunch).
    pub pause_reasons: BTreeMap<char, String>,
    /// The reason of a plain pause code.
    pub default_reason: String,
    /// Key after the sign-in/out code → department (`*471` → sales).
    pub departments: BTreeMap<char, String>,
}

impl Default for FeatureCodes {
    fn default() -> Self {
        Self {
            pause: "*45".into(),
            unpause: "*46".into(),
            sign_in: "*47".into(),
            sign_out: "*48".into(),
            dnd_on: "*78".into(),
            dnd_off: "*79".into(),
            pause_reasons: BTreeMap::new(),
            default_reason: "break".into(),
            departments: BTreeMap::new(),
        }
    }
}

impl FeatureCodes {
    /// What dialling `dialled` does, if it is a feature code: the code alone, or the
    /// pause/sign-in codes followed by one configured key.
    pub fn action(&self, dialled: &str) -> Option<FeatureAction> {
        let d = dialled.trim();
        // Exact codes first: `*46` must not read as `*4` + key.
        if d == self.unpause {
            return Some(FeatureAction::Unpause);
        }
        if d == self.dnd_on {
            return Some(FeatureAction::DoNotDisturb { on: true });
        }
        if d == self.dnd_off {
            return Some(FeatureAction::DoNotDisturb { on: false });
        }
        let one_key = |code: &str| -> Option<Option<char>> {
            let rest = d.strip_prefix(code)?;
            let mut c = rest.chars();
            match (c.next(), c.next()) {
                (None, _) => Some(None),
                (Some(k), None) => Some(Some(k)),
                _ => None,
            }
        };
        if let Some(key) = one_key(&self.pause) {
            let reason = match key {
                None => self.default_reason.clone(),
                Some(k) => self.pause_reasons.get(&k)?.clone(),
            };
            return Some(FeatureAction::Pause { reason });
        }
        for (code, on) in [(&self.sign_in, true), (&self.sign_out, false)] {
            if let Some(key) = one_key(code) {
                let department = match key {
                    None => None,
                    Some(k) => Some(self.departments.get(&k)?.clone()),
                };
                return Some(FeatureAction::SignIn { department, on });
            }
        }
        None
    }

    /// Every code, for the check that none shadows another.
    pub fn all(&self) -> [(&'static str, &str); 6] {
        [
            ("pause", &self.pause),
            ("unpause", &self.unpause),
            ("sign_in", &self.sign_in),
            ("sign_out", &self.sign_out),
            ("dnd_on", &self.dnd_on),
            ("dnd_off", &self.dnd_off),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trunk() -> OutboundTrunk {
        OutboundTrunk {
            name: "pbx".into(),
            address: "127.0.0.1:5080".parse().unwrap(),
            transport: OutboundTransport::Udp,
            username: None,
            password: None,
            caller_id: "+4930100".into(),
            caller_name: None,
            rewrite: vec![Rewrite {
                from: "+49".into(),
                to: "0".into(),
            }],
            allowed_prefixes: vec!["+49".into(), "+43".into()],
            denied_prefixes: vec!["+49900".into(), "+49137".into()],
            ring_timeout: Duration::from_secs(30),
        }
    }

    #[test]
    fn only_allowed_numbers_are_dialled_and_rewritten() {
        let t = trunk();
        assert_eq!(t.check_number("+49 30 1234567"), Ok("0301234567".into()));
        assert_eq!(t.check_number("+43123456"), Ok("+43123456".into()));
        assert_eq!(t.check_number("+1555123"), Err(NumberRefused::NotAllowed));
        assert_eq!(
            t.check_number("+49900123456"),
            Err(NumberRefused::Denied("+49900".into()))
        );
        for bad in [
            "anonymous",
            "",
            "+49",
            "+49301234;x",
            "sip:x@y",
            "+4930123456789012",
        ] {
            assert_eq!(t.check_number(bad), Err(NumberRefused::NotANumber), "{bad}");
        }
    }

    #[test]
    fn keyed_numbers_and_backoff() {
        let p = CallbackPolicy {
            country_code: Some("49".into()),
            retry: Duration::from_secs(60),
            ..CallbackPolicy::default()
        };
        assert_eq!(p.keyed_to_number("0301234"), "+49301234");
        assert_eq!(p.keyed_to_number("0043123"), "+43123");
        assert_eq!(p.keyed_to_number("5551234"), "5551234");
        assert_eq!(p.backoff(1), Duration::from_secs(60));
        assert_eq!(p.backoff(2), Duration::from_secs(120));
        assert_eq!(p.backoff(3), Duration::from_secs(240));
    }

    #[test]
    fn priorities_by_exact_number_then_longest_prefix() {
        let mut p = PriorityPolicy::default();
        p.callers.insert(NumberPattern::parse("+4930111"), 9);
        p.callers.insert(NumberPattern::parse("+4930*"), 3);
        p.callers.insert(NumberPattern::parse("+49*"), 1);
        assert_eq!(p.of_caller("+4930111"), 9);
        assert_eq!(p.of_caller("+4930222"), 3);
        assert_eq!(p.of_caller("+4989"), 1);
        assert_eq!(p.of_caller("+1555"), 0);
    }

    #[test]
    fn numbers_are_spoken_in_words() {
        assert_eq!(number_prompts(7), vec!["num_7"]);
        assert_eq!(number_prompts(19), vec!["num_19"]);
        assert_eq!(number_prompts(20), vec!["num_20"]);
        assert_eq!(number_prompts(42), vec!["num_40", "num_2"]);
        assert_eq!(number_prompts(250), vec!["num_90", "num_9"]);
        assert_eq!(all_number_prompts().len(), 28);
        assert_eq!(
            digit_prompts("+49 1"),
            vec!["digit_plus", "digit_4", "digit_9", "digit_1"]
        );
    }

    #[test]
    fn feature_codes() {
        let mut f = FeatureCodes::default();
        f.pause_reasons.insert('1', "lunch".into());
        f.departments.insert('1', "sales".into());
        assert_eq!(
            f.action("*45"),
            Some(FeatureAction::Pause {
                reason: "break".into()
            })
        );
        assert_eq!(
            f.action("*451"),
            Some(FeatureAction::Pause {
                reason: "lunch".into()
            })
        );
        assert_eq!(f.action("*459"), None);
        assert_eq!(f.action("*46"), Some(FeatureAction::Unpause));
        assert_eq!(
            f.action("*471"),
            Some(FeatureAction::SignIn {
                department: Some("sales".into()),
                on: true
            })
        );
        assert_eq!(
            f.action("*48"),
            Some(FeatureAction::SignIn {
                department: None,
                on: false
            })
        );
        assert_eq!(
            f.action("*78"),
            Some(FeatureAction::DoNotDisturb { on: true })
        );
        assert_eq!(f.action("+15551000"), None);
    }
}
