//! The `[server]` section: sockets, media ports, protocol timers. Every field has a
//! default so a dial plan file without a `[server]` section still runs.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Where and how Switchboard runs. Command-line flags override these fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// SIP listen address, used for both UDP and TCP.
    pub sip_listen: SocketAddr,
    /// Address written into SDP and Contact when it differs from the listen address
    /// (e.g. listening on 0.0.0.0 behind a public IP).
    pub advertised_address: Option<IpAddr>,
    /// RTP port range `LOW-HIGH` (inclusive); each call leg uses one even port.
    pub rtp_ports: PortRange,
    /// Where the database, recordings and state live; relative to the config file's
    /// directory unless absolute (see [`crate::config::resolve_path`]).
    pub data_dir: PathBuf,
    /// Directory of WAV prompts, relative to the config file unless absolute.
    pub prompts_dir: PathBuf,
    /// Call records, ring attempts, finished callback requests and voicemail recordings
    /// older than this many days are deleted once a day. `None` (the default) keeps
    /// everything. Open or claimed callback requests and their recordings are always
    /// kept, whatever their age.
    #[serde(deserialize_with = "retention_days")]
    pub retention_days: Option<u32>,
    /// Seconds without RTP from the caller after which a call is ended with BYE.
    pub rtp_timeout_secs: u64,
    /// Also listen for DTMF tones inside the audio (for trunks that send neither
    /// RFC 4733 events nor SIP INFO). Off by default: costs CPU and can false-trigger.
    pub inband_dtmf: bool,
    /// Send 180 Ringing and wait this long before answering (0 = answer at once).
    /// A short ring sounds natural to callers and gives trunks time to CANCEL.
    pub ring_before_answer_ms: u64,
    /// RFC 3261 timer base values.
    pub sip_timers: SipTimers,
    /// The digest authentication realm managers' phones are configured with.
    pub realm: String,
    /// Digest algorithms offered to phones, most preferred first (RFC 8760).
    pub digest_algorithms: Vec<crate::registrar::digest::Algorithm>,
    /// Admin HTTP API address (`"off"` disables it). Loopback by default: on any other
    /// address the API refuses to start unless `admin_token` is set.
    #[serde(deserialize_with = "listen_or_off")]
    pub http_listen: Option<SocketAddr>,
    /// Bearer token required on every admin API call when set (see docs/admin.md).
    pub admin_token: Option<String>,
    /// Address ranges INVITEs are accepted from (the PBX trunks), e.g.
    /// `["192.0.2.10", "10.20.0.0/16"]`. An INVITE from anywhere else is accepted only
    /// from a manager's registered phone that passes digest authentication; everyone
    /// else gets 403 (no open relay, no toll fraud). Default: loopback only.
    #[serde(deserialize_with = "networks")]
    pub trunks: Vec<ipnet::IpNet>,
    /// Where to POST a JSON notification for every new callback request (`http://` or
    /// `https://`; see docs/admin.md "Webhook notifications"). None: no notifications
    /// are sent; they still wait in the database's outbox.
    #[serde(deserialize_with = "webhook_url")]
    pub webhook_url: Option<String>,
    /// When set, each notification carries `X-Switchboard-Signature: sha256=HEX`, the
    /// HMAC-SHA256 of the body under this key, so the receiver can tell it is genuine.
    #[serde(deserialize_with = "webhook_secret")]
    pub webhook_secret: Option<String>,
    /// Seconds a delivery attempt may take (connect, TLS, request and response
    /// headers) before it counts as failed and is retried.
    #[serde(deserialize_with = "webhook_timeout_secs")]
    pub webhook_timeout_secs: u64,
    /// Delay before the first retry of a failed delivery; it doubles with each further
    /// failure up to one hour (10 s, 20 s, 40 s … 1 h with the default).
    #[serde(deserialize_with = "webhook_retry_base_secs")]
    pub webhook_retry_base_secs: u64,
}

/// The longest wait between two delivery attempts of a webhook notification.
pub const WEBHOOK_MAX_RETRY_SECS: u64 = 3600;

/// Checks a webhook URL: absolute `http://` or `https://` with a host, no credentials.
/// The error says what is wrong, for the config error and for the sender.
pub fn parse_webhook_url(url: &str) -> Result<http::Uri, String> {
    if !url.contains("://") {
        return Err(format!(
            "webhook_url \"{url}\" must start with http:// or https://"
        ));
    }
    let uri: http::Uri = url.parse().map_err(|e| {
        format!("webhook_url \"{url}\" is not a valid URL ({e}); write it like https://hooks.example.com/switchboard")
    })?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(format!(
                "webhook_url \"{url}\" uses {other}://; only http:// and https:// are supported"
            ));
        }
        None => {
            return Err(format!(
                "webhook_url \"{url}\" must start with http:// or https://"
            ));
        }
    }
    let Some(authority) = uri.authority() else {
        return Err(format!("webhook_url \"{url}\" has no host"));
    };
    if authority.host().is_empty() {
        return Err(format!("webhook_url \"{url}\" has no host"));
    }
    if authority.as_str().contains('@') {
        return Err(format!(
            "webhook_url \"{url}\" contains user:password@, which is not sent; use webhook_secret to authenticate notifications"
        ));
    }
    Ok(uri)
}

/// `""` → no webhook; anything else must pass [`parse_webhook_url`].
fn webhook_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    parse_webhook_url(s)
        .map(|_| Some(s.to_string()))
        .map_err(serde::de::Error::custom)
}

fn webhook_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() {
        return Err(serde::de::Error::custom(
            "webhook_secret is empty; remove the line or set a long random string",
        ));
    }
    Ok(Some(s))
}

fn webhook_timeout_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let secs = u64::deserialize(d)?;
    if !(1..=300).contains(&secs) {
        return Err(serde::de::Error::custom(format!(
            "webhook_timeout_secs = {secs} must be between 1 and 300"
        )));
    }
    Ok(secs)
}

fn webhook_retry_base_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let secs = u64::deserialize(d)?;
    if !(1..=WEBHOOK_MAX_RETRY_SECS).contains(&secs) {
        return Err(serde::de::Error::custom(format!(
            "webhook_retry_base_secs = {secs} must be between 1 and {WEBHOOK_MAX_RETRY_SECS}"
        )));
    }
    Ok(secs)
}

fn retention_days<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let days = u32::deserialize(d)?;
    if days == 0 {
        return Err(serde::de::Error::custom(
            "retention_days = 0 would delete every call at once; leave the key out to keep \
             everything, or give a number of days (e.g. 365)",
        ));
    }
    Ok(Some(days))
}

/// `"10.0.0.0/8"` or a single address `"192.0.2.7"`.
fn networks<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    let list = Vec::<String>::deserialize(d)?;
    list.iter()
        .map(|s| {
            let s = s.trim();
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "trunks entry \"{s}\" must be an address (192.0.2.7) or a range (10.0.0.0/8)"
                    ))
                })
        })
        .collect()
}

impl ServerConfig {
    /// Whether INVITEs from `ip` come from a trusted trunk.
    pub fn is_trunk(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.trunks.iter().any(|n| n.contains(&ip))
    }
}

/// `"127.0.0.1:8080"` → that address; `"off"` or `""` → no admin API.
fn listen_or_off<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    match s.trim() {
        "" | "off" => Ok(None),
        addr => addr.parse().map(Some).map_err(|_| {
            serde::de::Error::custom(format!(
                "http_listen \"{addr}\" must be an address like 127.0.0.1:8080, or \"off\""
            ))
        }),
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            sip_listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            advertised_address: None,
            rtp_ports: PortRange {
                low: 20000,
                high: 29999,
            },
            data_dir: PathBuf::from("data"),
            prompts_dir: PathBuf::from("prompts"),
            retention_days: None,
            rtp_timeout_secs: 30,
            inband_dtmf: false,
            ring_before_answer_ms: 0,
            sip_timers: SipTimers::default(),
            http_listen: Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
            admin_token: None,
            trunks: vec![
                ipnet::IpNet::V4(ipnet::Ipv4Net::new_assert(std::net::Ipv4Addr::LOCALHOST, 8)),
                ipnet::IpNet::V6(ipnet::Ipv6Net::new_assert(
                    std::net::Ipv6Addr::LOCALHOST,
                    128,
                )),
            ],
            realm: "switchboard".to_string(),
            digest_algorithms: crate::registrar::DEFAULT_ALGORITHMS.to_vec(),
            webhook_url: None,
            webhook_secret: None,
            webhook_timeout_secs: 10,
            webhook_retry_base_secs: 10,
        }
    }
}

/// RFC 3261 §17.1.1.1 T1 (RTT estimate), T2 (max non-INVITE retransmit interval),
/// T4 (max time a message stays in the network), in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipTimers {
    pub t1_ms: u64,
    pub t2_ms: u64,
    pub t4_ms: u64,
}

impl Default for SipTimers {
    fn default() -> Self {
        Self {
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
        }
    }
}

impl SipTimers {
    pub fn t1(&self) -> Duration {
        Duration::from_millis(self.t1_ms)
    }
    pub fn t2(&self) -> Duration {
        Duration::from_millis(self.t2_ms)
    }
    pub fn t4(&self) -> Duration {
        Duration::from_millis(self.t4_ms)
    }
}

/// An inclusive port range written `"20000-29999"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl std::str::FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (lo, hi) = s
            .split_once('-')
            .ok_or_else(|| format!("port range \"{s}\" must look like 20000-29999"))?;
        let low: u16 = lo
            .trim()
            .parse()
            .map_err(|_| format!("\"{lo}\" is not a port number"))?;
        let high: u16 = hi
            .trim()
            .parse()
            .map_err(|_| format!("\"{hi}\" is not a port number"))?;
        if low == 0 || high < low.saturating_add(1) {
            return Err(format!(
                "port range \"{s}\" must be LOW-HIGH with 0 < LOW < HIGH"
            ));
        }
        Ok(PortRange { low, high })
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
