//! Switchboard: a SIP call router with a built-in IVR.
//!
//! # How the pieces fit
//!
//! Everything that speaks a protocol or makes a decision is **sans-IO**: it takes input
//! plus `now` through `handle_*` methods and hands back work through `poll_*` methods
//! (datagrams to send, media commands, store writes, the next deadline). It never reads
//! a clock, sleeps, or touches a socket. The tokio driver in [`io`] is the only place
//! with sockets, timers and threads.
//!
//! The drain-after-input rule: after every `handle_*` call the driver drains every
//! `poll_*` queue until empty and then re-arms its timer from `poll_timeout()`. A
//! machine that skipped this would leave transmits sitting in a queue until the next
//! unrelated input arrived.
//!
//! The core lives in its own crate, `switchboard-core` (`crates/core`), whose
//! `lib.rs` is the manual: layers, the run loop, the three kinds of time, where to
//! start reading. It is re-exported here under the paths the application always used
//! ([`endpoint`], [`call`], [`connect`], [`routing`], ...). This crate adds what touches
//! the outside world: [`io`] (tokio driver), [`store`] (SQLite), [`admin`] (HTTP API and
//! dashboard), [`reports`], [`commands`] and the simulator's command line ([`sim`]).

/// jemalloc instead of glibc's malloc, for every program built on this crate (the
/// router, the tools, the tests, so that they all measure the same thing): it returns
/// freed pages to the system a few seconds after a burst, so a long-running router's
/// RSS follows its load, and its statistics are what `/metrics` reports as the router's
/// memory. Why, and what was measured: `docs/decisions.md` ("The allocator").
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Lets jemalloc return freed pages from a thread of its own. Without it, pages freed
/// after a burst go back only when the router next allocates, so an idle router kept
/// the RSS of its busiest minute. Called once by the router at start; the tools and
/// tests do without.
pub fn start_allocator_upkeep() {
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::debug!("jemalloc background thread not started: {e}");
    }
}

/// How many runtime worker threads to start: `TOKIO_WORKER_THREADS` when the admin set
/// it (to keep the router to fewer cores on a shared machine), else one per CPU core.
/// SIP runs on these threads (RTP has receive threads of its own, `io::receiver`).
/// Read here rather than left to the runtime, which panics on a bad value.
///
/// # Errors
/// The variable is set but is not a whole number from 1 up: the message says so.
pub fn worker_threads(env: Option<&str>) -> Result<usize, String> {
    match env {
        None => Ok(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "TOKIO_WORKER_THREADS={v:?} is not a number of threads: set it to a whole \
                 number from 1 up (e.g. 2), or unset it to use one per CPU core"
            )),
        },
    }
}

pub mod admin;
pub mod commands;
pub mod io;
pub mod reports;
pub mod sim;
pub mod store;

// The sans-IO core, under the paths the application (and its tests) always used.
pub use switchboard_core::{
    agents, call, config, connect, dialog, endpoint, guard, media, model, registrar, routing, sdp,
    sip, transaction,
};

#[cfg(test)]
mod tests {
    #[test]
    fn worker_threads_default_to_the_cores_and_refuse_nonsense() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        assert_eq!(super::worker_threads(None), Ok(cores));
        assert_eq!(super::worker_threads(Some("3")), Ok(3));
        assert_eq!(super::worker_threads(Some(" 1 ")), Ok(1));
        for bad in ["0", "", "two", "-1", "1.5"] {
            let e = super::worker_threads(Some(bad)).unwrap_err();
            assert!(e.contains("TOKIO_WORKER_THREADS"), "{bad}: {e}");
        }
    }
}
