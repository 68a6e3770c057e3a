//! HTTPS to the upstream (the `record-tls` feature): rustls with the ring provider,
//! trusting Mozilla's root certificates (compiled in, so the machine's store is never
//! read) and any certificate the server was told to trust, such as a test's own.

use std::io;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// The client configuration: the web's roots, and `trusted` (DER certificates).
pub(super) fn client_config(trusted: Vec<Vec<u8>>) -> io::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for certificate in trusted {
        roots
            .add(CertificateDer::from(certificate))
            .map_err(|error| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("a certificate to trust is not a DER X.509 certificate: {error}"),
                )
            })?;
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// `stream` wrapped in TLS to `host`, its certificate checked.
pub(super) async fn connect(
    config: &Arc<ClientConfig>,
    host: &str,
    stream: TcpStream,
) -> Result<TlsStream<TcpStream>, String> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|error| format!("{host} is not a name TLS can check: {error}"))?;
    TlsConnector::from(Arc::clone(config))
        .connect(name, stream)
        .await
        .map_err(|error| format!("no TLS connection to {host}: {error}"))
}
