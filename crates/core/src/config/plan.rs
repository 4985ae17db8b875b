//! The compiled, validated dial plan. Only `compile` builds one, so every reference in
//! it names something that exists, every schedule parsed, every prompt was found: the
//! routing engine never re-validates.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;

/// What to do with a call. Written in the file as `menu:main`, `department:sales`,
/// `manager:andrew`, `voicemail:sales`, `play:closed -> voicemail:sales`, `hangup`, and
/// inside menus also `repeat` and `back`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Menu(String),
    Department(String),
    Manager(String),
    Voicemail(String),
    /// Play a prompt, then carry on with `then`.
    Play {
        prompt: String,
        then: Box<Action>,
    },
    Hangup,
    /// Menus only: play the menu again.
    Repeat,
    /// Menus only: return to the menu the caller came from.
    Back,
}

impl Action {
    /// The action after any `play:` prefixes: where the call really goes.
    pub fn target(&self) -> &Action {
        match self {
            Action::Play { then, .. } => then.target(),
            other => other,
        }
    }

    /// The menu this action ends in, if any.
    pub fn menu(&self) -> Option<&str> {
        match self.target() {
            Action::Menu(m) => Some(m),
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    /// The same syntax the file uses, so messages quote actions the way admins write them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Menu(n) => write!(f, "menu:{n}"),
            Action::Department(n) => write!(f, "department:{n}"),
            Action::Manager(n) => write!(f, "manager:{n}"),
            Action::Voicemail(n) => write!(f, "voicemail:{n}"),
            Action::Play { prompt, then } => write!(f, "play:{prompt} -> {then}"),
            Action::Hangup => f.write_str("hangup"),
            Action::Repeat => f.write_str("repeat"),
            Action::Back => f.write_str("back"),
        }
    }
}

/// Why an action string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionSyntaxError {
    #[error("\"{text}\" is not an action")]
    UnknownKind {
        text: String,
        suggestion: Option<String>,
    },
    #[error("\"{text}\" needs a name after the colon, like \"{kind}:sales\"")]
    MissingName { text: String, kind: String },
    #[error(
        "\"{text}\": play must be followed by what happens next, like \"play:{prompt} -> hangup\""
    )]
    PlayWithoutThen { text: String, prompt: String },
}

const KINDS: [&str; 5] = ["menu", "department", "manager", "voicemail", "play"];
const WORDS: [&str; 3] = ["hangup", "repeat", "back"];

impl std::str::FromStr for Action {
    type Err = ActionSyntaxError;

    /// `play:PROMPT -> ACTION` chains: `play:a -> play:b -> hangup`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let (head, rest) = match text.split_once("->") {
            Some((h, r)) => (h.trim(), Some(r.trim())),
            None => (text, None),
        };
        if let Some(word) = WORDS.iter().find(|w| **w == head)
            && rest.is_none()
        {
            return Ok(match *word {
                "hangup" => Action::Hangup,
                "repeat" => Action::Repeat,
                _ => Action::Back,
            });
        }
        let Some((kind, name)) = head.split_once(':') else {
            let suggestion =
                super::diagnostic::suggest(head, WORDS.into_iter().chain(KINDS)).map(|w| {
                    if KINDS.contains(&w) {
                        format!("{w}:NAME")
                    } else {
                        w.to_string()
                    }
                });
            return Err(ActionSyntaxError::UnknownKind {
                text: text.into(),
                suggestion,
            });
        };
        let (kind, name) = (kind.trim(), name.trim());
        if !KINDS.contains(&kind) {
            let suggestion = super::diagnostic::suggest(kind, KINDS).map(|k| format!("{k}:{name}"));
            return Err(ActionSyntaxError::UnknownKind {
                text: text.into(),
                suggestion,
            });
        }
        if name.is_empty() {
            return Err(ActionSyntaxError::MissingName {
                text: text.into(),
                kind: kind.into(),
            });
        }
        let name = name.to_string();
        let action = match kind {
            "menu" => Action::Menu(name),
            "department" => Action::Department(name),
            "manager" => Action::Manager(name),
            "voicemail" => Action::Voicemail(name),
            _ => {
                let Some(rest) = rest else {
                    return Err(ActionSyntaxError::PlayWithoutThen {
                        text: text.into(),
                        prompt: name,
                    });
                };
                return Ok(Action::Play {
                    prompt: name,
                    then: Box::new(rest.parse()?),
                });
            }
        };
        match rest {
            None => Ok(action),
            Some(_) => Err(ActionSyntaxError::UnknownKind {
                text: text.into(),
                suggestion: None,
            }),
        }
    }
}

/// Which dialled numbers a `[[numbers]]` entry matches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum NumberPattern {
    /// `"+15551000"`: exactly this number (after dropping visual separators).
    Exact(String),
    /// `"+4930*"`: any number starting with this; the longest prefix wins.
    Prefix(String),
    /// `"*"`: every number nothing else matched.
    Any,
}

impl NumberPattern {
    pub fn parse(text: &str) -> NumberPattern {
        let n = normalize_number(text);
        if n == "*" {
            NumberPattern::Any
        } else if let Some(prefix) = n.strip_suffix('*') {
            NumberPattern::Prefix(prefix.to_string())
        } else {
            NumberPattern::Exact(n)
        }
    }
}

impl fmt::Display for NumberPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumberPattern::Exact(n) => f.write_str(n),
            NumberPattern::Prefix(p) => write!(f, "{p}*"),
            NumberPattern::Any => f.write_str("*"),
        }
    }
}

/// Drops the visual separators RFC 3966 §5.1.1 allows in phone numbers (`-`, `.`, `(`,
/// `)`, spaces), so `+1 555-1000` and `+15551000` are the same number.
pub fn normalize_number(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect()
}

/// A `[[numbers]]` entry.
#[derive(Debug, Clone)]
pub struct NumberRoute {
    pub pattern: NumberPattern,
    /// Campaign/source label, recorded with every call (defaults to the number).
    pub source: String,
    pub action: Action,
    /// Overrides `[history] enabled` for calls to this number.
    pub history: Option<bool>,
    /// Outside these hours the call goes to `after_hours` instead of `action`.
    pub hours: Option<String>,
    pub after_hours: Action,
    /// Line in the config file, for explanations.
    pub line: usize,
    /// Queue priority of calls to this number (higher is served first).
    pub priority: u8,
    /// Conversations of calls to this number are recorded (`[recording]`).
    pub record: bool,
}

#[derive(Debug, Clone)]
pub struct Menu {
    pub name: String,
    pub prompt: String,
    /// Key (`0`–`9`, `*`, `#`, `A`–`D`) → action.
    pub options: BTreeMap<char, Action>,
    /// How long to wait for a key after the prompt ends.
    pub timeout: Duration,
    /// How many more times the menu is offered after a wrong key or silence.
    pub retries: u32,
    pub invalid_prompt: Option<String>,
    pub timeout_prompt: Option<String>,
    /// Where the call goes once the retries are used up.
    pub on_failure: Action,
    /// Keys pressed during `play:` prompts that lead into this menu count for it (like
    /// Asterisk's `Background()`): callers who know the menu press ahead. On by default.
    pub type_ahead: bool,
}

/// How a department picks whom to ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Ring every free member at once; the first to answer gets the call.
    RingAll,
    /// Take turns in member order, remembering where the last call stopped.
    RoundRobin,
    /// The member this department offered a call to least recently.
    LeastRecent,
    /// The member with the fewest calls today.
    FewestCalls,
    /// The member whose last call (from any department) ended longest ago.
    LongestIdle,
    /// A random free member.
    Random,
    /// Members with the most of the department's `skills` first, longest idle among
    /// equals; members without the skills are the fallback.
    Skills,
}

impl Strategy {
    pub const NAMES: [&'static str; 7] = [
        "ring-all",
        "round-robin",
        "least-recent",
        "fewest-calls",
        "longest-idle",
        "random",
        "skills",
    ];

    pub fn parse(s: &str) -> Option<Strategy> {
        Some(match s {
            "ring-all" => Strategy::RingAll,
            "round-robin" => Strategy::RoundRobin,
            "least-recent" => Strategy::LeastRecent,
            "fewest-calls" => Strategy::FewestCalls,
            "longest-idle" => Strategy::LongestIdle,
            "random" => Strategy::Random,
            "skills" => Strategy::Skills,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Strategy::RingAll => "ring-all",
            Strategy::RoundRobin => "round-robin",
            Strategy::LeastRecent => "least-recent",
            Strategy::FewestCalls => "fewest-calls",
            Strategy::LongestIdle => "longest-idle",
            Strategy::Random => "random",
            Strategy::Skills => "skills",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Department {
    pub name: String,
    /// Manager names, in the order the file lists them (round-robin follows it).
    pub members: Vec<String>,
    pub strategy: Strategy,
    pub skills: Vec<String>,
    /// How long each member rings before the next one is tried.
    pub ring_timeout: Duration,
    /// How long a caller waits in the queue before `overflow`.
    pub queue_timeout: Duration,
    /// Callers beyond this many waiting go straight to `overflow`.
    pub max_waiting: u32,
    pub hold_prompt: Option<String>,
    pub overflow: Action,
    pub hours: Option<String>,
    pub after_hours: Action,
    /// After a call ends a member gets this long before the next one.
    pub wrap_up: Duration,
    pub history: Option<bool>,
    /// Position/wait announcements, the callback key, the service-level target.
    pub queue: super::queueing::QueueAnnouncements,
    /// Conversations with this department's members are recorded (`[recording]`).
    pub record: bool,
    /// Who is mailed about this department's voicemails and callback requests
    /// (`[email] to` when empty).
    pub email: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Manager {
    /// The key in `[managers.NAME]`.
    pub name: String,
    pub display_name: String,
    pub extension: Option<String>,
    /// A fixed SIP URI; `None` means the manager's phone registers with Switchboard.
    pub contact: Option<String>,
    pub skills: Vec<String>,
    pub max_calls: u32,
    pub hours: Option<String>,
    /// How long a direct call (`manager:NAME`, returning caller) rings.
    pub ring_timeout: Duration,
    /// Where a direct call goes when this manager cannot take it.
    pub unavailable: Action,
    /// The digest login of their phone when it differs from the extension.
    pub username: Option<String>,
    /// The digest password of their phone; without one the phone cannot register.
    pub password: Option<Secret>,
    /// SRTP for calls to their phones; `None` follows `[server] srtp`.
    pub srtp: Option<crate::media::srtp::SrtpPolicy>,
}

impl Manager {
    /// The name the phone authenticates (and registers) with: `username`, else the
    /// extension.
    pub fn login(&self) -> Option<&str> {
        self.username.as_deref().or(self.extension.as_deref())
    }
}

/// A password from the config: kept out of `Debug` output so it never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A local wall-clock range within one day, `[start, end)` in seconds since midnight;
/// `end` may be 86 400 (`24:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeRange {
    pub start: u32,
    pub end: u32,
}

impl TimeRange {
    pub fn contains(&self, second_of_day: u32) -> bool {
        self.start <= second_of_day && second_of_day < self.end
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hm = |s: u32| (s / 3600, s % 3600 / 60);
        let ((h1, m1), (h2, m2)) = (hm(self.start), hm(self.end));
        write!(f, "{h1:02}:{m1:02}-{h2:02}:{m2:02}")
    }
}

/// An `[hours.NAME]` schedule. Ranges are local wall-clock time in `timezone`, so a
/// 09:00 opening stays 09:00 across daylight-saving changes.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    pub timezone: TimeZone,
    /// Monday first; sorted, non-overlapping.
    pub weekly: [Vec<TimeRange>; 7],
    /// Closed all day.
    pub holidays: BTreeSet<Date>,
    /// Dates with their own hours (an empty list means closed).
    pub special: BTreeMap<Date, Vec<TimeRange>>,
}

/// The `[transfer]` table: the DTMF feature code a manager presses during a call to
/// pass the caller on (`*2` then a key), and what each key transfers to.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferPolicy {
    /// Pressed first, e.g. `*2`.
    pub code: String,
    /// Key → target (`department:NAME` or `manager:NAME`).
    pub keys: BTreeMap<char, Action>,
    /// Longest pause between the keys of a feature code. Meanwhile the manager's keys
    /// are held back from the caller; a pause this long releases them to the caller.
    pub digit_timeout: std::time::Duration,
}

impl Default for TransferPolicy {
    fn default() -> Self {
        Self {
            code: "*2".into(),
            keys: BTreeMap::new(),
            digit_timeout: Self::DEFAULT_DIGIT_TIMEOUT,
        }
    }
}

impl TransferPolicy {
    pub const DEFAULT_DIGIT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(2000);
    /// The accepted range of `digit_timeout_ms`: at least the media plane's check
    /// interval of a bridged leg (1 s), so held keys are released on time.
    pub const DIGIT_TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 1000..=10_000;

    /// The complete feature codes a manager can dial: `code` followed by each key
    /// (`*21`, `*22`, …). Empty when no key is configured (then nothing is held back).
    pub fn feature_codes(&self) -> Vec<String> {
        self.keys
            .keys()
            .map(|k| format!("{}{k}", self.code))
            .collect()
    }
}

/// The `[alerts]` table: missed work that must not go unnoticed.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertPolicy {
    /// A callback request still not done this long after the call.
    pub callback_within: Option<std::time::Duration>,
    /// A manager who missed (did not answer or declined) this many calls today.
    pub manager_missed_per_day: Option<u32>,
    /// Whose "today": the plan's business time zone.
    pub timezone: jiff::tz::TimeZone,
    /// Also send each new alert to the webhook (`[server] webhook_url`).
    pub webhook: bool,
    /// How often the thresholds are checked.
    pub check_every: std::time::Duration,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        Self {
            callback_within: None,
            manager_missed_per_day: None,
            timezone: jiff::tz::TimeZone::UTC,
            webhook: true,
            check_every: std::time::Duration::from_secs(60),
        }
    }
}

/// The `[history]` table: returning callers go back to the manager they spoke with.
#[derive(Debug, Clone)]
pub struct HistoryPolicy {
    pub enabled: bool,
    /// Interactions older than this are ignored.
    pub lookback: Duration,
    /// How long to wait for that manager to become free before falling back.
    pub wait: Duration,
    /// `None`: fall back to the normal route of the number; otherwise this action.
    pub on_unavailable: Option<Action>,
}

impl Default for HistoryPolicy {
    fn default() -> Self {
        HistoryPolicy {
            enabled: false,
            lookback: Duration::from_secs(90 * 86_400),
            wait: Duration::from_secs(20),
            on_unavailable: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Voicemail {
    pub name: String,
    pub greeting: Option<String>,
    pub max_duration: Duration,
}

/// The validated plan the engine routes with.
#[derive(Debug, Clone, Default)]
pub struct DialPlan {
    /// In file order.
    pub numbers: Vec<NumberRoute>,
    pub menus: BTreeMap<String, Menu>,
    pub departments: BTreeMap<String, Department>,
    pub managers: BTreeMap<String, Manager>,
    pub hours: BTreeMap<String, Schedule>,
    pub voicemail: BTreeMap<String, Voicemail>,
    pub history: HistoryPolicy,
    pub transfer: TransferPolicy,
    pub alerts: AlertPolicy,
    /// `[lookup]`, `[recording]`, `[email]`.
    pub integrations: super::integrations::Integrations,
    /// Every prompt name the plan uses, for the prompt loader.
    pub prompts: BTreeSet<String>,
    /// `[outbound.NAME]` trunks for dial-back calls.
    pub outbound: BTreeMap<String, super::queueing::OutboundTrunk>,
    /// `[callbacks]`: how queued callers are called back.
    pub callbacks: super::queueing::CallbackPolicy,
    /// `[priority]`: callers served first.
    pub priority: super::queueing::PriorityPolicy,
    /// `[features]`: the managers' feature codes.
    pub features: super::queueing::FeatureCodes,
}

impl DialPlan {
    /// A call's queue priority: the highest of its dialled number's `priority` and
    /// its caller's `[priority]` entry (0 = ordinary).
    pub fn priority_of(&self, caller: &str, dialled: &str) -> u8 {
        let by_number = self.number_route(dialled).map_or(0, |r| r.priority);
        by_number.max(self.priority.of_caller(caller))
    }

    /// The outbound trunk dial-backs use, when callbacks are set up.
    pub fn callback_trunk(&self) -> Option<&super::queueing::OutboundTrunk> {
        self.callbacks
            .trunk
            .as_deref()
            .and_then(|t| self.outbound.get(t))
    }

    /// The route for a dialled number: an exact match, else the longest matching
    /// prefix, else the catch-all.
    pub fn number_route(&self, dialled: &str) -> Option<&NumberRoute> {
        let n = normalize_number(dialled);
        let exact = self
            .numbers
            .iter()
            .find(|r| r.pattern == NumberPattern::Exact(n.clone()));
        exact
            .or_else(|| {
                self.numbers
                    .iter()
                    .filter_map(|r| match &r.pattern {
                        NumberPattern::Prefix(p) if n.starts_with(p.as_str()) => Some((p.len(), r)),
                        _ => None,
                    })
                    .max_by_key(|(len, _)| *len)
                    .map(|(_, r)| r)
            })
            .or_else(|| {
                self.numbers
                    .iter()
                    .find(|r| r.pattern == NumberPattern::Any)
            })
    }

    /// The manager whose extension (or name) is `user`, e.g. from a REGISTER.
    pub fn manager_by_extension(&self, user: &str) -> Option<&Manager> {
        self.managers
            .values()
            .find(|m| m.extension.as_deref() == Some(user))
            .or_else(|| self.managers.get(user))
    }

    /// Login users for the registrar: every manager with a password, by their
    /// username (default: their extension). Built here, not in the registrar, so the
    /// registrar stays below the configuration that describes it.
    pub fn login_users(&self) -> crate::registrar::Users {
        self.managers
            .values()
            .filter_map(|m| {
                let password = m.password.as_ref()?;
                let login = m.login()?;
                Some((
                    login.to_string(),
                    (m.name.clone(), password.expose().to_string()),
                ))
            })
            .collect()
    }

    /// The manager named `name` (`[managers.NAME]`), for everything that takes a
    /// manager from a person (CLI `callbacks claim/done`, the admin API): a typo is
    /// refused with a suggestion instead of being written into the queue.
    pub fn known_manager(&self, name: &str) -> Result<&Manager, UnknownName> {
        self.managers
            .get(name)
            .ok_or_else(|| UnknownName::new("manager", name, self.managers.keys()))
    }

    /// The department named `name` (`[departments.NAME]`), e.g. a `--department`
    /// filter: a typo is an error with a suggestion, not an empty list.
    pub fn known_department(&self, name: &str) -> Result<&Department, UnknownName> {
        self.departments
            .get(name)
            .ok_or_else(|| UnknownName::new("department", name, self.departments.keys()))
    }
}

/// A name typed by a person that the plan does not know, with the closest one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("there is no {kind} \"{name}\" in the dial plan{suggestion}; the {kind}s are: {known}")]
pub struct UnknownName {
    pub kind: &'static str,
    pub name: String,
    /// ` (did you mean "sales"?)` or empty.
    pub suggestion: String,
    /// The known names, comma-separated.
    pub known: String,
}

impl UnknownName {
    fn new<'a>(
        kind: &'static str,
        name: &str,
        known: impl Iterator<Item = &'a String> + Clone,
    ) -> Self {
        UnknownName {
            kind,
            name: name.to_string(),
            suggestion: super::diagnostic::did_you_mean(name, known.clone().map(String::as_str)),
            known: known.map(String::as_str).collect::<Vec<_>>().join(", "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_syntax_round_trips() {
        for text in [
            "menu:main",
            "department:sales",
            "manager:andrew",
            "voicemail:sales",
            "hangup",
            "repeat",
            "back",
            "play:closed -> voicemail:sales",
            "play:a -> play:b -> hangup",
        ] {
            let a: Action = text.parse().unwrap();
            assert_eq!(a.to_string(), text);
        }
        assert_eq!(
            "play:closed->hangup".parse::<Action>().unwrap(),
            Action::Play {
                prompt: "closed".into(),
                then: Box::new(Action::Hangup)
            }
        );
    }

    #[test]
    fn action_syntax_errors() {
        let e = "departmnt:sales".parse::<Action>().unwrap_err();
        assert_eq!(
            e,
            ActionSyntaxError::UnknownKind {
                text: "departmnt:sales".into(),
                suggestion: Some("department:sales".into())
            }
        );
        assert!(matches!(
            "menu:".parse::<Action>(),
            Err(ActionSyntaxError::MissingName { .. })
        ));
        assert!(matches!(
            "play:x".parse::<Action>(),
            Err(ActionSyntaxError::PlayWithoutThen { .. })
        ));
        assert!("hangup -> menu:a".parse::<Action>().is_err());
        assert!("menu:a -> hangup".parse::<Action>().is_err());
    }

    #[test]
    fn number_patterns() {
        assert_eq!(
            NumberPattern::parse("+1 555-1000"),
            NumberPattern::Exact("+15551000".into())
        );
        assert_eq!(
            NumberPattern::parse("+4930*"),
            NumberPattern::Prefix("+4930".into())
        );
        assert_eq!(NumberPattern::parse("*"), NumberPattern::Any);
    }
}
