//! Email notifications (`[email]`): a mail to the department's people for every new
//! voicemail (the WAV attached) and every new callback request.
//!
//! # Delivery
//!
//! Emails go through the same persistent outbox as webhooks (`webhook_outbox`): the
//! driver, after the store has filed a callback request, reads it back (ordered after
//! the write on the store thread), decides whether it is new or carries a new message,
//! and queues an email row (`{"channel": "email", …}`, see [`email_row`]). The outbox
//! task hands email rows to [`Mailer::send`] instead of POSTing them, with the same
//! retries and backoff, so a mail server outage or a restart loses nothing. Recipients
//! and the server settings are read from the plan in force when the mail is sent.
//!
//! SMTP through lettre: STARTTLS required by default (RFC 3207), implicit TLS or, for a
//! relay on the same machine, none; certificates checked against Mozilla's roots plus
//! an optional private CA (`ca_file`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value, json};

use crate::config::{DialPlan, EmailPolicy, EmailTls};
use crate::store::CallbackRequest;

/// Why an email could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// Nothing to retry: the row or the configuration cannot make a mail.
    #[error("{0}")]
    Unsendable(String),
    #[error("cannot read ca_file {path}: {source}")]
    CaFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the mail server refused or failed: {0}")]
    Smtp(String),
}

/// The outbox row for an email about `callback` (`voicemail.created` when it carries
/// a message, else `callback.created`).
pub fn email_row(event: &str, callback: &CallbackRequest) -> String {
    json!({ "channel": "email", "event": event, "callback": callback }).to_string()
}

/// Whether an outbox row is an email (rather than a webhook body): its top-level
/// `channel` is `"email"` (parsed, not matched as text: JSON keys have no order).
pub fn is_email_row(payload: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Row {
        channel: Option<String>,
    }
    serde_json::from_str::<Row>(payload).is_ok_and(|r| r.channel.as_deref() == Some("email"))
}

/// Sends email rows with the settings of the plan in force.
pub struct Mailer {
    plan: Arc<ArcSwap<DialPlan>>,
    data_dir: PathBuf,
    /// The transport built for the settings it was built from (rebuilt on change).
    transport: Mutex<Option<(EmailPolicy, AsyncSmtpTransport<Tokio1Executor>)>>,
}

impl Mailer {
    pub fn new(plan: Arc<ArcSwap<DialPlan>>, data_dir: PathBuf) -> Mailer {
        Mailer {
            plan,
            data_dir,
            transport: Mutex::new(None),
        }
    }

    /// Whether `[email]` is configured now.
    pub fn enabled(&self) -> bool {
        self.plan.load().integrations.email.is_some()
    }

    /// `[email] retry_base_secs` in force (the default when `[email]` is gone).
    pub fn retry_base(&self) -> Option<std::time::Duration> {
        self.plan
            .load()
            .integrations
            .email
            .as_ref()
            .map(|p| p.retry_base)
    }

    fn transport(&self, p: &EmailPolicy) -> Result<AsyncSmtpTransport<Tokio1Executor>, EmailError> {
        if let Ok(cached) = self.transport.lock()
            && let Some((policy, t)) = cached.as_ref()
            && policy == p
        {
            return Ok(t.clone());
        }
        let t = build_transport(p)?;
        if let Ok(mut cached) = self.transport.lock() {
            *cached = Some((p.clone(), t.clone()));
        }
        Ok(t)
    }

    /// Sends the mail of one outbox row. `Ok(recipients)` once the server took it.
    pub async fn send(&self, payload: &str) -> Result<String, EmailError> {
        let plan = self.plan.load_full();
        let Some(policy) = plan.integrations.email.clone() else {
            return Err(EmailError::Unsendable("[email] is not configured".into()));
        };
        let row: Value = serde_json::from_str(payload)
            .map_err(|e| EmailError::Unsendable(format!("not an email row: {e}")))?;
        let cb: CallbackRequest = serde_json::from_value(row["callback"].clone())
            .map_err(|e| EmailError::Unsendable(format!("not a callback request: {e}")))?;
        let voicemail = row["event"] == "voicemail.created";
        let to = recipients(&plan, &policy, &cb.department);
        if to.is_empty() {
            return Err(EmailError::Unsendable(format!(
                "nobody to mail about department \"{}\": set [email] to or the department's \
                 email",
                cb.department
            )));
        }
        let message = self.message(&policy, &to, &cb, voicemail)?;
        let transport = self.transport(&policy)?;
        transport
            .send(message)
            .await
            .map_err(|e| EmailError::Smtp(super::webhook::describe(&e)))?;
        Ok(to.join(", "))
    }

    fn message(
        &self,
        policy: &EmailPolicy,
        to: &[String],
        cb: &CallbackRequest,
        voicemail: bool,
    ) -> Result<Message, EmailError> {
        let bad =
            |what: &str, e: &dyn std::fmt::Display| EmailError::Unsendable(format!("{what}: {e}"));
        let from: Mailbox = policy
            .from
            .parse()
            .map_err(|e| bad(&format!("[email] from \"{}\"", policy.from), &e))?;
        let mut builder = Message::builder().from(from);
        for t in to {
            let mb: Mailbox = t
                .parse()
                .map_err(|e| bad(&format!("recipient \"{t}\""), &e))?;
            builder = builder.to(mb);
        }
        let wav = cb
            .recording_path
            .as_deref()
            .map(|p| recording_file(&self.data_dir, p));
        let attachment = match wav.as_deref().map(std::fs::read) {
            Some(Ok(bytes)) if (bytes.len() as u64) <= policy.attach_max_bytes => Some(bytes),
            Some(Ok(bytes)) => {
                tracing::info!(
                    "the recording of callback request {} is {} bytes, over attach_max_mb: \
                     not attached",
                    cb.id,
                    bytes.len()
                );
                None
            }
            Some(Err(e)) => {
                tracing::warn!(
                    "cannot attach the recording of callback request {}: {e}",
                    cb.id
                );
                None
            }
            None => None,
        };
        let (subject, mut body) = text(cb, voicemail);
        if attachment.is_none() && cb.recording_path.is_some() {
            body.push_str(&format!(
                "\nThe message is not attached; download it from the admin API: \
                 GET /api/callbacks/{}/recording\n",
                cb.id
            ));
        }
        let builder = builder.subject(subject);
        let plain = SinglePart::plain(body);
        let result = match attachment {
            Some(bytes) => builder.multipart(MultiPart::mixed().singlepart(plain).singlepart(
                Attachment::new(format!("voicemail-{}.wav", cb.id)).body(
                    bytes,
                    ContentType::parse("audio/wav").map_err(|e| bad("content type", &e))?,
                ),
            )),
            None => builder.singlepart(plain),
        };
        result.map_err(|e| bad("cannot build the mail", &e))
    }
}

/// The department's `email` list, else `[email] to`.
pub fn recipients(plan: &DialPlan, policy: &EmailPolicy, department: &str) -> Vec<String> {
    match plan.departments.get(department) {
        Some(d) if !d.email.is_empty() => d.email.clone(),
        _ => policy.to.clone(),
    }
}

/// A stored recording path, relative to the data directory unless absolute.
fn recording_file(data_dir: &Path, stored: &str) -> PathBuf {
    let p = Path::new(stored);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        data_dir.join(p)
    }
}

/// Subject and body. The caller comes off the wire: control characters are dropped
/// from the subject (lettre encodes headers, this keeps the line readable too).
fn text(cb: &CallbackRequest, voicemail: bool) -> (String, String) {
    let reason = cb.reason.as_str().replace('_', " ");
    let subject: String = if voicemail {
        format!("New voicemail from {} for {}", cb.caller, cb.department)
    } else {
        format!("Please call back {} ({})", cb.caller, cb.department)
    }
    .chars()
    .filter(|c| !c.is_control())
    .collect();
    let mut body = format!(
        "{subject}\n\nCaller: {}\nDialled: {} ({})\nDepartment: {}\nWhy: {reason}\nWhen: {}\n\
         Calls so far: {}\nRequest: #{}\n",
        cb.caller,
        cb.dialled,
        cb.source,
        cb.department,
        cb.updated_at.strftime("%Y-%m-%d %H:%M UTC"),
        cb.call_count,
        cb.id
    );
    if let Some(secs) = cb.recording_secs {
        body.push_str(&format!("Message: {secs:.0} s"));
        if let Some(flag) = &cb.recording_flag {
            body.push_str(&format!(" ({flag})"));
        }
        body.push('\n');
    }
    body.push_str(
        "\nClaim it on the dashboard or with `switchboard callbacks claim ID --manager NAME`.\n",
    );
    (subject, body)
}

fn build_transport(p: &EmailPolicy) -> Result<AsyncSmtpTransport<Tokio1Executor>, EmailError> {
    let tls_params = || -> Result<TlsParameters, EmailError> {
        let mut b = TlsParameters::builder(p.smtp_host.clone());
        if let Some(path) = &p.ca_file {
            let pem = std::fs::read(path).map_err(|source| EmailError::CaFile {
                path: path.clone(),
                source,
            })?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| EmailError::Unsendable(format!("ca_file {}: {e}", path.display())))?;
            b = b.add_root_certificate(cert);
        }
        b.build_rustls()
            .map_err(|e| EmailError::Unsendable(format!("TLS setup: {e}")))
    };
    let tls = match p.tls {
        EmailTls::Starttls => Tls::Required(tls_params()?),
        EmailTls::Tls => Tls::Wrapper(tls_params()?),
        EmailTls::None => Tls::None,
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(p.smtp_host.clone())
        .port(p.smtp_port)
        .tls(tls)
        .timeout(Some(p.timeout));
    if let (Some(user), Some(pass)) = (&p.username, &p.password) {
        b = b.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
    }
    Ok(b.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CallbackReason, CallbackStatus};

    fn cb() -> CallbackRequest {
        CallbackRequest {
            id: 17,
            department: "support".into(),
            caller: "+15550001234".into(),
            dialled: "+15550009999".into(),
            source: "google".into(),
            created_at: jiff::Timestamp::UNIX_EPOCH,
            updated_at: jiff::Timestamp::UNIX_EPOCH,
            menu_path: vec![],
            reason: CallbackReason::AfterHours,
            recording_path: Some("recordings/x.wav".into()),
            recording_secs: Some(14.2),
            recording_flag: None,
            status: CallbackStatus::Open,
            claimed_by: None,
            claimed_at: None,
            done_by: None,
            done_at: None,
            outcome: None,
            call_count: 1,
        }
    }

    #[test]
    fn rows_are_recognised_and_say_what_happened() {
        let row = email_row("voicemail.created", &cb());
        assert!(is_email_row(&row));
        assert!(!is_email_row(r#"{"event":"callback.created"}"#));
        // Keys in any order; a nested `channel` does not count.
        assert!(is_email_row(r#"{"event":"x","channel":"email"}"#));
        assert!(!is_email_row(
            r#"{"event":"x","callback":{"channel":"email"}}"#
        ));
        assert!(!is_email_row("not json"));
        let (subject, body) = text(&cb(), true);
        assert_eq!(subject, "New voicemail from +15550001234 for support");
        assert!(body.contains("Why: after hours"), "{body}");
        assert!(body.contains("Message: 14 s"), "{body}");
        let mut odd = cb();
        odd.caller = "+1555\r\nBcc: x@example.com".into();
        let (subject, _) = text(&odd, false);
        assert_eq!(
            subject,
            "Please call back +1555Bcc: x@example.com (support)"
        );
    }
}
