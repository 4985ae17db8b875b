//! The store's one PostgreSQL connection, and getting it back after the server
//! restarted.
//!
//! A `postgres::Client` whose server went away (a restart for a minor upgrade, a
//! failover, a dropped network path) stays closed for good: before this, every write
//! after a PostgreSQL restart failed until Switchboard itself was restarted. So the
//! connection heals itself:
//!
//! ```text
//!  Open ──an operation fails, the client is closed──► Closed
//!   ▲                                                   │ reconnect (at most once a
//!   └───────────── connected (statements re-prepared) ◄─┘  second, 5 s connect timeout)
//! ```
//!
//! A server that vanishes without closing the connection is noticed too: data it does
//! not acknowledge within 10 s breaks the connection (TCP_USER_TIMEOUT), and an idle
//! connection is probed after 30 s (keepalives), unless the URL sets its own values.
//!
//! An operation that failed because the connection was already closed never reached
//! the server, and a batch whose transaction broke before its COMMIT was rolled back by
//! the server, so both are run again once on the new connection. A COMMIT that broke
//! is not: whether it was applied is unknown, and running it twice could add rows
//! twice. Inside a batch nothing reconnects (the rest of the batch would run outside
//! its transaction); the batch as a whole is retried.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use postgres::{Client, Config, NoTls, Statement};

use crate::store::StoreError;

/// How long a (re)connection may take before it is given up until the next try.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long data sent to the server may stay unacknowledged before the connection
/// counts as broken (TCP_USER_TIMEOUT): a server that vanished without closing the
/// connection (power, a partition) would otherwise hold the store thread for the
/// kernel's retransmission limit, some 15 minutes, while writes pile up behind it.
const USER_TIMEOUT: Duration = Duration::from_secs(10);

/// Idle time before TCP keepalives probe the server (PostgreSQL's default is 2 hours).
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// `url` as a client configuration, with the timeouts above wherever the URL does not
/// set its own (`connect_timeout`, `tcp_user_timeout`, `keepalives_idle`). Used by the
/// records store and by the shared-state link alike.
pub fn config(url: &str) -> Result<Config, postgres::Error> {
    let mut config: Config = url.parse()?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(USER_TIMEOUT);
    }
    if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
        config.keepalives_idle(KEEPALIVE_IDLE);
    }
    Ok(config)
}

/// How often a lost server is tried again (each failed try logs one line).
const RETRY_EVERY: Duration = Duration::from_secs(1);

pub(super) struct Connection {
    client: RefCell<Client>,
    /// Prepared statements of this connection (a new connection prepares its own).
    statements: RefCell<HashMap<String, Statement>>,
    config: Config,
    /// The URL without its password, for messages.
    shown: String,
    /// No reconnection before this moment (the last try failed).
    retry_at: Cell<Option<Instant>>,
    /// A batch's transaction is open: no reconnection in the middle of it.
    in_batch: Cell<bool>,
}

impl Connection {
    /// Connects to `url` (with [`config`]'s timeouts).
    pub(super) fn open(url: &str, shown: &str) -> Result<Connection, StoreError> {
        let config = config(url).map_err(|source| StoreError::Connect {
            url: shown.to_string(),
            source,
        })?;
        let client = config
            .connect(NoTls)
            .map_err(|source| StoreError::Connect {
                url: shown.to_string(),
                source,
            })?;
        Ok(Connection {
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
            config,
            shown: shown.to_string(),
            retry_at: Cell::new(None),
            in_batch: Cell::new(false),
        })
    }

    /// The client, for what needs it whole (migrations, a purge's transaction).
    pub(super) fn client(&self) -> std::cell::RefMut<'_, Client> {
        self.heal();
        self.client.borrow_mut()
    }

    /// A closed connection is replaced by a new one, if the server answers (at most
    /// one try a second). Returns whether the connection is open.
    pub(super) fn heal(&self) -> bool {
        if !self.client.borrow().is_closed() {
            return true;
        }
        if self.in_batch.get() || self.retry_at.get().is_some_and(|t| Instant::now() < t) {
            return false;
        }
        match self.config.connect(NoTls) {
            Ok(client) => {
                *self.client.borrow_mut() = client;
                self.statements.borrow_mut().clear();
                self.retry_at.set(None);
                tracing::info!(url = %self.shown, "reconnected to PostgreSQL");
                true
            }
            Err(e) => {
                self.retry_at.set(Some(Instant::now() + RETRY_EVERY));
                tracing::warn!(url = %self.shown, "PostgreSQL is unreachable: {e}; trying again in 1 s");
                false
            }
        }
    }

    /// Whether the connection is known to be closed.
    pub(super) fn is_closed(&self) -> bool {
        self.client.borrow().is_closed()
    }

    /// Whether the last operation found the connection closed (and, outside a batch,
    /// it is worth running again on a new one).
    fn lost(&self) -> bool {
        !self.in_batch.get() && self.client.borrow().is_closed()
    }

    /// Runs `f` on the connection with the prepared form of `sql`; once more on a new
    /// connection when this one turned out to be closed.
    pub(super) fn with_stmt<T>(
        &self,
        op: &'static str,
        sql: &str,
        f: impl Fn(&mut Client, &Statement) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let first = self.run_stmt(op, sql, &f);
        if first.is_err() && self.lost() && self.heal() {
            return self.run_stmt(op, sql, &f);
        }
        first
    }

    fn run_stmt<T>(
        &self,
        op: &'static str,
        sql: &str,
        f: &impl Fn(&mut Client, &Statement) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        self.heal();
        let mut client = self.client.borrow_mut();
        let mut cache = self.statements.borrow_mut();
        let stmt = match cache.get(sql) {
            Some(s) => s.clone(),
            None => {
                let s = client
                    .prepare(sql)
                    .map_err(|source| StoreError::Postgres { op, source })?;
                cache.insert(sql.to_string(), s.clone());
                s
            }
        };
        f(&mut client, &stmt).map_err(|source| StoreError::Postgres { op, source })
    }

    /// Runs `sql` as a simple query (transaction control, savepoints).
    pub(super) fn batch(&self, op: &'static str, sql: &str) -> Result<(), StoreError> {
        self.heal();
        self.client
            .borrow_mut()
            .batch_execute(sql)
            .map_err(|source| StoreError::Postgres { op, source })
    }

    /// A batch's transaction opens (`true`) or is over (`false`): no reconnection in
    /// between (see the module docs).
    pub(super) fn set_in_batch(&self, on: bool) {
        self.in_batch.set(on);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vanished_server_is_noticed_in_seconds_unless_the_url_says_otherwise() {
        let c = config("postgres://sb@db.example/switchboard").unwrap();
        assert_eq!(c.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert_eq!(c.get_tcp_user_timeout(), Some(&USER_TIMEOUT));
        assert_eq!(c.get_keepalives_idle(), KEEPALIVE_IDLE);
        let c = config(
            "postgres://sb@db.example/switchboard?connect_timeout=2&tcp_user_timeout=3&keepalives_idle=4",
        )
        .unwrap();
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(2)));
        assert_eq!(c.get_tcp_user_timeout(), Some(&Duration::from_secs(3)));
        assert_eq!(c.get_keepalives_idle(), Duration::from_secs(4));
    }
}
