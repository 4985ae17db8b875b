//! The what-if simulator's engine: a day of traffic through the router's own call
//! logic on a virtual clock.
//!
//! A manager wants to know what a change (another strategy, one more person at lunch,
//! longer ring timeouts, returning-caller routing) does to waiting, missed calls and each
//! person's load *before* callers feel it. The simulated world ([`engine`]) models only
//! people — callers who listen, press keys, lose patience, leave messages; managers who
//! pick up or not, talk, work shifts — and talks to a [`Switch`]. The simulator's switch
//! ([`switch::CoreSwitch`]) runs the very same [`Flow`](crate::call::Flow) per call and
//! the same [`Connector`](crate::connect::Connector) as the live router, so its
//! decisions are the router's (`tests/sim_live.rs` proves it call by call).
//!
//! Pieces: [`traffic`] (the traffic file and its seeded generator), [`model`] (the
//! traffic as data), [`engine`] (the discrete-event loop), [`switch`] (the router side),
//! [`result`] (what a run produces). The command line, replay from a database and the
//! reports live in the application crate.

pub mod engine;
pub mod model;
pub mod result;
pub mod rng;
pub mod switch;
pub mod traffic;

use std::path::PathBuf;

pub use engine::{CallResult, ManagerTotals, SimResult, Trace, run, simulate};
pub use model::{
    Arrival, CallbackModel, ManagerModel, MenuChoice, PriorManager, Reaction, RecordedRoute,
    Script, Traffic,
};
pub use result::ServiceLevel;
pub use rng::{Dist, SimRng};
pub use switch::{CoreSwitch, DialbackTotals, Observed, RingId, Switch};
pub use traffic::TrafficFile;

/// Why a traffic file cannot be used. Each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
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
}
