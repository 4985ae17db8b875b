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
    /// Where the database, recordings and state live.
    pub data_dir: PathBuf,
    /// Directory of WAV prompts, relative to the config file unless absolute.
    pub prompts_dir: PathBuf,
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
        }
    }
}

/// RFC 3261 §17.1.1.1 T1 (RTT estimate), T2 (max non-INVITE retransmit interval),
/// T4 (max time a message stays in the network), in milliseconds.
#[derive(Debug, Clone, Copy, Deserialize)]
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
