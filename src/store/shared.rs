//! Managers' state shared by several instances, in PostgreSQL: how the promises of
//! `connect::shared` are kept.
//!
//! # Design
//!
//! - **A lease per instance** (`sb_instances`): each instance renews
//!   `lease_until = now + LEASE` every second ([`SharedState::heartbeat`]). Every other
//!   row an instance owns (claims, queue entries) counts only while its lease is live,
//!   so the claims of an instance that died (SIGKILL, power, network) stop counting at
//!   most [`LEASE`] after its last heartbeat, without anyone having to clean up; a
//!   restarted instance deletes its old rows first ([`SharedState::start`]).
//! - **A claim row per ring and per talk** (`manager_claims`). A ring is claimed in one
//!   transaction that first locks the manager's `manager_state` row (`SELECT … FOR
//!   UPDATE`; managers of a ring-all round in name order, so two claimers never wait
//!   on each other in a circle), then counts the live claims of that manager on every
//!   instance and inserts one only below `max_calls`. Two instances claiming the same
//!   manager at once are serialised by the row lock, and the second one counts the
//!   first one's claim: nobody is ever granted beyond `max_calls`.
//! - **Wrap-up and pauses** live in `manager_state` (last conversation end, pause) and
//!   are checked by the same claim; times come from the database clock
//!   (`sb_now_ms()`), so instances' clocks never need to agree.
//! - **Department queues** (`queue_entries`): each waiting caller has a row with the
//!   time it first joined. A claim for a department call is refused while a caller of
//!   that department who came earlier (or has a higher priority) waits on another live
//!   instance, so the manager goes to that caller: first come, first served across
//!   instances (the order within one instance is the connect policy's).
//!
//! Everything runs on its own thread and connection (`io::shared`), never on the
//! store thread's, so a batch of record writes never delays a ring.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use postgres::{Client, NoTls};

use super::StoreError;
use super::postgres::redact_url;
use crate::agents::{Elsewhere, Pause};
use crate::connect::{Claim, ClaimManager, SharedSnapshot};
use crate::media::CallKey;

/// How long an instance's claims outlive its last heartbeat.
pub const LEASE: Duration = Duration::from_secs(6);

/// How often an instance renews its lease and reads the others' state.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

const NOW: &str = "sb_now_ms()";

/// One instance's connection to the shared managers' state.
pub struct SharedState {
    client: Client,
    instance: String,
}

impl std::fmt::Debug for SharedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedState")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// The answer to one [`Claim::Ring`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RingGrant {
    pub granted: Vec<String>,
    pub refused: Vec<String>,
}

fn pg(op: &'static str) -> impl FnOnce(postgres::Error) -> StoreError {
    move |source| StoreError::Postgres { op, source }
}

fn call_ref(call: CallKey) -> i64 {
    i64::try_from(call.0).unwrap_or(i64::MAX)
}

/// A connection with the records store's timeouts (a vanished server breaks it within
/// seconds: `postgres::connection::config`).
fn connect(url: &str) -> Result<Client, StoreError> {
    super::postgres::connection::config(url)
        .and_then(|c| c.connect(NoTls))
        .map_err(|source| StoreError::Connect {
            url: redact_url(url),
            source,
        })
}

fn lease_ms() -> i64 {
    i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX)
}

impl SharedState {
    /// Connects as `instance` (the schema must be migrated: open a
    /// [`super::PostgresStore`] on the same URL first), forgets what an earlier run of
    /// this instance left behind, and takes the lease.
    pub fn start(url: &str, instance: &str) -> Result<Self, StoreError> {
        let client = connect(url)?;
        let mut s = SharedState {
            client,
            instance: instance.to_string(),
        };
        let me = &s.instance;
        let mut tx = s.client.transaction().map_err(pg("start the instance"))?;
        tx.execute("DELETE FROM manager_claims WHERE instance = $1", &[me])
            .map_err(pg("forget an earlier run's claims"))?;
        tx.execute("DELETE FROM queue_entries WHERE instance = $1", &[me])
            .map_err(pg("forget an earlier run's queue"))?;
        tx.execute(
            &format!(
                "INSERT INTO sb_instances (name, started_at, lease_until) VALUES ($1, {NOW}, {NOW} + $2) \
                 ON CONFLICT (name) DO UPDATE SET started_at = EXCLUDED.started_at, \
                 lease_until = EXCLUDED.lease_until"
            ),
            &[me, &lease_ms()],
        )
        .map_err(pg("take the instance lease"))?;
        tx.commit().map_err(pg("start the instance"))?;
        Ok(s)
    }

    /// Connects again after the connection broke, keeping this instance's rows (its
    /// calls go on).
    pub fn reconnect(url: &str, instance: &str) -> Result<Self, StoreError> {
        let client = connect(url)?;
        let mut s = SharedState {
            client,
            instance: instance.to_string(),
        };
        s.heartbeat()?;
        Ok(s)
    }

    /// A clean stop: this instance's claims and queue entries go, its lease ends, so
    /// its managers are free for the others at once.
    pub fn stop(&mut self) -> Result<(), StoreError> {
        let me = &self.instance;
        let mut tx = self.client.transaction().map_err(pg("stop the instance"))?;
        tx.execute("DELETE FROM manager_claims WHERE instance = $1", &[me])
            .map_err(pg("release this instance's claims"))?;
        tx.execute("DELETE FROM queue_entries WHERE instance = $1", &[me])
            .map_err(pg("release this instance's queue"))?;
        tx.execute("DELETE FROM sb_instances WHERE name = $1", &[me])
            .map_err(pg("end the instance lease"))?;
        tx.commit().map_err(pg("stop the instance"))
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Whether the connection broke (the caller reconnects).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Renews the lease and tidies rows of instances dead for a minute.
    pub fn heartbeat(&mut self) -> Result<(), StoreError> {
        let me = &self.instance;
        let n = self
            .client
            .execute(
                &format!("UPDATE sb_instances SET lease_until = {NOW} + $2 WHERE name = $1"),
                &[me, &lease_ms()],
            )
            .map_err(pg("renew the instance lease"))?;
        if n == 0 {
            // Someone tidied us away (we stalled past a minute): our rows are gone too.
            self.client
                .execute(
                    &format!(
                        "INSERT INTO sb_instances (name, started_at, lease_until) \
                         VALUES ($1, {NOW}, {NOW} + $2) ON CONFLICT (name) DO NOTHING"
                    ),
                    &[me, &lease_ms()],
                )
                .map_err(pg("take the instance lease"))?;
        }
        self.client
            .batch_execute(&format!(
                "DELETE FROM manager_claims WHERE instance IN \
                   (SELECT name FROM sb_instances WHERE lease_until < {NOW} - 60000); \
                 DELETE FROM queue_entries WHERE instance IN \
                   (SELECT name FROM sb_instances WHERE lease_until < {NOW} - 60000); \
                 DELETE FROM sb_instances WHERE lease_until < {NOW} - 60000;"
            ))
            .map_err(pg("tidy the rows of dead instances"))
    }

    /// What the other live instances hold now, and every manager's wrap-up and pause.
    pub fn snapshot(&mut self) -> Result<SharedSnapshot, StoreError> {
        let mut managers: BTreeMap<String, Elsewhere> = BTreeMap::new();
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT c.manager, \
                       count(*) FILTER (WHERE c.state = 'ringing'), \
                       count(*) FILTER (WHERE c.state = 'talking') \
                     FROM manager_claims c JOIN sb_instances i \
                       ON i.name = c.instance AND i.lease_until > {NOW} \
                     WHERE c.instance <> $1 GROUP BY c.manager"
                ),
                &[&self.instance],
            )
            .map_err(pg("read the other instances' load"))?;
        for r in rows {
            let (m, ringing, talking): (String, i64, i64) = (
                r.try_get(0).map_err(pg("read a claim"))?,
                r.try_get(1).map_err(pg("read a claim"))?,
                r.try_get(2).map_err(pg("read a claim"))?,
            );
            let e = managers.entry(m).or_default();
            e.ringing = u32::try_from(ringing).unwrap_or(u32::MAX);
            e.talking = u32::try_from(talking).unwrap_or(u32::MAX);
        }
        let rows = self
            .client
            .query(
                "SELECT manager, last_call_end, paused_reason, paused_since FROM manager_state \
                 WHERE last_call_end IS NOT NULL OR paused_reason IS NOT NULL",
                &[],
            )
            .map_err(pg("read managers' wrap-up and pauses"))?;
        for r in rows {
            let m: String = r.try_get(0).map_err(pg("read a manager"))?;
            let end: Option<i64> = r.try_get(1).map_err(pg("read a manager"))?;
            let reason: Option<String> = r.try_get(2).map_err(pg("read a manager"))?;
            let since: Option<i64> = r.try_get(3).map_err(pg("read a manager"))?;
            let e = managers.entry(m).or_default();
            e.last_call_end = end.and_then(|v| Timestamp::from_millisecond(v).ok());
            e.paused = reason.map(|reason| Pause {
                reason,
                since: since
                    .and_then(|v| Timestamp::from_millisecond(v).ok())
                    .unwrap_or(Timestamp::UNIX_EPOCH),
            });
        }
        Ok(SharedSnapshot { managers })
    }

    /// Claims a ring for `call` (see the module docs for when a manager is granted).
    pub fn claim_ring(
        &mut self,
        call: CallKey,
        managers: &[ClaimManager],
        department: Option<&str>,
        priority: u8,
    ) -> Result<RingGrant, StoreError> {
        let me = self.instance.clone();
        let cref = call_ref(call);
        let mut tx = self
            .client
            .transaction()
            .map_err(pg("start a ring claim"))?;
        // First come, first served across instances: an earlier caller of this
        // department waiting on another live instance goes first.
        if let Some(d) = department {
            let prio = i32::from(priority);
            let ahead: bool = tx
                .query_one(
                    &format!(
                        "WITH mine AS ( \
                           SELECT coalesce((SELECT since FROM queue_entries \
                             WHERE instance = $1 AND call_ref = $2), {NOW}) AS since) \
                         SELECT EXISTS (SELECT 1 FROM queue_entries q JOIN sb_instances i \
                             ON i.name = q.instance AND i.lease_until > {NOW}, mine \
                           WHERE q.department = $3 AND q.instance <> $1 \
                             AND (q.priority > $4 OR (q.priority = $4 AND q.since < mine.since)))"
                    ),
                    &[&me, &cref, &d, &prio],
                )
                .and_then(|r| r.try_get(0))
                .map_err(pg("check the department queue"))?;
            if ahead {
                tx.commit().map_err(pg("end a ring claim"))?;
                return Ok(RingGrant {
                    granted: Vec::new(),
                    refused: managers.iter().map(|m| m.manager.clone()).collect(),
                });
            }
        }
        let mut order: Vec<&ClaimManager> = managers.iter().collect();
        order.sort_by(|a, b| a.manager.cmp(&b.manager));
        let mut grant = RingGrant::default();
        for m in order {
            tx.execute(
                "INSERT INTO manager_state (manager) VALUES ($1) ON CONFLICT (manager) DO NOTHING",
                &[&m.manager],
            )
            .map_err(pg("prepare a manager's row"))?;
            let wrap_ms = i64::try_from(m.wrap_up.as_millis()).unwrap_or(i64::MAX);
            let row = tx
                .query_one(
                    &format!(
                        "SELECT paused_reason IS NULL \
                           AND (last_call_end IS NULL OR last_call_end + $2 <= {NOW}) \
                         FROM manager_state WHERE manager = $1 FOR UPDATE"
                    ),
                    &[&m.manager, &wrap_ms],
                )
                .map_err(pg("lock a manager"))?;
            let available: bool = row.try_get(0).map_err(pg("lock a manager"))?;
            let held: i64 = tx
                .query_one(
                    &format!(
                        "SELECT count(*) FROM manager_claims c JOIN sb_instances i \
                           ON i.name = c.instance AND i.lease_until > {NOW} \
                         WHERE c.manager = $1"
                    ),
                    &[&m.manager],
                )
                .and_then(|r| r.try_get(0))
                .map_err(pg("count a manager's calls"))?;
            if available && held < i64::from(m.max_calls) {
                tx.execute(
                    &format!(
                        "INSERT INTO manager_claims (manager, instance, call_ref, state, since) \
                         VALUES ($1, $2, $3, 'ringing', {NOW})"
                    ),
                    &[&m.manager, &me, &cref],
                )
                .map_err(pg("claim a ring"))?;
                grant.granted.push(m.manager.clone());
            } else {
                grant.refused.push(m.manager.clone());
            }
        }
        tx.commit().map_err(pg("commit a ring claim"))?;
        Ok(grant)
    }

    /// Applies a notice (every [`Claim`] but `Ring`).
    pub fn apply(&mut self, claim: &Claim) -> Result<(), StoreError> {
        let me = self.instance.clone();
        let c = &mut self.client;
        match claim {
            Claim::Ring { .. } => Ok(()),
            Claim::RingEnded { call, manager } => c
                .execute(
                    "DELETE FROM manager_claims WHERE id = (SELECT id FROM manager_claims \
                     WHERE instance = $1 AND call_ref = $2 AND manager = $3 AND state = 'ringing' \
                     ORDER BY id LIMIT 1)",
                    &[&me, &call_ref(*call), manager],
                )
                .map(|_| ())
                .map_err(pg("release a ring claim")),
            Claim::Answered { call, manager } => c
                .execute(
                    &format!(
                        "UPDATE manager_claims SET state = 'talking', since = {NOW} WHERE id = \
                         (SELECT id FROM manager_claims WHERE instance = $1 AND call_ref = $2 \
                          AND manager = $3 AND state = 'ringing' ORDER BY id LIMIT 1)"
                    ),
                    &[&me, &call_ref(*call), manager],
                )
                .map(|_| ())
                .map_err(pg("turn a ring into a talk")),
            Claim::TalkEnded { manager } => {
                let mut tx = c.transaction().map_err(pg("end a talk"))?;
                tx.execute(
                    "DELETE FROM manager_claims WHERE id = (SELECT id FROM manager_claims \
                     WHERE instance = $1 AND manager = $2 AND state = 'talking' \
                     ORDER BY since, id LIMIT 1)",
                    &[&me, manager],
                )
                .map_err(pg("release a talk claim"))?;
                tx.execute(
                    &format!(
                        "INSERT INTO manager_state (manager, last_call_end) VALUES ($1, {NOW}) \
                         ON CONFLICT (manager) DO UPDATE SET last_call_end = EXCLUDED.last_call_end"
                    ),
                    &[manager],
                )
                .map_err(pg("start a manager's wrap-up"))?;
                tx.commit().map_err(pg("end a talk"))
            }
            Claim::Queued {
                call,
                department,
                priority,
            } => c
                .execute(
                    &format!(
                        "INSERT INTO queue_entries (instance, call_ref, department, priority, since) \
                         VALUES ($1, $2, $3, $4, {NOW}) ON CONFLICT (instance, call_ref) DO NOTHING"
                    ),
                    &[&me, &call_ref(*call), department, &i32::from(*priority)],
                )
                .map(|_| ())
                .map_err(pg("join a department queue")),
            Claim::LeftQueue { call } => c
                .execute(
                    "DELETE FROM queue_entries WHERE instance = $1 AND call_ref = $2",
                    &[&me, &call_ref(*call)],
                )
                .map(|_| ())
                .map_err(pg("leave a department queue")),
            Claim::Pause { manager, reason } => c
                .execute(
                    &format!(
                        "INSERT INTO manager_state (manager, paused_reason, paused_since) \
                         VALUES ($1, $2, CASE WHEN $2::TEXT IS NULL THEN NULL ELSE {NOW} END) \
                         ON CONFLICT (manager) DO UPDATE SET \
                           paused_reason = EXCLUDED.paused_reason, \
                           paused_since = EXCLUDED.paused_since"
                    ),
                    &[manager, reason],
                )
                .map(|_| ())
                .map_err(pg("share a pause")),
        }
    }
}
