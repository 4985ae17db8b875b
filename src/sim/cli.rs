//! The `simulate` subcommand: load the plans and the traffic, run each plan, print the
//! comparison. `main.rs` only forwards its arguments here.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use jiff::{SignedDuration, Timestamp};

use super::SimError;
use super::engine::{SimResult, simulate};
use super::model::Traffic;
use super::replay::{ReplayOptions, replay};
use super::report::{Comparison, PlanReport};
use super::traffic::TrafficFile;
use crate::config::{self, DialPlan};
use crate::store::SqliteStore;

/// Seed used when neither `--seed` nor the traffic file gives one.
pub const DEFAULT_SEED: u64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// `switchboard simulate --config PLAN.toml [--config OTHER.toml ...]
/// (--traffic TRAFFIC.toml | --replay-db FILE [--from D --to D]) [--format table|json]
/// [--html FILE] [--seed N]`
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(true).args(["traffic", "replay_db"])))]
pub struct SimulateArgs {
    /// A dial plan to run; repeat to compare several (one column each).
    #[arg(long = "config", short = 'c', required = true)]
    pub configs: Vec<PathBuf>,
    /// The traffic file (see docs/simulate.md). With --replay-db it only supplies
    /// manager behaviour, menu timing and patience.
    #[arg(long)]
    pub traffic: Option<PathBuf>,
    /// Replay the calls recorded in this database instead of generating traffic.
    #[arg(long)]
    pub replay_db: Option<PathBuf>,
    /// Start of the replayed window (date or date and time; default: 7 days before --to).
    #[arg(long, requires = "replay_db")]
    pub from: Option<String>,
    /// End of the replayed window, exclusive (default: now).
    #[arg(long, requires = "replay_db")]
    pub to: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write a self-contained HTML report with charts to this file.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Seed for every random draw (default: the traffic file's `seed`, else 1).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Show a progress bar on stderr even when it is not a terminal.
    #[arg(long)]
    pub progress: bool,
}

/// Runs the subcommand; prints the comparison to stdout and problems to stderr.
pub fn run_cli(args: SimulateArgs) -> ExitCode {
    match run(&args) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Everything `run_cli` does, returning the text for stdout.
pub fn run(args: &SimulateArgs) -> Result<String, SimError> {
    let mut plans: Vec<(String, DialPlan)> = Vec::new();
    for path in &args.configs {
        let loaded = config::load(path).map_err(|errors| SimError::Config {
            path: path.clone(),
            errors,
        })?;
        plans.push((plan_label(path, &args.configs), loaded.plan));
    }
    let refs: Vec<(&str, &DialPlan)> = plans.iter().map(|(n, p)| (n.as_str(), p)).collect();
    let file = args.traffic.as_deref().map(TrafficFile::load).transpose()?;
    let seed = args
        .seed
        .or(file.as_ref().and_then(TrafficFile::seed))
        .unwrap_or(DEFAULT_SEED);
    let generated = match &file {
        Some(f) => {
            for w in f.check(&refs)? {
                eprintln!("warning: {w}");
            }
            Some(f.generate(seed))
        }
        None => None,
    };
    let (traffic, label) = match (&args.replay_db, generated) {
        (Some(db), base) => {
            let first = plans.first().map(|(_, p)| p);
            let opts = replay_options(args, first, seed)?;
            if !db.exists() {
                // Opening would create an empty database: say what is wrong instead.
                return Err(SimError::MissingDb { path: db.clone() });
            }
            let store = SqliteStore::open(db).map_err(|source| SimError::Store {
                path: db.clone(),
                source,
            })?;
            let t = replay(&store, &opts, base.as_ref()).map_err(|source| SimError::Store {
                path: db.clone(),
                source,
            })?;
            if t.arrivals.is_empty() {
                return Err(SimError::NoCalls {
                    path: db.clone(),
                    from: opts.from,
                    to: opts.to,
                });
            }
            (t, format!("replay of {}", db.display()))
        }
        (None, Some(t)) => (
            t,
            args.traffic
                .as_ref()
                .map_or(String::new(), |p| p.display().to_string()),
        ),
        (None, None) => return Err(SimError::NoTraffic),
    };
    let show = args.progress || std::io::stderr().is_terminal();
    let results = run_plans(&plans, &traffic, show);
    if args.replay_db.is_some() {
        for ((name, _), r) in plans.iter().zip(&results) {
            let m = replay_matches(r);
            eprintln!(
                "replay: plan {name} routed {} of {} calls the way they were recorded; {} \
                 ended the same way (same manager, same outcome)",
                m.routed_alike, m.total, m.ended_alike
            );
        }
    }
    let comparison = Comparison {
        seed,
        traffic: label,
        plans: plans
            .iter()
            .zip(&results)
            .map(|((n, plan), r)| PlanReport::from_result(n, plan, r))
            .collect(),
    };
    if let Some(path) = &args.html {
        std::fs::write(path, super::html::render(&comparison)).map_err(|source| {
            SimError::Write {
                path: path.clone(),
                source,
            }
        })?;
    }
    Ok(match args.format {
        Format::Table => comparison.to_table(),
        Format::Json => comparison.to_json() + "\n",
    })
}

/// Runs every plan on the same traffic, with a progress bar on stderr when `show`.
pub fn run_plans(plans: &[(String, DialPlan)], traffic: &Traffic, show: bool) -> Vec<SimResult> {
    plans
        .iter()
        .map(|(name, plan)| {
            let mut bar = |done: usize, total: usize| {
                if show {
                    let pct = (done * 100).checked_div(total).unwrap_or(100);
                    let filled = pct / 5;
                    eprint!(
                        "\r{name} [{}{}] {pct:3}% ({done}/{total} calls)",
                        "#".repeat(filled),
                        ".".repeat(20 - filled)
                    );
                    if done >= total {
                        eprintln!();
                    }
                    let _ = std::io::stderr().flush();
                }
            };
            simulate(plan, traffic, &mut bar)
        })
        .collect()
}

/// How closely a replay reproduced the recorded calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayMatch {
    /// Replayed calls.
    pub total: usize,
    /// Same first department and the same menus walked.
    pub routed_alike: usize,
    /// Routed alike, and answered by the same manager with the same outcome.
    pub ended_alike: usize,
}

/// Compares each replayed call with its record.
pub fn replay_matches(r: &SimResult) -> ReplayMatch {
    let mut m = ReplayMatch {
        total: 0,
        routed_alike: 0,
        ended_alike: 0,
    };
    for c in &r.calls {
        let Some(rec) = &c.record else { continue };
        m.total += 1;
        let menus: Vec<&str> = c.menus.iter().map(|(m, _)| m.as_str()).collect();
        if rec.department == c.department && rec.menus == menus {
            m.routed_alike += 1;
            if rec.answered_by == c.answered_by && rec.outcome == c.outcome {
                m.ended_alike += 1;
            }
        }
    }
    m
}

/// The column name of a plan: its file stem, or the path when stems repeat.
fn plan_label(path: &Path, all: &[PathBuf]) -> String {
    let stem = |p: &Path| p.file_stem().map(|s| s.to_string_lossy().into_owned());
    let mine = stem(path);
    let clashes = all.iter().filter(|p| stem(p) == mine).count() > 1;
    match mine {
        Some(s) if !clashes => s,
        _ => path.display().to_string(),
    }
}

fn replay_options(
    args: &SimulateArgs,
    plan: Option<&DialPlan>,
    seed: u64,
) -> Result<ReplayOptions, SimError> {
    let to = match &args.to {
        Some(v) => parse_when("--to", v, plan)?,
        None => Timestamp::now(),
    };
    let from = match &args.from {
        Some(v) => parse_when("--from", v, plan)?,
        None => to
            .checked_sub(SignedDuration::from_hours(24 * 7))
            .unwrap_or(Timestamp::MIN),
    };
    Ok(ReplayOptions {
        from,
        to,
        lookback: plan.map_or(std::time::Duration::from_secs(90 * 86_400), |p| {
            p.history.lookback
        }),
        seed,
    })
}

/// A timestamp, a local date-time or a date (midnight), read in the plan's time zone
/// when all its schedules share one, else UTC.
pub fn parse_when(
    flag: &'static str,
    value: &str,
    plan: Option<&DialPlan>,
) -> Result<Timestamp, SimError> {
    if let Ok(ts) = value.parse::<Timestamp>() {
        return Ok(ts);
    }
    let mut zones = plan
        .into_iter()
        .flat_map(|p| p.hours.values().map(|s| &s.timezone));
    let tz = match zones.next() {
        Some(first) if zones.all(|z| z == first) => first.clone(),
        _ => jiff::tz::TimeZone::UTC,
    };
    let civil = value.parse::<jiff::civil::DateTime>().or_else(|_| {
        value
            .parse::<jiff::civil::Date>()
            .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
    });
    civil
        .ok()
        .and_then(|dt| tz.to_timestamp(dt).ok())
        .ok_or_else(|| SimError::BadTime {
            flag,
            value: value.to_string(),
        })
}
