//! SQLite-specific behaviour: migrations, durability across restarts (through the worker
//! thread), atomic claims across connections, and the worker's query paths.

use std::sync::{Arc, Barrier};

use jiff::Timestamp;
use rusqlite::Connection;
use switchboard::store::migrations::{MIGRATIONS, SCHEMA_VERSION};
use switchboard::store::{
    CallOutcome, CallRecord, CallbackReason, CallbackStatus, NewCallback, SqliteStore, Store,
    StoreError, StoreWorker, StoreWrite,
};

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_767_000_000 + secs).unwrap()
}

fn call(id: &str, caller: &str, started: i64) -> CallRecord {
    CallRecord {
        call_id: id.into(),
        started_at: t(started),
        answered_at: None,
        ended_at: None,
        dialled: "5551000".into(),
        source: "main".into(),
        caller: caller.into(),
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

fn new_callback(dept: &str, caller: &str, at: i64) -> NewCallback {
    NewCallback {
        department: dept.into(),
        caller: caller.into(),
        dialled: "5551000".into(),
        source: "main".into(),
        at: t(at),
        menu_path: vec![],
        reason: CallbackReason::Missed,
        recording_path: None,
        recording_secs: None,
        recording_flag: None,
    }
}

fn user_version(path: &std::path::Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

#[test]
fn opening_a_v1_database_upgrades_it_and_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        // A database as the first release left it, built by hand.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS.first().unwrap()).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO calls (call_id, started_at, dialled, source, caller, decision, reason, \
             outcome, answered_by, answered_at) \
             VALUES ('old-1', ?1, '5551000', 'main', '+1555', 'department:sales', 'hours', \
             'answered', 'andrew', ?1)",
            [t(0).as_millisecond()],
        )
        .unwrap();
    }
    assert_eq!(user_version(&path), 1);

    let mut store = SqliteStore::open(&path).unwrap();
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    let old = store.get_call("old-1").unwrap().unwrap();
    assert_eq!(old.answered_by.as_deref(), Some("andrew"));
    assert!(old.menu_path.is_empty());
    assert_eq!(
        store
            .last_interaction("+1555", t(-10))
            .unwrap()
            .unwrap()
            .manager,
        "andrew"
    );
    // Tables from later versions work.
    let (id, created) = store
        .add_or_update_callback(&new_callback("sales", "+1555", 5))
        .unwrap();
    assert!(created);
    store.claim_callback(id, "bella", t(6)).unwrap();
    assert!(store.registrations().unwrap().is_empty());
    drop(store);

    // Reopening an up-to-date database is a no-op.
    SqliteStore::open(&path).unwrap();
    assert_eq!(user_version(&path), SCHEMA_VERSION);
}

#[test]
fn a_newer_schema_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.sqlite");
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();

    let err = SqliteStore::open(&path).unwrap_err();
    match &err {
        StoreError::SchemaTooNew {
            found, supported, ..
        } => {
            assert_eq!(*found, SCHEMA_VERSION + 1);
            assert_eq!(*supported, SCHEMA_VERSION);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("newer than this build"), "{msg}");
    assert!(msg.contains("future.sqlite"), "{msg}");
    // Left untouched.
    assert_eq!(user_version(&path), SCHEMA_VERSION + 1);
}

#[test]
fn file_databases_use_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.sqlite");
    let _store = SqliteStore::open(&path).unwrap();
    let mode: String = Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn corrupt_rows_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.sqlite");
    let mut store = SqliteStore::open(&path).unwrap();
    store.upsert_call(&call("c1", "+1", 0)).unwrap();
    Connection::open(&path)
        .unwrap()
        .execute("UPDATE calls SET outcome = 'exploded', menu_path = '{'", [])
        .unwrap();
    let err = store.get_call("c1").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("read a call record"), "{msg}");
}

#[test]
fn restart_keeps_everything_written_through_the_worker() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.sqlite");

    let worker = StoreWorker::spawn(Box::new(SqliteStore::open(&path).unwrap())).unwrap();
    let handle = worker.handle();
    for i in 0..2000 {
        let mut c = call(&format!("call-{i}"), "+1555", i);
        handle.write(StoreWrite::UpsertCall(c.clone()));
        c.outcome = CallOutcome::Missed;
        c.ended_at = Some(t(i + 30));
        handle.write(StoreWrite::UpsertCall(c));
    }
    handle.write(StoreWrite::Callback {
        request: new_callback("sales", "+1555", 10),
        notify: true,
    });
    handle.write(StoreWrite::EnqueueWebhook {
        payload_json: r#"{"event":"test"}"#.into(),
        now: t(20),
    });
    // No flush: shutdown itself must commit what was queued.
    worker.shutdown().unwrap();
    assert!(matches!(handle.flush(), Err(StoreError::WorkerGone)));

    let store = SqliteStore::open(&path).unwrap();
    let calls = store.calls_between(t(-1), t(100_000)).unwrap();
    assert_eq!(calls.len(), 2000);
    assert!(calls.iter().all(|c| c.outcome == CallOutcome::Missed));
    let queue = store
        .list_callbacks(Some("sales"), Some(CallbackStatus::Open))
        .unwrap();
    assert_eq!(queue.len(), 1);
    // Undelivered notifications are still due after the restart.
    let due = store.due_webhooks(t(1000), 10).unwrap();
    assert_eq!(due.len(), 2);
    assert!(
        due.first()
            .unwrap()
            .payload_json
            .contains("callback.created")
    );
}

#[test]
fn dropping_the_worker_also_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drop.sqlite");
    {
        let worker = StoreWorker::spawn(Box::new(SqliteStore::open(&path).unwrap())).unwrap();
        worker
            .handle()
            .write(StoreWrite::UpsertCall(call("c1", "+1", 0)));
    }
    assert!(
        SqliteStore::open(&path)
            .unwrap()
            .get_call("c1")
            .unwrap()
            .is_some()
    );
}

#[test]
fn concurrent_claims_from_two_connections_have_exactly_one_winner() {
    const ROUNDS: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claims.sqlite");
    let mut setup = SqliteStore::open(&path).unwrap();
    let ids: Vec<i64> = (0..ROUNDS)
        .map(|i| {
            setup
                .add_or_update_callback(&new_callback("sales", &format!("+1{i}"), 0))
                .unwrap()
                .0
        })
        .collect();
    let ids = Arc::new(ids);
    let barrier = Arc::new(Barrier::new(2));

    let claimers: Vec<_> = ["andrew", "bella"]
        .into_iter()
        .map(|manager| {
            let mut store = SqliteStore::open(&path).unwrap();
            let ids = Arc::clone(&ids);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                ids.iter()
                    .map(|&id| {
                        barrier.wait();
                        match store.claim_callback(id, manager, t(1)) {
                            Ok(cb) => {
                                assert_eq!(cb.claimed_by.as_deref(), Some(manager));
                                Ok(())
                            }
                            Err(StoreError::AlreadyClaimed { by, .. }) => Err(by),
                            Err(other) => panic!("unexpected error: {other}"),
                        }
                    })
                    .collect::<Vec<Result<(), String>>>()
            })
        })
        .collect();
    let results: Vec<Vec<Result<(), String>>> =
        claimers.into_iter().map(|h| h.join().unwrap()).collect();

    let (a, b) = (&results[0], &results[1]);
    for round in 0..ROUNDS {
        let winners = usize::from(a[round].is_ok()) + usize::from(b[round].is_ok());
        assert_eq!(winners, 1, "round {round}: {:?} / {:?}", a[round], b[round]);
        let (winner, loser_saw) = match (&a[round], &b[round]) {
            (Ok(()), Err(by)) => ("andrew", by),
            (Err(by), Ok(())) => ("bella", by),
            _ => unreachable!(),
        };
        assert_eq!(loser_saw, winner, "round {round}");
        let stored = setup.get_callback(ids[round]).unwrap().unwrap();
        assert_eq!(stored.claimed_by.as_deref(), Some(winner));
    }
}

#[test]
fn worker_queries_see_earlier_writes() {
    let worker = StoreWorker::spawn(Box::new(SqliteStore::open_in_memory().unwrap())).unwrap();
    let handle = worker.handle();
    let mut c = call("c1", "+1555", 0);
    c.answered_at = Some(t(5));
    c.answered_by = Some("andrew".into());
    c.outcome = CallOutcome::Answered;
    handle.write(StoreWrite::UpsertCall(c));
    let got = handle
        .query(|s| s.last_interaction("+1555", t(-100)))
        .unwrap()
        .unwrap();
    assert_eq!(got.manager, "andrew");
    // Store errors come back through the reply.
    assert!(matches!(
        handle.query(|s| s.claim_callback(77, "x", t(0))),
        Err(StoreError::CallbackNotFound { id: 77 })
    ));
    // A panicking query is contained; later work still goes through.
    let panicked = handle.query(|_| -> Result<(), StoreError> { panic!("bug in a query") });
    assert!(matches!(panicked, Err(StoreError::WorkerGone)));
    handle.write(StoreWrite::UpsertCall(call("c2", "+1", 1)));
    assert!(handle.query(|s| s.get_call("c2")).unwrap().is_some());
    worker.shutdown().unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn worker_async_queries_do_not_block_the_runtime() {
    let worker = StoreWorker::spawn(Box::new(SqliteStore::open_in_memory().unwrap())).unwrap();
    let handle = worker.handle();
    handle.write(StoreWrite::Callback {
        request: new_callback("sales", "+1555", 0),
        notify: false,
    });
    let queue = handle
        .list_callbacks(Some("sales".into()), None)
        .await
        .unwrap();
    let id = queue.first().unwrap().id;

    // Two claims racing through the same worker: exactly one wins.
    let (a, b) = tokio::join!(
        handle.claim_callback(id, "andrew".into(), t(1)),
        handle.claim_callback(id, "bella".into(), t(1)),
    );
    assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
    let winner = a.or(b).unwrap().claimed_by.unwrap();
    let done = handle
        .complete_callback(id, winner.clone(), "reached".into(), t(2))
        .await
        .unwrap();
    assert_eq!(done.status, CallbackStatus::Done);
    assert_eq!(handle.get_callback(id).await.unwrap(), Some(done));
    assert!(handle.due_webhooks(t(10), 10).await.unwrap().is_empty());
    assert_eq!(
        handle.last_interaction("+1555".into(), t(0)).await.unwrap(),
        None
    );
    handle.flush_async().await.unwrap();
    // Shutdown joins a thread; keep it off the runtime in real code.
    tokio::task::spawn_blocking(move || worker.shutdown())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        handle.get_call("c".into()).await,
        Err(StoreError::WorkerGone)
    ));
}

#[test]
fn concurrent_repeat_calls_from_two_connections_never_duplicate_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repeats.sqlite");
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let mut store = SqliteStore::open(&path).unwrap();
            std::thread::spawn(move || {
                (0..50)
                    .filter(|i| {
                        store
                            .add_or_update_callback(&new_callback("sales", "+1555", *i))
                            .unwrap()
                            .1
                    })
                    .count()
            })
        })
        .collect();
    let created: usize = writers.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(created, 1);
    let store = SqliteStore::open(&path).unwrap();
    let queue = store.list_callbacks(None, None).unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue.first().unwrap().call_count, 100);
}
