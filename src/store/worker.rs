//! The store thread: keeps the database off the signalling path.
//!
//! One dedicated OS thread owns the [`Store`]; [`StoreHandle`]s (cheap to clone, `Send`
//! and `Sync`) talk to it over an unbounded `std::sync::mpsc` channel:
//!
//! - [`StoreHandle::write`] queues a [`StoreWrite`] and returns at once. It never blocks
//!   and never fails loudly: if the thread is gone the write is logged and dropped.
//! - Queries carry a reply channel: [`StoreHandle::query`] blocks the calling thread (for
//!   the CLI and tests), [`StoreHandle::query_async`] awaits a `tokio::sync::oneshot` (for
//!   the tokio driver), and typed helpers cover the common queries.
//!
//! Messages are handled strictly in order, so a query sees every write sent before it
//! through any handle on the same thread of control (read-your-writes).
//!
//! Throughput: when writes pile up, the thread drains everything already queued (up to
//! [`MAX_BATCH`]) and applies it with [`Store::apply_batch`], which SQLite runs as one
//! transaction: one WAL commit for hundreds of call-record updates instead of one each.
//!
//! Group commit: at a moderate rate the thread is idle when a write arrives, so each
//! write would be a wake-up and a commit of its own (three per call). A write that
//! wakes the idle thread is therefore held for [`GROUP_COMMIT`] first, and whatever
//! arrived meanwhile goes into the same commit, as PostgreSQL's `commit_delay` does.
//! The senders pay no wake-up while the thread sleeps, and a query that arrives in the
//! window waits at most that long, behind the writes sent before it.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use jiff::Timestamp;

use super::model::{
    CallRecord, CallbackRequest, CallbackStatus, PreviousInteraction, Registration, RingAttempt,
    WebhookEvent,
};
use super::{Store, StoreError, StoreWrite};

/// Most writes applied in one transaction; bounds how long a query can wait behind them.
pub const MAX_BATCH: usize = 512;

/// How long a write that wakes the idle store thread waits for company before it is
/// committed (see the module docs). Call records are not read within 10 ms of being
/// written by anyone but the router itself, whose reads queue behind its writes.
pub const GROUP_COMMIT: Duration = Duration::from_millis(10);

type Job = Box<dyn FnOnce(&mut dyn Store) + Send>;

// Writes dominate the traffic; boxing them would add an allocation per write just to
// shrink the rare Run/Shutdown messages.
#[expect(clippy::large_enum_variant, reason = "writes are the common message")]
enum Msg {
    Write(StoreWrite),
    Run(Job),
    Shutdown,
}

/// Owns the store thread. Dropping it (or calling [`StoreWorker::shutdown`]) commits
/// every write queued so far and joins the thread.
#[derive(Debug)]
pub struct StoreWorker {
    handle: StoreHandle,
    thread: Option<JoinHandle<()>>,
}

/// A cheap, cloneable way to reach the store thread from anywhere.
#[derive(Debug, Clone)]
pub struct StoreHandle {
    tx: mpsc::Sender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Write(w) => f.debug_tuple("Write").field(w).finish(),
            Msg::Run(_) => f.write_str("Run(..)"),
            Msg::Shutdown => f.write_str("Shutdown"),
        }
    }
}

impl StoreWorker {
    /// Moves `store` onto a new thread named `store`.
    pub fn spawn(store: Box<dyn Store>) -> Result<Self, StoreError> {
        Self::spawn_grouping(store, GROUP_COMMIT)
    }

    /// [`StoreWorker::spawn`] with another group-commit window (tests).
    fn spawn_grouping(store: Box<dyn Store>, window: Duration) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("store".into())
            .spawn(move || run(store, &rx, window))
            .map_err(|source| StoreError::Spawn { source })?;
        Ok(Self {
            handle: StoreHandle { tx },
            thread: Some(thread),
        })
    }

    /// A handle for sending work to the thread.
    #[must_use]
    pub fn handle(&self) -> StoreHandle {
        self.handle.clone()
    }

    /// Commits every write queued before this call, then stops and joins the thread.
    /// Work sent afterwards through remaining handles fails with
    /// [`StoreError::WorkerGone`] (queries) or is logged and dropped (writes).
    pub fn shutdown(mut self) -> Result<(), StoreError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), StoreError> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        // If the thread already died, the send fails and join reports it.
        let _ = self.handle.tx.send(Msg::Shutdown);
        thread.join().map_err(|_| StoreError::WorkerGone)
    }
}

impl Drop for StoreWorker {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::error!(error = %e, "store thread did not stop cleanly");
        }
    }
}

/// The thread body: handle messages in order, batching consecutive writes.
fn run(mut store: Box<dyn Store>, rx: &mpsc::Receiver<Msg>, window: Duration) {
    let mut pending: Option<Msg> = None;
    let mut batch: Vec<StoreWrite> = Vec::with_capacity(MAX_BATCH);
    loop {
        let msg = match pending.take() {
            Some(msg) => msg,
            None => match rx.try_recv() {
                // Busy: batches form by themselves.
                Ok(msg) => msg,
                Err(mpsc::TryRecvError::Disconnected) => break,
                Err(mpsc::TryRecvError::Empty) => match rx.recv() {
                    Ok(Msg::Write(w)) => {
                        // Idle, woken by a write: let the moment's other writes join it.
                        std::thread::sleep(window);
                        Msg::Write(w)
                    }
                    Ok(msg) => msg,
                    // Every handle is gone: nothing more can arrive.
                    Err(mpsc::RecvError) => break,
                },
            },
        };
        match msg {
            Msg::Write(first) => {
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Msg::Write(w)) => batch.push(w),
                        Ok(other) => {
                            pending = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                apply(store.as_mut(), &mut batch);
            }
            Msg::Run(job) => {
                // A panicking query (a bug in its closure) must not take the thread, and
                // with it every later write, down. Its asker sees WorkerGone.
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(store.as_mut())));
                if outcome.is_err() {
                    tracing::error!("a store query panicked; the store thread carries on");
                }
            }
            Msg::Shutdown => {
                // Writes racing with shutdown from other handles are still committed;
                // queries get WorkerGone when their reply sender is dropped here.
                batch.extend(rx.try_iter().filter_map(|m| match m {
                    Msg::Write(w) => Some(w),
                    Msg::Run(_) | Msg::Shutdown => None,
                }));
                if !batch.is_empty() {
                    apply(store.as_mut(), &mut batch);
                }
                break;
            }
        }
    }
    tracing::debug!("store thread stopped");
}

fn apply(store: &mut dyn Store, batch: &mut Vec<StoreWrite>) {
    let count = batch.len();
    for error in store.apply_batch(batch) {
        tracing::warn!(%error, batch = count, "store write failed");
    }
    batch.clear();
}

impl StoreHandle {
    /// Queues a write and returns immediately.
    pub fn write(&self, write: StoreWrite) {
        if let Err(mpsc::SendError(msg)) = self.tx.send(Msg::Write(write)) {
            tracing::error!(?msg, "store thread is gone; write dropped");
        }
    }

    /// Runs `f` on the store thread and blocks until it returns. Do not call this from
    /// async code; use [`Self::query_async`] there.
    pub fn query<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Store) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |store| {
            // The asker may have given up; nothing to do then.
            let _ = reply_tx.send(f(store));
        });
        self.tx
            .send(Msg::Run(job))
            .map_err(|_| StoreError::WorkerGone)?;
        reply_rx.recv().map_err(|_| StoreError::WorkerGone)?
    }

    /// Runs `f` on the store thread and awaits its result without blocking the runtime.
    pub async fn query_async<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Store) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |store| {
            let _ = reply_tx.send(f(store));
        });
        self.tx
            .send(Msg::Run(job))
            .map_err(|_| StoreError::WorkerGone)?;
        reply_rx.await.map_err(|_| StoreError::WorkerGone)?
    }

    /// Blocks until every write queued before this call is committed.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.query(|_| Ok(()))
    }

    /// Awaits until every write queued before this call is committed.
    pub async fn flush_async(&self) -> Result<(), StoreError> {
        self.query_async(|_| Ok(())).await
    }

    /// See [`Store::last_interaction`].
    pub async fn last_interaction(
        &self,
        caller: String,
        since: Timestamp,
    ) -> Result<Option<PreviousInteraction>, StoreError> {
        self.query_async(move |s| s.last_interaction(&caller, since))
            .await
    }

    /// See [`Store::get_call`].
    pub async fn get_call(&self, call_id: String) -> Result<Option<CallRecord>, StoreError> {
        self.query_async(move |s| s.get_call(&call_id)).await
    }

    /// See [`Store::calls_between`].
    pub async fn calls_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<CallRecord>, StoreError> {
        self.query_async(move |s| s.calls_between(from, to)).await
    }

    /// See [`Store::ring_attempts_between`].
    pub async fn ring_attempts_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<RingAttempt>, StoreError> {
        self.query_async(move |s| s.ring_attempts_between(from, to))
            .await
    }

    /// See [`Store::list_callbacks`].
    pub async fn list_callbacks(
        &self,
        department: Option<String>,
        status: Option<CallbackStatus>,
    ) -> Result<Vec<CallbackRequest>, StoreError> {
        self.query_async(move |s| s.list_callbacks(department.as_deref(), status))
            .await
    }

    /// See [`Store::get_callback`].
    pub async fn get_callback(&self, id: i64) -> Result<Option<CallbackRequest>, StoreError> {
        self.query_async(move |s| s.get_callback(id)).await
    }

    /// See [`Store::claim_callback`].
    pub async fn claim_callback(
        &self,
        id: i64,
        manager: String,
        now: Timestamp,
    ) -> Result<CallbackRequest, StoreError> {
        self.query_async(move |s| s.claim_callback(id, &manager, now))
            .await
    }

    /// See [`Store::complete_callback`].
    pub async fn complete_callback(
        &self,
        id: i64,
        manager: String,
        outcome: String,
        now: Timestamp,
    ) -> Result<CallbackRequest, StoreError> {
        self.query_async(move |s| s.complete_callback(id, &manager, &outcome, now))
            .await
    }

    /// See [`Store::registrations`].
    pub async fn registrations(&self) -> Result<Vec<Registration>, StoreError> {
        self.query_async(|s| s.registrations()).await
    }

    /// See [`Store::due_webhooks`].
    pub async fn due_webhooks(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<WebhookEvent>, StoreError> {
        self.query_async(move |s| s.due_webhooks(now, limit)).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::store::model::{
        AgentInterval, DialbackAttempt, DialbackStatus, NewCallback, QueuedCallback, RingAttempt,
    };

    /// Records the size of each batch it is given; nothing else is expected to be called.
    struct BatchRecorder(Arc<Mutex<Vec<usize>>>);

    impl Store for BatchRecorder {
        fn apply_batch(&mut self, writes: &[StoreWrite]) -> Vec<StoreError> {
            self.0.lock().unwrap().push(writes.len());
            Vec::new()
        }
        fn upsert_call(&mut self, _: &CallRecord) -> Result<(), StoreError> {
            unimplemented!()
        }
        fn purge_before(&mut self, _: Timestamp) -> Result<crate::store::Purged, StoreError> {
            unimplemented!()
        }
        fn add_ring_attempt(&mut self, _: &RingAttempt) -> Result<(), StoreError> {
            unimplemented!()
        }
        fn get_call(&self, _: &str) -> Result<Option<CallRecord>, StoreError> {
            unimplemented!()
        }
        fn calls_between(&self, _: Timestamp, _: Timestamp) -> Result<Vec<CallRecord>, StoreError> {
            unimplemented!()
        }
        fn ring_attempts_between(
            &self,
            _: Timestamp,
            _: Timestamp,
        ) -> Result<Vec<RingAttempt>, StoreError> {
            unimplemented!()
        }
        fn ring_attempts_for_call(&self, _: &str) -> Result<Vec<RingAttempt>, StoreError> {
            unimplemented!()
        }
        fn last_interaction(
            &self,
            _: &str,
            _: Timestamp,
        ) -> Result<Option<PreviousInteraction>, StoreError> {
            unimplemented!()
        }
        fn add_or_update_callback(&mut self, _: &NewCallback) -> Result<(i64, bool), StoreError> {
            unimplemented!()
        }
        fn list_callbacks(
            &self,
            _: Option<&str>,
            _: Option<CallbackStatus>,
        ) -> Result<Vec<CallbackRequest>, StoreError> {
            unimplemented!()
        }
        fn get_callback(&self, _: i64) -> Result<Option<CallbackRequest>, StoreError> {
            unimplemented!()
        }
        fn claim_callback(
            &mut self,
            _: i64,
            _: &str,
            _: Timestamp,
        ) -> Result<CallbackRequest, StoreError> {
            unimplemented!()
        }
        fn complete_callback(
            &mut self,
            _: i64,
            _: &str,
            _: &str,
            _: Timestamp,
        ) -> Result<CallbackRequest, StoreError> {
            unimplemented!()
        }
        fn save_registration(&mut self, _: &Registration) -> Result<(), StoreError> {
            unimplemented!()
        }
        fn remove_registration(&mut self, _: &str, _: &str) -> Result<bool, StoreError> {
            unimplemented!()
        }
        fn registrations(&self) -> Result<Vec<Registration>, StoreError> {
            unimplemented!()
        }
        fn remove_expired_registrations(&mut self, _: Timestamp) -> Result<usize, StoreError> {
            unimplemented!()
        }
        fn enqueue_webhook(&mut self, _: &str, _: Timestamp) -> Result<i64, StoreError> {
            unimplemented!()
        }
        fn due_webhooks(&self, _: Timestamp, _: usize) -> Result<Vec<WebhookEvent>, StoreError> {
            unimplemented!()
        }
        fn mark_webhook_delivered(&mut self, _: i64) -> Result<(), StoreError> {
            unimplemented!()
        }
        fn reschedule_webhook(&mut self, _: i64, _: Timestamp, _: u32) -> Result<(), StoreError> {
            unimplemented!()
        }
        fn save_queued_callback(&mut self, _: &QueuedCallback) -> Result<(), StoreError> {
            unimplemented!()
        }
        fn queued_callbacks(&self) -> Result<Vec<QueuedCallback>, StoreError> {
            unimplemented!()
        }
        fn get_queued_callback(&self, _: &str) -> Result<Option<QueuedCallback>, StoreError> {
            unimplemented!()
        }
        fn queued_callback_for_request(
            &self,
            _: i64,
        ) -> Result<Option<QueuedCallback>, StoreError> {
            unimplemented!()
        }
        fn add_dialback_attempt(&mut self, _: &DialbackAttempt) -> Result<(), StoreError> {
            unimplemented!()
        }
        fn dialback_attempts(&self, _: &str) -> Result<Vec<DialbackAttempt>, StoreError> {
            unimplemented!()
        }
        fn finish_queued_callback(
            &mut self,
            _: &str,
            _: DialbackStatus,
            _: Timestamp,
            _: Option<&NewCallback>,
        ) -> Result<Option<i64>, StoreError> {
            unimplemented!()
        }
        fn save_agent_interval(&mut self, _: &AgentInterval) -> Result<(), StoreError> {
            unimplemented!()
        }
        fn agent_intervals_between(
            &self,
            _: Timestamp,
            _: Timestamp,
        ) -> Result<Vec<AgentInterval>, StoreError> {
            unimplemented!()
        }
        fn open_agent_intervals(&self) -> Result<Vec<AgentInterval>, StoreError> {
            unimplemented!()
        }
    }

    fn delivered(id: i64) -> StoreWrite {
        StoreWrite::WebhookDelivered { id }
    }

    #[test]
    fn queued_writes_are_applied_in_batches_and_queries_keep_their_place() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let worker = StoreWorker::spawn(Box::new(BatchRecorder(Arc::clone(&sizes)))).unwrap();
        let handle = worker.handle();

        // Hold the thread inside a job while writes pile up behind it.
        let (entered_tx, entered_rx) = mpsc::channel();
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let blocker = {
            let handle = handle.clone();
            std::thread::spawn(move || {
                handle.query(move |_| {
                    entered_tx.send(()).unwrap();
                    gate_rx.recv().unwrap();
                    Ok(())
                })
            })
        };
        entered_rx.recv().unwrap();
        for id in 0..1000 {
            handle.write(delivered(id));
        }
        // A query in the middle splits the batch: writes before it are committed first.
        // (Sent straight onto the channel so its place in the queue is certain.)
        let (probe_tx, probe_rx) = mpsc::channel();
        let sizes_probe = Arc::clone(&sizes);
        let probe: Job = Box::new(move |_| {
            probe_tx.send(sizes_probe.lock().unwrap().clone()).unwrap();
        });
        handle.tx.send(Msg::Run(probe)).unwrap();
        for id in 0..10 {
            handle.write(delivered(id));
        }
        gate_tx.send(()).unwrap();
        blocker.join().unwrap().unwrap();
        assert_eq!(probe_rx.recv().unwrap(), [MAX_BATCH, 1000 - MAX_BATCH]);

        handle.flush().unwrap();
        assert_eq!(*sizes.lock().unwrap(), [MAX_BATCH, 1000 - MAX_BATCH, 10]);

        // Writes after shutdown are dropped, not a panic.
        worker.shutdown().unwrap();
        handle.write(delivered(1));
    }

    /// Writes sent to an idle thread within the group-commit window share one commit;
    /// a query sent in the window still sees them (read-your-writes).
    #[test]
    fn an_idle_threads_writes_of_one_moment_share_a_commit() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let worker = StoreWorker::spawn_grouping(
            Box::new(BatchRecorder(Arc::clone(&sizes))),
            Duration::from_millis(300),
        )
        .unwrap();
        let handle = worker.handle();
        // A round trip, then a pause: the thread is idle, waiting on the channel.
        handle.flush().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        for id in 0..3 {
            handle.write(delivered(id));
        }
        let seen = Arc::clone(&sizes);
        let before_query = handle.query(move |_| Ok(seen.lock().unwrap().clone()));
        assert_eq!(before_query.unwrap(), [3]);
        worker.shutdown().unwrap();
        assert_eq!(*sizes.lock().unwrap(), [3]);
    }
}
