//! Real peers, issue 19 item 1: a sipp caller behind record-routing proxies (its INVITE
//! carries their Record-Route) learns the route set from Switchboard's 200 OK and sends
//! its ACK, INFO and BYE by it (`rrs="true"`, `[next_url]`, `[routes]`); Switchboard's
//! own BYE carries the route set. The scenarios check the headers themselves
//! (`check_it`), so a 200 without Record-Route or a BYE without Route fails them.
//!
//! `tests/proxy_topology.rs` runs the same flows through a real Kamailio the caller
//! cannot bypass.
mod common;

use common::*;

fn caller_by_route_set_sends_info_and_gets_our_routed_bye(transport: &str) {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, "", "");
    let res = sipp(p, "uac_rr_info.xml", transport, &[]);
    res.assert_ok(&router);
    let log = router.log();
    assert!(log.contains("caller pressed 1 (Info)"), "{log}");
    assert!(log.contains("menu demo: caller chose 1"), "{log}");
}

#[test]
fn udp_caller_behind_a_proxy_acks_infos_and_gets_bye_by_the_route_set() {
    caller_by_route_set_sends_info_and_gets_our_routed_bye("u1");
}

#[test]
fn tcp_caller_behind_a_proxy_acks_infos_and_gets_bye_by_the_route_set() {
    caller_by_route_set_sends_info_and_gets_our_routed_bye("t1");
}

#[test]
fn caller_behind_a_proxy_hangs_up_by_the_route_set() {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, "", "");
    let res = sipp(p, "uac_rr_bye.xml", "u1", &["-d", "1500"]);
    res.assert_ok(&router);
    let log = router.log();
    assert!(log.contains("caller hung up"), "{log}");
    assert!(!log.contains("no ACK for our 200 OK"), "{log}");
}
