//! The `[server]` section: sockets, media ports, protocol timers. Every field has a
//! default so a dial plan file without a `[server]` section still runs.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::media::ports::PortRange;
use crate::transaction::SipTimers;
use serde::Deserialize;

/// Where and how Switchboard runs. Command-line flags override these fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// SIP listen address, used for both UDP and TCP.
    pub sip_listen: SocketAddr,
    /// SIP over TLS (RFC 3261 §26, usually port 5061): off unless set. Needs
    /// `tls_certificate` and `tls_private_key`. See docs/tls.md.
    #[serde(deserialize_with = "listen_or_off")]
    pub sip_tls_listen: Option<SocketAddr>,
    /// PEM file with our certificate, then any intermediates (the full chain). Relative
    /// to the config file unless absolute. Re-read on every reload (SIGHUP), so a
    /// renewed certificate under the same name is taken without a restart.
    pub tls_certificate: Option<PathBuf>,
    /// PEM file with the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub tls_private_key: Option<PathBuf>,
    /// The name phones and trunks use to reach us (e.g. `sip.example.com`); when set,
    /// the certificate must be valid for it, checked at start and on reload.
    pub tls_server_name: Option<String>,
    /// PEM file of the certificate authorities we trust when we connect to a peer over
    /// TLS (a trunk, a phone with a static `sips:` contact). Default: the Mozilla root
    /// store built into Switchboard.
    pub tls_ca_file: Option<PathBuf>,
    /// Verify the certificates of peers we connect to (default). `false` accepts any
    /// certificate, which lets anyone on the path impersonate the peer: for tests
    /// only, and logged as an error at start and on every connection.
    pub tls_verify_peers: bool,
    /// The name each peer's certificate must carry, by the address we connect to
    /// (`{ "203.0.113.5" = "sip.carrier.example" }`); a peer not listed must have its
    /// IP address in its certificate.
    #[serde(deserialize_with = "peer_names")]
    pub tls_peer_names: BTreeMap<IpAddr, String>,
    /// Seconds a TLS handshake may take, inbound or outbound, before the connection is
    /// closed (a stranger that opens the port and says nothing).
    pub tls_handshake_secs: u64,
    /// SRTP (RFC 3711, keys by SDES RFC 4568) for calls and phones: `"off"` (plain RTP
    /// only, `RTP/SAVP` offers refused), `"optional"` (default: SRTP when the peer
    /// offers it, and offered to phones reached over TLS) or `"required"` (plain RTP
    /// refused with 488). A manager's own `srtp` overrides it for their phones.
    pub srtp: crate::media::srtp::SrtpPolicy,
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
    /// RFC 4028 session timers a caller's trunk asks for: the longest interval
    /// accepted (a longer request is reduced to it). The trunk refreshes the call with
    /// a re-INVITE; a call it stops refreshing is hung up (a dead trunk's call on hold
    /// sends no audio, so only this ends it). 0 turns timers off. See
    /// docs/interop.md, "Session timers".
    #[serde(deserialize_with = "session_expires_secs")]
    pub session_expires_secs: u32,
    /// How a call's RTP stream picks the one address it accepts media from (strict
    /// latching, see docs/security.md): `"learn"` (default) takes the SDP address or
    /// the first run of consecutive packets of one source, `"sdp"` only the SDP
    /// address, `"any"` follows whoever sent last (unsafe: anyone can take a call's
    /// audio over).
    pub rtp_latch: crate::media::latch::LatchMode,
    /// Silence from a latched RTP source after which a new address that continues the
    /// same stream (SSRC and sequence) is followed: a NAT rebinding. 0 never re-latches.
    pub rtp_relatch_after_ms: u64,
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
    /// Which number of a trunk's INVITE the dial plan's `[[numbers]]` match:
    /// `"request_uri"` (default), or `"original"`: the number a forwarded call was
    /// first sent to, from `History-Info` (RFC 7044) or `Diversion` (RFC 5806), so a
    /// campaign number survives a PBX's or carrier's forward. See docs/dialplan.md.
    pub dialled_number: crate::sip::redirect::DialledNumber,
    /// Take the caller's number from P-Asserted-Identity (RFC 3325) when a trunk sends
    /// one, From otherwise. Trunks are the trust domain (§2.3); anyone else's
    /// P-Asserted-Identity is removed on arrival whatever this says (§5).
    pub trust_asserted_identity: bool,
    /// Messages per second one non-trunk address may send on average (REGISTER,
    /// INVITE, OPTIONS…); over `rate_burst` at once it is ignored for `ban_secs`.
    /// 0 turns rate limits off. See docs/security.md.
    pub rate_limit: u32,
    pub rate_burst: u32,
    pub ban_secs: u64,
    /// Messages per second for each trunk address; 0 (default) = not limited.
    pub trunk_rate_limit: u32,
    /// What an INVITE from neither a trunk nor a registered phone gets: `"answer"` (one
    /// stateless 403) or `"silent"` (nothing). Never a retransmitted response.
    pub refused_invites: crate::guard::RefuseMode,
    /// Open SIP transactions above which requests from non-trunk addresses are
    /// dropped, so a flood cannot take the memory trunk calls need.
    pub max_transactions: usize,
    /// Failed digest authentications (per address and per login) within 10 minutes
    /// that lock that address or login out; 0 = never.
    pub auth_max_failures: u32,
    /// The first lockout; each further one of the same address or login doubles, up
    /// to an hour. The right password is refused too while it lasts.
    pub auth_lockout_secs: u64,
    /// Accept digest responses without `qop=auth` (RFC 2069, some very old phones).
    /// Off by default: such responses are easier to replay.
    pub allow_legacy_digest: bool,
    /// SIP over TCP: seconds a connection may stay open without completing a message.
    pub tcp_idle_secs: u64,
    /// Seconds a connection that has carried a complete message (a phone that
    /// registered, a trunk) may stay idle; CRLF keepalives (RFC 5626) refresh it.
    pub tcp_keepalive_secs: u64,
    /// Seconds a started message (headers, then the body Content-Length promises) may
    /// take to arrive completely.
    pub tcp_message_secs: u64,
    /// TCP connections at once, in total and from one address.
    pub tcp_max_connections: usize,
    pub tcp_max_per_source: usize,
    /// The largest SIP message accepted over TCP, in bytes.
    pub sip_max_message_bytes: usize,
    /// Host names (besides loopback names and addresses) the admin API answers to when
    /// no `admin_token` is set: a defence against DNS rebinding from a browser.
    pub admin_hosts: Vec<String>,
    /// The longest period one report request may cover, in days.
    pub report_max_days: u32,
    /// On a stop (SIGTERM), how many seconds calls in progress may go on while new
    /// calls are refused with 503 (a proxy in front sends them elsewhere); the calls
    /// still up then are hung up. 0 (the default) hangs up at once. See
    /// docs/deploy.md, "Stopping and restarting".
    pub drain_secs: u64,
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
    /// Which events are posted to `webhook_url`: names from [`WEBHOOK_EVENTS`], or
    /// `call.*` for every call event, or `*` for everything. Default: new callback
    /// requests and alerts (what Switchboard sent before call events existed).
    #[serde(deserialize_with = "webhook_events")]
    pub webhook_events: Vec<String>,
    /// The body's format: Switchboard's own JSON, or a message for a Slack or Microsoft
    /// Teams incoming webhook (see docs/integrations.md).
    pub webhook_format: WebhookFormat,
}

/// How a webhook body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// The event's JSON as documented (for CRMs, n8n, your own service).
    #[default]
    Json,
    /// `{"text": ...}` for a Slack incoming webhook.
    Slack,
    /// An Adaptive Card message for a Teams incoming webhook or workflow.
    Teams,
}

/// Every event type a webhook can be sent (docs/integrations.md has the schema).
pub const WEBHOOK_EVENTS: &[&str] = &[
    "callback.created",
    "voicemail.created",
    "alert.raised",
    "call.started",
    "call.routed",
    "call.queued",
    "call.left_queue",
    "call.ringing",
    "call.ring_ended",
    "call.answered",
    "call.transferred",
    "call.recorded",
    "call.ended",
];

/// Whether `selection` (a `webhook_events` list) picks `event`.
pub fn selects(selection: &[String], event: &str) -> bool {
    selection.iter().any(|s| {
        s == "*"
            || s == event
            || s.strip_suffix(".*")
                .is_some_and(|prefix| event.split('.').next() == Some(prefix))
    })
}

fn webhook_events<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let list = Vec::<String>::deserialize(d)?;
    for e in &list {
        let known = e == "*"
            || WEBHOOK_EVENTS.contains(&e.as_str())
            || e.strip_suffix(".*").is_some_and(|p| {
                WEBHOOK_EVENTS
                    .iter()
                    .any(|w| w.split('.').next() == Some(p))
            });
        if !known {
            let dym = super::diagnostic::did_you_mean(e, WEBHOOK_EVENTS.iter().copied());
            return Err(serde::de::Error::custom(format!(
                "webhook_events: \"{e}\" is not an event{dym}; the events are {}, or \
                 \"call.*\" and \"*\"",
                WEBHOOK_EVENTS.join(", ")
            )));
        }
    }
    Ok(list)
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

fn session_expires_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let secs = u32::deserialize(d)?;
    let min = crate::dialog::session_timer::MIN_SE;
    if secs != 0 && !(min..=86_400).contains(&secs) {
        return Err(serde::de::Error::custom(format!(
            "session_expires_secs = {secs} must be 0 (no session timers) or between {min} \
             (RFC 4028's smallest) and 86400; 1800 is what most trunks use"
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

/// `{ "203.0.113.5" = "sip.carrier.example" }`: IP address → expected certificate name.
fn peer_names<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<IpAddr, String>, D::Error> {
    let raw = BTreeMap::<String, String>::deserialize(d)?;
    raw.into_iter()
        .map(|(addr, name)| {
            let ip = addr.trim().parse::<IpAddr>().map_err(|_| {
                serde::de::Error::custom(format!(
                    "tls_peer_names key \"{addr}\" must be an IP address (e.g. \"203.0.113.5\")"
                ))
            })?;
            let name = name.trim().to_string();
            if name.is_empty() {
                return Err(serde::de::Error::custom(format!(
                    "tls_peer_names: the name for {ip} is empty"
                )));
            }
            Ok((ip, name))
        })
        .collect()
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
    /// The per-source rate limits (`rate_limit`, `rate_burst`, `ban_secs`,
    /// `trunk_rate_limit`).
    pub fn rate(&self) -> crate::guard::RateConfig {
        crate::guard::RateConfig {
            rate: f64::from(self.rate_limit),
            burst: f64::from(self.rate_burst.max(self.rate_limit)),
            ban: Duration::from_secs(self.ban_secs),
            trunk_rate: f64::from(self.trunk_rate_limit),
            ..crate::guard::RateConfig::default()
        }
    }

    /// The failed-authentication lockouts (`auth_max_failures`, `auth_lockout_secs`).
    pub fn lockout(&self) -> crate::guard::LockoutConfig {
        let secs = i64::try_from(self.auth_lockout_secs).unwrap_or(i64::MAX);
        crate::guard::LockoutConfig {
            max_failures: self.auth_max_failures,
            lockout_secs: secs,
            max_lockout_secs: secs.max(3600),
            ..crate::guard::LockoutConfig::default()
        }
    }

    /// The media streams' latching settings (`rtp_latch`, `rtp_relatch_after_ms`).
    pub fn latch(&self) -> crate::media::latch::LatchConfig {
        crate::media::latch::LatchConfig {
            mode: self.rtp_latch,
            relatch_after: Duration::from_millis(self.rtp_relatch_after_ms),
        }
    }

    /// The SIP UDP port when it lies inside `rtp_ports`. RTP sockets bind on the SIP
    /// listener's address, so every call that drew that port would fail with "cannot use
    /// RTP port" (and the port would be retired); refused when the config loads instead.
    /// TLS, TCP and HTTP listeners are TCP and share no port space with RTP.
    pub fn sip_port_in_rtp_range(&self) -> Option<u16> {
        let port = self.sip_listen.port();
        (self.rtp_ports.low..=self.rtp_ports.high)
            .contains(&port)
            .then_some(port)
    }

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
                "\"{addr}\" must be an address like 127.0.0.1:8080 (or 0.0.0.0:5061), or \"off\""
            ))
        }),
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            sip_listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            sip_tls_listen: None,
            tls_certificate: None,
            tls_private_key: None,
            tls_server_name: None,
            tls_ca_file: None,
            tls_verify_peers: true,
            tls_peer_names: BTreeMap::new(),
            tls_handshake_secs: 10,
            srtp: crate::media::srtp::SrtpPolicy::Optional,
            advertised_address: None,
            rtp_ports: PortRange {
                low: 20000,
                high: 29999,
            },
            data_dir: PathBuf::from("data"),
            prompts_dir: PathBuf::from("prompts"),
            retention_days: None,
            rtp_timeout_secs: 30,
            session_expires_secs: 1800,
            rtp_latch: crate::media::latch::LatchMode::Learn,
            rtp_relatch_after_ms: 1000,
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
            rate_limit: 20,
            rate_burst: 60,
            ban_secs: 60,
            trunk_rate_limit: 0,
            refused_invites: crate::guard::RefuseMode::Answer,
            trust_asserted_identity: true,
            dialled_number: crate::sip::redirect::DialledNumber::RequestUri,
            max_transactions: 20_000,
            auth_max_failures: 5,
            auth_lockout_secs: 60,
            allow_legacy_digest: false,
            tcp_idle_secs: 30,
            tcp_keepalive_secs: 300,
            tcp_message_secs: 10,
            tcp_max_connections: 4096,
            tcp_max_per_source: 32,
            sip_max_message_bytes: crate::sip::frame::MAX_MESSAGE_SIZE,
            admin_hosts: Vec::new(),
            report_max_days: 366,
            drain_secs: 0,
            webhook_url: None,
            webhook_secret: None,
            webhook_timeout_secs: 10,
            webhook_retry_base_secs: 10,
            webhook_events: vec!["callback.created".into(), "alert.raised".into()],
            webhook_format: WebhookFormat::Json,
        }
    }
}
