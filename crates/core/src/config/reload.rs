//! What `switchboard reload` (SIGHUP) may change in `[server]`, and what waits for a
//! restart.
//!
//! A reload re-reads the whole file. The dial plan and the settings below marked
//! *run time* take effect at once (for calls and transactions that start afterwards);
//! the sockets and folders the router opened at start keep their old values, and the
//! reload says so by name instead of pretending everything was taken.
//!
//! | setting | on reload |
//! |---|---|
//! | `trunks`, `trust_asserted_identity`, `dialled_number`, `realm`, `digest_algorithms`, `sip_timers`, `rtp_timeout_secs`, `session_expires_secs`, `inband_dtmf`, `ring_before_answer_ms`, `drain_secs` | run time |
//! | `webhook_url`, `webhook_secret`, `webhook_timeout_secs`, `webhook_retry_base_secs`, `webhook_events`, `webhook_format` | run time |
//! | `prompts_dir` (and every prompt file in it) | run time |
//! | `retention_days` | run time |
//! | `tls_certificate`, `tls_private_key` (and the files, re-read on every reload), `tls_server_name`, `tls_ca_file`, `tls_verify_peers`, `tls_peer_names`, `tls_handshake_secs` | run time |
//! | `srtp` | run time (calls that start afterwards) |
//! | `rate_limit`, `rate_burst`, `ban_secs`, `trunk_rate_limit`, `refused_invites`, `max_transactions`, `auth_max_failures`, `auth_lockout_secs`, `allow_legacy_digest` | run time (from the next message; bans and lockouts in force are kept, `rate_limit = 0` lifts the bans) |
//! | `rtp_latch`, `rtp_relatch_after_ms`, the `tcp_*` keys, `sip_max_message_bytes`, `admin_hosts`, `report_max_days` | restart |
//! | `sip_tls_listen`, `sip_listen`, `advertised_address`, `rtp_ports`, `data_dir`, `http_listen`, `admin_token` | restart |

use std::fmt::Debug;

use super::ServerConfig;

/// A `[server]` setting whose new value waits for a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeedsRestart {
    pub key: &'static str,
    /// The value in force (kept until the restart).
    pub running: String,
    /// The value in the file.
    pub wanted: String,
}

impl std::fmt::Display for NeedsRestart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} → {}; the router keeps {} until it is restarted)",
            self.key, self.running, self.wanted, self.running
        )
    }
}

/// What a reload did with `[server]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerReload {
    /// Settings whose new values are in force now.
    pub applied: Vec<&'static str>,
    /// Settings that changed in the file but need a restart.
    pub needs_restart: Vec<NeedsRestart>,
}

/// The `[server]` to run with after a reload: every run-time setting from `new`, every
/// restart-only setting kept from `running`; and which changed.
///
/// The match on every field is exhaustive on purpose: a new `[server]` key does not
/// compile until someone decides whether a reload may change it.
pub fn merge_reload(running: &ServerConfig, new: ServerConfig) -> (ServerConfig, ServerReload) {
    let ServerConfig {
        sip_listen,
        sip_tls_listen,
        tls_certificate,
        tls_private_key,
        tls_server_name,
        tls_ca_file,
        tls_verify_peers,
        tls_peer_names,
        tls_handshake_secs,
        srtp,
        advertised_address,
        rtp_ports,
        data_dir,
        prompts_dir,
        retention_days,
        rtp_timeout_secs,
        session_expires_secs,
        inband_dtmf,
        ring_before_answer_ms,
        sip_timers,
        realm,
        digest_algorithms,
        http_listen,
        admin_token,
        trunks,
        trust_asserted_identity,
        dialled_number,
        webhook_url,
        webhook_secret,
        webhook_timeout_secs,
        webhook_retry_base_secs,
        webhook_events,
        webhook_format,
        rtp_latch,
        rtp_relatch_after_ms,
        rate_limit,
        rate_burst,
        ban_secs,
        trunk_rate_limit,
        refused_invites,
        max_transactions,
        auth_max_failures,
        auth_lockout_secs,
        allow_legacy_digest,
        tcp_idle_secs,
        tcp_keepalive_secs,
        tcp_message_secs,
        tcp_max_connections,
        tcp_max_per_source,
        sip_max_message_bytes,
        admin_hosts,
        report_max_days,
        drain_secs,
    } = new;
    let mut out = running.clone();
    let mut report = ServerReload::default();
    macro_rules! run_time {
        ($($field:ident),*) => {$(
            if out.$field != $field {
                report.applied.push(stringify!($field));
                out.$field = $field;
            }
        )*};
    }
    macro_rules! restart {
        ($($field:ident => $show:expr),*) => {$(
            if running.$field != $field {
                report.needs_restart.push(NeedsRestart {
                    key: stringify!($field),
                    running: $show(&running.$field),
                    wanted: $show(&$field),
                });
            }
        )*};
    }
    run_time!(
        drain_secs,
        trunks,
        trust_asserted_identity,
        dialled_number,
        realm,
        digest_algorithms,
        sip_timers,
        rtp_timeout_secs,
        session_expires_secs,
        inband_dtmf,
        ring_before_answer_ms,
        webhook_url,
        webhook_secret,
        webhook_timeout_secs,
        webhook_retry_base_secs,
        webhook_events,
        webhook_format,
        prompts_dir,
        retention_days,
        tls_certificate,
        tls_private_key,
        tls_server_name,
        tls_ca_file,
        tls_verify_peers,
        tls_peer_names,
        tls_handshake_secs,
        srtp,
        // The guards take new limits at once (bans and lockouts in force are kept).
        rate_limit,
        rate_burst,
        ban_secs,
        trunk_rate_limit,
        refused_invites,
        max_transactions,
        auth_max_failures,
        auth_lockout_secs,
        allow_legacy_digest
    );
    restart!(
        sip_listen => display,
        sip_tls_listen => |a: &Option<std::net::SocketAddr>| a.map_or("off".to_string(), |a| a.to_string()),
        advertised_address => |a: &Option<std::net::IpAddr>| a.map_or("none".to_string(), |a| a.to_string()),
        rtp_ports => |r: &crate::media::ports::PortRange| format!("{}-{}", r.low, r.high),
        data_dir => |d: &std::path::PathBuf| d.display().to_string(),
        http_listen => |a: &Option<std::net::SocketAddr>| a.map_or("off".to_string(), |a| a.to_string()),
        admin_token => |t: &Option<String>| if t.is_some() { "(a token)".to_string() } else { "(none)".to_string() },
        // The media plane's latching, the TCP listener and the admin API are built
        // with these at start.
        rtp_latch => |m: &crate::media::latch::LatchMode| format!("{m:?}"),
        rtp_relatch_after_ms => display,
        tcp_idle_secs => display,
        tcp_keepalive_secs => display,
        tcp_message_secs => display,
        tcp_max_connections => display,
        tcp_max_per_source => display,
        sip_max_message_bytes => display,
        admin_hosts => |h: &Vec<String>| h.join(", "),
        report_max_days => display
    );
    (out, report)
}

fn display<T: std::fmt::Display + Debug>(v: &T) -> String {
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_time_settings_are_taken_and_sockets_wait_for_a_restart() {
        let running = ServerConfig::default();
        let new = ServerConfig {
            trunks: vec!["192.0.2.0/24".parse().unwrap()],
            digest_algorithms: vec![crate::registrar::digest::Algorithm::Md5],
            sip_listen: "0.0.0.0:5070".parse().unwrap(),
            admin_token: Some("secret".into()),
            rate_limit: 5,
            refused_invites: crate::guard::RefuseMode::Silent,
            ..ServerConfig::default()
        };
        let (merged, report) = merge_reload(&running, new);
        assert_eq!(
            report.applied,
            vec![
                "trunks",
                "digest_algorithms",
                "rate_limit",
                "refused_invites"
            ]
        );
        assert_eq!(merged.rate_limit, 5);
        assert_eq!(merged.trunks, vec!["192.0.2.0/24".parse().unwrap()]);
        assert_eq!(merged.sip_listen, running.sip_listen, "kept until restart");
        assert_eq!(merged.admin_token, None);
        let keys: Vec<&str> = report.needs_restart.iter().map(|n| n.key).collect();
        assert_eq!(keys, vec!["sip_listen", "admin_token"]);
        assert_eq!(
            report.needs_restart[0].to_string(),
            "sip_listen (127.0.0.1:5060 → 0.0.0.0:5070; the router keeps 127.0.0.1:5060 until it is restarted)"
        );
        assert!(
            !report.needs_restart[1].to_string().contains("secret"),
            "tokens are never printed"
        );
    }

    #[test]
    fn an_unchanged_file_changes_nothing() {
        let running = ServerConfig::default();
        let (_, report) = merge_reload(&running, ServerConfig::default());
        assert_eq!(report, ServerReload::default());
    }
}
