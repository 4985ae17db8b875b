//! SIP over TLS (RFC 3261 §26.2, RFC 5630): the listener (`[server] sip_tls_listen`)
//! and the TLS connections we open ourselves, with rustls (ring). After the handshake a
//! connection is framed and limited exactly like TCP ([`super::stream`]).
//!
//! - Inbound: the handshake must finish within `tls_handshake_secs`, inside a place in
//!   the shared connection count, so a port scan or a slow-loris cannot hold
//!   descriptors. The certificate comes from [`CertResolver`], swapped on reload.
//! - Outbound (a phone's static `sips:`/`transport=tls` contact, a trunk, a BYE to a
//!   caller whose connection closed): the peer's certificate is verified against
//!   `tls_ca_file` (default: the Mozilla roots) for the name `tls_peer_names` gives
//!   its address, else for its IP address. `tls_verify_peers = false` turns that off,
//!   with an error in the log at start and a warning on every such connection.
//! - Phones that registered over TLS are rung over their own connection (RFC 5923
//!   reuse: the registrar keeps the connection's address as the binding's source, and
//!   the core task keeps the connection's writer under it), which is what reaches a
//!   phone behind NAT; a new connection is only opened when it has gone.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::certs::{CertError, CertResolver, Identity, root_store};

pub use super::certs::load_identity;
use super::stream::{Channel, Counts, Origin, RefusalLog, StreamEvent, StreamLimits, connection};
use crate::config::ServerConfig;
use crate::sip::{Peer, Transport};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The listener's rustls configuration, serving whatever `resolver` holds.
pub fn server_config(resolver: Arc<CertResolver>) -> Result<rustls::ServerConfig, rustls::Error> {
    Ok(rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver))
}

/// How we connect to peers over TLS: the client configuration (trust anchors and
/// whether to verify at all) and the names their certificates must carry. Swapped as a
/// whole on reload.
pub struct ClientSide {
    config: Arc<rustls::ClientConfig>,
    names: BTreeMap<IpAddr, String>,
    verify: bool,
}

impl ClientSide {
    /// From `[server]`: fails on an unreadable or empty `tls_ca_file`.
    pub fn from_server(server: &ServerConfig) -> Result<ClientSide, CertError> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| CertError::BadCa {
                path: "(protocol versions)".into(),
                reason: e.to_string(),
            })?;
        let config = if server.tls_verify_peers {
            builder
                .with_root_certificates(root_store(server)?)
                .with_no_client_auth()
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
                .with_no_client_auth()
        };
        Ok(ClientSide {
            config: Arc::new(config),
            names: server.tls_peer_names.clone(),
            verify: server.tls_verify_peers,
        })
    }

    /// Says loudly what `tls_verify_peers = false` means (at start and on reload).
    pub fn warn_if_unverified(&self) {
        if !self.verify {
            tracing::error!(
                "tls_verify_peers = false: certificates of trunks and phones we connect to over \
                 TLS are NOT verified, so anyone on the path can impersonate them and read the \
                 calls' keys; use this for tests only, and set tls_ca_file instead"
            );
        }
    }

    /// The name `addr`'s certificate must carry.
    fn server_name(&self, addr: SocketAddr) -> ServerName<'static> {
        self.names
            .get(&addr.ip())
            .and_then(|n| ServerName::try_from(n.clone()).ok())
            .unwrap_or(ServerName::IpAddress(addr.ip().into()))
    }
}

/// Accepts any certificate (`tls_verify_peers = false`), still checking the handshake's
/// signatures so the connection is at least encrypted to whoever holds the key.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS side of the driver: our certificate for the listener, the client side for
/// connections we open; both replaced on reload.
pub struct Tls {
    /// Our certificate, when the listener runs (`sip_tls_listen`).
    pub resolver: Option<Arc<CertResolver>>,
    pub client: ArcSwap<ClientSide>,
}

/// What a reload brings for TLS, already checked.
pub struct TlsReload {
    pub identity: Option<Identity>,
    pub client: ClientSide,
}

impl std::fmt::Debug for TlsReload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsReload")
            .field("identity", &self.identity.as_ref().map(|i| &i.summary))
            .finish_non_exhaustive()
    }
}

impl TlsReload {
    /// Loads and checks what `server` names: our certificate if the listener runs, the
    /// client side always. `now` is for the validity check.
    pub fn load(server: &ServerConfig, now: jiff::Timestamp) -> Result<TlsReload, CertError> {
        let identity = match server.sip_tls_listen {
            Some(_) => Some(super::certs::load_identity(server, now)?),
            None => None,
        };
        Ok(TlsReload {
            identity,
            client: ClientSide::from_server(server)?,
        })
    }
}

impl Tls {
    pub fn new(start: TlsReload) -> Arc<Tls> {
        start.client.warn_if_unverified();
        Arc::new(Tls {
            resolver: start
                .identity
                .as_ref()
                .map(|i| Arc::new(CertResolver::new(i))),
            client: ArcSwap::from_pointee(start.client),
        })
    }

    /// A reload whose certificate files (and CA file) passed every check.
    pub fn reload(&self, new: TlsReload) {
        if let (Some(resolver), Some(identity)) = (&self.resolver, &new.identity) {
            resolver.replace(identity);
            tracing::info!(certificate = %identity.summary, "TLS certificate reloaded");
        }
        new.client.warn_if_unverified();
        self.client.store(Arc::new(new.client));
    }
}

/// Counts failed inbound handshakes and logs them once per 10 s (a scan of the port
/// is thousands); each one is also a DEBUG line.
struct HandshakeLog {
    failed: u64,
    since: Instant,
}

impl HandshakeLog {
    fn failed(&mut self) {
        self.failed += 1;
        if self.since.elapsed() >= Duration::from_secs(10) {
            tracing::warn!(
                "{} TLS handshakes failed or timed out in the last {} s (clients that do not \
                 trust our certificate, or scans of the TLS port)",
                self.failed,
                self.since.elapsed().as_secs()
            );
            self.failed = 0;
            self.since = Instant::now();
        }
    }
}

pub async fn accept_loop(
    listener: TcpListener,
    events: mpsc::UnboundedSender<StreamEvent>,
    limits: StreamLimits,
    counts: Arc<Counts>,
    resolver: Arc<CertResolver>,
) {
    let config = match server_config(resolver) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            tracing::error!("SIP over TLS is off: {e}");
            return;
        }
    };
    let acceptor = TlsAcceptor::from(config);
    let mut refusals = RefusalLog::default();
    let (failures_tx, mut failures_rx) = mpsc::unbounded_channel::<()>();
    tokio::spawn(async move {
        let mut log = HandshakeLog {
            failed: 0,
            since: Instant::now(),
        };
        while failures_rx.recv().await.is_some() {
            log.failed();
        }
    });
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("TLS accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let peer = Peer {
            transport: Transport::Tls,
            addr,
        };
        let place = match counts.admit(addr.ip(), &limits) {
            Ok(p) => p,
            Err(reason) => {
                refusals.refused(peer, reason);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let events = events.clone();
        let failures = failures_tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(limits.handshake, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    crate::admin::metrics::count_tls_handshake("ok");
                    connection(
                        tls,
                        peer,
                        events,
                        limits,
                        place,
                        mpsc::unbounded_channel(),
                        Origin::Accepted,
                    )
                    .await;
                }
                Ok(Err(e)) => {
                    crate::admin::metrics::count_tls_handshake("failed");
                    tracing::debug!(%addr, "TLS handshake failed: {e}");
                    let _ = failures.send(());
                }
                Err(_) => {
                    crate::admin::metrics::count_tls_handshake("timeout");
                    crate::admin::metrics::count_tcp_closed("handshake_timeout");
                    tracing::debug!(%addr, "TLS handshake not finished within {:?}", limits.handshake);
                    let _ = failures.send(());
                }
            }
        });
    }
}

/// Opens a TLS connection to `peer` (verifying its certificate) and runs it.
pub async fn open(
    peer: Peer,
    events: mpsc::UnboundedSender<StreamEvent>,
    limits: StreamLimits,
    counts: Arc<Counts>,
    channel: Channel,
    tls: Arc<Tls>,
) {
    let fail = |reason: String| {
        let _ = events.send(StreamEvent::ConnectFailed { peer, reason });
    };
    let place = match counts.admit(peer.addr.ip(), &limits) {
        Ok(p) => p,
        Err(reason) => {
            return fail(format!(
                "{reason} reached (tcp_max_connections / tcp_max_per_source)"
            ));
        }
    };
    let started = Instant::now();
    let tcp = match super::tcp::connect(peer.addr, limits.handshake).await {
        Ok(s) => s,
        Err(reason) => return fail(reason),
    };
    let client = tls.client.load_full();
    let name = client.server_name(peer.addr);
    let connector = TlsConnector::from(client.config.clone());
    let left = limits.handshake.saturating_sub(started.elapsed());
    let stream = match tokio::time::timeout(left, connector.connect(name.clone(), tcp)).await {
        Err(_) => {
            crate::admin::metrics::count_tls_handshake("timeout");
            return fail(format!(
                "TLS handshake with {} not finished within {:?}",
                peer.addr, limits.handshake
            ));
        }
        Ok(Err(e)) => {
            crate::admin::metrics::count_tls_handshake("failed");
            return fail(explain_handshake_error(&e, peer.addr, &name));
        }
        Ok(Ok(s)) => s,
    };
    crate::admin::metrics::count_tls_handshake("ok");
    if client.verify {
        tracing::debug!(to = %peer.addr, name = ?name, "TLS connection opened, certificate verified");
    } else {
        tracing::warn!(to = %peer.addr, "TLS connection opened WITHOUT verifying the peer's certificate (tls_verify_peers = false)");
    }
    connection(stream, peer, events, limits, place, channel, Origin::Opened).await;
}

/// Turns a failed client handshake into what the admin needs to know.
fn explain_handshake_error(e: &std::io::Error, addr: SocketAddr, name: &ServerName<'_>) -> String {
    let shown = match name {
        ServerName::DnsName(d) => d.as_ref().to_string(),
        ServerName::IpAddress(_) => addr.ip().to_string(),
        _ => format!("{name:?}"),
    };
    let rustls_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("the TLS certificate of {addr} has expired: the peer must renew it")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("the TLS certificate of {addr} is not valid yet (check both clocks)")
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "the TLS certificate of {addr} is not valid for \"{shown}\": set the name \
                     it carries in [server] tls_peer_names (\"{}\" = \"NAME\")",
                    addr.ip()
                )
            }
            CertificateError::UnknownIssuer => format!(
                "the TLS certificate of {addr} is not signed by an authority we trust: add its \
                 CA to [server] tls_ca_file"
            ),
            other => format!("the TLS certificate of {addr} was refused: {other:?}"),
        },
        Some(other) => format!("TLS handshake with {addr} failed: {other}"),
        None => format!("TLS handshake with {addr} failed: {e}"),
    }
}
