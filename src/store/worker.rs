//! The store thread: keeps the database off the signalling path.
//!
//! One dedicated OS thread owns the [`Store`]; [`StoreHandle`]s (cheap to clone, `Send`
//! and `Sync`) talk to it through one queue, handled strictly in order:
//!
//! - [`StoreHandle::write`] queues a [`StoreWrite`] and returns at once. It never blocks
//!   and never fails loudly: if the thread is gone the write is logged and dropped.
//! - [`StoreHandle::write_later`] queues a write that may wait up to [`LAZY_FLUSH`] for
//!   company: a call's progress in the middle of the call (a menu step, a routing
//!   decision). It does not wake the thread.
//! - Queries carry a reply channel: [`StoreHandle::query`] blocks the calling thread (for
//!   the CLI and tests), [`StoreHandle::query_async`] awaits a `tokio::sync::oneshot` (for
//!   the tokio driver), and typed helpers cover the common queries.
//!
//! Messages are handled strictly in order, so a query sees every write sent before it
//! through any handle on the same thread of control (read-your-writes), lazy or not.
//!
//! Throughput: when writes pile up, the thread takes everything queued and applies it
//! in runs of up to [`MAX_BATCH`] with [`Store::apply_batch`], which SQLite runs as one
//! transaction: one WAL commit for hundreds of call-record updates instead of one each.
//!
//! Group commit: at a moderate rate the thread is idle when a write arrives, so each
//! write would be a wake-up and a commit of its own (three per call). A write that
//! wakes the idle thread is therefore held for [`GROUP_COMMIT`] first, and whatever
//! arrived meanwhile goes into the same commit, as PostgreSQL's `commit_delay` does.
//! The senders pay no wake-up while the thread sleeps, and a query that arrives in the
//! window waits at most that long, behind the writes sent before it.
//!
//! Lazy writes: 500 callers listening to an IVR whose menus replay write a record
//! every replay, some 50 a second; each was a wake-up of this thread and a commit of
//! its own (the group-commit window rarely caught two), about 0.7 % of a core in the
//! benchmark (`docs/performance.md`, issue 16). A call's start, answer by a manager,
//! transfer and end stay immediate; what happens in between is committed with the next
//! of those or within [`LAZY_FLUSH`]. A crash loses at most that last second of a
//! call's progress, never the call (recovery closes its record at the next start).
//!
//! ```text
//!   sender ──push──► queue ──(an immediate message, and the thread asleep: wake it)
//!   thread: asleep until an immediate message, or LAZY_FLUSH with anything queued
//!           ──► woken from idle: sleep GROUP_COMMIT ──► take the whole queue
//!           ──► writes in runs of MAX_BATCH, queries and shutdown in their place
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

/// The longest a [`StoreHandle::write_later`] waits for the thread (see the module
/// docs): also how often an idle thread looks at its queue.
pub const LAZY_FLUSH: Duration = Duration::from_secs(1);

type Job = Box<dyn FnOnce(&mut dyn Store) + Send>;

// Writes dominate the traffic; boxing them would add an allocation per write just to
// shrink the rare Run/Shutdown messages.
#[expect(clippy::large_enum_variant, reason = "writes are the common message")]
enum Msg {
    Write(StoreWrite),
    Run(Job),
    Shutdown,
}

/// The queue between the handles and the thread.
#[derive(Default)]
struct Queue {
    msgs: VecDeque<Msg>,
    /// A message that wants the thread now (anything but a lazy write) is queued.
    wanted: bool,
    /// The thread waits on [`Channel::wake`]; a wanted message must notify it.
    asleep: bool,
    /// The thread has stopped: nothing will read the queue again.
    closed: bool,
}

/// A queue and the condition variable its thread sleeps on. `std::sync::mpsc` wakes a
/// sleeping receiver on every send; lazy writes need a send that does not.
#[derive(Default)]
struct Channel {
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Channel {
    /// The queue, even if a thread panicked holding it: every critical section below
    /// leaves it consistent (a push, a flag, a swap).
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `msg`, waking the thread if `now` and it sleeps. Gives the message back
    /// if the thread has stopped.
    #[expect(
        clippy::result_large_err,
        reason = "as mpsc::SendError: the message comes back only once the thread is gone"
    )]
    fn send(&self, msg: Msg, now: bool) -> Result<(), Msg> {
        let mut q = self.lock();
        if q.closed {
            return Err(msg);
        }
        q.msgs.push_back(msg);
        if now {
            q.wanted = true;
            if q.asleep {
                q.asleep = false;
                self.wake.notify_one();
            }
        }
        Ok(())
    }

    /// Marks the thread stopped and hands back what is still queued.
    fn close(&self) -> VecDeque<Msg> {
        let mut q = self.lock();
        q.closed = true;
        std::mem::take(&mut q.msgs)
    }
}

/// Closes the channel however the thread ends (a panicking store included), so
/// senders see it gone and queued queries' askers get [`StoreError::WorkerGone`]
/// instead of waiting forever.
struct CloseOnExit<'a>(&'a Channel);

impl Drop for CloseOnExit<'_> {
    fn drop(&mut self) {
        drop(self.0.close());
    }
}

/// Owns the store thread. Dropping it (or calling [`StoreWorker::shutdown`]) commits
/// every write queued so far and joins the thread.
#[derive(Debug)]
pub struct StoreWorker {
    handle: StoreHandle,
    thread: Option<JoinHandle<()>>,
}

/// A cheap, cloneable way to reach the store thread from anywhere.
#[derive(Clone)]
pub struct StoreHandle {
    chan: Arc<Channel>,
}

impl std::fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreHandle")
    }
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
        Self::spawn_grouping(store, GROUP_COMMIT, LAZY_FLUSH)
    }

    /// [`StoreWorker::spawn`] with other group-commit and lazy windows (tests).
    fn spawn_grouping(
        store: Box<dyn Store>,
        window: Duration,
        lazy: Duration,
    ) -> Result<Self, StoreError> {
        let chan = Arc::new(Channel::default());
        let thread_chan = Arc::clone(&chan);
        let thread = std::thread::Builder::new()
            .name("store".into())
            .spawn(move || run(store, &thread_chan, window, lazy))
            .map_err(|source| StoreError::Spawn { source })?;
        Ok(Self {
            handle: StoreHandle { chan },
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
        let _ = self.handle.chan.send(Msg::Shutdown, true);
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

/// The thread body: sleep until wanted (or a lazy write's time is up), then handle the
/// whole queue in order, batching consecutive writes.
fn run(mut store: Box<dyn Store>, chan: &Channel, window: Duration, lazy: Duration) {
    let _close = CloseOnExit(chan);
    let mut taken: VecDeque<Msg> = VecDeque::new();
    let mut batch: Vec<StoreWrite> = Vec::with_capacity(MAX_BATCH);
    let mut last_taken = Instant::now();
    loop {
        take(chan, &mut taken, &mut last_taken, window, lazy);
        let mut stop = false;
        for msg in taken.drain(..) {
            match msg {
                Msg::Write(w) => {
                    batch.push(w);
                    if batch.len() >= MAX_BATCH {
                        apply(store.as_mut(), &mut batch);
                    }
                }
                // A query after shutdown is dropped: its asker sees WorkerGone.
                Msg::Run(_) if stop => {}
                Msg::Run(job) => {
                    if !batch.is_empty() {
                        apply(store.as_mut(), &mut batch);
                    }
                    // A panicking query (a bug in its closure) must not take the thread,
                    // and with it every later write, down. Its asker sees WorkerGone.
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        job(store.as_mut())
                    }));
                    if outcome.is_err() {
                        tracing::error!("a store query panicked; the store thread carries on");
                    }
                }
                Msg::Shutdown => stop = true,
            }
        }
        // A burst (a stall, a flood of calls) must not keep its queue's memory for the
        // rest of the router's life; the two queues trade places, so both get here.
        if taken.capacity() > 4 * MAX_BATCH {
            taken.shrink_to(MAX_BATCH);
        }
        if stop {
            // Writes racing with shutdown from other handles are still committed;
            // queries get WorkerGone when their reply sender is dropped here.
            batch.extend(chan.close().into_iter().filter_map(|m| match m {
                Msg::Write(w) => Some(w),
                Msg::Run(_) | Msg::Shutdown => None,
            }));
        }
        if !batch.is_empty() {
            apply(store.as_mut(), &mut batch);
        }
        if stop {
            break;
        }
    }
    tracing::debug!("store thread stopped");
}

/// Waits until the queue wants the thread (or holds lazy writes `lazy` after the last
/// take), then swaps its messages into `taken` (whose memory the queue reuses).
fn take(
    chan: &Channel,
    taken: &mut VecDeque<Msg>,
    last_taken: &mut Instant,
    window: Duration,
    lazy: Duration,
) {
    let mut q = chan.lock();
    let mut slept = false;
    loop {
        if q.wanted {
            break;
        }
        let due = *last_taken + lazy;
        let now = Instant::now();
        if !q.msgs.is_empty() && now >= due {
            break;
        }
        // Empty: look again after `lazy` anyway (a lazy write does not wake us).
        let wait = if q.msgs.is_empty() {
            lazy
        } else {
            due.saturating_duration_since(now)
        };
        q.asleep = true;
        q = chan
            .wake
            .wait_timeout(q, wait)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        q.asleep = false;
        slept = true;
    }
    if slept && q.wanted && !window.is_zero() {
        // Idle, woken: let the moment's other writes join this one.
        drop(q);
        std::thread::sleep(window);
        q = chan.lock();
    }
    q.wanted = false;
    std::mem::swap(&mut q.msgs, taken);
    *last_taken = Instant::now();
}

fn apply(store: &mut dyn Store, batch: &mut Vec<StoreWrite>) {
    let count = batch.len();
    for error in store.apply_batch(batch) {
        tracing::warn!(%error, batch = count, "store write failed");
    }
    batch.clear();
}

impl StoreHandle {
    /// Queues a write and returns immediately; it is committed within
    /// [`GROUP_COMMIT`].
    pub fn write(&self, write: StoreWrite) {
        if let Err(msg) = self.chan.send(Msg::Write(write), true) {
            tracing::error!(?msg, "store thread is gone; write dropped");
        }
    }

    /// Queues a write that may wait up to [`LAZY_FLUSH`] (or until the next
    /// [`Self::write`] or query, which it precedes) without waking the thread: a call's
    /// progress between its start and its end (see the module docs).
    pub fn write_later(&self, write: StoreWrite) {
        if let Err(msg) = self.chan.send(Msg::Write(write), false) {
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
        self.chan
            .send(Msg::Run(job), true)
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
        self.chan
            .send(Msg::Run(job), true)
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
    use super::*;
    use crate::store::model::{
        AgentInterval, DialbackAttempt, DialbackStatus, NewCallback, QueuedCallback, RingAttempt,
    };

    /// Records the size of each batch it is given; nothing else is expected to be called.
    struct BatchRecorder(Arc<Mutex<Vec<usize>>>);

    impl Store for BatchRecorder {
        fn apply_batch(&mut self, writes: &[StoreWrite]) -> Vec<StoreError> {
            if let Some(StoreWrite::WebhookDelivered { id: PANIC_ID }) = writes.first() {
                panic!("a store bug");
            }
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

    /// A write [`BatchRecorder`] panics on.
    const PANIC_ID: i64 = -1;

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
        handle.chan.send(Msg::Run(probe), true).unwrap();
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
            LAZY_FLUSH,
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

    /// A lazy write does not wake the idle thread: it waits for the lazy window, or
    /// goes in front of the next write or query that does, in the order sent.
    #[test]
    fn lazy_writes_wait_for_company_or_their_window() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let worker = StoreWorker::spawn_grouping(
            Box::new(BatchRecorder(Arc::clone(&sizes))),
            Duration::ZERO,
            Duration::from_secs(1),
        )
        .unwrap();
        let handle = worker.handle();
        handle.flush().unwrap();
        handle.write_later(delivered(1));
        handle.write_later(delivered(2));
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            sizes.lock().unwrap().is_empty(),
            "a lazy write woke the thread"
        );
        // Nothing else comes: the window commits them.
        let deadline = Instant::now() + Duration::from_secs(10);
        while sizes.lock().unwrap().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(*sizes.lock().unwrap(), [2]);

        // An immediate write takes the lazy ones queued before it into its commit.
        handle.write_later(delivered(3));
        handle.write(delivered(4));
        handle.flush().unwrap();
        assert_eq!(*sizes.lock().unwrap(), [2, 2]);

        // A query sees a lazy write sent before it; shutdown commits the rest.
        handle.write_later(delivered(5));
        let seen = Arc::clone(&sizes);
        assert_eq!(
            handle
                .query(move |_| Ok(seen.lock().unwrap().clone()))
                .unwrap(),
            [2, 2, 1]
        );
        handle.write_later(delivered(6));
        worker.shutdown().unwrap();
        assert_eq!(*sizes.lock().unwrap(), [2, 2, 1, 1]);
        assert!(matches!(
            handle.query(|_| Ok(())),
            Err(StoreError::WorkerGone)
        ));
    }

    /// A store that panics takes its thread down; later queries fail with
    /// WorkerGone instead of waiting for an answer that never comes.
    #[test]
    fn a_dead_thread_answers_queries_with_worker_gone() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let worker = StoreWorker::spawn(Box::new(BatchRecorder(Arc::clone(&sizes)))).unwrap();
        let handle = worker.handle();
        handle.write(delivered(PANIC_ID));
        assert!(matches!(handle.flush(), Err(StoreError::WorkerGone)));
        handle.write(delivered(1));
        assert!(matches!(handle.flush(), Err(StoreError::WorkerGone)));
        assert!(worker.shutdown().is_err(), "the join reports the panic");
    }
}
