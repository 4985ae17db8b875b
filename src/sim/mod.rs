//! `switchboard simulate`: what-if runs of the router's own call logic on a virtual
//! clock.
//!
//! The engine (the simulated world, the switch that runs the live `Flow` and
//! `Connector`, the traffic file) is in the core crate: `switchboard_core::sim`. This
//! module adds what needs files, a database or a terminal: [`cli`] (the subcommand),
//! [`replay`] (arrivals and behaviour from recorded calls), [`report`] (figures, table,
//! JSON) and [`html`] (the chart report). Usage and the traffic-file reference:
//! `docs/simulate.md`.

pub mod cli;
pub mod html;
pub mod replay;
pub mod report;

pub use switchboard_core::sim::{engine, model, result, rng, switch, traffic};

pub use cli::{SimulateArgs, run_cli};
pub use replay::{ReplayOptions, replay};
pub use report::{Comparison, ManagerLoad, PlanReport};
pub use switchboard_core::sim::{
    Arrival, CallResult, CoreSwitch, Dist, ManagerModel, ManagerTotals, MenuChoice, Observed,
    PriorManager, Reaction, RecordedRoute, RingId, Script, SimResult, SimRng, Switch, Trace,
    Traffic, TrafficError, TrafficFile, run, simulate,
};

use std::path::PathBuf;

use crate::config::ConfigErrors;
use crate::store::StoreError;

/// Why a simulation could not run. Each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The traffic file is unreadable, malformed, or does not fit a plan.
    #[error(transparent)]
    Traffic(#[from] TrafficError),
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
