//! Configuration: the `[server]` section (where Switchboard listens, its media ports,
//! protocol timers) and the dial plan, loaded from one TOML file.
//!
//! Loading is two steps: serde reads the file into raw structs that remember where each
//! value was written (`raw`), then `compile` resolves and checks everything into a
//! [`DialPlan`]. Only a compiled plan reaches the routing engine, so nothing downstream
//! re-validates. The key-by-key reference is `docs/dialplan.md`.

pub mod server;
pub mod store;

mod check;
mod compile;
pub mod diagnostic;
pub mod integrations;
pub mod plan;
pub mod queueing;
mod queueing_compile;
mod raw;
pub mod reload;
mod transfer;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub use diagnostic::{ConfigErrors, Diagnostic, Severity};
pub use integrations::{
    EmailPolicy, EmailTls, Integrations, LookupPolicy, RecordingChannels, RecordingPolicy,
};
pub use plan::{
    Action, AlertPolicy, Department, DialPlan, HistoryPolicy, Manager, Menu, NumberPattern,
    NumberRoute, Schedule, Strategy, TimeRange, UnknownName, Voicemail,
};
pub use server::ServerConfig;
pub use store::StoreConfig;

use diagnostic::{Sink, did_you_mean};

/// A config file that loaded: the server settings, the compiled plan and any warnings
/// (print them; they do not stop the plan from running).
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub server: ServerConfig,
    /// `[store]`: SQLite (default) or a shared PostgreSQL.
    pub store: StoreConfig,
    pub plan: DialPlan,
    pub warnings: Vec<Diagnostic>,
    /// `server.prompts_dir` resolved against the config file's directory: where
    /// `NAME.wav` lives for every name in `plan.prompts`.
    pub prompts_dir: PathBuf,
}

/// Reads, parses and validates the config file. Prompt names are checked against the
/// `*.wav` files in the prompts directory (relative to the config file).
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
        diagnostics: vec![Diagnostic {
            severity: Severity::Error,
            file: path.to_path_buf(),
            line: None,
            message: format!("cannot read the config file ({e}); check the path and permissions"),
        }],
    })?;
    load_inner(&text, path, |server, sink| {
        let dir = prompts_dir(path, server);
        match list_prompts(&dir) {
            Ok(names) => Some(names),
            Err(e) => {
                sink.error(
                    None,
                    format!(
                        "cannot read the prompts directory {} ({e}); set prompts_dir in [server] \
                         to the folder holding the WAV prompts",
                        dir.display()
                    ),
                );
                None
            }
        }
    })
}

/// Like [`load`] without looking at the prompts directory: for commands that only read
/// the database (`report`, `callbacks`, `explain`, `backup`), which must work on a
/// machine that has the config file and the data but not the WAV files.
pub fn load_without_prompts(path: &Path) -> Result<LoadedConfig, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
        diagnostics: vec![Diagnostic {
            severity: Severity::Error,
            file: path.to_path_buf(),
            line: None,
            message: format!("cannot read the config file ({e}); check the path and permissions"),
        }],
    })?;
    load_str(&text, path, None)
}

/// Parses and validates config text. `path` is only used in messages and to resolve
/// `prompts_dir`. `available_prompts` is the set of prompt names (file stems) that
/// exist; `None` skips the prompt check (e.g. `explain` without the prompt files).
pub fn load_str(
    text: &str,
    path: &Path,
    available_prompts: Option<&BTreeSet<String>>,
) -> Result<LoadedConfig, ConfigErrors> {
    load_inner(text, path, |_, _| available_prompts.cloned())
}

/// Where prompts live: `server.prompts_dir`, relative to the config file's directory.
pub fn prompts_dir(config_path: &Path, server: &ServerConfig) -> PathBuf {
    resolve_path(config_path, &server.prompts_dir)
}

/// The one rule for paths written in the config file (`data_dir`, `prompts_dir`): a
/// relative path is relative to the directory holding the config file, never to the
/// working directory the router happens to be started from. The result is absolute,
/// so the database, the recordings (whose paths are stored in the database) and the
/// prompts are found the same way by `run`, the CLI commands and the admin API.
pub fn resolve_path(config_path: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    let joined = config_path.parent().unwrap_or(Path::new("")).join(p);
    std::path::absolute(&joined).unwrap_or(joined)
}

/// Stems of the `*.wav` files in `dir`.
fn list_prompts(dir: &Path) -> std::io::Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        let is_wav = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav"));
        if let (true, Some(stem)) = (is_wav, p.file_stem().and_then(|s| s.to_str())) {
            names.insert(stem.to_string());
        }
    }
    Ok(names)
}

fn load_inner(
    text: &str,
    path: &Path,
    prompts: impl FnOnce(&ServerConfig, &mut Sink) -> Option<BTreeSet<String>>,
) -> Result<LoadedConfig, ConfigErrors> {
    let mut sink = Sink::new(path, text);
    let doc = match toml::de::DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            sink.error(e.span(), format!("TOML syntax error: {}", e.message()));
            return Err(ConfigErrors {
                diagnostics: sink.finish(),
            });
        }
    };
    let raw: raw::RawConfig = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            sink.error(e.span(), serde_message(e.message()));
            return Err(ConfigErrors {
                diagnostics: sink.finish(),
            });
        }
    };
    let mut server = raw.server.clone();
    let store = raw.store.clone();
    let available = prompts(&server, &mut sink);
    let dir_display = server.prompts_dir.display().to_string();
    let mut compiler = compile::Compiler::new(&mut sink, &raw, available.as_ref(), dir_display);
    compiler.base_dir = path.parent().map(Path::to_path_buf);
    let (plan, menu_spans) = compiler.compile(raw);
    check::check_menus(&plan, &menu_spans, &mut sink);
    server.prompts_dir = resolve_path(path, &server.prompts_dir);
    server.data_dir = resolve_path(path, &server.data_dir);
    for file in [
        &mut server.tls_certificate,
        &mut server.tls_private_key,
        &mut server.tls_ca_file,
    ]
    .into_iter()
    .flatten()
    {
        *file = resolve_path(path, file);
    }
    if server.sip_tls_listen.is_some()
        && (server.tls_certificate.is_none() || server.tls_private_key.is_none())
    {
        sink.error(
            None,
            "sip_tls_listen is set but tls_certificate or tls_private_key is not: SIP over TLS \
             needs both (PEM files; see docs/tls.md), or remove sip_tls_listen"
                .to_string(),
        );
    }
    if let Some(port) = server.sip_port_in_rtp_range() {
        let r = server.rtp_ports;
        let clear = range_clear_of(r, port);
        sink.error(
            server_key_span(doc.get_ref(), "rtp_ports")
                .or_else(|| server_key_span(doc.get_ref(), "sip_listen")),
            format!(
                "rtp_ports {}-{} contains port {port}, which sip_listen uses: calls given that \
                 port for their audio would fail; move rtp_ports clear of it (for example \
                 \"{}-{}\") or sip_listen out of the range",
                r.low, r.high, clear.low, clear.high,
            ),
        );
    }
    let prompts_dir = server.prompts_dir.clone();
    if sink.has_errors() {
        return Err(ConfigErrors {
            diagnostics: sink.finish(),
        });
    }
    Ok(LoadedConfig {
        server,
        store,
        plan,
        warnings: sink.finish(),
        prompts_dir,
    })
}

/// A range as wide as `r` that starts just past `port` (or ends just below it when
/// there is no room above), for the fix in the overlap error.
fn range_clear_of(r: crate::media::ports::PortRange, port: u16) -> crate::media::ports::PortRange {
    let width = r.high.saturating_sub(r.low);
    let low = port.saturating_add(2) & !1;
    match low.checked_add(width) {
        Some(high) => crate::media::ports::PortRange { low, high },
        None => {
            let high = port.saturating_sub(1);
            crate::media::ports::PortRange {
                low: high.saturating_sub(width),
                high,
            }
        }
    }
}

/// Where `[server]`'s `key` is written, for settings deserialized without spans.
fn server_key_span(doc: &toml::de::DeTable<'_>, key: &str) -> Option<std::ops::Range<usize>> {
    let server = doc.get("server")?.get_ref().as_table()?;
    server.get_key_value(key).map(|(k, _)| k.span())
}

/// Rewrites serde/TOML messages into the words an admin uses ("key", not "field") and
/// adds a suggestion where we can.
fn serde_message(msg: &str) -> String {
    let ticked = |s: &str| -> Vec<String> {
        s.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        let words = ticked(rest);
        let mut words = words.iter().map(String::as_str);
        let key = words.next().unwrap_or("");
        let allowed: Vec<&str> = words.collect();
        let dym = did_you_mean(key, allowed.iter().copied());
        return format!(
            "unknown key \"{key}\"{dym}; the keys allowed here are: {}",
            allowed.join(", ")
        );
    }
    if let Some(rest) = msg.strip_prefix("missing field ") {
        let key = ticked(rest).into_iter().next().unwrap_or_default();
        return format!("this section is missing the required key \"{key}\"");
    }
    if msg.contains("expected a string") {
        return format!("{msg}; put text values (names, times, dates) in double quotes");
    }
    msg.to_string()
}
