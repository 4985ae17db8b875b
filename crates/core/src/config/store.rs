//! The `[store]` section: where records, the callback queue and registrations live.
//!
//! Without it (the default) Switchboard keeps everything in one SQLite file in the data
//! directory and managers' ringing/talking state in its own memory: one machine, no
//! server to run. With `url = "postgres://…"` it uses a shared PostgreSQL database, so
//! several instances behind a SIP proxy see the same records, queue and phones (see
//! `docs/scale-out.md`). Changing this section needs a restart.

use serde::Deserialize;

/// Where the data lives. Command-line flags do not override it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `postgres://user:password@host:port/database`; `None`: SQLite in `data_dir`.
    #[serde(deserialize_with = "postgres_url")]
    pub url: Option<String>,
    /// This instance's name in the shared managers' state and the logs (default: the
    /// SIP address it listens on). Must differ between instances sharing a database.
    pub instance: Option<String>,
}

impl StoreConfig {
    /// Whether several instances share state through PostgreSQL.
    pub fn is_shared(&self) -> bool {
        self.url.is_some()
    }
}

fn postgres_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        return Ok(Some(s.to_string()));
    }
    Err(serde::de::Error::custom(format!(
        "[store] url must be a PostgreSQL URL like \"postgres://switchboard:PASSWORD@db.example:5432/switchboard\"; \
         leave the key out to keep the embedded SQLite database in data_dir (got \"{}\")",
        s.split("://").next().unwrap_or(s)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        store: StoreConfig,
    }

    #[test]
    fn sqlite_is_the_default_and_only_postgres_urls_are_taken() {
        let f: File = toml::from_str("").unwrap();
        assert_eq!(f.store, StoreConfig::default());
        assert!(!f.store.is_shared());
        let f: File =
            toml::from_str("[store]\nurl = \"postgres://sb@127.0.0.1/sb\"\ninstance = \"a\"")
                .unwrap();
        assert!(f.store.is_shared());
        assert_eq!(f.store.instance.as_deref(), Some("a"));
        let err = toml::from_str::<File>("[store]\nurl = \"mysql://x@y/z\"")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("must be a PostgreSQL URL"), "{err}");
    }
}
