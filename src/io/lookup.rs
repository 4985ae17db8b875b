//! The CRM lookup (`[lookup]`): asks the business's system about each caller before
//! the call is routed. See docs/integrations.md for the request and answer.
//!
//! The call waits for the answer as an input (`Lookup::Crm` out, `LookupResult::Crm`
//! in) with its own timeout on the core's clock; this side bounds the HTTP exchange by
//! the same timeout, so a slow CRM costs a caller at most `timeout_ms` of silence and
//! never a task that outlives it. Answers are cached for `cache_secs` per caller and
//! dialled number (errors are not), so a caller who rings back at once does not wait
//! again. Every outcome is counted (`switchboard_lookups_total{result}`) and errors are
//! logged with their reason.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, HeaderValue, USER_AGENT};
use http_body_util::{BodyExt, Full, Limited};

use super::webhook::{HttpClient, describe, printable};
use crate::config::LookupPolicy;
use crate::model::CrmAnswer;

/// The largest answer read.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// The most answers kept in the cache (the oldest go first).
pub const MAX_CACHED: usize = 10_000;
/// How many tags are kept, and how long a text field may be.
const MAX_TAGS: usize = 16;
const MAX_TEXT: usize = 120;

/// Why a lookup gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the CRM answered {status}{body}")]
    Status { status: u16, body: String },
    #[error("{0}")]
    Request(String),
    #[error("the answer is not the expected JSON: {0}")]
    Body(String),
}

/// Answers by (caller, dialled), each with when it expires.
#[derive(Debug, Default)]
pub struct Cache {
    entries: HashMap<(String, String), (Instant, CrmAnswer)>,
}

impl Cache {
    pub fn get(&mut self, now: Instant, caller: &str, dialled: &str) -> Option<CrmAnswer> {
        let key = (caller.to_string(), dialled.to_string());
        match self.entries.get(&key) {
            Some((until, answer)) if *until > now => Some(answer.clone()),
            Some(_) => {
                self.entries.remove(&key);
                None
            }
            None => None,
        }
    }

    pub fn put(&mut self, now: Instant, ttl: Duration, caller: &str, dialled: &str, a: CrmAnswer) {
        if ttl.is_zero() {
            return;
        }
        if self.entries.len() >= MAX_CACHED {
            self.entries.retain(|_, (until, _)| *until > now);
            if self.entries.len() >= MAX_CACHED
                && let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (until, _))| *until)
                    .map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries
            .insert((caller.to_string(), dialled.to_string()), (now + ttl, a));
    }
}

/// The lookup client: one HTTP client and the cache, shared by the lookups in flight.
#[derive(Clone)]
pub struct Crm {
    client: Option<HttpClient>,
    pub cache: Arc<Mutex<Cache>>,
}

impl Default for Crm {
    fn default() -> Self {
        Self::new()
    }
}

impl Crm {
    pub fn new() -> Crm {
        let client = match super::webhook::https_client() {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!("CRM lookups are off: cannot set up TLS: {e}");
                None
            }
        };
        Crm {
            client,
            cache: Arc::default(),
        }
    }

    /// Asks the CRM (or the cache) about `caller` calling `dialled`. `Ok` with the
    /// answer (empty for a caller the CRM does not know); the result label for the
    /// metrics comes with it.
    pub async fn lookup(
        &self,
        policy: &LookupPolicy,
        call_id: &str,
        caller: &str,
        dialled: &str,
    ) -> (Result<CrmAnswer, LookupError>, &'static str) {
        let cached = self
            .cache
            .lock()
            .ok()
            .and_then(|mut c| c.get(Instant::now(), caller, dialled));
        if let Some(a) = cached {
            return (Ok(a), "cached");
        }
        let Some(client) = &self.client else {
            return (
                Err(LookupError::Request(
                    "no HTTP client (TLS setup failed)".into(),
                )),
                "error",
            );
        };
        let started = Instant::now();
        let exchange = fetch(client, policy, call_id, caller, dialled);
        let result = match tokio::time::timeout(policy.timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(LookupError::Timeout(policy.timeout)),
        };
        tracing::debug!(
            "CRM lookup for {caller} took {} ms",
            started.elapsed().as_millis()
        );
        match result {
            Ok(a) => {
                if let Ok(mut c) = self.cache.lock() {
                    c.put(Instant::now(), policy.cache, caller, dialled, a.clone());
                }
                let label = if a.is_empty() { "unknown" } else { "answered" };
                (Ok(a), label)
            }
            Err(e @ LookupError::Timeout(_)) => (Err(e), "timeout"),
            Err(e) => (Err(e), "error"),
        }
    }
}

/// `url?caller=…&dialled=…&call_id=…` (existing query parameters kept).
pub fn request_url(base: &str, call_id: &str, caller: &str, dialled: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!(
        "{base}{sep}caller={}&dialled={}&call_id={}",
        encode(caller),
        encode(dialled),
        encode(call_id)
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn fetch(
    client: &HttpClient,
    policy: &LookupPolicy,
    call_id: &str,
    caller: &str,
    dialled: &str,
) -> Result<CrmAnswer, LookupError> {
    let url = request_url(&policy.url, call_id, caller, dialled);
    let mut req = http::Request::get(url)
        .header(ACCEPT, HeaderValue::from_static("application/json"))
        .header(
            USER_AGENT,
            HeaderValue::from_static(concat!("Switchboard/", env!("CARGO_PKG_VERSION"))),
        );
    if let Some(token) = &policy.token {
        req = req.header(AUTHORIZATION, format!("Bearer {}", token.expose()));
    }
    let req = req
        .body(Full::new(Bytes::new()))
        .map_err(|e| LookupError::Request(format!("cannot build the request: {e}")))?;
    let resp = client
        .request(req)
        .await
        .map_err(|e| LookupError::Request(describe(&e)))?;
    let status = resp.status().as_u16();
    let body = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| LookupError::Body(format!("cannot read it: {e}")))?;
    match status {
        // The CRM does not know the caller: route normally (and remember that).
        204 | 404 => Ok(CrmAnswer::default()),
        200..=299 => parse_answer(&body),
        _ => {
            let text = printable(body.get(..300).unwrap_or(&body));
            Err(LookupError::Status {
                status,
                body: if text.is_empty() {
                    String::new()
                } else {
                    format!(": {text}")
                },
            })
        }
    }
}

/// The CRM's JSON, trimmed to what is safe to route on and show: texts cut to 120
/// characters, at most 16 tags, empty values dropped.
pub fn parse_answer(body: &[u8]) -> Result<CrmAnswer, LookupError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(CrmAnswer::default());
    }
    let raw: CrmAnswer =
        serde_json::from_slice(body).map_err(|e| LookupError::Body(e.to_string()))?;
    let clean = |s: Option<String>| {
        s.map(|s| s.trim().chars().take(MAX_TEXT).collect::<String>())
            .filter(|s| !s.is_empty())
    };
    Ok(CrmAnswer {
        owner: clean(raw.owner),
        department: clean(raw.department),
        priority: raw.priority,
        display_name: clean(raw.display_name),
        tags: raw
            .tags
            .into_iter()
            .filter_map(|t| clean(Some(t)))
            .take(MAX_TAGS)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_carries_the_numbers_encoded() {
        assert_eq!(
            request_url("http://crm/lookup", "a@b", "+1 555", "2000"),
            "http://crm/lookup?caller=%2B1%20555&dialled=2000&call_id=a%40b"
        );
        assert_eq!(
            request_url("http://crm/l?key=1", "c", "5", "6"),
            "http://crm/l?key=1&caller=5&dialled=6&call_id=c"
        );
    }

    #[test]
    fn answers_are_trimmed_and_unknown_fields_ignored() {
        let a = parse_answer(
            br#"{"owner":" andrew ","priority":5,"tags":["vip",""," renewal"],"crm_id":77,"display_name":""}"#,
        )
        .unwrap();
        assert_eq!(a.owner.as_deref(), Some("andrew"));
        assert_eq!(a.priority, Some(5));
        assert_eq!(a.tags, vec!["vip", "renewal"]);
        assert_eq!(a.display_name, None);
        assert!(parse_answer(b"  ").unwrap().is_empty());
        assert!(parse_answer(b"{\"priority\": \"high\"}").is_err());
        assert!(parse_answer(b"<html>").is_err());
    }

    #[test]
    fn the_cache_expires_and_stays_bounded() {
        let mut c = Cache::default();
        let t0 = Instant::now();
        let a = CrmAnswer {
            owner: Some("andrew".into()),
            ..CrmAnswer::default()
        };
        c.put(t0, Duration::from_secs(60), "1", "2", a.clone());
        assert_eq!(c.get(t0, "1", "2"), Some(a.clone()));
        assert_eq!(c.get(t0, "1", "3"), None);
        assert_eq!(c.get(t0 + Duration::from_secs(61), "1", "2"), None);
        c.put(t0, Duration::ZERO, "1", "2", a);
        assert_eq!(c.get(t0, "1", "2"), None);
    }
}
