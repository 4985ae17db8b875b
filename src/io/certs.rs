//! Certificates for SIP over TLS: our own (`tls_certificate` + `tls_private_key`),
//! checked when loaded so a bad file is a clear error at start or on reload rather than
//! a handshake that every phone fails; and the authorities we trust when we connect to
//! a peer (`tls_ca_file`, default the Mozilla roots).
//!
//! What is checked, in this order, each with its own [`CertError`]:
//! the files exist and are readable PEM; the certificate file holds at least one
//! certificate and the key file a private key; the key belongs to the certificate; the
//! certificate is valid now (neither expired nor not yet valid); and, when
//! `tls_server_name` is set, the certificate is valid for that name. A certificate that
//! expires within [`EXPIRY_WARNING`] loads with a warning.
//!
//! The running listener serves whatever [`CertResolver`] holds; a reload swaps it only
//! after the new files passed every check, so a failed reload keeps the old one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use thiserror::Error;

use crate::config::ServerConfig;

/// A certificate that expires sooner than this is loaded with a warning.
pub const EXPIRY_WARNING: jiff::SignedDuration = jiff::SignedDuration::from_hours(14 * 24);

/// Why a certificate, key or CA file cannot be used. Each message names the file and
/// says what to do.
#[derive(Debug, Error)]
pub enum CertError {
    #[error("TLS {what} file {} does not exist; check [server] {key}", path.display())]
    Missing {
        what: &'static str,
        key: &'static str,
        path: PathBuf,
    },
    #[error("cannot read the TLS {what} file {}: {source}", path.display())]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\"); tls_certificate must be the certificate chain in PEM", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1); tls_private_key must be the certificate's key in PEM", path.display())]
    NoKey { path: PathBuf },
    #[error("the private key in {} cannot be used: {reason}", path.display())]
    BadKey { path: PathBuf, reason: String },
    #[error("the private key in {} does not belong to the certificate in {}; give the key the certificate was issued for", key.display(), cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("the certificate in {} cannot be read: {reason}", path.display())]
    BadCertificate { path: PathBuf, reason: String },
    #[error("the certificate in {} ({subject}) expired on {not_after}; renew it (phones and trunks refuse an expired certificate)", path.display())]
    Expired {
        path: PathBuf,
        subject: String,
        not_after: jiff::Timestamp,
    },
    #[error("the certificate in {} ({subject}) is not valid before {not_before}; check the machine's clock or the certificate", path.display())]
    NotYetValid {
        path: PathBuf,
        subject: String,
        not_before: jiff::Timestamp,
    },
    #[error("the certificate in {} is not valid for tls_server_name \"{wanted}\" (it names: {names}); phones and trunks that check the name will refuse it", path.display())]
    WrongName {
        path: PathBuf,
        wanted: String,
        names: String,
    },
    #[error("tls_server_name \"{0}\" is not a valid DNS name or IP address")]
    BadServerName(String),
    #[error("{} holds no PEM CA certificate; tls_ca_file must list the authorities that sign your trunks' certificates", path.display())]
    NoCaCertificate { path: PathBuf },
    #[error("the CA certificate in {} cannot be used: {reason}", path.display())]
    BadCa { path: PathBuf, reason: String },
}

/// Our certificate and key, checked, ready for the listener.
#[derive(Debug, Clone)]
pub struct Identity {
    pub key: Arc<CertifiedKey>,
    /// For the log: subject, names, expiry.
    pub summary: String,
    pub not_after: jiff::Timestamp,
}

fn read(what: &'static str, key: &'static str, path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            CertError::Missing {
                what,
                key,
                path: path.to_path_buf(),
            }
        } else {
            CertError::Unreadable {
                what,
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

/// The validity and names of a DER certificate.
struct CertFacts {
    subject: String,
    names: Vec<String>,
    not_before: jiff::Timestamp,
    not_after: jiff::Timestamp,
}

fn facts(path: &Path, der: &CertificateDer<'_>) -> Result<CertFacts, CertError> {
    let bad = |reason: String| CertError::BadCertificate {
        path: path.to_path_buf(),
        reason,
    };
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| bad(format!("not an X.509 certificate ({e})")))?;
    let time = |t: x509_parser::time::ASN1Time| {
        jiff::Timestamp::from_second(t.timestamp()).map_err(|e| bad(e.to_string()))
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => names.push((*d).to_string()),
                x509_parser::extensions::GeneralName::IPAddress(ip) => {
                    let ip = match ip.len() {
                        4 => <[u8; 4]>::try_from(*ip).ok().map(std::net::IpAddr::from),
                        16 => <[u8; 16]>::try_from(*ip).ok().map(std::net::IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        names.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    Ok(CertFacts {
        subject: cert.subject().to_string(),
        names,
        not_before: time(cert.validity().not_before)?,
        not_after: time(cert.validity().not_after)?,
    })
}

/// Loads and checks our certificate chain and key (see the module docs) at `now`.
pub fn load_identity(server: &ServerConfig, now: jiff::Timestamp) -> Result<Identity, CertError> {
    let cert_path = server
        .tls_certificate
        .as_deref()
        .ok_or_else(|| CertError::Missing {
            what: "certificate",
            key: "tls_certificate",
            path: PathBuf::from("(not set)"),
        })?;
    let key_path = server
        .tls_private_key
        .as_deref()
        .ok_or_else(|| CertError::Missing {
            what: "private key",
            key: "tls_private_key",
            path: PathBuf::from("(not set)"),
        })?;
    let cert_pem = read("certificate", "tls_certificate", cert_path)?;
    let key_pem = read("private key", "tls_private_key", key_path)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    let Some(leaf) = chain.first() else {
        return Err(CertError::NoCertificate {
            path: cert_path.to_path_buf(),
        });
    };
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| CertError::NoKey {
        path: key_path.to_path_buf(),
    })?;
    let f = facts(cert_path, leaf)?;
    if now > f.not_after {
        return Err(CertError::Expired {
            path: cert_path.to_path_buf(),
            subject: f.subject,
            not_after: f.not_after,
        });
    }
    if now < f.not_before {
        return Err(CertError::NotYetValid {
            path: cert_path.to_path_buf(),
            subject: f.subject,
            not_before: f.not_before,
        });
    }
    if let Some(wanted) = &server.tls_server_name {
        let name = ServerName::try_from(wanted.as_str())
            .map_err(|_| CertError::BadServerName(wanted.clone()))?;
        let parsed = rustls::server::ParsedCertificate::try_from(leaf).map_err(|e| {
            CertError::BadCertificate {
                path: cert_path.to_path_buf(),
                reason: e.to_string(),
            }
        })?;
        if rustls::client::verify_server_name(&parsed, &name).is_err() {
            return Err(CertError::WrongName {
                path: cert_path.to_path_buf(),
                wanted: wanted.clone(),
                names: if f.names.is_empty() {
                    "no subject alternative names".to_string()
                } else {
                    f.names.join(", ")
                },
            });
        }
    }
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain.clone(), key, &provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => CertError::KeyMismatch {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
        },
        other => CertError::BadKey {
            path: key_path.to_path_buf(),
            reason: other.to_string(),
        },
    })?;
    let summary = format!(
        "{} (names: {}; valid until {})",
        f.subject,
        if f.names.is_empty() {
            "none".to_string()
        } else {
            f.names.join(", ")
        },
        f.not_after
    );
    if f.not_after.duration_since(now) < EXPIRY_WARNING {
        tracing::warn!(
            "the TLS certificate in {} expires on {}: renew it soon (a reload picks up the new file)",
            cert_path.display(),
            f.not_after
        );
    }
    Ok(Identity {
        key: Arc::new(certified),
        summary,
        not_after: f.not_after,
    })
}

/// The trust anchors for peers we connect to: `tls_ca_file`, or the Mozilla roots.
pub fn root_store(server: &ServerConfig) -> Result<rustls::RootCertStore, CertError> {
    let mut roots = rustls::RootCertStore::empty();
    let Some(path) = &server.tls_ca_file else {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(roots);
    };
    let pem = read("CA", "tls_ca_file", path)?;
    let mut any = false;
    for der in CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok) {
        roots.add(der).map_err(|e| CertError::BadCa {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        any = true;
    }
    if !any {
        return Err(CertError::NoCaCertificate { path: path.clone() });
    }
    Ok(roots)
}

/// Serves the current identity to every handshake; swapped on reload.
#[derive(Debug)]
pub struct CertResolver {
    current: ArcSwap<CertifiedKey>,
}

impl CertResolver {
    pub fn new(identity: &Identity) -> Self {
        Self {
            current: ArcSwap::new(identity.key.clone()),
        }
    }

    /// From the next handshake on, `identity` is served (connections already up keep
    /// theirs).
    pub fn replace(&self, identity: &Identity) {
        self.current.store(identity.key.clone());
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}
