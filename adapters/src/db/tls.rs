//! TLS to PostgreSQL, with rustls: `DATABASE_URL`'s `sslmode` as libpq
//! reads it — `disable`, `prefer` (the default), `require`, `verify-ca`,
//! `verify-full` — and a CA bundle from its `sslrootcert` or the
//! `PGSSLROOTCERT` variable (RDS's bundle is not in any default trust
//! store), else the system's roots.
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` | when the server offers it, else plain | not checked (libpq's `prefer`) |
//! | `require` | always | not checked; checked against the CA when `sslrootcert` is given (as libpq does) |
//! | `verify-ca` | always | signed by the CA |
//! | `verify-full` | always | signed by the CA, and for the host connected to |

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode as WireSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// `sslmode`, as libpq spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS when offered, unverified.
    Prefer,
    /// TLS, unverified unless a CA is given.
    Require,
    /// TLS, the chain verified.
    VerifyCa,
    /// TLS, the chain and the host name verified.
    VerifyFull,
}

impl SslMode {
    fn parse(raw: &str) -> Result<Self, String> {
        Ok(match raw {
            "disable" => Self::Disable,
            "prefer" | "allow" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(format!(
                    "DATABASE_URL: sslmode={other} (expected disable, prefer, require, verify-ca or verify-full)"
                ))
            }
        })
    }
}

/// A parsed `DATABASE_URL`: the connection settings and how to secure them.
pub struct Connection {
    /// The settings tokio-postgres reads (its `sslmode` set to what
    /// [`SslMode`] needs on the wire).
    pub config: tokio_postgres::Config,
    /// The TLS connector every connection of the pool uses.
    pub tls: MakeRustlsConnect,
    /// The mode asked for.
    pub ssl_mode: SslMode,
}

/// Parses `url`, taking `sslmode` and `sslrootcert` out of its query
/// (tokio-postgres knows neither `verify-*` nor `sslrootcert`).
///
/// # Errors
/// Why a URL, mode or CA file does not parse, in words (the caller's
/// `DbError::Setup`).
pub fn connection(url: &str) -> Result<Connection, String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut ssl_mode = SslMode::Prefer;
    let mut root_cert = std::env::var_os("PGSSLROOTCERT").map(PathBuf::from);
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", mode)) => ssl_mode = SslMode::parse(mode)?,
            Some(("sslrootcert", path)) => {
                let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
                root_cert = Some(PathBuf::from(decoded.as_ref()));
            }
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let mut config: tokio_postgres::Config =
        rest.parse().map_err(|e| format!("DATABASE_URL: {e}"))?;
    config.ssl_mode(match ssl_mode {
        SslMode::Disable => WireSslMode::Disable,
        SslMode::Prefer => WireSslMode::Prefer,
        _ => WireSslMode::Require,
    });
    let roots = match &root_cert {
        Some(path) => Some(read_roots(path)?),
        None => None,
    };
    let verify = match ssl_mode {
        SslMode::Disable | SslMode::Prefer => Verify::Nothing,
        SslMode::Require if roots.is_none() => Verify::Nothing,
        SslMode::Require | SslMode::VerifyCa => Verify::Chain,
        SslMode::VerifyFull => Verify::ChainAndHost,
    };
    let roots = match roots {
        Some(roots) => roots,
        None if verify == Verify::Nothing => RootCertStore::empty(),
        None => system_roots(),
    };
    Ok(Connection {
        config,
        tls: MakeRustlsConnect::new(client_config(roots, verify)?),
        ssl_mode,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    Nothing,
    Chain,
    ChainAndHost,
}

fn read_roots(path: &std::path::Path) -> Result<RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    let setup = |e: &dyn std::fmt::Display| format!("sslrootcert {}: {e}", path.display());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| setup(&e))? {
        roots
            .add(cert.map_err(|e| setup(&e))?)
            .map_err(|e| setup(&e))?;
    }
    if roots.is_empty() {
        return Err(setup(&"no certificate in the file"));
    }
    Ok(roots)
}

fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    roots
}

fn client_config(roots: RootCertStore, verify: Verify) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let config = match verify {
        Verify::ChainAndHost => builder.with_root_certificates(roots).with_no_client_auth(),
        Verify::Chain | Verify::Nothing => {
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .ok();
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(LibpqVerifier {
                    chain: if verify == Verify::Chain {
                        webpki
                    } else {
                        None
                    },
                    provider,
                }))
                .with_no_client_auth()
        }
    };
    Ok(config)
}

/// libpq's weaker checks: `verify-ca` (the chain, not the name) and
/// `require`/`prefer` without a CA (nothing: encryption against passive
/// eavesdropping only). Handshake signatures are always verified.
#[derive(Debug)]
struct LibpqVerifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for LibpqVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Ok(verified) => Ok(verified),
            // verify-ca: a certificate for another name is still accepted.
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            Err(e) => Err(e),
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_of_the_url() {
        let c = connection(
            "postgres://u@db.example:5432/avatars?sslmode=verify-full&application_name=x",
        )
        .unwrap();
        assert_eq!(c.ssl_mode, SslMode::VerifyFull);
        assert_eq!(c.config.get_ssl_mode(), WireSslMode::Require);
        assert_eq!(c.config.get_application_name(), Some("x"));
        let c = connection("postgres://u@db/avatars").unwrap();
        assert_eq!(c.ssl_mode, SslMode::Prefer);
        let c = connection("postgres://u@db/avatars?sslmode=disable").unwrap();
        assert_eq!(c.config.get_ssl_mode(), WireSslMode::Disable);
        assert!(connection("postgres://u@db/avatars?sslmode=sometimes").is_err());
        let missing =
            connection("postgres://u@db/avatars?sslmode=verify-ca&sslrootcert=/no/such.pem");
        assert!(matches!(missing, Err(m) if m.contains("/no/such.pem")));
    }
}
