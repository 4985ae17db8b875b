//! A throwaway PostgreSQL server for tests: `initdb` into a temporary folder, started
//! with `pg_ctl` on a loopback port, stopped and deleted on drop.
//!
//! It uses Debian's `postgresql` package (the binaries in
//! `/usr/lib/postgresql/<version>/bin`) and fails, never skips, when it is missing.
//! PostgreSQL refuses to run as root, so as root the server runs as the `postgres`
//! user the package creates (`runuser`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const INSTALL: &str = "PostgreSQL is required for these tests: apt-get install -y postgresql \
     (the .ci/run script does this)";

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The directory with `initdb` and `pg_ctl`: on the PATH, else the newest
/// `/usr/lib/postgresql/*/bin`.
pub fn bin_dir() -> PathBuf {
    let out = Command::new("sh")
        .arg("-c")
        .arg("command -v pg_ctl")
        .output()
        .unwrap();
    let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !found.is_empty()
        && let Some(dir) = Path::new(&found).parent()
        && dir.join("initdb").exists()
    {
        return dir.to_path_buf();
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect(INSTALL)
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b).expect(INSTALL)
}

fn is_root() -> bool {
    let uid = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&uid.stdout).trim() == "0"
}

/// A running PostgreSQL server owned by the test.
pub struct PgServer {
    bin: PathBuf,
    data: PathBuf,
    pub port: u16,
    as_postgres: bool,
    _dir: tempfile::TempDir,
}

impl PgServer {
    /// Starts a fresh server on 127.0.0.1 and a port from the cross-process counter.
    pub fn start() -> PgServer {
        let bin = bin_dir();
        let port = 14000 + super::ports().slot;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let as_postgres = is_root();
        if as_postgres {
            // The temporary folder is root's; the server's user must own it.
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(
                ok,
                "cannot chown the test database folder to postgres; {INSTALL}"
            );
        }
        let server = PgServer {
            bin,
            data,
            port,
            as_postgres,
            _dir: dir,
        };
        let out = server
            .command("initdb")
            .arg("-D")
            .arg(&server.data)
            .args([
                "-A",
                "trust",
                "-U",
                "switchboard",
                "--no-sync",
                "--locale=C.UTF-8",
                "-E",
                "UTF8",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={} \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c max_connections=200",
            server.data.parent().unwrap().display()
        );
        server.pg_ctl(&["-o", &opts, "-w", "-t", "30", "start"]);
        server
    }

    /// Runs `pg_ctl -D DATA -l LOG ARGS` and waits until the server listens on TCP.
    /// The server's output goes to its log: a pipe it held open would keep `output()`
    /// waiting for ever.
    fn pg_ctl(&self, args: &[&str]) {
        let log = self.data.parent().unwrap().join("postgres.log");
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&log)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "PostgreSQL did not listen on 127.0.0.1:{}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// Restarts the server (`pg_ctl restart -m fast`: every connection is closed, as
    /// in a minor-version upgrade), on the same port and data.
    pub fn restart(&self) {
        self.pg_ctl(&["-m", "fast", "-w", "-t", "30", "restart"]);
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://switchboard@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    pub fn fresh_database(&self) -> String {
        let name = format!("t{}", NEXT_DB.fetch_add(1, Ordering::SeqCst));
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .expect("connect to the test PostgreSQL");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        self.url(&name)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
