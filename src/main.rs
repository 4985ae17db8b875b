//! The `switchboard` command line: parses arguments, runs the router, and hands the
//! other subcommands to [`switchboard::commands`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use arc_swap::ArcSwap;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use switchboard::call::plan::PlanProgram;
use switchboard::call::{DemoIvr, Program};
use switchboard::commands::{self, queue::CallbacksAction};
use switchboard::config::{DialPlan, LoadedConfig, ServerConfig};
use switchboard::io::pidfile::{self, PidFile};
use switchboard::io::reload::{self as reloading, ServerOverrides};
use switchboard::io::{self, RunOptions};
use switchboard::media::ports::PortRange;
use switchboard::reports;
use switchboard::store::{
    CallbackStatus, PostgresStore, SqliteStore, Store, StoreError, StoreHandle, StoreWorker,
};

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "SIP call router with a built-in IVR"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the router.
    Run {
        /// The configuration file (server settings and dial plan).
        #[arg(long, short)]
        config: PathBuf,
        /// SIP listen address (UDP and TCP), overriding [server] sip_listen.
        #[arg(long)]
        sip_listen: Option<SocketAddr>,
        /// RTP port range LOW-HIGH, overriding [server] rtp_ports.
        #[arg(long)]
        rtp_ports: Option<PortRange>,
        /// Data directory (database, recordings), overriding [server] data_dir.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Admin HTTP API address, or "off", overriding [server] http_listen.
        #[arg(long, value_parser = parse_listen)]
        http_listen: Option<ListenAddr>,
    },
    /// Check a configuration file and its prompts; exit non-zero on errors.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Show the path a call would take through the dial plan, and why: the same
    /// decisions the router makes, with the caller's history and the phones signed in
    /// read from the router's database.
    Explain {
        #[arg(long, short)]
        config: PathBuf,
        /// The dialled number.
        #[arg(long)]
        to: String,
        /// The caller's number.
        #[arg(long)]
        from: String,
        /// When the call happens. "2026-12-01T21:30" is local time in the time zone of
        /// the dialled number's hours (else of the plan's hours, else the system's);
        /// add an offset ("2026-12-01T21:30+01:00", "…Z") or a zone
        /// ("2026-12-01T21:30[Europe/Rome]") to say otherwise. Default: now.
        #[arg(long)]
        at: Option<String>,
        /// Keys the caller presses in the menus, in order.
        #[arg(long, default_value = "")]
        digits: String,
        /// Data directory with the database to read history and phones from (default:
        /// the config's data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Ask the CRM of [lookup] about the caller, as a call would, and show what it
        /// answered and what that changes.
        #[arg(long)]
        lookup: bool,
    },
    /// Call figures for a period: per day, source, manager and department, and the
    /// missed calls nobody has called back yet.
    Report {
        #[arg(long, short)]
        config: PathBuf,
        /// Data directory holding switchboard.db (default: from the config).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The current ISO week, Monday to Sunday (the default).
        #[arg(long, conflicts_with_all = ["from", "to"])]
        week: bool,
        /// First day, inclusive (YYYY-MM-DD).
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// Last day, inclusive (YYYY-MM-DD).
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// Time zone for days and the week, e.g. Europe/Rome (default: the system's).
        #[arg(long)]
        tz: Option<String>,
        /// table, csv or json.
        #[arg(long, default_value = "table")]
        format: reports::Format,
    },
    /// Work the callback queue: list, claim and close requests. --config and
    /// --data-dir may come before or after the action.
    Callbacks {
        /// The configuration file (required).
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        /// Data directory holding switchboard.db (default: from the config).
        #[arg(long, global = true)]
        data_dir: Option<PathBuf>,
        #[command(subcommand)]
        action: CallbacksCommand,
    },
    /// Compare dial plans on simulated or recorded traffic (virtual clock, real engine).
    Simulate(switchboard::sim::SimulateArgs),
    /// Check the configuration, then tell the running router to reload it (the same as
    /// `kill -HUP`) and print what it did: the dial plan and the [server] settings that
    /// apply at once, and each [server] setting that needs a restart. A configuration
    /// with errors is not sent.
    Reload {
        #[arg(long, short)]
        config: PathBuf,
        /// Data directory of the running router (default: from the config).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Copy the database to a new file, safely while the router runs (SQLite online
    /// backup). Voicemail recordings are files: copy DATA_DIR/recordings as well.
    Backup {
        #[arg(long, short)]
        config: PathBuf,
        /// Data directory holding switchboard.db (default: from the config).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The backup file to create (never overwritten).
        #[arg(long)]
        to: PathBuf,
    },
}

#[derive(Subcommand)]
enum CallbacksCommand {
    /// The queue, oldest first.
    List {
        /// Only this department's requests.
        #[arg(long)]
        department: Option<String>,
        /// open, claimed or done.
        #[arg(long, value_parser = parse_status)]
        status: Option<CallbackStatus>,
        /// table or json.
        #[arg(long, default_value = "table")]
        format: reports::Format,
        /// Time zone for the times shown (default: the system's).
        #[arg(long)]
        tz: Option<String>,
    },
    /// Take a request so no other manager calls the same customer.
    Claim {
        id: i64,
        /// A manager of the plan ([managers.NAME]).
        #[arg(long)]
        manager: String,
    },
    /// Close a request after calling back, recording what happened.
    Done {
        id: i64,
        /// A manager of the plan ([managers.NAME]).
        #[arg(long)]
        manager: String,
        /// What happened, e.g. "reached", "no answer, left a message".
        #[arg(long)]
        outcome: String,
    },
}

/// Logs go to stderr (stdout carries command output such as `report --format json`),
/// coloured only for a person at a terminal: a file, a pipe or journald gets plain text,
/// and `NO_COLOR` (https://no-color.org) turns colour off everywhere.
fn init_logging() {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("SWITCHBOARD_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && !no_color)
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    init_logging();
    match Cli::parse().command {
        Command::Run {
            config,
            sip_listen,
            rtp_ports,
            data_dir,
            http_listen,
        } => run(
            config,
            ServerOverrides {
                sip_listen,
                rtp_ports,
                data_dir,
                http_listen: http_listen.map(|ListenAddr(a)| a),
            },
        ),
        Command::Check { config } => check(&config),
        Command::Explain {
            config,
            to,
            from,
            at,
            digits,
            data_dir,
            lookup,
        } => with_config(&config, |loaded| {
            let data_dir = commands::data_dir(loaded, data_dir);
            commands::explain::explain_with_lookup(
                loaded,
                &data_dir,
                &to,
                &from,
                at.as_deref(),
                &digits,
                lookup,
            )
        }),
        Command::Report {
            config,
            data_dir,
            week: _,
            from,
            to,
            tz,
            format,
        } => with_config(&config, |loaded| {
            let store = commands::open_store(loaded, &commands::data_dir(loaded, data_dir))?;
            commands::queue::report(
                &loaded.plan,
                store.as_ref(),
                from.as_deref(),
                to.as_deref(),
                tz.as_deref(),
                format,
            )
        }),
        Command::Callbacks {
            config,
            data_dir,
            action,
        } => {
            let Some(config) = config else {
                eprintln!(
                    "error: callbacks needs --config FILE (before or after the action), e.g. \
                     switchboard callbacks list --config switchboard.toml"
                );
                return ExitCode::from(2);
            };
            with_config(&config, |loaded| {
                let mut store =
                    commands::open_store(loaded, &commands::data_dir(loaded, data_dir))?;
                commands::queue::callbacks(&loaded.plan, store.as_mut(), action.into())
            })
        }
        Command::Simulate(args) => switchboard::sim::run_cli(args),
        Command::Reload { config, data_dir } => {
            let Some(loaded) = commands::load(&config) else {
                eprintln!(
                    "not reloaded: fix the errors above first (the running configuration stays in force)"
                );
                return ExitCode::FAILURE;
            };
            print_result(commands::admin::reload(&commands::data_dir(
                &loaded, data_dir,
            )))
        }
        Command::Backup {
            config,
            data_dir,
            to,
        } => with_config(&config, |loaded| {
            if let Some(url) = &loaded.store.url {
                return Err(format!(
                    "this configuration keeps its data in PostgreSQL ({}); back it up with \
                     pg_dump (docs/scale-out.md \"Backups\")",
                    switchboard::store::postgres::redact_url(url)
                ));
            }
            commands::admin::backup(&commands::data_dir(loaded, data_dir), &to)
        }),
    }
}

impl From<CallbacksCommand> for CallbacksAction {
    fn from(c: CallbacksCommand) -> Self {
        match c {
            CallbacksCommand::List {
                department,
                status,
                format,
                tz,
            } => CallbacksAction::List {
                department,
                status,
                format,
                tz,
            },
            CallbacksCommand::Claim { id, manager } => CallbacksAction::Claim { id, manager },
            CallbacksCommand::Done {
                id,
                manager,
                outcome,
            } => CallbacksAction::Done {
                id,
                manager,
                outcome,
            },
        }
    }
}

/// Runs a command that needs the plan but not the prompts; prints its text or error.
fn with_config(config: &Path, f: impl FnOnce(&LoadedConfig) -> Result<String, String>) -> ExitCode {
    match commands::load_data(config) {
        Some(loaded) => print_result(f(&loaded)),
        None => ExitCode::FAILURE,
    }
}

fn print_result(r: Result<String, String>) -> ExitCode {
    match r {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: &Path) -> ExitCode {
    let Some(loaded) = commands::load(path) else {
        return ExitCode::FAILURE;
    };
    let (prompts, errors) = switchboard::media::PromptSet::load_dir_lenient(&loaded.prompts_dir);
    for e in &errors {
        eprintln!("{e}");
    }
    if !errors.is_empty() {
        return ExitCode::FAILURE;
    }
    // The certificate files, checked as the router checks them at start and on reload.
    if let Err(e) = switchboard::io::tls::TlsReload::load(&loaded.server, jiff::Timestamp::now()) {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    // What no file can show: this machine's own ports (the router says it at start too).
    let host = switchboard::io::rtp_range::ephemeral_warning(loaded.server.rtp_ports);
    if let Some(w) = &host {
        eprintln!("{}: warning: {w}", path.display());
    }
    let warnings = loaded.warnings.len() + usize::from(host.is_some());
    let p = &loaded.plan;
    println!(
        "{}: OK — {} numbers, {} menus, {} departments, {} managers, {} prompts loaded{}",
        path.display(),
        p.numbers.len(),
        p.menus.len(),
        p.departments.len(),
        p.managers.len(),
        prompts.len(),
        if warnings == 0 {
            String::new()
        } else {
            format!(", {warnings} warning(s)")
        }
    );
    ExitCode::SUCCESS
}

fn run(config: PathBuf, overrides: ServerOverrides) -> ExitCode {
    let Some(mut loaded) = commands::load(&config) else {
        return ExitCode::FAILURE;
    };
    overrides.apply(&mut loaded.server);
    let data_dir = loaded.server.data_dir.clone();
    if let Err(e) = std::fs::create_dir_all(&data_dir) {
        eprintln!(
            "cannot create the data directory {}: {e}",
            data_dir.display()
        );
        return ExitCode::FAILURE;
    }
    // Before touching anything: a second router on the same data directory would fight
    // the first over the database (and used to overwrite its pid file).
    if let Err(e) = pidfile::check_before_start(&data_dir) {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    switchboard::start_allocator_upkeep();
    let workers =
        match switchboard::worker_threads(std::env::var("TOKIO_WORKER_THREADS").ok().as_deref()) {
            Ok(n) => n,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opened: Result<Box<dyn Store>, StoreError> = match &loaded.store.url {
        Some(url) => PostgresStore::connect(url).map(|mut s| {
            tracing::info!(database = %s.url(), "records and shared state in PostgreSQL");
            recover(&mut s, &data_dir, true);
            Box::new(s) as Box<dyn Store>
        }),
        None => SqliteStore::open(commands::db_path(&data_dir)).map(|mut s| {
            recover(&mut s, &data_dir, false);
            Box::new(s) as _
        }),
    };
    let store = match opened.and_then(StoreWorker::spawn) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let handle = store.handle();
    let plan = Arc::new(ArcSwap::from_pointee(loaded.plan));
    let prompts_dir = loaded.prompts_dir.clone();
    let server = loaded.server;
    let store_cfg = loaded.store;
    let code = rt.block_on(async {
        let opts = RunOptions {
            server: server.clone(),
            prompts_dir,
            plan: plan.clone(),
            programs: program_factory(plan.clone()),
            store: Some(handle.clone()),
            recordings_dir: None,
            shared: store_cfg.url.clone().map(|url| io::SharedOptions {
                url,
                instance: store_cfg.instance.clone(),
            }),
        };
        let mut running = match io::start(opts).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        if let Some(addr) = server.http_listen
            && let Err(e) = start_admin(addr, &server, &data_dir, &handle, &plan, &running).await
        {
            eprintln!("{e}");
            running.stop_now();
            return ExitCode::FAILURE;
        }
        // Signal handlers before the pid file: a `reload` that finds the file must
        // never hit the default SIGHUP action (which would end the process).
        let Ok(mut signals) = Signals::install() else {
            eprintln!("cannot install signal handlers");
            running.stop_now();
            return ExitCode::FAILURE;
        };
        let pid_file = match PidFile::create(&data_dir) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{e}");
                running.stop_now();
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(
            "Switchboard ready (pid {}, {})",
            std::process::id(),
            pid_file.path().display()
        );
        let mut current = server.clone();
        signals
            .wait(|sequence| {
                let outcome = reloading::reload(&config, &overrides, &mut current, &plan, &running);
                reloading::publish(&outcome, &current.data_dir, sequence);
            })
            .await;
        // Calls in progress drain (`[server] drain_secs`), then are hung up; a second
        // signal hangs up at once.
        running.stop();
        tokio::select! {
            _ = &mut running.task => {}
            () = signals.next_stop() => {
                tracing::info!("second stop signal: hanging up every call now");
                running.stop_now();
                let _ = (&mut running.task).await;
            }
        }
        running.close();
        drop(pid_file);
        ExitCode::SUCCESS
    });
    if let Err(e) = store.shutdown() {
        eprintln!("database: {e}");
    }
    code
}

/// After a crash: close the calls it cut off and file the voicemails it orphaned
/// (see `store::recovery`), before any new call comes in.
/// `shared`: several instances use the database, so calls still `in_progress` there
/// may be other instances' live calls; only this instance's recordings are put right.
fn recover(store: &mut dyn Store, data_dir: &Path, shared: bool) {
    let now = jiff::Timestamp::now();
    let result = if shared {
        io::recovery::run_shared(store, data_dir, now)
    } else {
        io::recovery::run(store, data_dir, now)
    };
    match result {
        Ok(r) => {
            if r.interrupted_calls + r.repaired_files + r.orphans.filed > 0 {
                tracing::warn!(
                    "recovered from an unclean stop: {} calls closed as interrupted, {} recording \
                     headers repaired, {} voicemails without a callback request filed as recovered",
                    r.interrupted_calls,
                    r.repaired_files,
                    r.orphans.filed
                );
            }
            for path in &r.orphans.skipped {
                tracing::warn!(
                    "recording {path} has no callback request and was not filed (not a \
                     Switchboard name, or the caller's open request already has a message)"
                );
            }
            tracing::info!("start-up recovery done");
        }
        Err(e) => tracing::error!("start-up recovery failed: {e}"),
    }
}

async fn start_admin(
    addr: SocketAddr,
    server: &ServerConfig,
    data_dir: &Path,
    store: &StoreHandle,
    plan: &Arc<ArcSwap<DialPlan>>,
    running: &io::Running,
) -> Result<(), switchboard::admin::AdminError> {
    let live = running.live.clone();
    let alerts = running.alerts.clone();
    let managers = running.managers.clone();
    let queues = running.queues.clone();
    let state = switchboard::admin::AdminState::new(store.clone(), data_dir)
        .with_commands(running.commands.clone())
        .with_queues(Arc::new(move || {
            serde_json::to_value(queues.load().as_ref()).unwrap_or_default()
        }))
        .with_events(running.events.clone())
        .with_stopping(Arc::new(running.stop_requested()))
        .with_token(server.admin_token.clone())
        .with_hosts(server.admin_hosts.clone())
        .with_max_days(server.report_max_days)
        .with_plan(plan.clone())
        .with_alerts(Arc::new(move || alerts.load().as_ref().clone()))
        .with_managers(Arc::new(move || {
            serde_json::to_value(managers.load().as_ref()).unwrap_or_default()
        }))
        .with_live(Arc::new(move || {
            let calls = live.lock().map(|r| r.live()).unwrap_or_default();
            serde_json::to_value(calls).unwrap_or_default()
        }));
    let listener = switchboard::admin::bind(addr, server.admin_token.as_deref()).await?;
    tokio::spawn(async move {
        if let Err(e) = switchboard::admin::serve(listener, state).await {
            tracing::error!("admin API stopped: {e}");
        }
    });
    Ok(())
}

/// Each call gets the plan current at its start (a reload never changes a call in
/// progress). The caller's history, when the plan routes returning callers, is looked
/// up by the driver while the call is answered (see `Output::Lookup`).
fn program_factory(plan: Arc<ArcSwap<DialPlan>>) -> switchboard::endpoint::ProgramFactory {
    Box::new(move |_info| -> Box<dyn Program> {
        let plan = plan.load_full();
        if plan.numbers.is_empty() {
            return Box::new(DemoIvr::default());
        }
        let prompts = plan.prompts.clone();
        Box::new(PlanProgram::new(
            plan,
            Box::new(move |p| prompts.contains(p)),
        ))
    })
}

/// SIGINT or SIGTERM stops the router; SIGHUP reloads the configuration.
struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Until a stop signal: `on_hup(n)` for the n-th SIGHUP.
    async fn wait(&mut self, mut on_hup: impl FnMut(u64)) {
        let mut sequence = 0u64;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = self.term.recv() => break,
                _ = self.hup.recv() => {
                    sequence += 1;
                    on_hup(sequence);
                }
            }
        }
        tracing::info!("stop requested");
    }

    /// The next SIGINT or SIGTERM (during a drain: stop waiting for the calls). A
    /// SIGHUP meanwhile is not a reload: the router is on its way out.
    async fn next_stop(&mut self) {
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return,
                _ = self.term.recv() => return,
                _ = self.hup.recv() => tracing::warn!("reload ignored: Switchboard is stopping"),
            }
        }
    }
}

fn parse_status(s: &str) -> Result<CallbackStatus, String> {
    CallbackStatus::from_text(s)
        .ok_or_else(|| format!("\"{s}\" is not a status; use open, claimed or done"))
}

/// `--http-listen`: an address, or "off".
#[derive(Debug, Clone, Copy)]
struct ListenAddr(Option<SocketAddr>);

fn parse_listen(s: &str) -> Result<ListenAddr, String> {
    match s.trim() {
        "off" | "" => Ok(ListenAddr(None)),
        a => a
            .parse()
            .map(|a| ListenAddr(Some(a)))
            .map_err(|_| format!("\"{a}\" is not an address like 127.0.0.1:8080 (or \"off\")")),
    }
}
