//! The integration tables: `[lookup]` (ask the business's CRM about a caller before
//! routing), `[recording]` (record conversations with managers) and `[email]` (mail
//! new voicemails and callback requests to people). The per-number and per-department
//! keys that go with them (`record = true`, `email = [...]`) are compiled with their
//! entries. Reference: `docs/integrations.md`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::compile::Compiler;
use super::plan::Secret;
use super::raw::Text;

/// `[lookup]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLookup {
    pub url: Text,
    pub timeout_ms: Option<u64>,
    pub cache_secs: Option<u64>,
    pub token: Option<Text>,
    pub route_to_owner: Option<bool>,
    pub owner_wait_secs: Option<u64>,
}

/// `[recording]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRecording {
    pub announcement: Option<Text>,
    pub channels: Option<Text>,
}

/// `[email]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEmail {
    pub smtp_host: Text,
    pub smtp_port: Option<u16>,
    pub tls: Option<Text>,
    pub username: Option<Text>,
    pub password: Option<Text>,
    pub from: Text,
    #[serde(default)]
    pub to: Vec<Text>,
    pub ca_file: Option<Text>,
    pub voicemail: Option<bool>,
    pub callbacks: Option<bool>,
    pub attach_max_mb: Option<u64>,
    pub timeout_secs: Option<u64>,
    pub retry_base_secs: Option<u64>,
}

/// `[lookup]`: the CRM endpoint asked about every call before it is routed.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupPolicy {
    /// `http://` or `https://`; called with `caller`, `dialled` and `call_id` as query
    /// parameters.
    pub url: String,
    /// The longest a call waits for the answer before it is routed without it.
    pub timeout: Duration,
    /// How long an answer is reused for the same caller and number.
    pub cache: Duration,
    /// Sent as `Authorization: Bearer TOKEN` when set.
    pub token: Option<Secret>,
    /// Ring the owner the CRM names before the number's normal route.
    pub route_to_owner: bool,
    /// How long a caller waits for a busy owner before the normal route.
    pub owner_wait: Duration,
}

impl LookupPolicy {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(400);
    pub const MAX_TIMEOUT_MS: u64 = 5000;
}

/// How a conversation is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordingChannels {
    /// Caller on the left channel, manager on the right.
    #[default]
    Stereo,
    /// Both mixed into one channel.
    Mono,
}

/// `[recording]`: how conversations of `record = true` numbers and departments are
/// recorded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordingPolicy {
    /// Played to the caller before they are connected ("this call is recorded").
    pub announcement: Option<String>,
    pub channels: RecordingChannels,
}

/// How the connection to the mail server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmailTls {
    /// Plain connection upgraded with STARTTLS (RFC 3207), required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same machine or in tests.
    None,
}

/// `[email]`: the mail server and who is told about new voicemails and callback
/// requests.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailPolicy {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: EmailTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// `Name <address>` or an address.
    pub from: String,
    /// Recipients for departments without their own `email` list.
    pub to: Vec<String>,
    /// A PEM file with the certificate authority of a private mail server.
    pub ca_file: Option<PathBuf>,
    pub voicemail: bool,
    pub callbacks: bool,
    /// Recordings larger than this are not attached (the mail says where to get them).
    pub attach_max_bytes: u64,
    /// The longest one SMTP conversation may take.
    pub timeout: Duration,
    /// Delay before the first retry of a mail the server did not take; it doubles with
    /// each further failure, up to an hour (the webhook outbox's backoff).
    pub retry_base: Duration,
}

/// Everything the integration tables configure.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Integrations {
    pub lookup: Option<LookupPolicy>,
    pub recording: RecordingPolicy,
    pub email: Option<EmailPolicy>,
}

/// A plausible mail address: `local@domain` with no spaces or angle brackets, or
/// `Name <local@domain>`.
pub fn email_address_ok(s: &str) -> bool {
    let addr = match (s.find('<'), s.strip_suffix('>')) {
        (Some(i), Some(rest)) => rest.get(i + 1..).unwrap_or(""),
        (None, None) => s,
        _ => return false,
    };
    let Some((local, domain)) = addr.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !addr
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
}

impl Compiler<'_> {
    pub(crate) fn lookup(&mut self, raw: &RawLookup) -> Option<LookupPolicy> {
        let url = raw.url.get_ref().trim();
        if let Err(reason) = super::server::parse_webhook_url(url) {
            self.sink.error(
                Some(raw.url.span()),
                format!("[lookup] url: {}", reason.replace("webhook_url", "the URL")),
            );
            return None;
        }
        let timeout_ms = raw
            .timeout_ms
            .unwrap_or(LookupPolicy::DEFAULT_TIMEOUT.as_millis() as u64);
        if !(50..=LookupPolicy::MAX_TIMEOUT_MS).contains(&timeout_ms) {
            self.sink.error(
                Some(raw.url.span()),
                format!(
                    "[lookup] timeout_ms = {timeout_ms}: use 50 to {} (callers wait this long \
                     in silence; a few hundred milliseconds is plenty for a CRM on the same \
                     network)",
                    LookupPolicy::MAX_TIMEOUT_MS
                ),
            );
        }
        let token = raw.token.as_ref().map(|t| Secret::new(t.get_ref().clone()));
        Some(LookupPolicy {
            url: url.to_string(),
            timeout: Duration::from_millis(timeout_ms.clamp(50, LookupPolicy::MAX_TIMEOUT_MS)),
            cache: Duration::from_secs(raw.cache_secs.unwrap_or(300)),
            token,
            route_to_owner: raw.route_to_owner.unwrap_or(true),
            owner_wait: Duration::from_secs(raw.owner_wait_secs.unwrap_or(20)),
        })
    }

    pub(crate) fn recording(&mut self, raw: &RawRecording) -> RecordingPolicy {
        let announcement = raw
            .announcement
            .as_ref()
            .map(|p| self.prompt(p, "[recording] announcement"));
        let channels = match raw.channels.as_ref().map(|c| (c, c.get_ref().trim())) {
            None | Some((_, "stereo")) => RecordingChannels::Stereo,
            Some((_, "mono")) => RecordingChannels::Mono,
            Some((c, other)) => {
                self.sink.error(
                    Some(c.span()),
                    format!(
                        "[recording] channels = \"{other}\": use \"stereo\" (caller left, \
                         manager right) or \"mono\" (both mixed)"
                    ),
                );
                RecordingChannels::Stereo
            }
        };
        RecordingPolicy {
            announcement,
            channels,
        }
    }

    pub(crate) fn email(&mut self, raw: &RawEmail) -> Option<EmailPolicy> {
        let tls = match raw.tls.as_ref().map(|t| (t, t.get_ref().trim())) {
            None | Some((_, "starttls")) => EmailTls::Starttls,
            Some((_, "tls")) => EmailTls::Tls,
            Some((_, "none")) => EmailTls::None,
            Some((t, other)) => {
                self.sink.error(
                    Some(t.span()),
                    format!(
                        "[email] tls = \"{other}\": use \"starttls\" (port 587), \"tls\" (port \
                         465) or \"none\" (a relay on this machine only)"
                    ),
                );
                EmailTls::Starttls
            }
        };
        let mut ok = true;
        let mut address = |c: &mut Self, t: &Text, what: &str| {
            if !email_address_ok(t.get_ref().trim()) {
                c.sink.error(
                    Some(t.span()),
                    format!(
                        "[email] {what} \"{}\" is not a mail address; write it like \
                         \"office@example.com\" or \"Switchboard <pbx@example.com>\"",
                        t.get_ref()
                    ),
                );
                ok = false;
            }
        };
        address(self, &raw.from, "from");
        for t in &raw.to {
            address(self, t, "to");
        }
        if raw.username.is_some() != raw.password.is_some() {
            self.sink.error(
                Some(raw.smtp_host.span()),
                "[email] needs both username and password, or neither",
            );
        }
        let port = raw.smtp_port.unwrap_or(match tls {
            EmailTls::Tls => 465,
            EmailTls::Starttls | EmailTls::None => 587,
        });
        ok.then(|| EmailPolicy {
            smtp_host: raw.smtp_host.get_ref().trim().to_string(),
            smtp_port: port,
            tls,
            username: raw.username.as_ref().map(|u| u.get_ref().clone()),
            password: raw
                .password
                .as_ref()
                .map(|p| Secret::new(p.get_ref().clone())),
            from: raw.from.get_ref().trim().to_string(),
            to: raw
                .to
                .iter()
                .map(|t| t.get_ref().trim().to_string())
                .collect(),
            ca_file: raw.ca_file.as_ref().map(|f| PathBuf::from(f.get_ref())),
            voicemail: raw.voicemail.unwrap_or(true),
            callbacks: raw.callbacks.unwrap_or(true),
            attach_max_bytes: raw.attach_max_mb.unwrap_or(10).saturating_mul(1024 * 1024),
            timeout: Duration::from_secs(raw.timeout_secs.unwrap_or(30).clamp(1, 300)),
            retry_base: Duration::from_secs(raw.retry_base_secs.unwrap_or(60).clamp(1, 3600)),
        })
    }

    /// A department's `email` recipients, checked.
    pub(crate) fn recipients(&mut self, list: &[Text], ctx: &str) -> Vec<String> {
        let mut out = Vec::new();
        for t in list {
            let a = t.get_ref().trim();
            if email_address_ok(a) {
                out.push(a.to_string());
            } else {
                self.sink.error(
                    Some(t.span()),
                    format!("{ctx} email \"{a}\" is not a mail address, e.g. sales@example.com"),
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::email_address_ok;

    #[test]
    fn mail_addresses() {
        for ok in [
            "a@example.com",
            "Switchboard <pbx@example.com>",
            "sales.team@mail.example.org",
        ] {
            assert!(email_address_ok(ok), "{ok}");
        }
        for bad in [
            "example.com",
            "a@b",
            "a b@example.com",
            "<a@example.com",
            "a@example.com>\r\nBcc: x@y.z",
            "a@.com",
        ] {
            assert!(!email_address_ok(bad), "{bad}");
        }
    }
}
