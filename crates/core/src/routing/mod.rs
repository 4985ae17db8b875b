//! The routing engine: pure decisions from the compiled dial plan.
//!
//! Everything here is a function of its arguments: the [`DialPlan`](crate::config::DialPlan),
//! the call's [`CallContext`] (dialled number, caller, wall-clock `now`, keys pressed),
//! the managers' [`ManagerStates`], the caller's [`PreviousInteraction`] and, for
//! departments, the strategies' memory in [`StrategyState`]. No clock reads and no I/O,
//! so the same code routes live calls, answers `switchboard explain`, and can replay a
//! day of traffic in a simulation.
//!
//! How the call layer drives it:
//! 1. New call: [`route_call`] → a [`Decision`] (a [`Step`] plus a human reason).
//! 2. `Step::Menu`: play the prompts, collect one key, call [`on_menu_input`] with the
//!    call's [`MenuSession`].
//! 3. `Step::Department`: call [`select_department`] → ring, queue, overflow or
//!    after-hours. After a member declines or times out, add them to the call's
//!    [`Tried`] set and ask again. When the queue wait runs out, [`on_queue_timeout`].
//! 4. `Step::Manager`: ring (waiting while busy); on failure continue with `fallback`.

pub mod crm;
mod department;
mod engine;
mod explain;
pub mod hours;
pub mod reason;
mod state;

pub use department::{DepartmentDecision, Selection, on_queue_timeout, select_department};
pub use engine::{
    Availability, Decision, MenuInput, MenuSession, Step, manager_availability, on_menu_input,
    resolve, route_call, route_call_with, unrouted,
};
pub use explain::{Explanation, explain, explain_with};
pub use hours::is_open;
pub use reason::{ManagerMiss, OverflowCause, Reason, Why};
pub use state::{
    CallContext, ManagerState, ManagerStates, PreviousInteraction, StrategyState, Tried,
};
