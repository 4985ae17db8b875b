//! Issue 19 item 1, behind a real proxy: callers reach Switchboard only through a
//! record-routing Kamailio (see `tests/common/netns.rs` for the topology: the callers'
//! network and Switchboard's network in their own namespaces, the proxy host on both,
//! forwarding RTP but no SIP). A 200 OK without Record-Route leaves the caller without a
//! route set, the proxy refuses its ACK, and the call dies; so these flows passing
//! shows the route set works both ways on the caller's leg, and the manager's leg
//! (record-routed through the same proxy) gets its ACK and BYE through it too.
//!
//! Needs root, `ip` (iproute2) and `kamailio`; fails, never skips, without them.
mod common;

use std::time::Duration;

use common::netns::{self, Topology};
use common::*;

const PLAN: &str = r#"
[[numbers]]
number = "1000"
action = "menu:main"

[menus.main]
prompt = "main_menu"
options = { "2" = "menu:more" }
timeout_secs = 10

[menus.more]
prompt = "support_menu"
options = { "1" = "play:goodbye -> hangup" }
timeout_secs = 10

[[numbers]]
number = "2000"
action = "department:sales"

[departments.sales]
members = ["andrew"]
ring_timeout_secs = 15
overflow = "hangup"
"#;

fn plan() -> String {
    format!(
        "{PLAN}\n[managers.andrew]\nextension = \"101\"\ncontact = \"sip:101@{}:5080\"\n",
        netns::SWITCH
    )
}

/// Switchboard in its namespace, taking calls from the proxy only.
fn router(t: &Topology) -> Router {
    let trunks = format!("trunks = [\"{}\"]", netns::PROXY_SWITCH_SIDE);
    Router::start_in_topology(t, &trunks, &plan())
}

fn assert_topology(t: &Topology) {
    assert!(
        !t.caller_can_reach_switchboard(netns::SIP_PORT),
        "the caller must not reach Switchboard's SIP port except through the proxy"
    );
    assert!(
        t.caller_can_reach_switchboard(netns::RTP_LOW),
        "media is routed by the proxy host"
    );
}

#[track_caller]
fn assert_ok(res: &SippResult, router: &Router, t: &Topology) {
    assert!(
        res.success,
        "sipp failed:\n{}\nrouter log:\n{}\nproxy log:\n{}",
        res.output,
        router.log(),
        t.proxy_log()
    );
}

/// How many in-dialog `method` requests the proxy routed by its Route (the ones it
/// record-routed) to a Request-URI starting with `target`.
fn routed(t: &Topology, method: &str, target: &str) -> usize {
    t.proxy_log()
        .matches(&format!("proxy: in-dialog {method} routed to {target}"))
        .count()
}

/// Switchboard's Contact, the manager's phone and the caller as Request-URIs.
fn switchboard() -> String {
    format!("sip:{}:{}", netns::SWITCH, netns::SIP_PORT)
}
fn manager_phone() -> String {
    format!("sip:{}:5080", netns::SWITCH)
}
fn caller() -> String {
    format!("sip:sipp@{}:5070", netns::CALLER)
}

#[test]
fn ivr_digits_by_info_and_rfc4733_through_a_record_routing_proxy() {
    let _g = serial();
    let t = Topology::start();
    assert_topology(&t);
    let router = router(&t);
    let pcap = repo().join("tests/data/dtmf_2833_1.pcap");
    let res = t.caller_sipp(
        "uac_proxy_ivr.xml",
        "1000",
        &["-key", "dtmf_pcap", pcap.to_str().unwrap()],
    );
    assert_ok(&res, &router, &t);
    let log = router.log();
    assert!(log.contains("caller pressed 2 (Info)"), "{log}");
    assert!(log.contains("menu main: caller chose 2"), "{log}");
    assert!(log.contains("caller pressed 1 (Rfc4733)"), "{log}");
    assert!(log.contains("menu more: caller chose 1"), "{log}");
    assert!(!log.contains("no ACK for our 200 OK"), "{log}");
    // The caller's ACK and INFO, and our BYE, all went by the route set.
    let plog = t.proxy_log();
    assert_eq!(routed(&t, "ACK", &switchboard()), 1, "{plog}");
    assert_eq!(routed(&t, "INFO", &switchboard()), 1, "{plog}");
    assert_eq!(routed(&t, "BYE", &caller()), 1, "{plog}");
    assert!(!t.proxy_log().contains("refused"), "{}", t.proxy_log());
}

#[test]
fn bridged_call_with_hold_and_the_callers_bye_through_a_record_routing_proxy() {
    let _g = serial();
    let t = Topology::start();
    assert_topology(&t);
    let dir = tempfile::tempdir().unwrap();
    let caller_audio = ulaw_file(dir.path(), "main_menu");
    let phone = t.phone(
        "uas_answer_via_proxy.xml",
        5080,
        &["-d", "300", "-key", "proxy", netns::PROXY_SWITCH_SIDE],
    );
    let router = router(&t);
    let res = t.caller_sipp(
        "uac_proxy_bridge.xml",
        "2000",
        &[
            "-d",
            "4000",
            "-key",
            "caller_audio",
            &format!("{},-1,0", caller_audio.display()),
        ],
    );
    assert_ok(&res, &router, &t);
    let phone_res = phone.wait();
    assert!(
        phone_res.success,
        "the manager's phone:\n{}\nrouter log:\n{}\nproxy log:\n{}",
        phone_res.output,
        router.log(),
        t.proxy_log()
    );
    router.wait_for_log("call ended", Duration::from_secs(5));
    let log = router.log();
    assert!(log.contains("andrew answered"), "{log}");
    assert!(log.contains("re-INVITE: media updated hold=true"), "{log}");
    assert!(log.contains("re-INVITE: media updated hold=false"), "{log}");
    assert!(log.contains("caller hung up"), "{log}");
    // Caller's leg: ACK ×3 (INVITE and two re-INVITEs) and BYE by the route set.
    // Manager's leg: our ACK and BYE through the proxy the phone record-routed.
    let plog = t.proxy_log();
    assert_eq!(routed(&t, "ACK", &switchboard()), 3, "{plog}");
    assert_eq!(routed(&t, "INVITE", &switchboard()), 2, "{plog}");
    assert_eq!(routed(&t, "BYE", &switchboard()), 1, "{plog}");
    // (sipp answers our BYE straight back rather than by its Via, so the BYE may be
    // retransmitted: at least one.)
    assert_eq!(routed(&t, "ACK", &manager_phone()), 1, "{plog}");
    assert!(routed(&t, "BYE", &manager_phone()) >= 1, "{plog}");
    assert!(!t.proxy_log().contains("refused"), "{}", t.proxy_log());
}
