//! Managers' state shared through PostgreSQL (`store::shared`), with several instances
//! as separate connections: no manager is granted beyond `max_calls` however the
//! claims race, a dead instance's claims stop counting within the lease, wrap-up and
//! pauses hold across instances, and department queues are served first come, first
//! served across instances.
//!
//! Starts its own throwaway PostgreSQL (`tests/common/pg.rs`); fails without it.

mod common;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use switchboard::connect::{Claim, ClaimManager};
use switchboard::media::CallKey;
use switchboard::store::PostgresStore;
use switchboard::store::shared::{LEASE, SharedState};

fn db() -> (common::pg::PgServer, String) {
    let server = common::pg::PgServer::start();
    let url = server.fresh_database();
    drop(PostgresStore::connect(&url).unwrap()); // migrate
    (server, url)
}

fn andrew(max_calls: u32, wrap_up_secs: u64) -> Vec<ClaimManager> {
    vec![ClaimManager {
        manager: "andrew".into(),
        max_calls,
        wrap_up: Duration::from_secs(wrap_up_secs),
    }]
}

#[test]
fn racing_instances_never_get_a_manager_beyond_max_calls() {
    let (_server, url) = db();
    let instances = 3;
    let rounds = 40;
    let barrier = Arc::new(Barrier::new(instances));
    let threads: Vec<_> = (0..instances)
        .map(|i| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut s = SharedState::start(&url, &format!("sb{i}")).unwrap();
                let mut won = 0;
                for round in 0..rounds {
                    barrier.wait();
                    let call = CallKey(round);
                    let g = s.claim_ring(call, &andrew(2, 0), None, 0).unwrap();
                    barrier.wait();
                    // Everyone has asked: count, then release for the next round.
                    if !g.granted.is_empty() {
                        won += 1;
                        s.apply(&Claim::RingEnded {
                            call,
                            manager: "andrew".into(),
                        })
                        .unwrap();
                    }
                    barrier.wait();
                }
                won
            })
        })
        .collect();
    let wins: Vec<u32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    // Exactly max_calls (2) of the 3 claimers win each round.
    assert_eq!(wins.iter().sum::<u32>(), 2 * rounds as u32, "{wins:?}");
}

#[test]
fn a_dead_instances_claims_stop_counting_within_the_lease() {
    let (_server, url) = db();
    let mut a = SharedState::start(&url, "a").unwrap();
    let mut b = SharedState::start(&url, "b").unwrap();
    assert_eq!(
        a.claim_ring(CallKey(1), &andrew(1, 0), None, 0)
            .unwrap()
            .granted
            .len(),
        1
    );
    a.apply(&Claim::Answered {
        call: CallKey(1),
        manager: "andrew".into(),
    })
    .unwrap();
    assert_eq!(
        b.claim_ring(CallKey(9), &andrew(1, 0), None, 0)
            .unwrap()
            .refused
            .len(),
        1
    );
    let snap = b.snapshot().unwrap();
    assert_eq!(snap.managers.get("andrew").map(|e| e.talking), Some(1));
    // "a" dies: no more heartbeats. "b" keeps its lease.
    drop(a);
    let start = std::time::Instant::now();
    loop {
        b.heartbeat().unwrap();
        let g = b.claim_ring(CallKey(9), &andrew(1, 0), None, 0).unwrap();
        if !g.granted.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < LEASE + Duration::from_secs(2),
            "still held after the lease"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        start.elapsed() <= LEASE + Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert!(
        b.snapshot()
            .unwrap()
            .managers
            .get("andrew")
            .is_none_or(|e| e.talking == 0)
    );
    // A restarted "a" starts clean; a clean stop frees at once.
    let mut a = SharedState::start(&url, "a").unwrap();
    b.apply(&Claim::RingEnded {
        call: CallKey(9),
        manager: "andrew".into(),
    })
    .unwrap();
    assert_eq!(
        a.claim_ring(CallKey(2), &andrew(1, 0), None, 0)
            .unwrap()
            .granted
            .len(),
        1
    );
    a.stop().unwrap();
    assert_eq!(
        b.claim_ring(CallKey(10), &andrew(1, 0), None, 0)
            .unwrap()
            .granted
            .len(),
        1
    );
}

#[test]
fn wrap_up_and_pauses_hold_across_instances() {
    let (_server, url) = db();
    let mut a = SharedState::start(&url, "a").unwrap();
    let mut b = SharedState::start(&url, "b").unwrap();
    assert_eq!(
        a.claim_ring(CallKey(1), &andrew(1, 30), None, 0)
            .unwrap()
            .granted
            .len(),
        1
    );
    a.apply(&Claim::Answered {
        call: CallKey(1),
        manager: "andrew".into(),
    })
    .unwrap();
    a.apply(&Claim::TalkEnded {
        manager: "andrew".into(),
    })
    .unwrap();
    // In wrap-up (30 s) for every instance; a department without wrap-up may ring.
    assert_eq!(
        b.claim_ring(CallKey(2), &andrew(1, 30), None, 0)
            .unwrap()
            .refused
            .len(),
        1
    );
    assert!(
        b.snapshot().unwrap().managers["andrew"]
            .last_call_end
            .is_some()
    );
    assert_eq!(
        b.claim_ring(CallKey(3), &andrew(1, 0), None, 0)
            .unwrap()
            .granted
            .len(),
        1
    );
    b.apply(&Claim::RingEnded {
        call: CallKey(3),
        manager: "andrew".into(),
    })
    .unwrap();
    // Paused on "a": refused on "b" until unpaused.
    a.apply(&Claim::Pause {
        manager: "andrew".into(),
        reason: Some("lunch".into()),
    })
    .unwrap();
    assert_eq!(
        b.claim_ring(CallKey(4), &andrew(1, 0), None, 0)
            .unwrap()
            .refused
            .len(),
        1
    );
    let snap = b.snapshot().unwrap();
    assert_eq!(
        snap.managers["andrew"]
            .paused
            .as_ref()
            .map(|p| p.reason.as_str()),
        Some("lunch")
    );
    a.apply(&Claim::Pause {
        manager: "andrew".into(),
        reason: None,
    })
    .unwrap();
    assert_eq!(
        b.claim_ring(CallKey(4), &andrew(1, 0), None, 0)
            .unwrap()
            .granted
            .len(),
        1
    );
}

#[test]
fn department_callers_are_served_first_come_first_served_across_instances() {
    let (_server, url) = db();
    let mut a = SharedState::start(&url, "a").unwrap();
    let mut b = SharedState::start(&url, "b").unwrap();
    let queued = |call: u64, priority: u8| Claim::Queued {
        call: CallKey(call),
        department: "sales".into(),
        priority,
    };
    a.apply(&queued(1, 0)).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    b.apply(&queued(2, 0)).unwrap();
    // B's caller came later: andrew goes to A's.
    let g = b
        .claim_ring(CallKey(2), &andrew(1, 0), Some("sales"), 0)
        .unwrap();
    assert!(g.granted.is_empty());
    // A new caller on B without a queue entry is behind A's too; another department
    // is not.
    assert!(
        b.claim_ring(CallKey(3), &andrew(1, 0), Some("sales"), 0)
            .unwrap()
            .granted
            .is_empty()
    );
    let g = a
        .claim_ring(CallKey(1), &andrew(1, 0), Some("sales"), 0)
        .unwrap();
    assert_eq!(g.granted.len(), 1);
    a.apply(&Claim::LeftQueue { call: CallKey(1) }).unwrap();
    a.apply(&Claim::RingEnded {
        call: CallKey(1),
        manager: "andrew".into(),
    })
    .unwrap();
    // A's caller was served: B's is next.
    assert_eq!(
        b.claim_ring(CallKey(2), &andrew(1, 0), Some("sales"), 0)
            .unwrap()
            .granted
            .len(),
        1
    );
    b.apply(&Claim::RingEnded {
        call: CallKey(2),
        manager: "andrew".into(),
    })
    .unwrap();
    // A higher priority waiting on B goes before an earlier normal caller on A.
    a.apply(&queued(5, 0)).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    b.apply(&queued(6, 9)).unwrap();
    assert!(
        a.claim_ring(CallKey(5), &andrew(1, 0), Some("sales"), 0)
            .unwrap()
            .granted
            .is_empty()
    );
    assert_eq!(
        b.claim_ring(CallKey(6), &andrew(1, 0), Some("sales"), 9)
            .unwrap()
            .granted
            .len(),
        1
    );
}
