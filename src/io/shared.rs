//! The driver side of managers' state shared by several instances: a thread with its
//! own PostgreSQL connection answers the core's ring claims, applies its notices in
//! order, renews this instance's lease and reads the other instances' load every
//! [`HEARTBEAT`]. The core never waits on it: claims are outputs, answers and
//! snapshots come back as inputs (`connect::shared`).
//!
//! If the database cannot be reached, every claim is refused (a manager is never rung
//! twice on a guess): callers queue, and overflow to voicemail when their queue time
//! runs out. The thread reconnects at each heartbeat.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use crate::connect::{Claim, SharedSnapshot};
use crate::media::CallKey;
use crate::store::StoreError;
use crate::store::shared::{HEARTBEAT, RingGrant, SharedState};

/// What the shared thread hands back to the core.
#[derive(Debug)]
pub enum SharedEvent {
    Claimed {
        id: u64,
        call: CallKey,
        grant: RingGrant,
    },
    Snapshot(SharedSnapshot),
}

enum Job {
    Claim(Claim),
    Stop,
}

/// The core's end of the shared thread. Dropping it releases this instance's claims
/// and lease (a clean stop frees its managers at once; a crash frees them when the
/// lease runs out).
pub struct SharedLink {
    tx: mpsc::Sender<Job>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for SharedLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedLink")
    }
}

impl SharedLink {
    /// Connects as `instance` and starts the thread; events go to `events`.
    pub fn start(
        url: String,
        instance: String,
        events: UnboundedSender<SharedEvent>,
    ) -> Result<SharedLink, StoreError> {
        let state = SharedState::start(&url, &instance)?;
        tracing::info!(%instance, "sharing managers' state with the other instances");
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("shared".into())
            .spawn(move || run(url, instance, Some(state), &rx, &events))
            .map_err(|source| StoreError::Spawn { source })?;
        Ok(SharedLink {
            tx,
            thread: Some(thread),
        })
    }

    pub fn send(&self, claim: Claim) {
        if self.tx.send(Job::Claim(claim)).is_err() {
            tracing::error!("the shared-state thread is gone; claim dropped");
        }
    }
}

impl Drop for SharedLink {
    fn drop(&mut self) {
        let _ = self.tx.send(Job::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn refuse_all(claim: &Claim) -> RingGrant {
    match claim {
        Claim::Ring { managers, .. } => RingGrant {
            granted: Vec::new(),
            refused: managers.iter().map(|m| m.manager.clone()).collect(),
        },
        _ => RingGrant::default(),
    }
}

fn run(
    url: String,
    instance: String,
    mut state: Option<SharedState>,
    rx: &mpsc::Receiver<Job>,
    events: &UnboundedSender<SharedEvent>,
) {
    let mut next_tick = Instant::now();
    loop {
        if Instant::now() >= next_tick {
            next_tick = Instant::now() + HEARTBEAT;
            tick(&url, &instance, &mut state, events);
        }
        let wait = next_tick.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait.max(Duration::from_millis(1))) {
            Ok(Job::Claim(claim)) => handle(&mut state, &claim, events),
            Ok(Job::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    if let Some(s) = state.as_mut()
        && let Err(e) = s.stop()
    {
        tracing::warn!("could not release this instance's claims: {e}");
    }
}

fn handle(state: &mut Option<SharedState>, claim: &Claim, events: &UnboundedSender<SharedEvent>) {
    if let Claim::Ring {
        id,
        call,
        managers,
        department,
        priority,
    } = claim
    {
        let grant = match state.as_mut() {
            Some(s) => s
                .claim_ring(*call, managers, department.as_deref(), *priority)
                .unwrap_or_else(|e| {
                    tracing::error!("ring claim failed, ringing nobody for now: {e}");
                    refuse_all(claim)
                }),
            None => refuse_all(claim),
        };
        let _ = events.send(SharedEvent::Claimed {
            id: *id,
            call: *call,
            grant,
        });
        return;
    }
    match state.as_mut() {
        Some(s) => {
            if let Err(e) = s.apply(claim) {
                tracing::error!(?claim, "shared state not updated: {e}");
            }
        }
        None => tracing::error!(?claim, "shared state unreachable; not updated"),
    }
}

fn tick(
    url: &str,
    instance: &str,
    state: &mut Option<SharedState>,
    events: &UnboundedSender<SharedEvent>,
) {
    if state.as_ref().is_none_or(SharedState::is_closed) {
        match SharedState::reconnect(url, instance) {
            Ok(s) => {
                tracing::info!("shared state reachable again");
                *state = Some(s);
            }
            Err(e) => {
                if state.take().is_some() {
                    tracing::error!("shared state unreachable: {e}");
                }
                return;
            }
        }
    }
    let Some(s) = state.as_mut() else {
        return;
    };
    let result = s.heartbeat().and_then(|()| s.snapshot());
    match result {
        Ok(snapshot) => {
            let _ = events.send(SharedEvent::Snapshot(snapshot));
        }
        Err(e) => tracing::warn!("shared state heartbeat failed: {e}"),
    }
}
