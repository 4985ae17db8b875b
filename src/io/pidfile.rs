//! The pid file `DATA_DIR/switchboard.pid`: how `switchboard reload` finds the router.
//!
//! Rules, so that the file never lies:
//! - `run` refuses to start when the file names a live `switchboard` process (two
//!   routers on one database would fight over it), and removes a stale file (the
//!   process is gone, e.g. after `kill -9` or a power cut) with a warning.
//! - The file is written only once the router is up (sockets bound, signal handlers
//!   installed), atomically (temporary file + rename): a second `run` that fails — port
//!   in use — never overwrites the file of the router that is running.
//! - It is removed when the router exits cleanly, and only if it still names this
//!   process.

use std::path::{Path, PathBuf};

/// The pid file of a data directory.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("switchboard.pid")
}

/// What a pid file says about a router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PidState {
    /// No pid file.
    Missing,
    /// The file names a running `switchboard` process.
    Running(u32),
    /// The file names a process that is gone (or is something else now).
    Stale(u32),
    /// The file does not hold a process id.
    Garbled(String),
}

/// Why `run` does not start, or the pid file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PidError {
    #[error(
        "another switchboard (pid {pid}) is running with this data directory ({}); stop it \
         first (kill {pid}), or give this one its own data_dir",
        path.display()
    )]
    AlreadyRunning { pid: u32, path: PathBuf },
    #[error("cannot write the pid file {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads the pid file and checks the process it names.
pub fn read(pid_file: &Path) -> PidState {
    let text = match std::fs::read_to_string(pid_file) {
        Ok(t) => t,
        Err(_) => return PidState::Missing,
    };
    match text.trim().parse::<u32>() {
        Ok(pid) if is_switchboard(pid) => PidState::Running(pid),
        Ok(pid) => PidState::Stale(pid),
        Err(_) => PidState::Garbled(text.chars().take(40).collect()),
    }
}

/// Whether `pid` is a live process running a `switchboard` binary (Linux `/proc`). A
/// pid reused by another program after a crash counts as gone.
fn is_switchboard(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    String::from_utf8_lossy(argv0).contains("switchboard")
        || exe.to_string_lossy().contains("switchboard")
}

/// Before starting: refuse when another router runs on this data directory; clear a
/// stale file.
pub fn check_before_start(data_dir: &Path) -> Result<(), PidError> {
    let file = path(data_dir);
    match read(&file) {
        PidState::Running(pid) if pid != std::process::id() => {
            Err(PidError::AlreadyRunning { pid, path: file })
        }
        PidState::Stale(pid) => {
            tracing::warn!(
                "removing stale pid file {} (process {pid} is not running; the router did \
                 not exit cleanly last time)",
                file.display()
            );
            let _ = std::fs::remove_file(&file);
            Ok(())
        }
        PidState::Garbled(text) => {
            tracing::warn!("removing unreadable pid file {} ({text:?})", file.display());
            let _ = std::fs::remove_file(&file);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The pid file of this process; removed on drop if it still names this process.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    pid: u32,
}

impl PidFile {
    /// Writes this process's id atomically.
    pub fn create(data_dir: &Path) -> Result<PidFile, PidError> {
        let file = path(data_dir);
        let pid = std::process::id();
        let tmp = data_dir.join(format!(".switchboard.pid.{pid}"));
        std::fs::write(&tmp, format!("{pid}\n"))
            .and_then(|()| std::fs::rename(&tmp, &file))
            .map_err(|source| {
                let _ = std::fs::remove_file(&tmp);
                PidError::Write {
                    path: file.clone(),
                    source,
                }
            })?;
        Ok(PidFile { path: file, pid })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let ours = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
            == Some(self.pid);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_garbled_and_own_files() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(&path(dir.path())), PidState::Missing);
        // pid 0 is never a process we can signal.
        std::fs::write(path(dir.path()), "0\n").unwrap();
        assert_eq!(read(&path(dir.path())), PidState::Stale(0));
        check_before_start(dir.path()).unwrap();
        assert!(!path(dir.path()).exists(), "a stale file is removed");
        std::fs::write(path(dir.path()), "hello").unwrap();
        assert!(matches!(read(&path(dir.path())), PidState::Garbled(_)));
        check_before_start(dir.path()).unwrap();
        {
            let f = PidFile::create(dir.path()).unwrap();
            let text = std::fs::read_to_string(f.path()).unwrap();
            assert_eq!(text.trim(), std::process::id().to_string());
        }
        assert!(!path(dir.path()).exists(), "removed on drop");
        // A file another process wrote in the meantime is left alone.
        let f = PidFile::create(dir.path()).unwrap();
        std::fs::write(path(dir.path()), "1\n").unwrap();
        drop(f);
        assert!(path(dir.path()).exists());
    }
}
