//! The `switchboard` command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use arc_swap::ArcSwap;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use switchboard::call::plan::PlanProgram;
use switchboard::call::{DemoIvr, Program};
use switchboard::config::server::PortRange;
use switchboard::config::{self, ConfigErrors, DialPlan, LoadedConfig};
use switchboard::io::{self, RunOptions};
use switchboard::reports;
use switchboard::routing::{self, CallContext, ManagerStates};
use switchboard::store::{
    CallbackStatus, SqliteStore, Store, StoreError, StoreHandle, StoreWorker,
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
    /// Show the path a call would take through the dial plan, and why.
    Explain {
        #[arg(long, short)]
        config: PathBuf,
        /// The dialled number.
        #[arg(long)]
        to: String,
        /// The caller's number.
        #[arg(long)]
        from: String,
        /// When the call happens, e.g. "2026-12-01T21:30" (the config's local time
        /// zone of each schedule applies; a bare time is read as UTC). Default: now.
        #[arg(long)]
        at: Option<String>,
        /// Keys the caller presses in the menus, in order.
        #[arg(long, default_value = "")]
        digits: String,
        /// Data directory to look up the caller's history in (default: from the config).
        #[arg(long)]
        data_dir: Option<PathBuf>,
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
    /// Work the callback queue: list, claim and close requests.
    Callbacks {
        #[arg(long, short)]
        config: PathBuf,
        /// Data directory holding switchboard.db (default: from the config).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[command(subcommand)]
        action: CallbacksAction,
    },
    /// Compare dial plans on simulated or recorded traffic (virtual clock, real engine).
    Simulate(switchboard::sim::SimulateArgs),
    /// Check the configuration, then tell the running router to reload its dial plan
    /// (the same as `kill -HUP`). A plan with errors is not sent.
    Reload {
        #[arg(long, short)]
        config: PathBuf,
        /// Data directory of the running router (default: from the config).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("SWITCHBOARD_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_target(false)
        .init();
    match Cli::parse().command {
        Command::Run {
            config,
            sip_listen,
            rtp_ports,
            data_dir,
            http_listen,
        } => {
            let mut loaded = match load(&config) {
                Some(l) => l,
                None => return ExitCode::FAILURE,
            };
            if let Some(a) = sip_listen {
                loaded.server.sip_listen = a;
            }
            if let Some(r) = rtp_ports {
                loaded.server.rtp_ports = r;
            }
            if let Some(d) = data_dir {
                loaded.server.data_dir = d;
            }
            if let Some(ListenAddr(h)) = http_listen {
                loaded.server.http_listen = h;
            }
            run(config, loaded)
        }
        Command::Check { config } => check(&config),
        Command::Explain {
            config,
            to,
            from,
            at,
            digits,
            data_dir,
        } => explain(&config, &to, &from, at.as_deref(), &digits, data_dir),
        Command::Report {
            config,
            data_dir,
            week: _,
            from,
            to,
            tz,
            format,
        } => report(
            &config,
            data_dir,
            from.as_deref(),
            to.as_deref(),
            tz.as_deref(),
            format,
        ),
        Command::Callbacks {
            config,
            data_dir,
            action,
        } => callbacks(&config, data_dir, action),
        Command::Simulate(args) => switchboard::sim::run_cli(args),
        Command::Reload { config, data_dir } => reload(&config, data_dir),
    }
}

/// Load and print problems the way `check` does; None when the plan has errors.
fn load(path: &Path) -> Option<LoadedConfig> {
    match config::load(path) {
        Ok(l) => {
            for w in &l.warnings {
                eprintln!("{w}");
            }
            Some(l)
        }
        Err(e) => {
            print_errors(&e);
            None
        }
    }
}

fn print_errors(e: &ConfigErrors) {
    eprintln!("{e}");
    eprintln!(
        "{} error(s): the configuration was not loaded.",
        e.errors().count()
    );
}

fn check(path: &Path) -> ExitCode {
    let Some(loaded) = load(path) else {
        return ExitCode::FAILURE;
    };
    let (prompts, errors) = switchboard::media::PromptSet::load_dir_lenient(&loaded.prompts_dir);
    for e in &errors {
        eprintln!("{e}");
    }
    if !errors.is_empty() {
        return ExitCode::FAILURE;
    }
    let p = &loaded.plan;
    println!(
        "{}: OK — {} numbers, {} menus, {} departments, {} managers, {} prompts loaded{}",
        path.display(),
        p.numbers.len(),
        p.menus.len(),
        p.departments.len(),
        p.managers.len(),
        prompts.len(),
        if loaded.warnings.is_empty() {
            String::new()
        } else {
            format!(", {} warning(s)", loaded.warnings.len())
        }
    );
    ExitCode::SUCCESS
}

/// `--at` as an instant. A time without offset is read in the plan's time zone when all
/// its schedules share one (what an admin means by "21:30"), else in the system's.
fn parse_time(at: Option<&str>, plan: &DialPlan) -> Result<jiff::Timestamp, String> {
    let Some(at) = at else {
        return Ok(jiff::Timestamp::now());
    };
    if let Ok(ts) = at.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    let mut zones = plan.hours.values().map(|s| &s.timezone);
    let tz = match zones.next() {
        Some(first) if zones.all(|z| z == first) => first.clone(),
        _ => jiff::tz::TimeZone::system(),
    };
    at.parse::<jiff::civil::DateTime>()
        .and_then(|dt| tz.to_timestamp(dt))
        .map_err(|e| format!("--at \"{at}\": not a date and time like 2026-12-01T21:30 ({e})"))
}

fn explain(
    path: &Path,
    to: &str,
    from: &str,
    at: Option<&str>,
    digits: &str,
    data_dir: Option<PathBuf>,
) -> ExitCode {
    let Some(loaded) = load(path) else {
        return ExitCode::FAILURE;
    };
    let now = match parse_time(at, &loaded.plan) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let data_dir = data_dir.unwrap_or_else(|| relative_to(path, &loaded.server.data_dir));
    let history = lookup_history_file(&data_dir, &loaded.plan, from, now);
    let ctx = CallContext::new(to, from, now).with_digits(digits);
    let ex = routing::explain(
        &loaded.plan,
        &ctx,
        &ManagerStates::default(),
        history.as_ref(),
    );
    println!("{ex}");
    ExitCode::SUCCESS
}

fn relative_to(config: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        config.parent().unwrap_or(Path::new(".")).join(p)
    }
}

fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("switchboard.db")
}

fn history_since(plan: &DialPlan, now: jiff::Timestamp) -> jiff::Timestamp {
    let lookback =
        jiff::SignedDuration::try_from(plan.history.lookback).unwrap_or(jiff::SignedDuration::ZERO);
    now.checked_sub(lookback).unwrap_or(jiff::Timestamp::MIN)
}

/// History for `explain`, read straight from the database file when it exists.
fn lookup_history_file(
    data_dir: &Path,
    plan: &DialPlan,
    caller: &str,
    now: jiff::Timestamp,
) -> Option<routing::PreviousInteraction> {
    let db = db_path(data_dir);
    if !db.exists() {
        return None;
    }
    let store = SqliteStore::open(&db).ok()?;
    store
        .last_interaction(caller, history_since(plan, now))
        .ok()
        .flatten()
}

fn run(config: PathBuf, loaded: LoadedConfig) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let data_dir = relative_to(&config, &loaded.server.data_dir);
    if let Err(e) = std::fs::create_dir_all(&data_dir)
        .and_then(|_| std::fs::write(pid_path(&data_dir), std::process::id().to_string()))
    {
        eprintln!(
            "cannot create the data directory {}: {e}",
            data_dir.display()
        );
        return ExitCode::FAILURE;
    }
    let store = match SqliteStore::open(db_path(&data_dir)).and_then(|mut s| {
        recover(&mut s, &data_dir);
        StoreWorker::spawn(Box::new(s))
    }) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let handle = store.handle();
    let plan = Arc::new(ArcSwap::from_pointee(loaded.plan));
    let prompts_dir = loaded.prompts_dir.clone();
    let http_listen = loaded.server.http_listen;
    let admin_token = loaded.server.admin_token.clone();
    let admin_hosts = loaded.server.admin_hosts.clone();
    let report_max_days = loaded.server.report_max_days;
    let handle_for_admin = handle.clone();
    let admin_data_dir = data_dir.clone();
    let code = rt.block_on(async move {
        let opts = RunOptions {
            server: loaded.server,
            prompts_dir,
            plan: plan.clone(),
            programs: program_factory(plan.clone(), handle.clone()),
            store: Some(handle),
        };
        let running = match io::start(opts).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        if let Some(addr) = http_listen {
            let live = running.live.clone();
            let alerts = running.alerts.clone();
            let managers = running.managers.clone();
            let plan_now = plan.clone();
            let state = switchboard::admin::AdminState::new(handle_for_admin, admin_data_dir)
                .with_token(admin_token.clone())
                .with_hosts(admin_hosts)
                .with_max_days(report_max_days)
                .with_known_manager(Arc::new(move |m| plan_now.load().managers.contains_key(m)))
                .with_alerts(Arc::new(move || alerts.load().as_ref().clone()))
                .with_managers(Arc::new(move || {
                    serde_json::to_value(managers.load().as_ref()).unwrap_or_default()
                }))
                .with_live(Arc::new(move || {
                    let calls = live.lock().map(|r| r.live()).unwrap_or_default();
                    serde_json::to_value(calls).unwrap_or_default()
                }));
            match switchboard::admin::bind(addr, admin_token.as_deref()).await {
                Ok(listener) => {
                    tokio::spawn(async move {
                        if let Err(e) = switchboard::admin::serve(listener, state).await {
                            tracing::error!("admin API stopped: {e}");
                        }
                    });
                }
                Err(e) => {
                    eprintln!("{e}");
                    running.stop();
                    return ExitCode::FAILURE;
                }
            }
        }
        wait_for_stop(&config, &plan, &running).await;
        running.stop();
        let _ = running.task.await;
        ExitCode::SUCCESS
    });
    if let Err(e) = store.shutdown() {
        eprintln!("database: {e}");
    }
    code
}

/// Each call gets the plan current at its start (a reload never changes a call in
/// progress) and, when the plan uses returning-caller routing, the caller's history.
fn program_factory(
    plan: Arc<ArcSwap<DialPlan>>,
    store: StoreHandle,
) -> switchboard::endpoint::ProgramFactory {
    Box::new(move |info, states| -> Box<dyn Program> {
        let plan = plan.load_full();
        if plan.numbers.is_empty() {
            return Box::new(DemoIvr::default());
        }
        let history = if plan.history.enabled {
            let caller = info.caller.clone();
            let since = history_since(&plan, info.started_at);
            // A single indexed lookup on the store thread; the result decides the route.
            store
                .query(move |s| s.last_interaction(&caller, since))
                .ok()
                .flatten()
        } else {
            None
        };
        let prompts = plan.prompts.clone();
        Box::new(PlanProgram::new(
            plan,
            states.clone(),
            history,
            Box::new(move |p| prompts.contains(p)),
        ))
    })
}

/// SIGINT or SIGTERM stops the router; SIGHUP reloads the dial plan (an invalid plan
/// is rejected and the running one stays in force).
async fn wait_for_stop(config: &Path, plan: &ArcSwap<DialPlan>, running: &io::Running) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = hup.recv() => match config::load(config) {
                Ok(l) => {
                    for w in &l.warnings {
                        tracing::warn!("{w}");
                    }
                    let new = Arc::new(l.plan);
                    plan.store(new.clone());
                    running.plan_reloaded(new);
                    tracing::info!("dial plan reloaded from {}", config.display());
                }
                Err(e) => tracing::error!("dial plan NOT reloaded, the running plan stays in force:\n{e}"),
            },
        }
    }
    tracing::info!("stop requested");
}

#[derive(Subcommand)]
enum CallbacksAction {
    /// The queue, oldest first.
    List {
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
        #[arg(long)]
        manager: String,
    },
    /// Close a request after calling back, recording what happened.
    Done {
        id: i64,
        #[arg(long)]
        manager: String,
        /// What happened, e.g. "reached", "no answer, left a message".
        #[arg(long)]
        outcome: String,
    },
}

fn parse_status(s: &str) -> Result<CallbackStatus, String> {
    CallbackStatus::from_text(s)
        .ok_or_else(|| format!("\"{s}\" is not a status; use open, claimed or done"))
}

/// The existing database of a config's data directory, opened directly (WAL lets it be
/// read and written while the router runs). Never creates one: a missing file almost
/// always means a wrong --data-dir.
/// After a crash: close the calls it cut off and file the voicemails it orphaned
/// (see `store::recovery`), before any new call comes in.
fn recover(store: &mut SqliteStore, data_dir: &Path) {
    match io::recovery::run(store, data_dir, jiff::Timestamp::now()) {
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

fn open_existing_db(config: &Path, data_dir: Option<PathBuf>) -> Result<SqliteStore, String> {
    let data_dir = match data_dir {
        Some(d) => d,
        None => {
            let loaded = load(config).ok_or("the configuration has errors (see above)")?;
            relative_to(config, &loaded.server.data_dir)
        }
    };
    let db = db_path(&data_dir);
    if !db.exists() {
        return Err(format!(
            "no database at {}: run the router with this data directory first, or pass --data-dir",
            db.display()
        ));
    }
    SqliteStore::open(&db).map_err(|e| e.to_string())
}

fn report(
    config: &Path,
    data_dir: Option<PathBuf>,
    from: Option<&str>,
    to: Option<&str>,
    tz: Option<&str>,
    format: reports::Format,
) -> ExitCode {
    let result = (|| {
        let tz = reports::time_zone(tz).map_err(|e| e.to_string())?;
        let now = jiff::Timestamp::now();
        let period = reports::Period::from_args(from, to, now, tz).map_err(|e| e.to_string())?;
        let store = open_existing_db(config, data_dir)?;
        reports::generate(&store, &period, now).map_err(|e| e.to_string())
    })();
    match result {
        Ok(r) => {
            print!("{}", reports::render_report(&r, format));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn callbacks(config: &Path, data_dir: Option<PathBuf>, action: CallbacksAction) -> ExitCode {
    let mut store = match open_existing_db(config, data_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let now = jiff::Timestamp::now();
    let result = match action {
        CallbacksAction::List {
            department,
            status,
            format,
            tz,
        } => reports::time_zone(tz.as_deref())
            .map_err(|e| e.to_string())
            .and_then(|tz| {
                let list = store
                    .list_callbacks(department.as_deref(), status)
                    .map_err(|e| e.to_string())?;
                match format {
                    reports::Format::Json => serde_json::to_string_pretty(&list)
                        .map(|j| j + "\n")
                        .map_err(|e| e.to_string()),
                    reports::Format::Table => Ok(reports::callbacks_table(&list, &tz)),
                    reports::Format::Csv => Err("callbacks list prints table or json".to_owned()),
                }
            }),
        CallbacksAction::Claim { id, manager } => known_manager(config, &manager)
            .and_then(|()| {
                store
                    .claim_callback(id, &manager, now)
                    .map_err(|e| callback_error(id, e))
            })
            .map(|cb| {
                format!(
                    "callback #{} claimed by {manager}: call {} ({}, {})\n",
                    cb.id, cb.caller, cb.department, cb.source
                )
            }),
        CallbacksAction::Done {
            id,
            manager,
            outcome,
        } => known_manager(config, &manager)
            .and_then(|()| {
                store
                    .complete_callback(id, &manager, &outcome, now)
                    .map_err(|e| callback_error(id, e))
            })
            .map(|cb| format!("callback #{} closed by {manager}: {outcome}\n", cb.id)),
    };
    match result {
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

/// Claims and completions only by managers of the dial plan (a typo would otherwise
/// park a request with nobody).
fn known_manager(config: &Path, manager: &str) -> Result<(), String> {
    let loaded = load(config).ok_or("the configuration has errors (see above)")?;
    if loaded.plan.managers.contains_key(manager.trim()) {
        Ok(())
    } else {
        let known: Vec<&str> = loaded.plan.managers.keys().map(String::as_str).collect();
        Err(format!(
            "\"{manager}\" is not a manager in the dial plan ({})",
            known.join(", ")
        ))
    }
}

fn callback_error(id: i64, e: StoreError) -> String {
    match e {
        StoreError::CallbackNotFound { .. } => {
            format!("no such request: {id} (run `switchboard callbacks list` to see the queue)")
        }
        StoreError::AlreadyClaimed { by, .. } => {
            format!("callback #{id} is already claimed by {by}")
        }
        StoreError::AlreadyDone { by, .. } => {
            format!("callback #{id} is already done (closed by {by})")
        }
        other => other.to_string(),
    }
}

/// Where `run` records its process id, so `reload` can find it.
fn pid_path(data_dir: &Path) -> PathBuf {
    data_dir.join("switchboard.pid")
}

fn reload(config: &Path, data_dir: Option<PathBuf>) -> ExitCode {
    let Some(loaded) = load(config) else {
        eprintln!("not reloaded: fix the errors above first (the running plan stays in force)");
        return ExitCode::FAILURE;
    };
    let data_dir = data_dir.unwrap_or_else(|| relative_to(config, &loaded.server.data_dir));
    let pid_file = pid_path(&data_dir);
    let pid = match std::fs::read_to_string(&pid_file) {
        Ok(p) => p.trim().to_string(),
        Err(e) => {
            eprintln!("no running router found ({}: {e})", pid_file.display());
            return ExitCode::FAILURE;
        }
    };
    match std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
    {
        Ok(st) if st.success() => {
            println!(
                "reload sent to switchboard (pid {pid}); its log says whether the plan was taken"
            );
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("could not signal pid {pid} (is the router running?)");
            ExitCode::FAILURE
        }
    }
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
