//! Configuration: the `[server]` section (where Switchboard listens, its media ports,
//! protocol timers) and the dial plan, loaded from one TOML file.

pub mod server;

pub use server::ServerConfig;
