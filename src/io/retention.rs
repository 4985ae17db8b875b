//! `[server] retention_days`: once a day, delete what is older than the limit.
//!
//! Conversation recordings (`DATA_DIR/conversations/YYYY-MM-DD/`) go by the same rule
//! as the call records they belong to.
//!
//! The database part runs on the store thread ([`Store::purge_before`], one
//! transaction); the recordings are deleted here, on a blocking thread, from the
//! day folders `DATA_DIR/recordings/YYYY-MM-DD/` older than the limit. A recording still
//! attached to an open or claimed callback request is never deleted: a customer who
//! waits for a call back keeps their message, however old.
//!
//! The first cleanup runs right after start, then every 24 hours, and again at once
//! when a reload changes `retention_days`.
//!
//! [`Store::purge_before`]: crate::store::Store::purge_before

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

use crate::store::{CallbackStatus, Purged, StoreError, StoreHandle};

/// How often the cleanup runs.
pub const EVERY: Duration = Duration::from_secs(24 * 3600);

/// What one cleanup deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleanup {
    pub records: Purged,
    pub recordings: usize,
}

/// Starts the daily cleanup; it follows `days` (a reload may change it) and ends with
/// `shutdown`.
pub fn start(
    store: StoreHandle,
    data_dir: PathBuf,
    mut days: watch::Receiver<Option<u32>>,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        loop {
            let limit = *days.borrow_and_update();
            if let Some(limit) = limit {
                match run_once(&store, &data_dir, limit, Timestamp::now()).await {
                    Ok(c) => tracing::info!(
                        "retention ({limit} days): deleted {} call records, {} ring attempts, \
                         {} closed callback requests, {} undelivered notifications and {} \
                         recordings",
                        c.records.calls,
                        c.records.ring_attempts,
                        c.records.callbacks,
                        c.records.webhooks,
                        c.recordings
                    ),
                    Err(StoreError::WorkerGone) => return,
                    Err(e) => tracing::error!("retention cleanup failed: {e}"),
                }
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                r = days.changed() => if r.is_err() { return },
                () = tokio::time::sleep(EVERY) => {}
            }
        }
    });
}

/// One cleanup: everything older than `days` before `now`.
pub async fn run_once(
    store: &StoreHandle,
    data_dir: &Path,
    days: u32,
    now: Timestamp,
) -> Result<Cleanup, StoreError> {
    let cutoff = now
        .checked_sub(SignedDuration::from_hours(i64::from(days) * 24))
        .unwrap_or(Timestamp::MIN);
    let records = store.query_async(move |s| s.purge_before(cutoff)).await?;
    // Recordings a waiting customer still needs.
    let keep: HashSet<PathBuf> = store
        .list_callbacks(None, None)
        .await?
        .into_iter()
        .filter(|cb| cb.status != CallbackStatus::Done)
        .filter_map(|cb| cb.recording_path)
        .map(|p| canonical(&data_dir.join(p)))
        .collect();
    let dir = data_dir.join("recordings");
    // Conversation recordings (`record = true`) go with their call records.
    let conversations = data_dir.join(crate::model::recording::CONVERSATIONS_DIR);
    let cutoff_day = cutoff.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let recordings = tokio::task::spawn_blocking(move || {
        delete_recordings(&dir, cutoff_day, &keep)
            + delete_recordings(&conversations, cutoff_day, &HashSet::new())
    })
    .await
    .unwrap_or(0);
    Ok(Cleanup {
        records,
        recordings,
    })
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Deletes the files of day folders before `cutoff_day` (folders are named by the
/// call's UTC start day), except those in `keep`; removes folders left empty.
fn delete_recordings(dir: &Path, cutoff_day: jiff::civil::Date, keep: &HashSet<PathBuf>) -> usize {
    let Ok(days) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut deleted = 0;
    for day in days.flatten() {
        let path = day.path();
        let old = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<jiff::civil::Date>().ok())
            .is_some_and(|d| d < cutoff_day);
        if !old || !path.is_dir() {
            continue;
        }
        let Ok(files) = std::fs::read_dir(&path) else {
            continue;
        };
        for file in files.flatten() {
            let f = file.path();
            if f.is_file() && !keep.contains(&canonical(&f)) {
                match std::fs::remove_file(&f) {
                    Ok(()) => deleted += 1,
                    Err(e) => tracing::warn!("retention: cannot delete {}: {e}", f.display()),
                }
            }
        }
        // Only succeeds when empty.
        let _ = std::fs::remove_dir(&path);
    }
    deleted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_day_folders_go_except_kept_files() {
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("recordings");
        for day in ["2020-01-01", "2020-01-02", "2030-01-01"] {
            std::fs::create_dir_all(rec.join(day)).unwrap();
            std::fs::write(rec.join(day).join("a.wav"), b"x").unwrap();
        }
        std::fs::write(rec.join("2020-01-02").join("keep.wav"), b"x").unwrap();
        let keep: HashSet<PathBuf> = [canonical(&rec.join("2020-01-02/keep.wav"))].into();
        let n = delete_recordings(&rec, "2025-01-01".parse().unwrap(), &keep);
        assert_eq!(n, 2);
        assert!(!rec.join("2020-01-01").exists(), "empty folder removed");
        assert!(rec.join("2020-01-02/keep.wav").exists());
        assert!(rec.join("2030-01-01/a.wav").exists());
    }
}
