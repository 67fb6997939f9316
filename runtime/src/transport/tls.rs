//! TLS through rustls (feature `tls`): [`ServerTls`] for servers (with optional client
//! certificates, and certificates replaceable while serving), [`ClientTls`] for channels, and
//! the [`Identity`] both present.
//!
//! gRPC requires HTTP/2 over TLS to negotiate ALPN `h2`; both sides offer only that. The ring
//! provider does the cryptography.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, RootCertStore};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::{Io, PeerIdentity};

/// The ALPN protocol gRPC runs on.
const H2: &[u8] = b"h2";

/// Why a certificate, key or TLS setting was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError {
    message: String,
}

impl TlsError {
    fn new(message: impl Into<String>) -> TlsError {
        TlsError {
            message: message.into(),
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TlsError {}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain and its private key: what a server (or a client, for mutual TLS)
/// presents.
///
/// The key may be PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC1
/// (`BEGIN EC PRIVATE KEY`); RSA, ECDSA and Ed25519 keys work.
///
/// ```no_run
/// let identity = protoless::Identity::from_pem_files("server.crt", "server.key")?;
/// # Ok::<(), protoless::TlsError>(())
/// ```
#[derive(Clone)]
pub struct Identity {
    key: Arc<CertifiedKey>,
    /// The key itself too: a client configuration takes it rather than its signing form.
    private_key: Arc<PrivateKeyDer<'static>>,
}

impl Identity {
    /// An identity from PEM text: the certificate chain (leaf first) and the private key.
    pub fn from_pem(chain: impl AsRef<[u8]>, key: impl AsRef<[u8]>) -> Result<Identity, TlsError> {
        let chain = certificates(chain.as_ref(), "the certificate chain")?;
        let key = PrivateKeyDer::from_pem_slice(key.as_ref()).map_err(|error| {
            TlsError::new(format!(
                "no usable private key in the key PEM ({error}): expected a PKCS#8, PKCS#1 or \
                 SEC1 key"
            ))
        })?;
        let signing_key = provider()
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|error| TlsError::new(format!("the private key cannot sign: {error}")))?;
        let private_key = key;
        let key = CertifiedKey::new(chain, signing_key);
        key.keys_match().map_err(|error| {
            TlsError::new(format!(
                "the private key does not belong to the certificate: {error}"
            ))
        })?;
        Ok(Identity {
            key: Arc::new(key),
            private_key: Arc::new(private_key),
        })
    }

    /// An identity from PEM files: the certificate chain and the private key.
    pub fn from_pem_files(
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Identity, TlsError> {
        Identity::from_pem(read(chain.as_ref())?, read(key.as_ref())?)
    }

    fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.key.cert.clone()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("certificates", &self.key.cert.len())
            .finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::new(format!("{}: {error}", path.display())))
}

/// Every certificate in `pem`; an error naming `what` when there is none.
fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|error| TlsError::new(format!("{what} is not valid PEM: {error}")))?;
    if certificates.is_empty() {
        return Err(TlsError::new(format!(
            "{what} holds no certificate: expected PEM blocks \"-----BEGIN CERTIFICATE-----\""
        )));
    }
    Ok(certificates)
}

fn root_store(pem: &[u8], what: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for certificate in certificates(pem, what)? {
        roots
            .add(certificate)
            .map_err(|error| TlsError::new(format!("{what}: {error}")))?;
    }
    Ok(roots)
}

/// A server's TLS: its identity, replaceable while serving, and optionally the authority whose
/// client certificates it requires (mutual TLS).
///
/// Clones share the identity: keep one to [`reload`](Self::reload) certificates without a
/// restart; connections made after the reload present the new ones.
///
/// ```no_run
/// use protoless::{Identity, Server, ServerTls};
///
/// let tls = ServerTls::new(Identity::from_pem_files("server.crt", "server.key")?)
///     .require_client_certificates(&std::fs::read("clients-ca.crt")?)?;
/// let server = Server::builder().tls(tls.clone());
/// // Later, when the certificate was renewed:
/// tls.reload(Identity::from_pem_files("server.crt", "server.key")?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ServerTls {
    identity: Arc<Reloadable>,
    acceptor: TlsAcceptor,
}

/// The identity a server presents now.
#[derive(Debug)]
struct Reloadable(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Reloadable {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let key = self
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(key.clone())
    }
}

impl ServerTls {
    /// TLS presenting `identity`, asking clients for no certificate.
    pub fn new(identity: Identity) -> ServerTls {
        let identity = Arc::new(Reloadable(RwLock::new(identity.key)));
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_cert_resolver(identity.clone());
        ServerTls::with_config(identity, config)
    }

    /// Requires every client to present a certificate issued by one of the authorities in
    /// `ca_pem`; connections without one fail their handshake. Handlers find the verified
    /// identity in [`Context::peer_identity`](crate::Context::peer_identity).
    pub fn require_client_certificates(self, ca_pem: &[u8]) -> Result<ServerTls, TlsError> {
        let roots = root_store(ca_pem, "the client CA")?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|error| TlsError::new(format!("the client CA cannot verify: {error}")))?;
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(self.identity.clone());
        Ok(ServerTls::with_config(self.identity, config))
    }

    fn with_config(identity: Arc<Reloadable>, mut config: rustls::ServerConfig) -> ServerTls {
        config.alpn_protocols = vec![H2.to_vec()];
        ServerTls {
            identity,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }
    }

    /// The same TLS, offering HTTP/1.1 beside HTTP/2 in ALPN, for a server that speaks the web
    /// protocols too; the identity stays shared, so reloading it reloads both.
    pub(crate) fn offering_http1(&self) -> ServerTls {
        let mut config = (**self.acceptor.config()).clone();
        config.alpn_protocols = vec![H2.to_vec(), b"http/1.1".to_vec()];
        ServerTls {
            identity: self.identity.clone(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }
    }

    /// Presents `identity` from now on, on new connections.
    pub fn reload(&self, identity: Identity) {
        let mut current = self
            .identity
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *current = identity.key;
    }

    /// Runs the handshake on `io`; the client's verified identity comes with the stream.
    pub(crate) async fn accept<IO: Io>(
        &self,
        io: IO,
    ) -> io::Result<(tokio_rustls::server::TlsStream<IO>, Option<PeerIdentity>)> {
        let stream = self.acceptor.accept(io).await?;
        let identity = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| peer_identity(leaf));
        Ok((stream, identity))
    }
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

/// The names in a verified certificate. It was parsed once already by the verifier, so a parse
/// failure here leaves the names empty rather than failing the connection.
fn peer_identity(leaf: &CertificateDer<'_>) -> PeerIdentity {
    use x509_parser::extensions::GeneralName;
    let mut names = Vec::new();
    if let Ok((_, certificate)) = x509_parser::parse_x509_certificate(leaf) {
        if let Ok(Some(extension)) = certificate.subject_alternative_name() {
            for name in &extension.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => names.push((*dns).to_owned()),
                    GeneralName::URI(uri) => names.push((*uri).to_owned()),
                    GeneralName::RFC822Name(mail) => names.push((*mail).to_owned()),
                    GeneralName::IPAddress(bytes) => {
                        if let Some(ip) = ip_address(bytes) {
                            names.push(ip.to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    PeerIdentity {
        subject_alt_names: names,
        certificate: leaf.to_vec(),
    }
}

fn ip_address(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}

/// A channel's TLS: whom it trusts, what it presents, and the name it expects.
///
/// It trusts Mozilla's root authorities (compiled in through `webpki-roots`, so that it works
/// the same in a container without a system trust store), plus any authority added with
/// [`add_ca_certificate`](Self::add_ca_certificate).
///
/// ```no_run
/// use protoless::{Channel, ClientTls, Identity};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let tls = ClientTls::new()
///     .add_ca_certificate(&std::fs::read("ca.crt")?)?
///     .identity(Identity::from_pem_files("client.crt", "client.key")?);
/// let channel = Channel::builder("https://greeter.internal:50051").tls(tls).connect().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientTls {
    roots: RootCertStore,
    identity: Option<Identity>,
    server_name: Option<String>,
}

impl Default for ClientTls {
    fn default() -> Self {
        ClientTls::new()
    }
}

impl ClientTls {
    /// TLS trusting Mozilla's root authorities, presenting no client certificate.
    pub fn new() -> ClientTls {
        ClientTls {
            roots: RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            identity: None,
            server_name: None,
        }
    }

    /// Also trusts the authorities in `ca_pem` (a private CA, say).
    pub fn add_ca_certificate(mut self, ca_pem: &[u8]) -> Result<ClientTls, TlsError> {
        let roots = root_store(ca_pem, "the CA certificate")?;
        self.roots.roots.extend(roots.roots);
        Ok(self)
    }

    /// Presents `identity` to servers that ask for a client certificate (mutual TLS).
    pub fn identity(mut self, identity: Identity) -> ClientTls {
        self.identity = Some(identity);
        self
    }

    /// Sends `name` as SNI and expects the server's certificate to be valid for it, instead of
    /// the target's host: for connecting by IP address to a server named otherwise.
    pub fn server_name(mut self, name: impl Into<String>) -> ClientTls {
        self.server_name = Some(name.into());
        self
    }

    /// A connector offering HTTP/2 in ALPN, or (`http1`) HTTP/1.1, for the web protocols.
    pub(crate) fn connector(&self, http1: bool) -> Result<TlsConnector, TlsError> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(self.roots.clone());
        let mut config = match &self.identity {
            Some(identity) => builder
                .with_client_auth_cert(identity.chain(), identity.private_key.clone_key())
                .map_err(|error| TlsError::new(format!("the client identity: {error}")))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = if http1 {
            vec![b"http/1.1".to_vec()]
        } else {
            vec![H2.to_vec()]
        };
        Ok(TlsConnector::from(Arc::new(config)))
    }

    /// The name to verify: the configured one, else the target's host.
    pub(crate) fn name_for(&self, host: &str) -> Result<ServerName<'static>, TlsError> {
        let name = self.server_name.as_deref().unwrap_or(host);
        // An IPv6 host comes in brackets from the URI.
        let name = name.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(name.to_owned())
            .map_err(|error| TlsError::new(format!("{name:?} is not a TLS server name: {error}")))
    }
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("roots", &self.roots.len())
            .field("identity", &self.identity)
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// A TLS handshake failure in words a user can act on.
pub(crate) fn describe(error: &io::Error) -> String {
    let Some(tls) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return error.to_string();
    };
    match tls {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the peer's certificate was issued by an authority not trusted here (unknown issuer)"
                .to_owned()
        }
        rustls::Error::InvalidCertificate(CertificateError::NotValidForName)
        | rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => {
            "the peer's certificate is not valid for the name asked for (name mismatch)".to_owned()
        }
        rustls::Error::InvalidCertificate(CertificateError::Expired)
        | rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { .. }) => {
            "the peer's certificate has expired".to_owned()
        }
        other => other.to_string(),
    }
}
