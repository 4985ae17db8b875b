//! The config file exactly as written: serde types with spans, so the compiler can say
//! on which line a mistake is. Nothing here is validated; see `compile` for that.
//! Every table denies unknown keys, so a typo such as `promt` is an error with a line
//! number rather than a silently ignored setting.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::ServerConfig;

pub(crate) type Text = Spanned<String>;
pub(crate) type Named<T> = BTreeMap<Text, Spanned<T>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub store: super::StoreConfig,
    #[serde(default)]
    pub numbers: Vec<Spanned<RawNumber>>,
    #[serde(default)]
    pub menus: Named<RawMenu>,
    #[serde(default)]
    pub departments: Named<RawDepartment>,
    #[serde(default)]
    pub managers: Named<RawManager>,
    #[serde(default)]
    pub hours: Named<RawHours>,
    #[serde(default)]
    pub voicemail: Named<RawVoicemail>,
    pub history: Option<Spanned<RawHistory>>,
    pub transfer: Option<Spanned<RawTransfer>>,
    pub alerts: Option<Spanned<RawAlerts>>,
    // ---- issue 13: queues, callbacks, outbound trunks, managers' states ----
    #[serde(default)]
    pub outbound: Named<RawOutbound>,
    pub callbacks: Option<Spanned<RawCallbacks>>,
    pub priority: Option<Spanned<RawPriority>>,
    pub features: Option<Spanned<RawFeatures>>,
    // ---- issue 14: integrations ----
    pub lookup: Option<Spanned<super::integrations::RawLookup>>,
    pub recording: Option<Spanned<super::integrations::RawRecording>>,
    pub email: Option<Spanned<super::integrations::RawEmail>>,
}

/// `[outbound.NAME]`: a PBX or carrier that dial-back calls go out through.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOutbound {
    pub address: Text,
    pub transport: Option<Text>,
    pub username: Option<Text>,
    pub password: Option<Text>,
    pub caller_id: Text,
    pub caller_name: Option<String>,
    #[serde(default)]
    pub rewrite: Vec<Spanned<RawRewrite>>,
    #[serde(default)]
    pub allowed_prefixes: Vec<Text>,
    #[serde(default)]
    pub denied_prefixes: Vec<Text>,
    pub ring_timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRewrite {
    pub from: String,
    pub to: String,
}

/// `[callbacks]`: the dial-back policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCallbacks {
    pub trunk: Option<Text>,
    pub attempts: Option<Spanned<u32>>,
    pub retry_secs: Option<Spanned<u64>>,
    pub keyed_numbers: Option<bool>,
    pub country_code: Option<Text>,
    pub whisper: Option<bool>,
}

/// `[priority]`: callers served first.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPriority {
    #[serde(default)]
    pub callers: BTreeMap<Text, Spanned<u8>>,
    pub file: Option<Text>,
    pub file_priority: Option<u8>,
}

/// `[features]`: codes managers dial from their phones.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFeatures {
    pub pause: Option<Text>,
    pub unpause: Option<Text>,
    pub sign_in: Option<Text>,
    pub sign_out: Option<Text>,
    pub dnd_on: Option<Text>,
    pub dnd_off: Option<Text>,
    #[serde(default)]
    pub pause_reasons: BTreeMap<Text, Text>,
    pub default_reason: Option<Text>,
    #[serde(default)]
    pub departments: BTreeMap<Text, Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlerts {
    pub callback_within_hours: Option<u64>,
    pub manager_missed_per_day: Option<u32>,
    pub timezone: Option<Text>,
    pub webhook: Option<bool>,
    pub check_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTransfer {
    pub code: Option<Text>,
    #[serde(default)]
    pub keys: BTreeMap<Text, Text>,
    pub digit_timeout_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNumber {
    pub number: Text,
    pub source: Option<Text>,
    pub action: Text,
    pub history: Option<bool>,
    pub hours: Option<Text>,
    pub after_hours: Option<Text>,
    pub priority: Option<u8>,
    /// Record the conversations of calls to this number (`[recording]`).
    pub record: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMenu {
    pub prompt: Text,
    #[serde(default)]
    pub options: BTreeMap<Text, Text>,
    pub timeout_secs: Option<u64>,
    pub retries: Option<u32>,
    pub invalid_prompt: Option<Text>,
    pub timeout_prompt: Option<Text>,
    pub on_failure: Option<Text>,
    pub type_ahead: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDepartment {
    #[serde(default)]
    pub members: Vec<Text>,
    pub strategy: Option<Text>,
    #[serde(default)]
    pub skills: Vec<String>,
    pub ring_timeout_secs: Option<u64>,
    pub queue_timeout_secs: Option<u64>,
    pub max_waiting: Option<u32>,
    pub hold_prompt: Option<Text>,
    pub overflow: Option<Text>,
    pub hours: Option<Text>,
    pub after_hours: Option<Text>,
    pub wrap_up_secs: Option<u64>,
    pub history: Option<bool>,
    pub announce_secs: Option<Spanned<u64>>,
    pub announce_wait: Option<bool>,
    pub announce_max_minutes: Option<u32>,
    pub callback_key: Option<Text>,
    pub service_level_secs: Option<u64>,
    pub name_prompt: Option<Text>,
    /// Record the conversations this department's members have (`[recording]`).
    pub record: Option<bool>,
    /// Who is mailed about this department's voicemails and callback requests.
    #[serde(default)]
    pub email: Vec<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawManager {
    pub extension: Option<Text>,
    pub name: Option<String>,
    pub contact: Option<Text>,
    #[serde(default)]
    pub skills: Vec<String>,
    pub max_calls: Option<u32>,
    pub hours: Option<Text>,
    pub ring_timeout_secs: Option<u64>,
    pub unavailable: Option<Text>,
    pub username: Option<Text>,
    pub password: Option<Text>,
    /// `"off"`, `"optional"` or `"required"` (see `[server] srtp`).
    pub srtp: Option<crate::media::srtp::SrtpPolicy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHours {
    pub timezone: Text,
    pub monday: Option<Vec<Text>>,
    pub tuesday: Option<Vec<Text>>,
    pub wednesday: Option<Vec<Text>>,
    pub thursday: Option<Vec<Text>>,
    pub friday: Option<Vec<Text>>,
    pub saturday: Option<Vec<Text>>,
    pub sunday: Option<Vec<Text>>,
    #[serde(default)]
    pub holidays: Vec<Text>,
    #[serde(default)]
    pub special: BTreeMap<Text, Vec<Text>>,
}

impl RawHours {
    /// The seven days, Monday first (ISO 8601 order, as `jiff`'s Monday-zero offset).
    pub fn days(&self) -> [(&'static str, Option<&Vec<Text>>); 7] {
        [
            ("monday", self.monday.as_ref()),
            ("tuesday", self.tuesday.as_ref()),
            ("wednesday", self.wednesday.as_ref()),
            ("thursday", self.thursday.as_ref()),
            ("friday", self.friday.as_ref()),
            ("saturday", self.saturday.as_ref()),
            ("sunday", self.sunday.as_ref()),
        ]
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHistory {
    pub enabled: Option<bool>,
    pub lookback_days: Option<u32>,
    pub wait_secs: Option<u64>,
    pub on_unavailable: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVoicemail {
    pub greeting: Option<Text>,
    pub max_secs: Option<u64>,
}
