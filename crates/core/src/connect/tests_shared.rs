//! Shared mode on a virtual clock: rings are claimed before they happen, refusals send
//! the call to the next manager or the queue, a caller who leaves mid-claim gives the
//! grant back, an unanswered claim fails closed, and other instances' load (the
//! snapshot) keeps managers from being offered beyond `max_calls`.

use std::time::Duration;

use super::tests::{T, names, queued_at, ring};
use super::*;

fn shared() -> T {
    let mut t = T::new();
    t.c.set_shared(true);
    t
}

fn claims(t: &mut T) -> Vec<Claim> {
    std::iter::from_fn(|| t.c.poll_claim()).collect()
}

/// The one ring claim among `claims`: (id, call, managers).
fn ring_claim(claims: &[Claim]) -> (u64, u64, Vec<String>) {
    let rings: Vec<_> = claims
        .iter()
        .filter_map(|c| match c {
            Claim::Ring {
                id, call, managers, ..
            } => Some((
                *id,
                call.0,
                managers.iter().map(|m| m.manager.clone()).collect(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(rings.len(), 1, "{claims:?}");
    rings.into_iter().next().unwrap()
}

fn answer_claim(
    t: &mut T,
    id: u64,
    call: u64,
    granted: &[&str],
    refused: &[&str],
) -> Vec<ConnectOutput> {
    let (now, wall) = (t.now, t.wall());
    t.c.handle_claimed(now, wall, id, CallKey(call), names(granted), names(refused));
    t.out()
}

#[test]
fn single_instance_mode_never_claims() {
    let mut t = T::new();
    assert_eq!(ring(&t.request(1, "sales")), vec![(1, names(&["andrew"]))]);
    t.answer(1, "andrew");
    t.hang_up("andrew");
    assert!(claims(&mut t).is_empty());
}

#[test]
fn a_ring_waits_for_its_claim_and_rings_who_was_granted() {
    let mut t = shared();
    assert!(
        t.request(1, "sales").is_empty(),
        "nothing rings before the claim"
    );
    let c = claims(&mut t);
    let (id, call, managers) = ring_claim(&c);
    assert_eq!((call, managers), (1, names(&["andrew"])));
    let Some(Claim::Ring {
        managers,
        department,
        ..
    }) = c.first()
    else {
        panic!("{c:?}")
    };
    assert_eq!(managers[0].max_calls, 1);
    assert_eq!(department.as_deref(), Some("sales"));
    let out = answer_claim(&mut t, id, 1, &["andrew"], &[]);
    assert_eq!(ring(&out), vec![(1, names(&["andrew"]))]);
    // Every change of andrew's load is reported for the other instances.
    t.answer(1, "andrew");
    t.hang_up("andrew");
    let c = claims(&mut t);
    assert!(
        c.contains(&Claim::Answered {
            call: CallKey(1),
            manager: "andrew".into()
        }),
        "{c:?}"
    );
    assert!(
        c.contains(&Claim::TalkEnded {
            manager: "andrew".into()
        }),
        "{c:?}"
    );
}

#[test]
fn a_refused_manager_counts_as_busy_and_the_next_one_is_claimed() {
    let mut t = shared();
    t.request(1, "sales");
    let (id, _, _) = ring_claim(&claims(&mut t));
    // Another instance holds andrew: the call asks for elena instead.
    let out = answer_claim(&mut t, id, 1, &[], &["andrew"]);
    assert!(ring(&out).is_empty());
    let (id, _, managers) = ring_claim(&claims(&mut t));
    assert_eq!(managers, names(&["elena"]));
    // Elena too: the caller queues (and the queue is shared).
    let out = answer_claim(&mut t, id, 1, &[], &["elena"]);
    assert_eq!(queued_at(&out), vec![(1, 1)]);
    let c = claims(&mut t);
    assert!(
        c.contains(&Claim::Queued {
            call: CallKey(1),
            department: "sales".into(),
            priority: 0
        }),
        "{c:?}"
    );
    assert_eq!(
        t.c.states(t.wall()).get("andrew").active_calls,
        1,
        "held elsewhere"
    );
}

#[test]
fn a_snapshot_frees_managers_and_wakes_the_queue_in_order() {
    let mut t = shared();
    t.request(1, "solo");
    let (id, _, _) = ring_claim(&claims(&mut t));
    answer_claim(&mut t, id, 1, &[], &["andrew"]);
    // Andrew counts as taken now: the next caller queues without asking.
    assert_eq!(queued_at(&t.request(2, "solo")), vec![(2, 2)]);
    assert_eq!(t.c.queue("solo"), vec![CallKey(1), CallKey(2)]);
    assert!(
        claims(&mut t)
            .iter()
            .all(|c| !matches!(c, Claim::Ring { .. }))
    );
    // The other instance still holds andrew: nothing to do.
    let mut busy = SharedSnapshot::default();
    busy.managers.insert(
        "andrew".into(),
        crate::agents::Elsewhere {
            talking: 1,
            ..Default::default()
        },
    );
    let (now, wall) = (t.now, t.wall());
    t.c.handle_snapshot(now, wall, &busy);
    assert!(claims(&mut t).is_empty());
    // Andrew is free there now: the first caller claims him, keeping their place until
    // granted.
    t.c.handle_snapshot(now, wall, &SharedSnapshot::default());
    let (id, call, _) = ring_claim(&claims(&mut t));
    assert_eq!(call, 1);
    assert_eq!(t.c.queue("solo"), vec![CallKey(1), CallKey(2)]);
    let out = answer_claim(&mut t, id, 1, &["andrew"], &[]);
    assert_eq!(ring(&out), vec![(1, names(&["andrew"]))]);
    assert_eq!(t.c.queue("solo"), vec![CallKey(2)]);
    assert!(claims(&mut t).contains(&Claim::LeftQueue { call: CallKey(1) }));
}

#[test]
fn a_caller_who_leaves_while_claiming_gives_the_grant_back() {
    let mut t = shared();
    t.request(1, "sales");
    let (id, _, _) = ring_claim(&claims(&mut t));
    let (now, wall) = (t.now, t.wall());
    t.c.handle_left(now, wall, CallKey(1));
    let out = answer_claim(&mut t, id, 1, &["andrew"], &[]);
    assert!(out.is_empty());
    assert_eq!(
        claims(&mut t),
        vec![Claim::RingEnded {
            call: CallKey(1),
            manager: "andrew".into()
        }]
    );
}

#[test]
fn an_unanswered_claim_fails_closed_and_a_late_grant_is_given_back() {
    let mut t = shared();
    t.request(1, "solo");
    let (id, _, _) = ring_claim(&claims(&mut t));
    // No answer: andrew counts as taken and the caller queues.
    let out = t.at(CLAIM_TIMEOUT + Duration::from_millis(1));
    assert_eq!(queued_at(&out), vec![(1, 1)]);
    assert!(ring(&out).is_empty());
    claims(&mut t);
    let out = answer_claim(&mut t, id, 1, &["andrew"], &[]);
    assert!(ring(&out).is_empty());
    assert_eq!(
        claims(&mut t),
        vec![Claim::RingEnded {
            call: CallKey(1),
            manager: "andrew".into()
        }]
    );
}

#[test]
fn load_elsewhere_counts_against_max_calls_and_pauses_are_shared() {
    let mut t = shared();
    let mut snap = SharedSnapshot::default();
    snap.managers.insert(
        "andrew".into(),
        crate::agents::Elsewhere {
            ringing: 1,
            ..Default::default()
        },
    );
    snap.managers.insert(
        "elena".into(),
        crate::agents::Elsewhere {
            paused: Some(crate::agents::Pause {
                reason: "lunch".into(),
                since: t.wall(),
            }),
            ..Default::default()
        },
    );
    let (now, wall) = (t.now, t.wall());
    t.c.handle_snapshot(now, wall, &snap);
    // Both are unavailable here: the call queues without claiming anyone.
    let out = t.request(1, "sales");
    assert_eq!(queued_at(&out), vec![(1, 1)]);
    assert!(
        claims(&mut t)
            .iter()
            .all(|c| !matches!(c, Claim::Ring { .. }))
    );
    let status = t.c.agents().status(&t.plan, t.wall());
    let elena = status.iter().find(|s| s.name == "elena").unwrap();
    assert_eq!(elena.state, "paused");
    let andrew = status.iter().find(|s| s.name == "andrew").unwrap();
    assert_eq!((andrew.state, andrew.ringing), ("ringing", 1));
    // A pause here is shared.
    t.c.handle_pause(now, wall, "andrew", "meeting");
    assert_eq!(
        claims(&mut t),
        vec![Claim::Pause {
            manager: "andrew".into(),
            reason: Some("meeting".into())
        }]
    );
}
