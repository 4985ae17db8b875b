//! Keeping the database small and safe: retention (`[server] retention_days`) and the
//! online backup behind `switchboard backup`.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use rusqlite::{Connection, params};

use super::{SqliteStore, ms, sql_err};
use crate::store::{Purged, StoreError};

/// Why a backup failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{} already exists; choose a new file name (a backup never overwrites)", path.display())]
    Exists { path: PathBuf },
    #[error("cannot write the backup {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("backing up the database to {} failed: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the backup {} fails SQLite's integrity check: {report}", path.display())]
    Corrupt { path: PathBuf, report: String },
}

impl SqliteStore {
    /// One transaction, so a reader never sees half a purge.
    pub(super) fn purge(&mut self, cutoff: Timestamp) -> Result<Purged, StoreError> {
        let cutoff = ms(cutoff);
        let tx = self
            .conn
            .transaction()
            .map_err(sql_err("start the retention cleanup"))?;
        let ring_attempts = tx
            .execute(
                "DELETE FROM ring_attempts WHERE started_at < ?1 \
                 OR call_id IN (SELECT call_id FROM calls WHERE started_at < ?1)",
                params![cutoff],
            )
            .map_err(sql_err("delete old ring attempts"))?;
        let calls = tx
            .execute("DELETE FROM calls WHERE started_at < ?1", params![cutoff])
            .map_err(sql_err("delete old call records"))?;
        let callbacks = tx
            .execute(
                "DELETE FROM callbacks WHERE status = 'done' \
                 AND COALESCE(done_at, updated_at) < ?1",
                params![cutoff],
            )
            .map_err(sql_err("delete old closed callback requests"))?;
        let webhooks = tx
            .execute(
                "DELETE FROM webhook_outbox WHERE created_at < ?1",
                params![cutoff],
            )
            .map_err(sql_err("delete old webhook notifications"))?;
        let dialbacks = tx
            .execute(
                "DELETE FROM queued_callbacks WHERE status NOT IN ('waiting', 'dialing') \
                 AND updated_at < ?1",
                params![cutoff],
            )
            .map_err(sql_err("delete old finished dial-backs"))?;
        let agent_states = tx
            .execute(
                "DELETE FROM agent_states WHERE ended_at IS NOT NULL AND ended_at < ?1",
                params![cutoff],
            )
            .map_err(sql_err("delete old managers' states"))?;
        tx.commit()
            .map_err(sql_err("commit the retention cleanup"))?;
        Ok(Purged {
            calls,
            ring_attempts,
            callbacks,
            webhooks,
            dialbacks,
            agent_states,
        })
    }

    /// Copies the database to `dest` with SQLite's online backup API: a consistent
    /// snapshot taken under a read transaction, so it is safe while the router writes
    /// (WAL: the router is never blocked). Written to a temporary file next to `dest`,
    /// checked with `PRAGMA integrity_check`, then renamed, so `dest` is either absent
    /// or a complete database. Never overwrites an existing file.
    pub fn backup_to(&self, dest: &Path) -> Result<(), BackupError> {
        if dest.exists() {
            return Err(BackupError::Exists {
                path: dest.to_path_buf(),
            });
        }
        let tmp = dest.with_extension(format!("partial.{}", std::process::id()));
        let result = (|| {
            let sqlite = |source| BackupError::Sqlite {
                path: dest.to_path_buf(),
                source,
            };
            let mut out = Connection::open(&tmp).map_err(sqlite)?;
            {
                use rusqlite::backup::{Backup, StepResult};
                let backup = Backup::new(&self.conn, &mut out).map_err(sqlite)?;
                // All pages in one step (-1): one read transaction, one consistent
                // snapshot. Busy/locked only while another connection holds a write
                // lock at that instant: retry for a while.
                let mut tries = 0;
                loop {
                    match backup.step(-1).map_err(sqlite)? {
                        StepResult::Done => break,
                        StepResult::More => {}
                        _ if tries < 200 => {
                            tries += 1;
                            std::thread::sleep(std::time::Duration::from_millis(25));
                        }
                        _ => {
                            return Err(sqlite(rusqlite::Error::SqliteFailure(
                                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                                Some("the database stayed locked for 5 s".into()),
                            )));
                        }
                    }
                }
            }
            let report: String = out
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .map_err(sqlite)?;
            if report != "ok" {
                return Err(BackupError::Corrupt {
                    path: dest.to_path_buf(),
                    report,
                });
            }
            // A standalone file: no -wal/-shm companions needed to read it.
            out.pragma_update(None, "journal_mode", "DELETE")
                .map_err(sqlite)?;
            drop(out);
            std::fs::rename(&tmp, dest).map_err(|source| BackupError::Write {
                path: dest.to_path_buf(),
                source,
            })
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn backup_refuses_to_overwrite_and_copies_everything() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStore::open(dir.path().join("a.db")).unwrap();
        s.enqueue_webhook("{}", Timestamp::UNIX_EPOCH).unwrap();
        let dest = dir.path().join("b.db");
        s.backup_to(&dest).unwrap();
        let copy = SqliteStore::open(&dest).unwrap();
        assert_eq!(copy.due_webhooks(Timestamp::MAX, 10).unwrap().len(), 1);
        assert!(matches!(
            s.backup_to(&dest),
            Err(BackupError::Exists { .. })
        ));
    }
}
