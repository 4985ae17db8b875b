//! The `switchboard` subcommands other than `run` and `simulate`: what they read, what
//! they print. `main.rs` parses the command line and calls these; each returns the
//! text to print or an error for stderr, so tests can call them too.

pub mod admin;
pub mod explain;
pub mod queue;

use std::path::{Path, PathBuf};

use crate::config::{self, ConfigErrors, LoadedConfig};
use crate::store::{PostgresStore, SqliteStore, Store};

/// Prints a failed configuration the way `check` does.
pub fn print_errors(e: &ConfigErrors) {
    eprintln!("{e}");
    eprintln!(
        "{} error(s): the configuration was not loaded.",
        e.errors().count()
    );
}

/// Loads the config with its prompts (`run`, `check`, `reload`); prints warnings and
/// errors. `None` when it has errors.
pub fn load(path: &Path) -> Option<LoadedConfig> {
    report_load(config::load(path))
}

/// Loads the config without looking at the prompts (commands that read the database
/// and the plan only: `report`, `callbacks`, `explain`, `backup`).
pub fn load_data(path: &Path) -> Option<LoadedConfig> {
    report_load(config::load_without_prompts(path))
}

fn report_load(r: Result<LoadedConfig, ConfigErrors>) -> Option<LoadedConfig> {
    match r {
        Ok(l) => {
            for w in &l.warnings {
                eprintln!("{w}");
            }
            Some(l)
        }
        Err(e) => {
            print_errors(&e);
            None
        }
    }
}

/// The data directory: `--data-dir` (relative to the working directory, like every
/// command-line path) or the config's `data_dir` (relative to the config file).
pub fn data_dir(loaded: &LoadedConfig, flag: Option<PathBuf>) -> PathBuf {
    match flag {
        Some(d) => std::path::absolute(&d).unwrap_or(d),
        None => loaded.server.data_dir.clone(),
    }
}

/// The database file of a data directory.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("switchboard.db")
}

/// The existing database of a data directory, opened directly (WAL lets it be read and
/// written while the router runs). Never creates one: a missing file almost always
/// means a wrong `--data-dir`.
pub fn open_existing_db(data_dir: &Path) -> Result<SqliteStore, String> {
    let db = db_path(data_dir);
    if !db.exists() {
        return Err(format!(
            "no database at {}: run the router with this data directory first, or pass --data-dir",
            db.display()
        ));
    }
    SqliteStore::open(&db).map_err(|e| e.to_string())
}

/// The database the configuration names: the shared PostgreSQL of `[store] url`, else
/// the existing SQLite file of the data directory (see [`open_existing_db`]).
pub fn open_store(loaded: &LoadedConfig, data_dir: &Path) -> Result<Box<dyn Store>, String> {
    match &loaded.store.url {
        Some(url) => PostgresStore::connect(url)
            .map(|s| Box::new(s) as Box<dyn Store>)
            .map_err(|e| e.to_string()),
        None => open_existing_db(data_dir).map(|s| Box::new(s) as Box<dyn Store>),
    }
}
