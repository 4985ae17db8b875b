//! One behaviour suite, run against every `Store` implementation: the in-memory store,
//! SQLite in memory, SQLite on a file, and PostgreSQL (a throwaway server the test
//! starts itself; it fails, never skips, without Debian's `postgresql` package). If
//! `MemoryStore` passes, upper layers can trust their unit tests to mean the same thing
//! against the real databases.

mod common;

use jiff::{SignedDuration, Timestamp};
use switchboard::store::{
    AgentInterval, AgentStateKind, CallOutcome, CallRecord, CallbackReason, CallbackStatus,
    CustomerOutcome, DialbackAttempt, DialbackStatus, MemoryStore, MenuStep, NewCallback,
    PostgresStore, QueuedCallback, Registration, RingAttempt, RingOutcome, Side, SqliteStore,
    Store, StoreError, StoreWrite, Transfer,
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
        source: "google-ads".into(),
        caller: caller.into(),
        caller_name: None,
        menu_path: vec![],
        decision: "menu:main".into(),
        reason: "number 5551000".into(),
        department: None,
        answered_by: None,
        outcome: CallOutcome::InProgress,
        hangup_side: None,
        transfers: vec![],
        recording: None,
    }
}

fn answered(id: &str, caller: &str, started: i64, manager: &str) -> CallRecord {
    CallRecord {
        answered_at: Some(t(started + 10)),
        ended_at: Some(t(started + 100)),
        answered_by: Some(manager.into()),
        outcome: CallOutcome::Answered,
        hangup_side: Some(Side::Caller),
        department: Some("sales".into()),
        ..call(id, caller, started)
    }
}

fn new_callback(dept: &str, caller: &str, at: i64) -> NewCallback {
    NewCallback {
        department: dept.into(),
        caller: caller.into(),
        dialled: "5551000".into(),
        source: "main".into(),
        at: t(at),
        menu_path: vec![MenuStep {
            menu: "main".into(),
            digits: "1".into(),
            at: t(at),
        }],
        reason: CallbackReason::AfterHours,
        recording_path: None,
        recording_secs: None,
        recording_flag: None,
    }
}

fn registration(manager: &str, contact: &str, expires: i64) -> Registration {
    Registration {
        manager: manager.into(),
        contact_uri: contact.into(),
        source_addr: "192.0.2.7:5060".parse().unwrap(),
        transport: "udp".into(),
        registered_at: t(0),
        expires_at: t(expires),
        call_id: "reg-1".into(),
        cseq: 7,
        user_agent: Some("baresip".into()),
        path: vec![],
    }
}

// ---------------------------------------------------------------------------------------

fn calls_round_trip_and_update(s: &mut dyn Store) {
    assert_eq!(s.get_call("nope").unwrap(), None);
    let mut c = call("c1", "+15550001", 0);
    c.caller_name = Some("Ann".into());
    c.menu_path = vec![
        MenuStep {
            menu: "main".into(),
            digits: "2".into(),
            at: t(3),
        },
        MenuStep {
            menu: "support".into(),
            digits: String::new(),
            at: t(9),
        },
    ];
    s.upsert_call(&c).unwrap();
    assert_eq!(s.get_call("c1").unwrap(), Some(c.clone()));

    // Later milestone: the whole record is replaced.
    let mut done = answered("c1", "+15550001", 0, "andrew");
    done.menu_path = c.menu_path.clone();
    done.transfers = vec![Transfer {
        from: "andrew".into(),
        to: "bella".into(),
        at: t(50),
    }];
    // A recorded conversation (issue 14) is kept with its record.
    done.recording = Some("conversations/2026-12-03/100000-0123456789abcdef.wav".into());
    s.upsert_call(&done).unwrap();
    assert_eq!(s.get_call("c1").unwrap(), Some(done));
}

fn timestamps_keep_milliseconds(s: &mut dyn Store) {
    let mut c = call("ms", "+1", 0);
    c.started_at = Timestamp::new(1_767_000_000, 123_456_789).unwrap();
    s.upsert_call(&c).unwrap();
    let got = s.get_call("ms").unwrap().unwrap();
    assert_eq!(
        got.started_at.as_millisecond(),
        c.started_at.as_millisecond()
    );
    assert_eq!(got.started_at.subsec_nanosecond(), 123_000_000);
}

fn calls_between_is_half_open_and_ordered(s: &mut dyn Store) {
    for (id, at) in [("b", 20), ("a", 20), ("early", -1), ("c", 0), ("late", 30)] {
        s.upsert_call(&call(id, "+1", at)).unwrap();
    }
    let ids: Vec<String> = s
        .calls_between(t(0), t(30))
        .unwrap()
        .into_iter()
        .map(|c| c.call_id)
        .collect();
    assert_eq!(ids, ["c", "a", "b"]);
}

fn ring_attempts(s: &mut dyn Store) {
    let orphan = RingAttempt {
        call_id: "ghost".into(),
        manager: "andrew".into(),
        started_at: t(1),
        ended_at: t(2),
        outcome: RingOutcome::NoAnswer,
    };
    assert!(matches!(
        s.add_ring_attempt(&orphan),
        Err(StoreError::UnknownCall { call_id }) if call_id == "ghost"
    ));

    s.upsert_call(&call("c1", "+1", 0)).unwrap();
    s.upsert_call(&call("c2", "+2", 0)).unwrap();
    let a1 = RingAttempt {
        call_id: "c1".into(),
        ..orphan.clone()
    };
    let a2 = RingAttempt {
        manager: "bella".into(),
        outcome: RingOutcome::Answered,
        started_at: t(5),
        ended_at: t(9),
        ..a1.clone()
    };
    let a3 = RingAttempt {
        call_id: "c2".into(),
        outcome: RingOutcome::Busy,
        ..a1.clone()
    };
    for a in [&a1, &a2, &a3] {
        s.add_ring_attempt(a).unwrap();
    }
    assert_eq!(
        s.ring_attempts_for_call("c1").unwrap(),
        [a1.clone(), a2.clone()]
    );
    assert_eq!(s.ring_attempts_between(t(0), t(5)).unwrap(), [a1, a3]);
    assert_eq!(s.ring_attempts_between(t(5), t(6)).unwrap(), [a2]);
}

fn caller_history_window(s: &mut dyn Store) {
    assert_eq!(s.last_interaction("+1555", t(0)).unwrap(), None);
    // Too old (answered at t(-990)), then within the window by bella, then andrew latest.
    s.upsert_call(&answered("old", "+1555", -1000, "olga"))
        .unwrap();
    s.upsert_call(&answered("mid", "+1555", 100, "bella"))
        .unwrap();
    s.upsert_call(&answered("new", "+1555", 200, "andrew"))
        .unwrap();
    // Later calls that nobody answered, or from another caller, do not count.
    s.upsert_call(&call("missed", "+1555", 300)).unwrap();
    s.upsert_call(&answered("other", "+1999", 400, "zed"))
        .unwrap();

    let got = s.last_interaction("+1555", t(0)).unwrap().unwrap();
    assert_eq!(got.manager, "andrew");
    assert_eq!(got.at, t(210));
    // Window edge is inclusive of `since`.
    let got = s.last_interaction("+1555", t(210)).unwrap().unwrap();
    assert_eq!(got.manager, "andrew");
    assert_eq!(s.last_interaction("+1555", t(211)).unwrap(), None);
    // A caller whose only answered call is older than the window is not returning.
    s.upsert_call(&answered("solo", "+1777", -1000, "olga"))
        .unwrap();
    assert_eq!(s.last_interaction("+1777", t(0)).unwrap(), None);
    assert_eq!(
        s.last_interaction("+1777", t(-2000))
            .unwrap()
            .unwrap()
            .manager,
        "olga"
    );
}

fn repeat_callback_updates_instead_of_duplicating(s: &mut dyn Store) {
    let mut first = new_callback("sales", "+1555", 0);
    first.recording_path = Some("rec/1.wav".into());
    first.recording_secs = Some(12.5);
    let (id, created) = s.add_or_update_callback(&first).unwrap();
    assert!(created);

    // Repeat without a recording: same request, count bumped, recording kept.
    let mut second = new_callback("sales", "+1555", 60);
    second.reason = CallbackReason::NobodyAnswered;
    second.source = "campaign".into();
    assert_eq!(s.add_or_update_callback(&second).unwrap(), (id, false));
    let cb = s.get_callback(id).unwrap().unwrap();
    assert_eq!(cb.call_count, 2);
    assert_eq!(cb.created_at, t(0));
    assert_eq!(cb.updated_at, t(60));
    assert_eq!(cb.reason, CallbackReason::NobodyAnswered);
    assert_eq!(cb.source, "campaign");
    assert_eq!(cb.recording_path.as_deref(), Some("rec/1.wav"));
    assert_eq!(cb.recording_secs, Some(12.5));

    // Repeat with a recording: replaces it.
    let mut third = new_callback("sales", "+1555", 120);
    third.recording_path = Some("rec/3.wav".into());
    third.recording_secs = Some(0.4);
    third.recording_flag = Some("short".into());
    assert_eq!(s.add_or_update_callback(&third).unwrap(), (id, false));
    let cb = s.get_callback(id).unwrap().unwrap();
    assert_eq!(cb.call_count, 3);
    assert_eq!(cb.recording_path.as_deref(), Some("rec/3.wav"));
    assert_eq!(cb.recording_secs, Some(0.4));
    assert_eq!(cb.recording_flag.as_deref(), Some("short"));

    // Another department is a separate request. A claimed request is still unfinished,
    // so a repeat call updates it rather than opening a new one.
    let (other, created) = s
        .add_or_update_callback(&new_callback("support", "+1555", 130))
        .unwrap();
    assert!(created);
    assert_ne!(other, id);
    s.claim_callback(id, "andrew", t(140)).unwrap();
    assert_eq!(
        s.add_or_update_callback(&new_callback("sales", "+1555", 150))
            .unwrap(),
        (id, false)
    );
    let cb = s.get_callback(id).unwrap().unwrap();
    assert_eq!(cb.status, CallbackStatus::Claimed);
    assert_eq!(cb.call_count, 4);

    // Once done, a new call opens a new request.
    s.complete_callback(id, "andrew", "reached", t(160))
        .unwrap();
    let (fresh, created) = s
        .add_or_update_callback(&new_callback("sales", "+1555", 170))
        .unwrap();
    assert!(created);
    assert_ne!(fresh, id);
    assert_eq!(s.list_callbacks(Some("sales"), None).unwrap().len(), 2);
}

fn callback_listing(s: &mut dyn Store) {
    let (a, _) = s
        .add_or_update_callback(&new_callback("sales", "+1", 30))
        .unwrap();
    let (b, _) = s
        .add_or_update_callback(&new_callback("support", "+2", 10))
        .unwrap();
    let (c, _) = s
        .add_or_update_callback(&new_callback("sales", "+3", 20))
        .unwrap();
    s.claim_callback(c, "bella", t(40)).unwrap();
    let ids = |list: Vec<switchboard::store::CallbackRequest>| -> Vec<i64> {
        list.into_iter().map(|cb| cb.id).collect()
    };
    assert_eq!(ids(s.list_callbacks(None, None).unwrap()), [b, c, a]);
    assert_eq!(ids(s.list_callbacks(Some("sales"), None).unwrap()), [c, a]);
    assert_eq!(
        ids(s.list_callbacks(None, Some(CallbackStatus::Open)).unwrap()),
        [b, a]
    );
    assert_eq!(
        ids(s
            .list_callbacks(Some("sales"), Some(CallbackStatus::Claimed))
            .unwrap()),
        [c]
    );
    assert!(s.list_callbacks(Some("nobody"), None).unwrap().is_empty());
    assert_eq!(s.get_callback(9999).unwrap(), None);
}

fn claim_and_complete_rules(s: &mut dyn Store) {
    let (id, _) = s
        .add_or_update_callback(&new_callback("sales", "+1", 0))
        .unwrap();
    assert!(matches!(
        s.claim_callback(9999, "andrew", t(1)),
        Err(StoreError::CallbackNotFound { id: 9999 })
    ));

    let cb = s.claim_callback(id, "andrew", t(5)).unwrap();
    assert_eq!(cb.status, CallbackStatus::Claimed);
    assert_eq!(cb.claimed_by.as_deref(), Some("andrew"));
    assert_eq!(cb.claimed_at, Some(t(5)));

    assert!(matches!(
        s.claim_callback(id, "bella", t(6)),
        Err(StoreError::AlreadyClaimed { by, .. }) if by == "andrew"
    ));
    assert!(matches!(
        s.complete_callback(id, "bella", "reached", t(7)),
        Err(StoreError::AlreadyClaimed { by, .. }) if by == "andrew"
    ));

    let cb = s.complete_callback(id, "andrew", "reached", t(8)).unwrap();
    assert_eq!(cb.status, CallbackStatus::Done);
    assert_eq!(cb.outcome.as_deref(), Some("reached"));
    assert_eq!(cb.done_by.as_deref(), Some("andrew"));
    assert_eq!(cb.done_at, Some(t(8)));
    assert_eq!(cb.claimed_at, Some(t(5)));

    assert!(matches!(
        s.complete_callback(id, "andrew", "again", t(9)),
        Err(StoreError::AlreadyDone { by, .. }) if by == "andrew"
    ));
    assert!(matches!(
        s.claim_callback(id, "bella", t(9)),
        Err(StoreError::AlreadyDone { .. })
    ));

    // Completing an open request directly counts as the manager's claim.
    let (open, _) = s
        .add_or_update_callback(&new_callback("sales", "+2", 0))
        .unwrap();
    let cb = s
        .complete_callback(open, "bella", "voicemail", t(20))
        .unwrap();
    assert_eq!(cb.claimed_by.as_deref(), Some("bella"));
    assert_eq!(cb.claimed_at, Some(t(20)));
    assert!(matches!(
        s.complete_callback(12345, "bella", "x", t(20)),
        Err(StoreError::CallbackNotFound { id: 12345 })
    ));
}

fn registrations_crud(s: &mut dyn Store) {
    assert!(s.registrations().unwrap().is_empty());
    s.save_registration(&registration("bella", "sip:bella@192.0.2.7", 100))
        .unwrap();
    s.save_registration(&registration("andrew", "sip:a@192.0.2.8", 50))
        .unwrap();
    s.save_registration(&registration("andrew", "sip:a@192.0.2.9", 500))
        .unwrap();
    // Re-REGISTER of the same binding replaces it.
    let mut refreshed = registration("bella", "sip:bella@192.0.2.7", 300);
    refreshed.cseq = 8;
    s.save_registration(&refreshed).unwrap();

    let all = s.registrations().unwrap();
    let keys: Vec<(&str, &str)> = all
        .iter()
        .map(|r| (r.manager.as_str(), r.contact_uri.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            ("andrew", "sip:a@192.0.2.8"),
            ("andrew", "sip:a@192.0.2.9"),
            ("bella", "sip:bella@192.0.2.7")
        ]
    );
    assert_eq!(all.get(2), Some(&refreshed));

    assert_eq!(s.remove_expired_registrations(t(50)).unwrap(), 1);
    assert!(s.remove_registration("andrew", "sip:a@192.0.2.9").unwrap());
    assert!(!s.remove_registration("andrew", "sip:a@192.0.2.9").unwrap());
    assert_eq!(s.registrations().unwrap(), [refreshed]);

    // A phone registered through a proxy keeps its Path (RFC 3327), in order.
    let mut proxied = registration("chris", "sip:103@10.0.0.9:5062", 400);
    proxied.path = vec![
        "<sip:10.1.1.1;lr;received=sip:198.51.100.7:40312>".into(),
        "<sip:10.1.1.2;lr>".into(),
    ];
    s.save_registration(&proxied).unwrap();
    let got = s.registrations().unwrap();
    assert_eq!(got.last(), Some(&proxied));
}

fn webhook_outbox(s: &mut dyn Store) {
    let a = s.enqueue_webhook(r#"{"n":1}"#, t(10)).unwrap();
    let b = s.enqueue_webhook(r#"{"n":2}"#, t(20)).unwrap();
    assert!(s.due_webhooks(t(9), 10).unwrap().is_empty());
    let due = s.due_webhooks(t(20), 10).unwrap();
    assert_eq!(due.iter().map(|w| w.id).collect::<Vec<_>>(), [a, b]);
    assert_eq!(
        due.first().map(|w| w.payload_json.as_str()),
        Some(r#"{"n":1}"#)
    );
    assert_eq!(due.first().map(|w| w.attempts), Some(0));
    assert_eq!(s.due_webhooks(t(20), 1).unwrap().len(), 1);

    s.reschedule_webhook(a, t(100), 1).unwrap();
    let due = s.due_webhooks(t(50), 10).unwrap();
    assert_eq!(due.iter().map(|w| w.id).collect::<Vec<_>>(), [b]);
    let due = s.due_webhooks(t(100), 10).unwrap();
    assert_eq!(due.iter().map(|w| w.id).collect::<Vec<_>>(), [b, a]);
    assert_eq!(due.get(1).map(|w| w.attempts), Some(1));
    assert_eq!(due.get(1).map(|w| w.created_at), Some(t(10)));

    s.mark_webhook_delivered(b).unwrap();
    s.mark_webhook_delivered(b).unwrap(); // idempotent
    assert_eq!(s.due_webhooks(t(1000), 10).unwrap().len(), 1);
    assert!(matches!(
        s.reschedule_webhook(b, t(1), 2),
        Err(StoreError::WebhookNotFound { .. })
    ));
}

fn batch_writes_and_notification(s: &mut dyn Store) {
    let writes = [
        StoreWrite::UpsertCall(call("c1", "+1", 0)),
        // Fails (unknown call) without taking the rest of the batch down.
        StoreWrite::RingAttempt(RingAttempt {
            call_id: "ghost".into(),
            manager: "andrew".into(),
            started_at: t(1),
            ended_at: t(2),
            outcome: RingOutcome::NoAnswer,
        }),
        StoreWrite::Callback {
            request: new_callback("sales", "+1", 5),
            notify: true,
        },
        // A repeat updates the request and does not notify again.
        StoreWrite::Callback {
            request: new_callback("sales", "+1", 6),
            notify: true,
        },
        StoreWrite::SaveRegistration(registration("andrew", "sip:a@x", 100)),
    ];
    let errors = s.apply_batch(&writes);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(matches!(
        errors.first(),
        Some(StoreError::UnknownCall { .. })
    ));
    assert!(s.get_call("c1").unwrap().is_some());
    assert_eq!(s.registrations().unwrap().len(), 1);

    let cbs = s.list_callbacks(None, None).unwrap();
    assert_eq!(cbs.len(), 1);
    assert_eq!(cbs.first().map(|c| c.call_count), Some(2));
    let due = s.due_webhooks(t(1000), 10).unwrap();
    assert_eq!(due.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&due.first().unwrap().payload_json).unwrap();
    assert_eq!(body["event"], "callback.created");
    assert_eq!(body["callback"]["caller"], "+1");
    assert_eq!(body["callback"]["reason"], "after_hours");
    assert_eq!(body["callback"]["status"], "open");
    assert_eq!(due.first().unwrap().next_attempt_at, t(5));

    // Webhook lifecycle through writes too.
    let id = due.first().unwrap().id;
    let errors = s.apply_batch(&[
        StoreWrite::RescheduleWebhook {
            id,
            next_at: t(2000),
            attempts: 1,
        },
        StoreWrite::EnqueueWebhook {
            payload_json: "{}".into(),
            now: t(7),
        },
        StoreWrite::RemoveExpiredRegistrations { now: t(100) },
    ]);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(s.due_webhooks(t(1000), 10).unwrap().len(), 1);
    assert!(s.registrations().unwrap().is_empty());
    let errors = s.apply_batch(&[StoreWrite::WebhookDelivered { id }]);
    assert!(errors.is_empty());
    assert_eq!(s.due_webhooks(t(5000), 10).unwrap().len(), 1);
}

fn offsets_are_plain_instants(s: &mut dyn Store) {
    // A record written with a sub-second offset arithmetic still compares correctly.
    let base = t(0);
    let mut c = call("d", "+1", 0);
    c.started_at = base + SignedDuration::from_millis(1);
    s.upsert_call(&c).unwrap();
    assert!(
        s.calls_between(base, base + SignedDuration::from_millis(1))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.calls_between(base, base + SignedDuration::from_millis(2))
            .unwrap()
            .len(),
        1
    );
}

/// A named conformance case; each gets a fresh, empty store.
type Case = (&'static str, fn(&mut dyn Store));

fn queued(id: &str, caller: &str, queued_at: i64) -> QueuedCallback {
    QueuedCallback {
        id: id.into(),
        department: "support".into(),
        caller: caller.into(),
        number: caller.into(),
        dialled: "3000".into(),
        source: "3000".into(),
        priority: 5,
        queued_at: t(queued_at),
        requested_at: t(queued_at + 30),
        attempts: 0,
        not_before: None,
        status: DialbackStatus::Waiting,
        updated_at: t(queued_at + 30),
        callback_id: None,
    }
}

/// Issue 13: the virtual queue survives in order, attempts are kept per dial-back, a
/// dial-back that gives up files (and links) a callback request, and managers' state
/// intervals are found by overlap.
fn virtual_queue_dialbacks_and_agent_states(s: &mut dyn Store) {
    s.save_queued_callback(&queued("b", "+4902", 200)).unwrap();
    s.save_queued_callback(&queued("a", "+4901", 100)).unwrap();
    let mut c = queued("c", "+4903", 300);
    c.status = DialbackStatus::Connected;
    s.save_queued_callback(&c).unwrap();
    let waiting: Vec<String> = s
        .queued_callbacks()
        .unwrap()
        .into_iter()
        .map(|q| q.id)
        .collect();
    assert_eq!(waiting, ["a", "b"], "waiting ones, in queue order");
    // A retry: attempts and back-off saved, the rest kept.
    let mut a = queued("a", "+4901", 100);
    a.attempts = 1;
    a.not_before = Some(t(500));
    s.save_queued_callback(&a).unwrap();
    let got = s.get_queued_callback("a").unwrap().unwrap();
    assert_eq!(got, a);
    let attempt = |customer, status, talk_ms| DialbackAttempt {
        callback_id: "a".into(),
        manager: "sofia".into(),
        started_at: t(400),
        ended_at: t(410),
        customer,
        status,
        talk_ms,
    };
    s.add_dialback_attempt(&attempt(CustomerOutcome::Busy, Some(486), None))
        .unwrap();
    s.add_dialback_attempt(&attempt(CustomerOutcome::Answered, None, Some(61_500)))
        .unwrap();
    let missing = DialbackAttempt {
        callback_id: "nobody".into(),
        ..attempt(CustomerOutcome::Busy, None, None)
    };
    assert!(matches!(
        s.add_dialback_attempt(&missing),
        Err(StoreError::QueuedCallbackNotFound { .. })
    ));
    let attempts = s.dialback_attempts("a").unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].status, Some(486));
    assert_eq!(attempts[1].talk_ms, Some(61_500));
    // Giving up files a request and links it.
    let mut request = new_callback("support", "+4902", 600);
    request.reason = CallbackReason::DialbackFailed;
    let id = s
        .finish_queued_callback("b", DialbackStatus::GaveUp, t(600), Some(&request))
        .unwrap()
        .expect("a request is filed");
    let b = s.get_queued_callback("b").unwrap().unwrap();
    assert_eq!(
        (b.status, b.callback_id),
        (DialbackStatus::GaveUp, Some(id))
    );
    assert_eq!(s.queued_callback_for_request(id).unwrap().unwrap().id, "b");
    assert_eq!(
        s.get_callback(id).unwrap().unwrap().reason,
        CallbackReason::DialbackFailed
    );
    assert!(s.queued_callback_for_request(id + 1000).unwrap().is_none());
    assert!(matches!(
        s.finish_queued_callback("nobody", DialbackStatus::Cancelled, t(600), None),
        Err(StoreError::QueuedCallbackNotFound { .. })
    ));
    let waiting: Vec<String> = s
        .queued_callbacks()
        .unwrap()
        .into_iter()
        .map(|q| q.id)
        .collect();
    assert_eq!(waiting, ["a"]);
    // Managers' states: an interval is inserted open, then closed by the same key.
    let lunch = AgentInterval {
        manager: "sofia".into(),
        kind: AgentStateKind::Paused,
        detail: "lunch".into(),
        started_at: t(1000),
        ended_at: None,
    };
    s.save_agent_interval(&lunch).unwrap();
    let dnd = AgentInterval {
        manager: "bob".into(),
        kind: AgentStateKind::DoNotDisturb,
        detail: String::new(),
        started_at: t(1100),
        ended_at: None,
    };
    s.save_agent_interval(&dnd).unwrap();
    assert_eq!(
        s.open_agent_intervals().unwrap(),
        [lunch.clone(), dnd.clone()]
    );
    let closed = AgentInterval {
        ended_at: Some(t(2800)),
        ..lunch
    };
    s.save_agent_interval(&closed).unwrap();
    assert_eq!(
        s.open_agent_intervals().unwrap(),
        std::slice::from_ref(&dnd)
    );
    assert_eq!(
        s.agent_intervals_between(t(2000), t(3000)).unwrap(),
        [closed.clone(), dnd]
    );
    assert_eq!(
        s.agent_intervals_between(t(2800), t(3000)).unwrap().len(),
        1
    );
    assert!(s.agent_intervals_between(t(0), t(1000)).unwrap().is_empty());
}

const CASES: &[Case] = &[
    ("calls_round_trip_and_update", calls_round_trip_and_update),
    ("timestamps_keep_milliseconds", timestamps_keep_milliseconds),
    (
        "calls_between_is_half_open_and_ordered",
        calls_between_is_half_open_and_ordered,
    ),
    ("ring_attempts", ring_attempts),
    ("caller_history_window", caller_history_window),
    (
        "repeat_callback_updates_instead_of_duplicating",
        repeat_callback_updates_instead_of_duplicating,
    ),
    ("callback_listing", callback_listing),
    ("claim_and_complete_rules", claim_and_complete_rules),
    ("registrations_crud", registrations_crud),
    ("webhook_outbox", webhook_outbox),
    (
        "batch_writes_and_notification",
        batch_writes_and_notification,
    ),
    ("offsets_are_plain_instants", offsets_are_plain_instants),
    (
        "virtual_queue_dialbacks_and_agent_states",
        virtual_queue_dialbacks_and_agent_states,
    ),
];

/// Runs every case on a fresh store from `make`.
fn conformance(make: &dyn Fn() -> Box<dyn Store>) {
    for (name, case) in CASES {
        eprintln!("case {name}");
        let mut store = make();
        case(store.as_mut());
    }
}

#[test]
fn memory_store_conforms() {
    conformance(&|| Box::new(MemoryStore::new()));
}

#[test]
fn sqlite_in_memory_conforms() {
    conformance(&|| Box::new(SqliteStore::open_in_memory().unwrap()));
}

#[test]
fn sqlite_file_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let counter = std::cell::Cell::new(0);
    conformance(&|| {
        counter.set(counter.get() + 1);
        let path = dir.path().join(format!("db{}.sqlite", counter.get()));
        Box::new(SqliteStore::open(path).unwrap())
    });
}

#[test]
fn postgres_conforms() {
    let server = common::pg::PgServer::start();
    conformance(&|| Box::new(PostgresStore::connect(&server.fresh_database()).unwrap()));
}
