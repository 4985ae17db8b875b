//! PostgreSQL-specific behaviour: several instances on one database. Migrations run
//! once when instances start together, callback claims are atomic across connections,
//! a batch survives a failing write, a reopened database keeps its data, and a server
//! restart under a running store loses no write.
//!
//! Starts its own throwaway server (`tests/common/pg.rs`); fails without PostgreSQL.

mod common;

use std::sync::{Arc, Barrier};

use jiff::Timestamp;
use switchboard::store::postgres::migrations::SCHEMA_VERSION;
use switchboard::store::{
    CallOutcome, CallRecord, CallbackReason, NewCallback, PostgresStore, Store, StoreError,
    StoreWorker, StoreWrite,
};

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_767_000_000 + secs).unwrap()
}

fn call(id: &str) -> CallRecord {
    CallRecord {
        call_id: id.into(),
        started_at: t(0),
        answered_at: None,
        ended_at: None,
        dialled: "5551000".into(),
        source: "main".into(),
        caller: "+1555".into(),
        caller_name: None,
        menu_path: vec![],
        decision: "menu:main".into(),
        reason: "catch-all".into(),
        department: None,
        answered_by: None,
        outcome: CallOutcome::InProgress,
        hangup_side: None,
        transfers: vec![],
        recording: None,
    }
}

fn new_callback(caller: &str) -> NewCallback {
    NewCallback {
        department: "sales".into(),
        caller: caller.into(),
        dialled: "5551000".into(),
        source: "main".into(),
        at: t(0),
        menu_path: vec![],
        reason: CallbackReason::Missed,
        recording_path: None,
        recording_secs: None,
        recording_flag: None,
    }
}

#[test]
fn instances_starting_together_migrate_once_and_share_data() {
    let server = common::pg::PgServer::start();
    let url = server.fresh_database();
    let n = 4;
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut s = PostgresStore::connect(&url).unwrap();
                s.upsert_call(&call(&format!("c{i}"))).unwrap();
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let versions = admin
        .query("SELECT version FROM switchboard_schema", &[])
        .unwrap();
    assert_eq!(versions.len(), 1, "one version row");
    assert_eq!(versions[0].get::<_, i64>(0), SCHEMA_VERSION);
    let s = PostgresStore::connect(&url).unwrap();
    assert_eq!(s.calls_between(t(-1), t(1)).unwrap().len(), n);
}

#[test]
fn a_newer_schema_is_refused() {
    let server = common::pg::PgServer::start();
    let url = server.fresh_database();
    drop(PostgresStore::connect(&url).unwrap());
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute("UPDATE switchboard_schema SET version = 999")
        .unwrap();
    let err = PostgresStore::connect(&url).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 999, .. }),
        "{err}"
    );
}

#[test]
fn exactly_one_of_many_concurrent_claimers_wins_across_connections() {
    let server = common::pg::PgServer::start();
    let url = server.fresh_database();
    let mut first = PostgresStore::connect(&url).unwrap();
    let ids: Vec<i64> = (0..20)
        .map(|i| {
            first
                .add_or_update_callback(&new_callback(&format!("+{i}")))
                .unwrap()
                .0
        })
        .collect();
    let managers = ["andrew", "bella", "chris", "dana"];
    let barrier = Arc::new(Barrier::new(managers.len()));
    let threads: Vec<_> = managers
        .iter()
        .map(|m| {
            let (url, barrier, ids, m) = (url.clone(), barrier.clone(), ids.clone(), *m);
            std::thread::spawn(move || {
                let mut s = PostgresStore::connect(&url).unwrap();
                barrier.wait();
                let mut won = Vec::new();
                for id in ids {
                    match s.claim_callback(id, m, t(1)) {
                        Ok(cb) => {
                            assert_eq!(cb.claimed_by.as_deref(), Some(m));
                            won.push(id);
                        }
                        Err(StoreError::AlreadyClaimed { by, .. }) => assert_ne!(by, m),
                        Err(e) => panic!("{e}"),
                    }
                }
                won
            })
        })
        .collect();
    let mut all: Vec<i64> = threads
        .into_iter()
        .flat_map(|th| th.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, ids, "every request claimed exactly once");
}

#[test]
fn the_store_thread_keeps_writes_through_a_restart_and_a_failing_write() {
    let server = common::pg::PgServer::start();
    let url = server.fresh_database();
    {
        let worker = StoreWorker::spawn(Box::new(PostgresStore::connect(&url).unwrap())).unwrap();
        let h = worker.handle();
        h.write(StoreWrite::UpsertCall(call("kept")));
        h.write(StoreWrite::RingAttempt(switchboard::store::RingAttempt {
            call_id: "ghost".into(),
            manager: "andrew".into(),
            started_at: t(1),
            ended_at: t(2),
            outcome: switchboard::store::RingOutcome::NoAnswer,
        }));
        h.write(StoreWrite::Callback {
            request: new_callback("+1"),
            notify: true,
        });
        // Shutdown commits what was queued.
        worker.shutdown().unwrap();
    }
    let s = PostgresStore::connect(&url).unwrap();
    assert!(s.get_call("kept").unwrap().is_some());
    assert_eq!(s.list_callbacks(None, None).unwrap().len(), 1);
    assert_eq!(s.due_webhooks(t(10), 10).unwrap().len(), 1);
}

/// PostgreSQL restarted under a running store (a minor upgrade, a failover): the
/// store reconnects, and neither the first write after it nor the first read is lost.
#[test]
fn writes_and_reads_go_on_after_postgresql_restarts() {
    let server = common::pg::PgServer::start();
    let url = server.fresh_database();
    let worker = StoreWorker::spawn(Box::new(PostgresStore::connect(&url).unwrap())).unwrap();
    let h = worker.handle();
    let stored = |id: &'static str| h.query(move |s| s.get_call(id)).unwrap().is_some();
    h.write(StoreWrite::UpsertCall(call("before")));
    assert!(stored("before"));

    server.restart();
    // The first batch finds the old connection closed: written on a new one.
    h.write(StoreWrite::UpsertCall(call("after")));
    assert!(stored("after"), "the first write after the restart");

    server.restart();
    // The first read, too.
    assert!(stored("before"), "the first read after the restart");
    worker.shutdown().unwrap();
}

#[test]
fn an_unreachable_server_says_what_to_check_without_the_password() {
    let err = PostgresStore::connect("postgres://sb:hunter2@127.0.0.1:1/switchboard").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("cannot connect to PostgreSQL"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("sb:***@127.0.0.1:1"), "{text}");
}
