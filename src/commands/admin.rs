//! `switchboard reload` and `switchboard backup`.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::io::pidfile::{self, PidState};
use crate::io::reload::status_path;

/// How long `reload` waits for the router's answer.
const RELOAD_WAIT: Duration = Duration::from_secs(10);

/// `switchboard reload`: signal the router of `data_dir`, wait for its verdict and
/// return it (`Ok` when the configuration was taken, even if some `[server]` settings
/// wait for a restart; those are named in the text).
pub fn reload(data_dir: &Path) -> Result<String, String> {
    let pid_file = pidfile::path(data_dir);
    let pid = match pidfile::read(&pid_file) {
        PidState::Running(pid) => pid,
        PidState::Missing => {
            return Err(format!(
                "no running router found: there is no pid file {} (is the router running \
                 with this data directory?)",
                pid_file.display()
            ));
        }
        PidState::Stale(pid) => {
            return Err(format!(
                "the router is not running: the pid file {} names process {pid}, which does \
                 not exist any more (it did not exit cleanly); start it with `switchboard run`",
                pid_file.display()
            ));
        }
        PidState::Garbled(text) => {
            return Err(format!(
                "the pid file {} does not hold a process id ({text:?})",
                pid_file.display()
            ));
        }
    };
    let status = status_path(data_dir);
    let before = std::fs::read_to_string(&status).unwrap_or_default();
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    if !sent {
        return Err(format!(
            "could not signal the router (pid {pid}); run this as the user the router runs as"
        ));
    }
    let start = Instant::now();
    while start.elapsed() < RELOAD_WAIT {
        std::thread::sleep(Duration::from_millis(50));
        let now = std::fs::read_to_string(&status).unwrap_or_default();
        if now != before && now.ends_with('\n') {
            // The first line is the router's bookkeeping (pid, sequence, time).
            let text: String = now.lines().skip(1).map(|l| format!("{l}\n")).collect();
            return if text.starts_with("configuration NOT reloaded") {
                Err(text.trim_end().to_string())
            } else {
                Ok(text)
            };
        }
    }
    Err(format!(
        "reload sent to switchboard (pid {pid}), but it did not answer within {} s; its log \
         says whether the configuration was taken",
        RELOAD_WAIT.as_secs()
    ))
}

/// `switchboard backup --to FILE`: an online copy of the database.
pub fn backup(data_dir: &Path, to: &Path) -> Result<String, String> {
    let store = super::open_existing_db(data_dir)?;
    store.backup_to(to).map_err(|e| e.to_string())?;
    let size = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    Ok(format!(
        "database {} backed up to {} ({size} bytes); voicemail recordings are files in {}: \
         copy that folder too (docs/deploy.md \"Backups\")\n",
        super::db_path(data_dir).display(),
        to.display(),
        data_dir.join("recordings").display()
    ))
}
