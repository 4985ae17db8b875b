//! `switchboard reload` / SIGHUP: re-read the config file and apply what can change
//! while calls are up (see [`crate::config::reload`] for the list), naming every
//! `[server]` setting that waits for a restart.
//!
//! The outcome goes to the log and to `DATA_DIR/switchboard.reload`, which the
//! `reload` command waits for and prints, so the admin sees at the prompt whether the
//! plan was taken and what still needs a restart.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::{Reload, Running};
use crate::config::reload::{ServerReload, merge_reload};
use crate::config::{self, DialPlan, ServerConfig};
use crate::media::PromptSet;
use crate::media::ports::PortRange;

/// Command-line flags that override `[server]`; applied again to the file's values on
/// every reload, so a reload does not see them as changes.
#[derive(Debug, Clone, Default)]
pub struct ServerOverrides {
    pub sip_listen: Option<SocketAddr>,
    pub rtp_ports: Option<PortRange>,
    pub data_dir: Option<PathBuf>,
    /// `Some(None)`: `--http-listen off`.
    pub http_listen: Option<Option<SocketAddr>>,
}

impl ServerOverrides {
    pub fn apply(&self, server: &mut ServerConfig) {
        if let Some(a) = self.sip_listen {
            server.sip_listen = a;
        }
        if let Some(r) = self.rtp_ports {
            server.rtp_ports = r;
        }
        if let Some(d) = &self.data_dir {
            server.data_dir = std::path::absolute(d).unwrap_or_else(|_| d.clone());
        }
        if let Some(h) = self.http_listen {
            server.http_listen = h;
        }
    }
}

/// What one reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new plan is in force; `server` says what happened to `[server]`.
    Reloaded {
        config: PathBuf,
        plan: String,
        server: ServerReload,
    },
    /// Nothing changed: the file (or its prompts) has errors.
    Refused { config: PathBuf, errors: String },
}

impl fmt::Display for ReloadOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadOutcome::Reloaded {
                config,
                plan,
                server,
            } => {
                write!(
                    f,
                    "configuration reloaded from {}: dial plan with {plan}",
                    config.display()
                )?;
                if !server.applied.is_empty() {
                    write!(f, "\n[server] applied now: {}", server.applied.join(", "))?;
                }
                for n in &server.needs_restart {
                    write!(f, "\n[server] NOT applied, needs a restart: {n}")?;
                }
                Ok(())
            }
            ReloadOutcome::Refused { config, errors } => write!(
                f,
                "configuration NOT reloaded from {}: the running configuration stays in force.\n{errors}",
                config.display()
            ),
        }
    }
}

/// The reload status file of a data directory.
pub fn status_path(data_dir: &Path) -> PathBuf {
    data_dir.join("switchboard.reload")
}

/// Re-reads `config`, applies it to the running router and returns what happened.
/// `running_server` is the `[server]` in force; it is updated.
pub fn reload(
    config: &Path,
    overrides: &ServerOverrides,
    running_server: &mut ServerConfig,
    plan: &ArcSwap<DialPlan>,
    running: &Running,
) -> ReloadOutcome {
    let loaded = match config::load(config) {
        Ok(l) => l,
        Err(e) => {
            return ReloadOutcome::Refused {
                config: config.to_path_buf(),
                errors: e.to_string(),
            };
        }
    };
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let mut new_server = loaded.server;
    overrides.apply(&mut new_server);
    let (server, report) = merge_reload(running_server, new_server);
    // Every prompt again, so new and changed files (and prompts the plan names for the
    // first time) are played from the next call on.
    let prompts = match PromptSet::load_dir(&server.prompts_dir) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            return ReloadOutcome::Refused {
                config: config.to_path_buf(),
                errors: e.to_string(),
            };
        }
    };
    // The certificate files again, even when their names did not change: a renewed
    // certificate is taken by a reload. A file that fails a check refuses the whole
    // reload, and the listener keeps serving the certificate it had.
    let tls = match super::tls::TlsReload::load(&server, jiff::Timestamp::now()) {
        Ok(t) => t,
        Err(e) => {
            return ReloadOutcome::Refused {
                config: config.to_path_buf(),
                errors: e.to_string(),
            };
        }
    };
    let new_plan = Arc::new(loaded.plan);
    let summary = format!(
        "{} numbers, {} menus, {} departments, {} managers; {} prompts",
        new_plan.numbers.len(),
        new_plan.menus.len(),
        new_plan.departments.len(),
        new_plan.managers.len(),
        prompts.len()
    );
    plan.store(new_plan.clone());
    running.reload(Reload {
        plan: new_plan,
        server: server.clone(),
        prompts,
        tls,
    });
    *running_server = server;
    ReloadOutcome::Reloaded {
        config: config.to_path_buf(),
        plan: summary,
        server: report,
    }
}

/// Logs the outcome and writes it to the status file (first line: a sequence number,
/// so `switchboard reload` can tell a new status from the previous one).
pub fn publish(outcome: &ReloadOutcome, data_dir: &Path, sequence: u64) {
    match outcome {
        ReloadOutcome::Reloaded { server, .. } if server.needs_restart.is_empty() => {
            tracing::info!("{outcome}")
        }
        ReloadOutcome::Reloaded { .. } => tracing::warn!("{outcome}"),
        ReloadOutcome::Refused { .. } => tracing::error!("{outcome}"),
    }
    let file = status_path(data_dir);
    let tmp = data_dir.join(format!(".switchboard.reload.{}", std::process::id()));
    let text = format!(
        "{} {} {}\n{outcome}\n",
        std::process::id(),
        sequence,
        jiff::Timestamp::now()
    );
    if let Err(e) = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &file)) {
        tracing::warn!("cannot write {}: {e}", file.display());
    }
}
