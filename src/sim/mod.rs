//! `switchboard simulate`: what-if runs of the real routing engine on a virtual clock.
//!
//! A manager wants to know what a change (another strategy, one more person at lunch,
//! longer ring timeouts, returning-caller routing) does to waiting, missed calls and each
//! person's load *before* callers feel it. Because the routing engine is pure (time and
//! state come in as arguments), the simulator can drive the very functions live calls
//! use — [`route_call`](crate::routing::route_call),
//! [`on_menu_input`](crate::routing::on_menu_input),
//! [`select_department`](crate::routing::select_department),
//! [`on_queue_timeout`](crate::routing::on_queue_timeout) — through a day of traffic in
//! well under a second, and compare plans on exactly the same calls.
//!
//! Pieces: [`traffic`] (the traffic file and its seeded generator), [`replay`]
//! (arrivals from recorded calls), [`engine`] (the discrete-event loop), [`report`]
//! (figures, table, JSON), [`html`] (the chart report), [`cli`] (the subcommand).
//! Usage and the traffic-file reference: `docs/simulate.md`.

pub mod cli;
pub mod engine;
pub mod html;
pub mod model;
pub mod replay;
pub mod report;
pub mod result;
pub mod rng;
pub mod switch;
pub mod traffic;

use std::path::PathBuf;

pub use cli::{SimulateArgs, run_cli};
pub use engine::{CallResult, ManagerTotals, SimResult, Trace, run, simulate};
pub use model::{
    Arrival, ManagerModel, MenuChoice, PriorManager, Reaction, RecordedRoute, Script, Traffic,
};
pub use replay::{ReplayOptions, replay};
pub use report::{Comparison, ManagerLoad, PlanReport};
pub use rng::{Dist, SimRng};
pub use switch::{CoreSwitch, Observed, RingId, Switch};
pub use traffic::TrafficFile;

use crate::config::ConfigErrors;
use crate::store::StoreError;

/// Why a simulation could not run. Each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot read the traffic file {path}: {source}; check the path")]
    ReadTraffic {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The traffic file is malformed or does not fit a plan.
    #[error("{}:{line}: {}{message}", path.display(), if key.is_empty() { String::new() } else { format!("{key}: ") })]
    Traffic {
        path: PathBuf,
        line: usize,
        /// The offending key, like `menus.main."3"` (empty for syntax errors).
        key: String,
        message: String,
    },
    #[error("the plan {} has errors:\n{errors}", path.display())]
    Config { path: PathBuf, errors: ConfigErrors },
    #[error("cannot replay from {}: {source}", path.display())]
    Store { path: PathBuf, source: StoreError },
    #[error("{flag} \"{value}\": not a date or time; write 2026-12-01 or 2026-12-01T09:00")]
    BadTime { flag: &'static str, value: String },
    #[error(
        "no calls recorded in {} between {from} and {to}; widen --from/--to",
        path.display()
    )]
    NoCalls {
        path: PathBuf,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
    },
    #[error(
        "the database {} does not exist; pass the switchboard.db in the router's data directory",
        path.display()
    )]
    MissingDb { path: PathBuf },
    #[error("give the traffic: --traffic FILE or --replay-db FILE")]
    NoTraffic,
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}
