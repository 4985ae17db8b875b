//! The CRM lookup (issue 14 item 2) in the core, on the virtual clock: the call asks on
//! arrival, waits for the answer as an input, routes by it (owner first, department,
//! priority, the headers to the phone), and routes normally when the answer fails or
//! does not come within `[lookup] timeout_ms`.

mod flows;

use std::time::Duration;

use flows::*;
use switchboard::call::{Lookup, LookupFailure};
use switchboard::endpoint::CallEvent;
use switchboard::model::CrmAnswer;

const PLAN: &str = r#"
[lookup]
url = "http://crm.example/lookup"
timeout_ms = 300
owner_wait_secs = 5

[[numbers]]
number = "1000"
source = "google-ads"
action = "department:sales"

[departments.sales]
members = ["elena", "andrew"]
strategy = "round-robin"
ring_timeout_secs = 10
overflow = "hangup"

[departments.support]
members = ["sofia"]
overflow = "hangup"

[managers.andrew]
extension = "101"
contact = "sip:101@10.0.0.5:5060"

[managers.elena]
extension = "102"
contact = "sip:102@10.0.0.6:5060"

[managers.sofia]
extension = "104"
contact = "sip:104@10.0.0.7:5060"
"#;

fn vip() -> CrmAnswer {
    CrmAnswer {
        owner: Some("andrew".into()),
        department: None,
        priority: Some(7),
        display_name: Some("ACME Corp / Jane Doe".into()),
        tags: vec!["vip".into(), "renewal".into()],
    }
}

fn looked_up(h: &H) -> Vec<(Option<CrmAnswer>, Option<LookupFailure>)> {
    h.events
        .iter()
        .filter_map(|e| match e {
            CallEvent::LookedUp {
                answer, failure, ..
            } => Some((answer.clone(), *failure)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_owner_the_crm_names_is_rung_first_with_the_crm_context() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    h.crm = Crm::Answer(vip());
    h.caller_calls("1000");
    // The call asked once, with the caller's and the dialled number.
    assert_eq!(h.crm_asked.len(), 1);
    let Lookup::Crm {
        caller,
        dialled,
        call_id,
        timeout,
        ..
    } = &h.crm_asked[0]
    else {
        unreachable!()
    };
    assert_eq!(
        (caller.as_str(), dialled.as_str(), call_id.as_str()),
        ("5551234", "1000", "caller-1")
    );
    assert_eq!(*timeout, Duration::from_millis(300));
    // Round-robin would ring elena first: the owner is rung instead.
    assert!(h.take_to(ELENA).is_empty());
    let invite = h.request_to(ANDREW, "INVITE");
    assert_eq!(header(&invite, "X-Switchboard-Owner"), "andrew");
    assert_eq!(header(&invite, "X-Switchboard-Priority"), "7");
    assert_eq!(header(&invite, "X-Switchboard-Tags"), "vip, renewal");
    assert_eq!(
        header(&invite, "X-Switchboard-Caller-Name"),
        "ACME Corp / Jane Doe"
    );
    assert!(
        header(&invite, "From").starts_with("\"ACME Corp / Jane Doe\" <sip:5551234@"),
        "{invite}"
    );
    assert!(
        header(&invite, "X-Switchboard-Reason").contains("the CRM says andrew owns this caller"),
        "{invite}"
    );
    assert_eq!(looked_up(&h), vec![(Some(vip()), None)]);
}

#[test]
fn no_answer_within_the_timeout_routes_normally_exactly_at_the_deadline() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    h.crm = Crm::Never;
    h.caller_answered("1000");
    // Answered and acknowledged, but nothing plays while the CRM is asked.
    assert!(h.last_play().is_none(), "{:?}", h.media);
    h.advance(Duration::from_millis(299));
    assert!(h.last_play().is_none(), "routed before the timeout");
    h.advance(Duration::from_millis(1));
    let play = h.last_play().expect("routed at the timeout");
    assert_eq!(play.1, vec!["connecting"]);
    assert_eq!(looked_up(&h), vec![(None, Some(LookupFailure::Timeout))]);
    h.finish_play(play.0);
    // The normal route: round-robin starts with elena.
    let invite = h.request_to(ELENA, "INVITE");
    assert!(!invite.contains("X-Switchboard-Owner"), "{invite}");
}

#[test]
fn a_failed_lookup_routes_normally_at_once() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    h.crm = Crm::Fail;
    h.caller_calls("1000");
    h.request_to(ELENA, "INVITE");
    assert_eq!(looked_up(&h), vec![(None, Some(LookupFailure::Error))]);
}

#[test]
fn a_late_answer_after_the_timeout_changes_nothing() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    h.crm = Crm::Never;
    h.caller_answered("1000");
    h.advance(Duration::from_millis(300));
    let key = h.caller_key();
    h.ep.handle_lookup(
        h.now,
        h.wall,
        key,
        switchboard::call::LookupResult::Crm(Ok(vip())),
    );
    h.drain();
    let play = h.last_play().unwrap();
    h.finish_play(play.0);
    h.request_to(ELENA, "INVITE");
    assert_eq!(looked_up(&h).len(), 1, "only the timeout was reported");
}

#[test]
fn the_crm_department_replaces_the_numbers_action() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    h.crm = Crm::Answer(CrmAnswer {
        department: Some("support".into()),
        ..CrmAnswer::default()
    });
    h.caller_calls("1000");
    h.request_to(SOFIA, "INVITE");
    assert!(h.take_to(ELENA).is_empty());
}

#[test]
fn an_owner_not_in_the_plan_is_ignored() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    h.crm = Crm::Answer(CrmAnswer {
        owner: Some("nobody".into()),
        ..CrmAnswer::default()
    });
    h.caller_calls("1000");
    let invite = h.request_to(ELENA, "INVITE");
    assert!(
        header(&invite, "X-Switchboard-Reason").contains("not a manager in the dial plan"),
        "{invite}"
    );
}

#[test]
fn without_lookup_nothing_is_asked() {
    let plan = PLAN.replace(
        "[lookup]\nurl = \"http://crm.example/lookup\"\ntimeout_ms = 300\nowner_wait_secs = 5\n",
        "",
    );
    let mut h = H::new("10.0.0.0/8", &plan);
    h.crm = Crm::Never;
    h.caller_calls("1000");
    assert!(h.crm_asked.is_empty());
    h.request_to(ELENA, "INVITE");
}
