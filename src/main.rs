//! The `switchboard` command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use switchboard::call::DemoIvr;
use switchboard::config::server::PortRange;
use switchboard::config::ServerConfig;
use switchboard::io::{self, RunOptions};

#[derive(Parser)]
#[command(name = "switchboard", version, about = "SIP call router with a built-in IVR")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the router.
    Run {
        /// The configuration file (server settings and dial plan).
        #[arg(long, short)]
        config: PathBuf,
        /// SIP listen address (UDP and TCP), overriding [server] sip_listen.
        #[arg(long)]
        sip_listen: Option<SocketAddr>,
        /// RTP port range LOW-HIGH, overriding [server] rtp_ports.
        #[arg(long)]
        rtp_ports: Option<PortRange>,
        /// Data directory, overriding [server] data_dir.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Check a configuration file and print what is wrong with it.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("SWITCHBOARD_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .with_target(false)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config, sip_listen, rtp_ports, data_dir } => {
            let mut server = match load_server(&config) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            if let Some(a) = sip_listen {
                server.sip_listen = a;
            }
            if let Some(r) = rtp_ports {
                server.rtp_ports = r;
            }
            if let Some(d) = data_dir {
                server.data_dir = d;
            }
            run(&config, server)
        }
        Command::Check { config } => match load_server(&config) {
            Ok(server) => {
                let dir = relative_to(&config, &server.prompts_dir);
                match switchboard::media::prompt::PromptSet::load_dir(&dir) {
                    Ok(p) => {
                        println!("{}: OK ({} prompts)", config.display(), p.len());
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn relative_to(config: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        config.parent().unwrap_or(Path::new(".")).join(p)
    }
}

fn load_server(path: &Path) -> Result<ServerConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    match table.get("server") {
        Some(v) => v.clone().try_into().map_err(|e| format!("{}: [server]: {e}", path.display())),
        None => Ok(ServerConfig::default()),
    }
}

fn run(config: &Path, server: ServerConfig) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let prompts_dir = relative_to(config, &server.prompts_dir);
    rt.block_on(async move {
        let opts = RunOptions { server, prompts_dir, programs: Box::new(|_| Box::new(DemoIvr::default())) };
        let running = match io::start(opts).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        wait_for_stop().await;
        running.stop();
        let _ = running.task.await;
        ExitCode::SUCCESS
    })
}

/// SIGINT or SIGTERM stops the router.
async fn wait_for_stop() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("stop requested");
}
