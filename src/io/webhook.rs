//! Webhook notifications: posts the store's outbox to `[server] webhook_url`, and
//! hands its email rows (`[email]`, see [`super::email`]) to the mailer.
//!
//! # Why an outbox
//!
//! The store writes a `callback.created` event into the `webhook_outbox` table in the
//! same SQLite transaction as the callback request itself, and this task deletes it only
//! after the receiver answered 2xx. So a notification survives a receiver outage, a
//! network failure and a restart of Switchboard: it is delivered **at least once**. It
//! can be delivered twice (the receiver answered but the answer was lost, or Switchboard
//! stopped between the answer and the delete); receivers dedupe by the
//! `X-Switchboard-Event-Id` header, the outbox row id, which SQLite never reuses.
//!
//! # Loop
//!
//! Ask the store thread for due events (oldest first, [`BATCH`] at a time), POST each,
//! then write `WebhookDelivered` on 2xx or `RescheduleWebhook` with exponential backoff
//! otherwise. Those writes are queued on the store thread before the next query, so the
//! next query never sees an event twice. Then sleep until the earliest pending event is
//! due, at most [`POLL`] (new events written meanwhile are picked up by the poll, or at
//! once when someone calls [`Webhooks::notify`]), until the router shuts down.
//!
//! Events are posted one after another: a slow receiver delays the rest of the batch by
//! at most `webhook_timeout_secs` each, and there is no ordering guarantee across retries.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, USER_AGENT};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jiff::Timestamp;
use sha2::Sha256;
use tokio::sync::{Notify, watch};

use super::email::Mailer;
use crate::config::ServerConfig;
use crate::config::server::{WEBHOOK_MAX_RETRY_SECS, parse_webhook_url};
use crate::store::{StoreError, StoreHandle, StoreWrite, WebhookEvent};

/// Events fetched and posted per round.
pub const BATCH: usize = 20;
/// Longest sleep between two looks at the outbox.
pub const POLL: Duration = Duration::from_secs(5);
/// The header carrying the outbox id of the event (stable across retries).
pub const EVENT_ID_HEADER: &str = "x-switchboard-event-id";
/// The header carrying `sha256=HEX`, the HMAC-SHA256 of the body under `webhook_secret`.
pub const SIGNATURE_HEADER: &str = "x-switchboard-signature";
/// The header carrying the attempt number (1 for the first try).
pub const ATTEMPT_HEADER: &str = "x-switchboard-attempt";
/// How much of a failed response's body is quoted in the log.
const ERROR_BODY_LIMIT: usize = 300;

/// Why the webhook sender cannot start.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{reason}")]
    InvalidUrl { reason: String },
    #[error("cannot set up TLS for webhook_url: {source}")]
    Tls { source: rustls::Error },
}

/// The delivery settings from `[server]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: http::Uri,
    pub secret: Option<String>,
    pub timeout: Duration,
    pub retry_base: Duration,
    /// `webhook_events`: which events are posted.
    pub events: Vec<String>,
    /// `webhook_format`: Switchboard's JSON, or a Slack or Teams message.
    pub format: crate::config::server::WebhookFormat,
}

impl WebhookConfig {
    /// `Ok(None)` when no `webhook_url` is configured.
    pub fn from_server(server: &ServerConfig) -> Result<Option<Self>, WebhookError> {
        let Some(url) = &server.webhook_url else {
            return Ok(None);
        };
        let url = parse_webhook_url(url).map_err(|reason| WebhookError::InvalidUrl { reason })?;
        Ok(Some(Self {
            url,
            secret: server.webhook_secret.clone(),
            timeout: Duration::from_secs(server.webhook_timeout_secs.max(1)),
            retry_base: Duration::from_secs(server.webhook_retry_base_secs.max(1)),
            events: server.webhook_events.clone(),
            format: server.webhook_format,
        }))
    }

    /// Scheme and host only: the path and query of a webhook URL are often the secret
    /// (Slack, Zapier), so logs never show them.
    fn display_host(&self) -> String {
        let scheme = self.url.scheme_str().unwrap_or("http");
        let host = self.url.authority().map_or("?", |a| a.as_str());
        format!("{scheme}://{host}")
    }
}

/// A running sender. Dropping it does not stop the task; the router's shutdown does.
#[derive(Clone)]
pub struct Webhooks {
    wake: Arc<Notify>,
    /// The delivery settings in force; `None` while no `webhook_url` is configured
    /// (the task then sleeps until a reload sets one).
    sender: Arc<ArcSwapOption<Sender>>,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("enabled", &self.enabled())
            .finish()
    }
}

impl Webhooks {
    /// Look at the outbox now instead of at the next poll (call after a write that may
    /// have queued an event; cheap, and harmless when nothing is due).
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// Whether a `webhook_url` is configured now.
    pub fn enabled(&self) -> bool {
        self.sender.load().is_some()
    }

    /// Whether events of this type are posted now (a `webhook_url` is configured and
    /// `webhook_events` selects it).
    pub fn selects(&self, event: &str) -> bool {
        self.sender
            .load()
            .as_ref()
            .is_some_and(|s| crate::config::server::selects(&s.cfg.events, event))
    }

    /// A reload: deliver with the new `webhook_url`, secret and timeouts from now on
    /// (or stop delivering when the URL was removed; events stay in the outbox).
    pub fn reconfigure(&self, server: &ServerConfig) -> Result<(), WebhookError> {
        let cfg = WebhookConfig::from_server(server)?;
        if self.sender.load().as_ref().map(|s| &s.cfg) == cfg.as_ref() {
            return Ok(());
        }
        let sender = match cfg {
            Some(cfg) => Some(Arc::new(Sender::new(cfg)?)),
            None => None,
        };
        match &sender {
            Some(s) => tracing::info!(url = %s.cfg.display_host(), "webhook notifications enabled"),
            None if self.enabled() => tracing::info!("webhook notifications disabled"),
            None => {}
        }
        self.sender.store(sender);
        self.wake.notify_one();
        Ok(())
    }

    /// The wake-up handle, for code that wants to hold it directly.
    #[must_use]
    pub fn notifier(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }
}

/// Starts the sender task, delivering while `webhook_url` is set (a reload can set,
/// change or remove it: [`Webhooks::reconfigure`]). The task ends when `shutdown` turns
/// true (or its sender is dropped) or when the store thread is gone. A configuration
/// that cannot be used is an error; the task still runs, idle, so a reload can fix it.
pub fn start(
    server: &ServerConfig,
    store: StoreHandle,
    mailer: Option<Arc<Mailer>>,
    shutdown: watch::Receiver<bool>,
) -> (Webhooks, Result<(), WebhookError>) {
    let webhooks = Webhooks {
        wake: Arc::new(Notify::new()),
        sender: Arc::new(ArcSwapOption::empty()),
    };
    let configured = webhooks.reconfigure(server);
    tokio::spawn(run(
        Arc::clone(&webhooks.sender),
        mailer,
        store,
        Arc::clone(&webhooks.wake),
        shutdown,
    ));
    (webhooks, configured)
}

async fn run(
    senders: Arc<ArcSwapOption<Sender>>,
    mailer: Option<Arc<Mailer>>,
    store: StoreHandle,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        let sender = senders.load_full();
        let mailer = mailer.clone().filter(|m| m.enabled());
        if sender.is_none() && mailer.is_none() {
            // Neither a webhook nor email configured: wait for a reload (or the
            // shutdown; `[email]` comes with the plan, so look again now and then).
            tokio::select! {
                _ = shutdown.changed() => break,
                () = wake.notified() => continue,
                () = tokio::time::sleep(POLL) => continue,
            }
        }
        let round = tokio::select! {
            _ = shutdown.changed() => break,
            r = deliver_due(&store, sender.as_deref(), mailer.as_deref()) => r,
        };
        let pause = match round {
            Ok(pause) => pause,
            Err(StoreError::WorkerGone) => break,
            Err(e) => {
                tracing::warn!("cannot read the webhook outbox: {e}");
                POLL
            }
        };
        tokio::select! {
            _ = shutdown.changed() => break,
            () = wake.notified() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
    tracing::debug!("webhook sender stopped");
}

pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Posts events and records the outcome in the store.
struct Sender {
    cfg: WebhookConfig,
    client: HttpClient,
    user_agent: HeaderValue,
}

/// Why one delivery attempt failed.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("the receiver answered {status}{body}")]
    Status { status: u16, body: String },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Request(String),
    #[error("{0}")]
    Email(super::email::EmailError),
}

/// Retry delays when no webhook is configured to take them from.
const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(10);
/// How long a row waits whose channel is not configured now (a reload removed it).
const UNCONFIGURED_WAIT: Duration = Duration::from_secs(60);

/// One round: deliver every due row (up to [`BATCH`]): webhook bodies by POST,
/// email rows by the mailer. Returns how long to sleep.
async fn deliver_due(
    store: &StoreHandle,
    sender: Option<&Sender>,
    mailer: Option<&Mailer>,
) -> Result<Duration, StoreError> {
    let due = store.due_webhooks(Timestamp::now(), BATCH).await?;
    for event in &due {
        let attempt = event.attempts.saturating_add(1);
        let email = super::email::is_email_row(&event.payload_json);
        let outcome = match (email, sender, mailer) {
            (true, _, Some(m)) => m
                .send(&event.payload_json)
                .await
                .map(|to| {
                    crate::admin::metrics::count_email("sent");
                    tracing::info!(event = event.id, "email notification sent to {to}");
                })
                .map_err(Failure::Email),
            (false, Some(s), _) => s.post(event, attempt).await,
            _ => {
                // Its channel is not configured now: keep it for when it is.
                tracing::debug!(
                    event = event.id,
                    "{} not configured: notification kept in the outbox",
                    if email { "[email]" } else { "webhook_url" }
                );
                let next_at = Timestamp::now()
                    .checked_add(UNCONFIGURED_WAIT)
                    .unwrap_or(Timestamp::MAX);
                store.write(StoreWrite::RescheduleWebhook {
                    id: event.id,
                    next_at,
                    attempts: event.attempts,
                });
                continue;
            }
        };
        match outcome {
            Ok(()) => {
                store.write(StoreWrite::WebhookDelivered { id: event.id });
                if event.attempts > 0 {
                    tracing::info!(
                        event = event.id,
                        attempt,
                        "{} notification delivered after {} failed attempt(s)",
                        if email { "email" } else { "webhook" },
                        event.attempts
                    );
                } else {
                    tracing::debug!(event = event.id, "notification delivered");
                }
            }
            Err(Failure::Email(e @ super::email::EmailError::Unsendable(_))) => {
                // Retrying cannot help: say why and drop it.
                crate::admin::metrics::count_email("failed");
                tracing::error!(event = event.id, "email notification dropped: {e}");
                store.write(StoreWrite::WebhookDelivered { id: event.id });
            }
            Err(failure) => {
                // Each channel backs off by its own setting.
                let base = if email {
                    mailer.and_then(Mailer::retry_base)
                } else {
                    sender.map(|s| s.cfg.retry_base)
                }
                .unwrap_or(DEFAULT_RETRY_BASE);
                let delay = backoff(base, attempt);
                let next_at = Timestamp::now()
                    .checked_add(delay)
                    .unwrap_or(Timestamp::MAX);
                store.write(StoreWrite::RescheduleWebhook {
                    id: event.id,
                    next_at,
                    attempts: attempt,
                });
                if email {
                    crate::admin::metrics::count_email("failed");
                    tracing::warn!(
                        event = event.id,
                        attempt,
                        "email notification failed: {failure}; retrying in {}s",
                        delay.as_secs()
                    );
                } else if let Some(s) = sender {
                    tracing::warn!(
                        event = event.id,
                        attempt,
                        "webhook delivery to {} failed: {failure}; retrying in {}s",
                        s.cfg.display_host(),
                        delay.as_secs()
                    );
                }
            }
        }
    }
    if due.len() >= BATCH {
        // More may be waiting right now.
        return Ok(Duration::ZERO);
    }
    // Sleep until the earliest pending event is due (the writes above are applied
    // before this query runs, so it sees the new schedule).
    let next = store.due_webhooks(Timestamp::MAX, 1).await?;
    let now = Timestamp::now();
    Ok(next.first().map_or(POLL, |e| {
        Duration::try_from(e.next_attempt_at.duration_since(now))
            .unwrap_or(Duration::ZERO)
            .min(POLL)
    }))
}

/// An HTTP(S) client for outgoing requests (webhooks, the CRM lookup). Mozilla's
/// roots compiled in (webpki-roots): no dependency on the host's CA bundle, so HTTPS
/// works the same in a bare container.
pub(crate) fn https_client() -> Result<HttpClient, rustls::Error> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

impl Sender {
    fn new(cfg: WebhookConfig) -> Result<Self, WebhookError> {
        let client = https_client().map_err(|source| WebhookError::Tls { source })?;
        let user_agent =
            HeaderValue::from_static(concat!("Switchboard/", env!("CARGO_PKG_VERSION")));
        Ok(Self {
            cfg,
            client,
            user_agent,
        })
    }

    /// One POST of the stored payload, bounded by the configured timeout.
    async fn post(&self, event: &WebhookEvent, attempt: u32) -> Result<(), Failure> {
        let body = Bytes::from(super::webhook_format::render(
            self.cfg.format,
            &event.payload_json,
        ));
        let mut req = http::Request::post(self.cfg.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, self.user_agent.clone())
            .header(EVENT_ID_HEADER, event.id)
            .header(ATTEMPT_HEADER, attempt);
        if let Some(secret) = &self.cfg.secret {
            req = req.header(SIGNATURE_HEADER, signature(secret.as_bytes(), &body));
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| Failure::Request(format!("cannot build the request: {e}")))?;
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| Failure::Request(describe(&e)))?;
            let status = resp.status();
            if status.is_success() {
                return Ok(());
            }
            // Quote the start of the answer: receivers explain rejections there.
            let text = match Limited::new(resp.into_body(), ERROR_BODY_LIMIT)
                .collect()
                .await
            {
                Ok(b) => printable(&b.to_bytes()),
                Err(_) => String::new(),
            };
            let body = if text.is_empty() {
                String::new()
            } else {
                format!(": {text}")
            };
            Err(Failure::Status {
                status: status.as_u16(),
                body,
            })
        };
        tokio::time::timeout(self.cfg.timeout, exchange)
            .await
            .unwrap_or(Err(Failure::Timeout(self.cfg.timeout)))
    }
}

/// The connection error with its causes ("client error (Connect): tcp connect error:
/// Connection refused"), since hyper's top-level message alone says little.
pub(crate) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A response body fit for one log line.
pub(crate) fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// The delay before attempt `attempt + 1` after attempt `attempt` failed:
/// `base · 2^(attempt-1)`, at most [`WEBHOOK_MAX_RETRY_SECS`].
#[must_use]
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let max = Duration::from_secs(WEBHOOK_MAX_RETRY_SECS);
    let doublings = attempt.saturating_sub(1).min(31);
    base.checked_mul(1u32 << doublings).unwrap_or(max).min(max)
}

/// `sha256=` followed by the lowercase hex HMAC-SHA256 (RFC 2104) of `body` under `secret`.
#[must_use]
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    // HMAC accepts keys of any length (RFC 2104 §2), so this cannot fail.
    let mut mac = match hmac::Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in digest.iter() {
        use std::fmt::Write;
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_and_caps_at_an_hour() {
        let base = Duration::from_secs(10);
        let secs: Vec<u64> = (1..=11).map(|a| backoff(base, a).as_secs()).collect();
        assert_eq!(
            secs,
            [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(backoff(base, 0).as_secs(), 10);
        assert_eq!(backoff(base, u32::MAX).as_secs(), 3600);
        assert_eq!(backoff(Duration::from_secs(1), 3).as_secs(), 4);
    }

    #[test]
    fn signature_matches_rfc_4231_test_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn logs_show_only_scheme_and_host() {
        let server = ServerConfig {
            webhook_url: Some("https://hooks.example.com:8443/services/T0/B0/SECRET".into()),
            ..ServerConfig::default()
        };
        let cfg = WebhookConfig::from_server(&server).unwrap().unwrap();
        assert_eq!(cfg.display_host(), "https://hooks.example.com:8443");
        assert!(
            WebhookConfig::from_server(&ServerConfig::default())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn printable_flattens_control_characters() {
        assert_eq!(printable(b"  bad\r\npayload\x00 "), "bad  payload");
    }
}
