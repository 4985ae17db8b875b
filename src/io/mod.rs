//! The tokio driver: the only code with sockets, clocks, threads and signals.
//!
//! One core task owns the sans-IO [`Endpoint`]: it waits for a SIP datagram, a TCP or
//! TLS message, a media event or the endpoint's next deadline, feeds it in with the
//! current time, then drains every output before waiting again (the
//! drain-after-input rule from the crate docs).
//!
//! Stream connections (TCP, TLS) are kept by their peer (transport and address): a
//! transmit to a peer with a connection goes on it (responses, and requests to phones
//! that registered over it, RFC 5923), one to a peer without opens a connection first
//! (RFC 3261 §18.1.1), queueing what is sent meanwhile; a connection that cannot be
//! made fails the requests waiting on it at once (§17.1.4).

pub mod alerts;
pub mod certs;
pub mod email;
pub mod events;
pub mod lookup;
pub mod media;
mod mmsg;
mod pacer;
pub mod pidfile;
pub mod queueing;
mod receiver;
mod recording;
pub mod recovery;
pub mod reload;
pub mod retention;
pub mod rtp_range;
mod rtp_socket;
pub mod shared;
mod slot;
pub mod stream;
mod tap;
pub mod tcp;
pub mod tls;
mod uring;
pub mod webhook;
pub mod webhook_format;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use thiserror::Error;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use arc_swap::ArcSwap;

use crate::admin::metrics;
use crate::call::record::Recorder;
use crate::call::{CallKey, MediaEvent};
use crate::call::{Lookup, LookupResult};
use crate::config::DialPlan;
use crate::config::ServerConfig;
use crate::endpoint::{CallEvent, Endpoint, EndpointConfig, Output, ProgramFactory, StopMode};
use crate::media::prompt::{PromptError, PromptSet};
use crate::sip::{Peer, Transport};
use crate::store::{CallbackStatus, StoreHandle, StoreWrite};

use self::media::MediaPlane;
use self::stream::{Counts, StreamEvent, StreamLimits};
use self::tls::{Tls, TlsReload};

mod core_inputs;

#[derive(Debug, Error)]
pub enum RunError {
    #[error("cannot listen for SIP on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Prompts(#[from] PromptError),
    #[error("SIP over TLS cannot start: {0}")]
    Tls(#[from] certs::CertError),
    #[error("cannot start the media plane: {0}")]
    Media(std::io::Error),
    #[error("cannot share managers' state: {0}")]
    Shared(crate::store::StoreError),
}

/// Several instances share managers through PostgreSQL (`[store] url`).
#[derive(Debug, Clone)]
pub struct SharedOptions {
    pub url: String,
    /// This instance's name (default: its SIP address).
    pub instance: Option<String>,
}

/// Everything `run` needs, already resolved from the file and the command line.
pub struct RunOptions {
    pub server: ServerConfig,
    pub prompts_dir: PathBuf,
    /// The dial plan in force (swapped on reload); records use it for source labels.
    pub plan: Arc<ArcSwap<DialPlan>>,
    pub programs: ProgramFactory,
    /// Where call records go; None keeps no records (tests of the SIP core).
    pub store: Option<StoreHandle>,
    /// Where voicemail is recorded (default: `recordings` in the server's data_dir).
    pub recordings_dir: Option<PathBuf>,
    /// Share managers' state with other instances (None: this instance alone).
    pub shared: Option<SharedOptions>,
}

/// A running router: its bound address and a way to stop it (used by tests).
pub struct Running {
    pub sip_addr: SocketAddr,
    /// The records of calls in progress (for the admin API's live view).
    pub live: Arc<std::sync::Mutex<Recorder>>,
    /// Alerts raised now (for the dashboard).
    pub alerts: alerts::ActiveAlerts,
    /// Managers' presence and load, refreshed every second (for the admin API).
    pub managers: ManagerSnapshot,
    /// Every queue and pending callback, refreshed every second (the dashboard).
    pub queues: queueing::QueueSnapshot,
    /// Commands from the admin API to the core (managers' states, callbacks).
    pub commands: mpsc::UnboundedSender<queueing::AdminCommand>,
    /// Call events as they happen (the admin API's `GET /api/events`).
    pub events: tokio::sync::broadcast::Sender<Arc<events::Published>>,
    /// Tells the tasks around the core (webhooks, retention, alerts) to end.
    shutdown: tokio::sync::watch::Sender<bool>,
    /// Tells the core to stop (drain, then hang up: `endpoint::stopping`).
    stopping: tokio::sync::watch::Sender<Option<StopMode>>,
    reload: mpsc::UnboundedSender<Reload>,
    retention: tokio::sync::watch::Sender<Option<u32>>,
    pub task: tokio::task::JoinHandle<()>,
}

/// A configuration reload, already checked: the new plan, the `[server]` to run with
/// (run-time settings new, restart-only ones as running: see
/// [`crate::config::reload::merge_reload`]) and the prompts loaded from its folder.
#[derive(Debug)]
pub struct Reload {
    pub plan: Arc<DialPlan>,
    pub server: ServerConfig,
    pub prompts: Arc<PromptSet>,
    /// The certificate and trust anchors read again from their files.
    pub tls: TlsReload,
}

impl Running {
    /// SIGTERM: new calls are refused while calls in progress finish for up to
    /// `[server] drain_secs`; then the rest are hung up and the core task ends.
    pub fn stop(&self) {
        let _ = self.stopping.send(Some(StopMode::Drain));
    }

    /// A second SIGTERM, or a failed start: hang up every call now.
    pub fn stop_now(&self) {
        let _ = self.stopping.send(Some(StopMode::Now));
    }

    /// Whether a stop has been asked for (for `/healthz`).
    pub fn stop_requested(&self) -> impl Fn() -> bool + Send + Sync + 'static {
        let asked = self.stopping.subscribe();
        move || asked.borrow().is_some()
    }

    /// Once the core task has ended: the tasks around it end too.
    pub fn close(&self) {
        let _ = self.shutdown.send(true);
    }

    /// A new configuration was loaded: apply what the core derives from it (phone
    /// logins, trunks, timers, digest, webhook, prompts for new calls, retention).
    /// Calls keep the plan they started with; routing reads the plan swapped in by the
    /// caller.
    pub fn reload(&self, reload: Reload) {
        let days = reload.server.retention_days;
        // Only a changed limit re-runs the cleanup at once.
        self.retention
            .send_if_modified(|d| std::mem::replace(d, days) != days);
        let _ = self.reload.send(reload);
    }
}

/// Bind sockets, load prompts and start the core task.
pub async fn start(opts: RunOptions) -> Result<Running, RunError> {
    let prompts = Arc::new(PromptSet::load_dir(&opts.prompts_dir)?);
    tracing::info!(count = prompts.len(), dir = %opts.prompts_dir.display(), "prompts loaded");
    let listen = opts.server.sip_listen;
    let udp = UdpSocket::bind(listen)
        .await
        .map_err(|source| RunError::Listen {
            addr: listen,
            source,
        })?;
    let bound = udp.local_addr().map_err(|source| RunError::Listen {
        addr: listen,
        source,
    })?;
    // TCP on the same port as UDP (RFC 3261 §18: a server listens on both).
    let tcp = TcpListener::bind(bound)
        .await
        .map_err(|source| RunError::Listen {
            addr: bound,
            source,
        })?;
    // Certificates before anything listens: a bad file stops the start with its reason.
    let tls = Tls::new(TlsReload::load(&opts.server, jiff::Timestamp::now())?);
    let tls_listener = match (opts.server.sip_tls_listen, &tls.resolver) {
        (Some(addr), Some(resolver)) => {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|source| RunError::Listen { addr, source })?;
            let bound = l
                .local_addr()
                .map_err(|source| RunError::Listen { addr, source })?;
            Some((l, bound, resolver.clone()))
        }
        _ => None,
    };
    let (stream_tx, stream_rx) = mpsc::unbounded_channel();
    let mut limits = StreamLimits::from_server(&opts.server);
    // Two descriptors per call leg's RTP port (its receive socket and its send-only
    // twin, `rtp_socket.rs`), plus room for the database, WAV files, the admin API and
    // webhooks.
    let ports = &opts.server.rtp_ports;
    let rtp_sockets = 2 * ports.even_ports().count();
    limits.max_total = tcp::descriptor_budget(rtp_sockets + 256, limits.max_total);
    let counts = Arc::new(Counts::default());
    tokio::spawn(tcp::accept_loop(
        tcp,
        stream_tx.clone(),
        limits,
        counts.clone(),
    ));
    let tls_bound = match tls_listener {
        Some((listener, bound, resolver)) => {
            tokio::spawn(tls::accept_loop(
                listener,
                stream_tx.clone(),
                limits,
                counts.clone(),
                resolver,
            ));
            Some(bound)
        }
        None => None,
    };

    let (media_tx, media_rx) = mpsc::unbounded_channel();
    let plane = MediaPlane::start(
        bound.ip(),
        prompts,
        Duration::from_secs(opts.server.rtp_timeout_secs),
        opts.server.latch(),
        media_tx,
    )
    .map_err(RunError::Media)?;
    let mut cfg = EndpointConfig::from_server(&opts.server, bound);
    cfg.tls_addr = tls_bound.map(|b| SocketAddr::new(cfg.sip_addr.ip(), b.port()));
    let seed = rand::random::<u64>();
    let mut endpoint = Endpoint::new(cfg, opts.programs, seed);
    // Ports another program holds now are never given to a call (`rtp_range.rs`).
    endpoint.retire_rtp_ports(&rtp_range::check(bound.ip(), opts.server.rtp_ports));
    // SRTP keys from 256 bits of OS randomness, not from the 64-bit seed above.
    endpoint.seed_keys(rand::random::<[u8; 32]>());
    if let Some(dir) = opts.recordings_dir.clone() {
        endpoint.set_recordings_dir(dir);
    }
    endpoint.set_plan(opts.plan.load_full());
    endpoint
        .set_registrar(start_registrar(&opts.server, &opts.plan.load(), opts.store.as_ref()).await);
    endpoint.sync_registrations(Instant::now(), jiff::Timestamp::now());
    if let Some(store) = &opts.store {
        queueing::restore(&mut endpoint, store, opts.plan.load_full()).await;
    }
    let (shared_tx, shared_rx) = mpsc::unbounded_channel();
    let shared = match opts.shared {
        Some(so) => {
            let instance = so.instance.unwrap_or_else(|| bound.to_string());
            let link = tokio::task::spawn_blocking(move || {
                shared::SharedLink::start(so.url, instance, shared_tx)
            })
            .await
            .map_err(|e| {
                RunError::Shared(crate::store::StoreError::Spawn {
                    source: std::io::Error::other(e.to_string()),
                })
            })?
            .map_err(RunError::Shared)?;
            endpoint.set_shared(true);
            Some(link)
        }
        None => None,
    };
    let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    // Webhook notifications from the store's outbox (`[server] webhook_url`).
    let webhooks = match &opts.store {
        Some(store) => {
            let mailer = Arc::new(email::Mailer::new(
                opts.plan.clone(),
                opts.server.data_dir.clone(),
            ));
            let (w, configured) = webhook::start(
                &opts.server,
                store.clone(),
                Some(mailer),
                shutdown_rx.clone(),
            );
            if let Err(e) = configured {
                tracing::error!("webhook notifications are off: {e}");
            }
            Some(w)
        }
        None => None,
    };
    let (retention, retention_rx) = tokio::sync::watch::channel(opts.server.retention_days);
    if let Some(store) = &opts.store {
        retention::start(
            store.clone(),
            opts.server.data_dir.clone(),
            retention_rx,
            shutdown_rx.clone(),
        );
    }
    let active_alerts: alerts::ActiveAlerts = Arc::default();
    if let Some(store) = &opts.store {
        alerts::start(
            opts.plan.clone(),
            store.clone(),
            webhooks.clone(),
            active_alerts.clone(),
            shutdown_rx.clone(),
        );
    }
    tracing::info!(%bound, "Switchboard listening for SIP on UDP and TCP");
    if let (Some(tls_bound), Some(identity)) = (tls_bound, tls.resolver.as_ref()) {
        let _ = identity;
        tracing::info!(%tls_bound, srtp = %opts.server.srtp, "Switchboard listening for SIP over TLS");
    }
    let live = Arc::new(std::sync::Mutex::new(Recorder::new()));
    let managers_snapshot = ManagerSnapshot::default();
    let queues_snapshot = queueing::QueueSnapshot::default();
    let (lookup_tx, lookup_rx) = mpsc::unbounded_channel();
    let (commands, commands_rx) = mpsc::unbounded_channel();
    let publisher = events::Publisher::new();
    let events_stream = publisher.stream();
    let (regs_tx, regs_rx) = mpsc::unbounded_channel();
    let core = Core {
        queues: queues_snapshot.clone(),
        service_level: queueing::ServiceLevelTally::default(),
        lookups: lookup_tx,
        events: publisher,
        crm: lookup::Crm::new(),
        shared,
        registrations: regs_tx,
        managers: managers_snapshot.clone(),
        endpoint,
        udp,
        streams: HashMap::new(),
        stream_events: stream_tx,
        limits,
        counts,
        tls,
        plane,
        recorder: live.clone(),
        plan: opts.plan,
        store: opts.store,
        webhooks,
    };
    let (reload, reload_rx) = mpsc::unbounded_channel();
    let (stopping, stopping_rx) = tokio::sync::watch::channel(None);
    let task = tokio::spawn(core_loop(
        core,
        Inputs {
            stream_rx,
            media_rx,
            lookup_rx,
            shared_rx,
            regs_rx,
            stopping: stopping_rx,
            reload_rx,
            commands_rx,
        },
    ));
    Ok(Running {
        sip_addr: bound,
        live,
        alerts: active_alerts,
        managers: managers_snapshot,
        queues: queues_snapshot,
        commands,
        events: events_stream,
        shutdown,
        stopping,
        reload,
        retention,
        task,
    })
}

/// The registrar with the plan's phone logins and the bindings stored before a restart.
async fn start_registrar(
    server: &ServerConfig,
    plan: &DialPlan,
    store: Option<&StoreHandle>,
) -> crate::registrar::Registrar {
    let users = plan.login_users();
    let cfg = crate::registrar::RegistrarConfig {
        algorithms: server.digest_algorithms.clone(),
        allow_legacy_digest: server.allow_legacy_digest,
        lockout: server.lockout(),
        ..Default::default()
    };
    let mut registrar = crate::registrar::Registrar::with_config(
        rand::random::<[u8; 32]>(),
        server.realm.clone(),
        users,
        cfg,
    );
    if let Some(store) = store {
        match store.registrations().await {
            Ok(regs) => registrar.load(regs),
            Err(e) => tracing::warn!("cannot read stored registrations: {e}"),
        }
    }
    registrar
}

struct Core {
    endpoint: Endpoint,
    udp: UdpSocket,
    /// Open (or opening) TCP and TLS connections by peer: their writers.
    streams: HashMap<Peer, mpsc::UnboundedSender<Bytes>>,
    /// Where connections we open report (the same channel the listeners use).
    stream_events: mpsc::UnboundedSender<StreamEvent>,
    limits: StreamLimits,
    counts: Arc<Counts>,
    tls: Arc<Tls>,
    plane: MediaPlane,
    recorder: Arc<std::sync::Mutex<Recorder>>,
    plan: Arc<ArcSwap<DialPlan>>,
    store: Option<StoreHandle>,
    /// Woken after a callback request is written, so its notification goes out at once.
    webhooks: Option<webhook::Webhooks>,
    managers: ManagerSnapshot,
    /// Answers to the calls' lookups come back here.
    lookups: mpsc::UnboundedSender<(CallKey, LookupResult)>,
    queues: queueing::QueueSnapshot,
    service_level: queueing::ServiceLevelTally,
    /// Call events for the webhook and the SSE stream.
    events: events::Publisher,
    /// The CRM lookup client and its cache (`[lookup]`).
    crm: lookup::Crm,
    /// The shared-state thread (several instances), if configured.
    shared: Option<shared::SharedLink>,
    /// Registrations re-read from the shared database come back here.
    registrations: mpsc::UnboundedSender<Vec<crate::store::Registration>>,
}

/// Everything the core task waits on besides the SIP socket.
struct Inputs {
    stream_rx: mpsc::UnboundedReceiver<StreamEvent>,
    media_rx: mpsc::UnboundedReceiver<(CallKey, MediaEvent)>,
    lookup_rx: mpsc::UnboundedReceiver<(CallKey, LookupResult)>,
    shared_rx: mpsc::UnboundedReceiver<shared::SharedEvent>,
    regs_rx: mpsc::UnboundedReceiver<Vec<crate::store::Registration>>,
    stopping: tokio::sync::watch::Receiver<Option<StopMode>>,
    reload_rx: mpsc::UnboundedReceiver<Reload>,
    commands_rx: mpsc::UnboundedReceiver<queueing::AdminCommand>,
}

/// The managers' state as last published by the core task.
pub type ManagerSnapshot = Arc<ArcSwap<Vec<crate::endpoint::ManagerStatus>>>;

async fn core_loop(mut core: Core, inputs: Inputs) {
    let Inputs {
        mut stream_rx,
        mut media_rx,
        mut lookup_rx,
        mut shared_rx,
        mut regs_rx,
        mut stopping,
        mut reload_rx,
        mut commands_rx,
    } = inputs;
    let mut buf = vec![0u8; 65535];
    // Managers' state for the admin API: published once a second rather than after
    // every input, so the hot path never pays for it.
    let mut publish = tokio::time::interval(std::time::Duration::from_secs(1));
    publish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut trim = Trim::default();
    // One timer for the core's next deadline, moved only when the deadline moves. A
    // new `sleep_until` on every input registered and dropped a timer entry per SIP
    // message and woke the runtime's timer driver for it (issue 16: 1,000 calls/s).
    let timer = tokio::time::sleep(std::time::Duration::ZERO);
    tokio::pin!(timer);
    let mut armed: Option<Instant> = None;
    loop {
        let deadline = core.endpoint.poll_timeout();
        if deadline != armed {
            if let Some(at) = deadline {
                timer.as_mut().reset(tokio::time::Instant::from_std(at));
            }
            armed = deadline;
        }
        tokio::select! {
            r = core.udp.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    let peer = Peer { transport: Transport::Udp, addr: from };
                    if let Some(bytes) = buf.get(..n) {
                        metrics::count_sip_message(bytes, "in");
                        core.endpoint.handle_sip(Instant::now(), jiff::Timestamp::now(), peer, bytes);
                    }
                }
            }
            Some(ev) = stream_rx.recv() => core.stream_event(ev),
            Some((call, ev)) = media_rx.recv() => {
                let (now, wall) = (Instant::now(), jiff::Timestamp::now());
                core.endpoint.handle_media_event(now, wall, call, ev);
                // A menu whose end the media plane held until its first-digit wait was
                // over arrives with the menu's timer already due (`MediaCommand::Play`,
                // issue 16): fire it in this activation, not through the runtime's
                // timer, which can wake another worker to do it.
                if core.endpoint.poll_timeout().is_some_and(|at| at <= now) {
                    core.endpoint.handle_timeout(now, wall);
                }
            }
            Some((call, result)) = lookup_rx.recv() => {
                core.endpoint.handle_lookup(Instant::now(), jiff::Timestamp::now(), call, result);
            }
            Some(ev) = shared_rx.recv() => core.shared_event(ev),
            Some(regs) = regs_rx.recv() => {
                // Phones that registered on another instance can be rung from here too.
                if let Some(r) = core.endpoint.registrar_mut() {
                    r.load(regs);
                }
                core.endpoint.sync_registrations(Instant::now(), jiff::Timestamp::now());
            }
            () = &mut timer, if armed.is_some() => {
                // Fired: re-armed on the next turn even if the deadline stays the same.
                armed = None;
                core.endpoint.handle_timeout(Instant::now(), jiff::Timestamp::now());
            }
            _ = publish.tick() => {
                metrics::add_guard_stats(&core.endpoint.take_guard_stats());
                metrics::set_guard_gauges(core.endpoint.banned_sources(), core.endpoint.transactions());
                metrics::set_rtp_ports_free(core.endpoint.rtp_ports_free());
                if trim.tick(core.endpoint.transactions()) {
                    core.endpoint.shrink();
                }
                let plan = core.plan.load();
                let status = core.endpoint.manager_status(&plan, jiff::Timestamp::now());
                let queues = core.endpoint.queues(jiff::Timestamp::now());
                queueing::publish_gauges(&queues, &status);
                core.managers.store(Arc::new(status));
                core.queues.store(Arc::new(queues));
            }
            Some(cmd) = commands_rx.recv() => {
                queueing::handle_command(&mut core.endpoint, cmd);
                // The dashboard sees the change at once, not a second later.
                let now = jiff::Timestamp::now();
                let plan = core.plan.load();
                core.managers.store(Arc::new(core.endpoint.manager_status(&plan, now)));
                core.queues.store(Arc::new(core.endpoint.queues(now)));
            }
            Some(reload) = reload_rx.recv() => core.reload(reload),
            changed = stopping.changed() => {
                // The owner gone (`Running` dropped) is a stop without a drain.
                let mode = match changed {
                    Ok(()) => *stopping.borrow_and_update(),
                    Err(_) => Some(StopMode::Now),
                };
                if let Some(mode) = mode {
                    core.endpoint.handle_stop(Instant::now(), jiff::Timestamp::now(), mode);
                }
                if changed.is_err() && !core.endpoint.is_stopped() {
                    // Nobody can ask again: finish what the hang-up sent, then leave.
                    core.drain();
                    return;
                }
            }
        }
        core.drain();
        if core.endpoint.is_stopped() {
            return;
        }
    }
}

/// Gives memory freed after a burst back to the system. glibc keeps freed heap pages
/// in its arenas, so after a flood (thousands of short-lived transactions) the
/// process's RSS stayed at its peak although the memory was free; `malloc_trim`
/// returns it. Called only when the transaction count has fallen well below a recent
/// peak, so a steady load never pays for it.
#[derive(Default)]
struct Trim {
    peak: usize,
    trim_next: bool,
}

impl Trim {
    /// Transactions above the current count that make a trim worth it.
    const DROP: usize = 1000;

    /// Whether the tables should be shrunk now (the trim follows on the next tick,
    /// once the shrunk tables' old memory is free).
    fn tick(&mut self, transactions: usize) -> bool {
        self.peak = self.peak.max(transactions);
        if std::mem::take(&mut self.trim_next) {
            // SAFETY: malloc_trim only releases free memory; it takes the allocator's
            // own locks and has no preconditions.
            unsafe {
                libc::malloc_trim(0);
            }
        }
        if self.peak >= transactions + Self::DROP {
            self.peak = transactions;
            self.trim_next = true;
            return true;
        }
        false
    }
}

impl Core {
    /// A callback request was just filed: queue the emails (`[email]`) and the
    /// `voicemail.created` webhook it calls for. The request is read back from the
    /// store (the read is queued after the write) to learn its id and whether it is
    /// new or carries a new message.
    fn notify_people(&self, request: crate::store::NewCallback) {
        let plan = self.plan.load();
        let email = plan.integrations.email.clone();
        let webhooks = self.webhooks.clone();
        let hook = webhooks
            .as_ref()
            .is_some_and(|w| w.selects("voicemail.created"));
        let (Some(store), true) = (self.store.clone(), email.is_some() || hook) else {
            return;
        };
        tokio::spawn(async move {
            let list = match store
                .list_callbacks(Some(request.department.clone()), None)
                .await
            {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!("cannot read the new callback request back: {e}");
                    return;
                }
            };
            let Some(cb) = list
                .into_iter()
                .filter(|c| c.caller == request.caller && c.status != CallbackStatus::Done)
                .max_by_key(|c| (c.updated_at, c.id))
            else {
                return;
            };
            let voicemail = request.recording_path.is_some() && cb.recording_path.is_some();
            let created = cb.call_count == 1;
            let now = jiff::Timestamp::now();
            if let Some(p) = &email {
                let event = match (voicemail, created) {
                    (true, _) if p.voicemail => Some("voicemail.created"),
                    (false, true) if p.callbacks => Some("callback.created"),
                    _ => None,
                };
                if let Some(event) = event {
                    store.write(StoreWrite::EnqueueWebhook {
                        payload_json: email::email_row(event, &cb),
                        now,
                    });
                }
            }
            if voicemail && hook {
                let body = serde_json::json!({"event": "voicemail.created", "callback": cb});
                store.write(StoreWrite::EnqueueWebhook {
                    payload_json: body.to_string(),
                    now,
                });
            }
            // The outbox task delivers both kinds of rows: look now, not at the next poll.
            if let Some(w) = &webhooks {
                w.notify();
            }
        });
    }

    /// A call event for the outside world: to the SSE stream, and to the webhook outbox
    /// when `webhook_events` selects it (docs/integrations.md).
    fn publish(&mut self, ev: &CallEvent, rec: Option<&crate::store::CallRecord>) {
        let now = jiff::Timestamp::now();
        let bodies = self.webhooks.is_some() || self.events.listening();
        for p in self.events.handle(now, ev, rec, bodies) {
            metrics::count_call_event(p.event);
            if let (Some(store), Some(w)) = (&self.store, &self.webhooks)
                && w.selects(p.event)
            {
                store.write(StoreWrite::EnqueueWebhook {
                    payload_json: p.json.clone(),
                    now,
                });
                w.notify();
            }
        }
    }
}

/// Metrics for call life events (the outcome counters are fed from the records):
/// menu choices, time in the IVR (start → first connect), time to answer (start →
/// a manager answered).
fn count_event(ev: &CallEvent, rec: &crate::store::CallRecord) {
    let since_start =
        |at: jiff::Timestamp| at.duration_since(rec.started_at).as_secs_f64().max(0.0);
    match ev {
        CallEvent::MenuChoice { .. } => {
            ::metrics::counter!("switchboard_menu_choices_total").increment(1);
        }
        CallEvent::Connecting { .. } if rec.transfers.is_empty() => {
            metrics::observe_ivr_time(since_start(jiff::Timestamp::now()));
        }
        CallEvent::Connected { .. } if rec.transfers.is_empty() => {
            if let Some(at) = rec.answered_at {
                metrics::observe_answer_time(since_start(at));
            }
        }
        _ => {}
    }
}
