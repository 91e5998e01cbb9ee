//! Native TLS for the public port (`--tls-cert`, `--tls-key`): rustls with
//! the *ring* provider, TLS 1.2 and 1.3, classical ECDHE key exchange, no
//! client certificates.
//!
//! Most deployments terminate TLS at a load balancer or an ingress (and
//! GM/T 0024 TLCP with SM2 certificates, which rustls does not speak, is
//! always terminated there); this is for a node that faces its clients
//! itself. Handshakes run in tasks of their own, each bounded by
//! [`HANDSHAKE_WAIT`], so a client that connects and says nothing holds up
//! no other; a handshake that fails is logged at debug and forgotten.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish its handshake.
pub const HANDSHAKE_WAIT: Duration = Duration::from_secs(10);

/// Why the certificate or key cannot be used. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file cannot be read or holds no PEM certificate.
    #[error("无法读取 TLS 证书 (cannot read the TLS certificate) {path}: {reason}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key file cannot be read or holds no PEM private key.
    #[error("无法读取 TLS 私钥 (cannot read the TLS private key) {path}: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the pair (the key does not match the certificate, or
    /// is of a kind it does not support).
    #[error("TLS 证书与私钥不可用 (the TLS certificate and key cannot be used together): {0}")]
    Refused(String),
}

/// The rustls server configuration of the certificate chain in `cert`
/// (PEM, leaf first) and the private key in `key` (PEM: PKCS#8, PKCS#1 or
/// SEC1), offering HTTP/1.1 by ALPN.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certificate_error = |reason: String| TlsError::Certificate {
        path: cert.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| certificate_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| certificate_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(certificate_error(
            "没有 PEM 证书 (no PEM certificate in the file)".to_owned(),
        ));
    }
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_owned(),
        reason: e.to_string(),
    })?;
    // rustls 0.23.48 deprecates *ring*'s provider because it lacks the
    // post-quantum hybrid key exchange (X25519MLKEM768) that aws-lc-rs
    // has. Chosen knowingly: aws-lc-rs is a C build of minutes on two
    // cores (cmake on many machines) for an option most deployments leave
    // to their gateway, which is also where SM (TLCP) and post-quantum key
    // exchange belong today. Classical ECDHE (X25519, P-256, P-384) only.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Refused(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| TlsError::Refused(e.to_string()))?;
    // The server speaks HTTP/1.1 (axum's http1 feature only).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener whose connections have finished their TLS handshake: what
/// `axum::serve` accepts from instead of a plain `TcpListener`.
#[derive(Debug)]
pub struct TlsListener {
    address: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Accepts on `listener` and shakes hands with `config`, from a task of
    /// its own that stops when this listener is dropped.
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let address = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        // A few handshaken connections may wait for the server to take
        // them; more waiting means the server is not accepting at all.
        let (ready_tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = tokio::select! {
                    () = ready_tx.closed() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(e) => {
                            // Out of descriptors and the like: as axum's own
                            // listener does, wait a little and go on.
                            tracing::warn!(error = %e, "cannot accept a connection");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let (acceptor, ready_tx) = (acceptor.clone(), ready_tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_WAIT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            // The server stopped taking connections: drop it.
                            let _ = ready_tx.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { address, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accepting task only ends once this listener is dropped,
            // so this is never reached while it is asked to accept.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.address)
    }
}
