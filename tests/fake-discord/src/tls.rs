//! A throw-away certificate authority for the voice gateway's `wss://`.
//!
//! songbird hard-codes `wss://{endpoint}/?v=4` and has no TLS hook, so the bot must trust the fake's certificate
//! through its root store: the bot enables tokio-tungstenite's `rustls-tls-native-roots`, and the fake hands it
//! `SSL_CERT_FILE=<ca.pem>` (rustls-native-certs then loads only that file). The leaf is valid for `localhost` and
//! `127.0.0.1`. Crypto is ring, explicitly: one provider in every build (see the crate docs).

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result};

/// The CA file on disk (in a temporary directory that lives as long as this value) and the server side.
pub(crate) struct TestTls {
    _dir: tempfile::TempDir,
    pub ca_path: PathBuf,
    pub ca_pem: String,
    pub acceptor: TlsAcceptor,
}

fn setup(what: &str) -> impl FnOnce(rcgen::Error) -> Error + '_ {
    move |e| Error::Setup(format!("{what}: {e}"))
}

pub(crate) fn make() -> Result<TestTls> {
    let ca_key = KeyPair::generate().map_err(setup("CA key"))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(setup("CA params"))?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "fake-discord test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(setup("CA certificate"))?;

    let leaf_key = KeyPair::generate().map_err(setup("leaf key"))?;
    let mut leaf_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(setup("leaf params"))?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca)
        .map_err(setup("leaf certificate"))?;

    let dir = tempfile::tempdir()
        .map_err(|e| Error::Setup(format!("temporary directory for the CA: {e}")))?;
    let ca_path = dir.path().join("fake-discord-ca.pem");
    let ca_pem = ca.pem();
    std::fs::write(&ca_path, &ca_pem)
        .map_err(|e| Error::Setup(format!("writing {}: {e}", ca_path.display())))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), ca.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Setup(format!("TLS versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| Error::Setup(format!("TLS server certificate: {e}")))?;
    Ok(TestTls {
        _dir: dir,
        ca_path,
        ca_pem,
        acceptor: TlsAcceptor::from(Arc::new(config)),
    })
}
