//! TLS of the bench's AWS proxy: a throwaway CA and a certificate it signs for `127.0.0.1`, and the trust
//! bundle the function gets through `SSL_CERT_FILE` (read by `rustls-native-certs`, which the SDK's HTTPS
//! client loads its roots from): the machine's whole root store plus the CA, so loading it costs what
//! loading the system store costs on Lambda.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::util::Context;
use crate::Error;

/// Where Linux distributions keep the root store (Amazon Linux 2023, Lambda's `provided.al2023`, first).
const SYSTEM_STORES: [&str; 2] = [
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/certs/ca-certificates.crt",
];

pub struct ProxyTls {
    pub ca_pem: String,
    pub server_config: Arc<rustls::ServerConfig>,
}

impl ProxyTls {
    pub fn generate() -> Result<ProxyTls, Error> {
        let ca_key = KeyPair::generate().context("generate CA key")?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).context("CA params")?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name = named("sandbox bench AWS proxy CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).context("self-sign CA")?;
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().context("generate server key")?;
        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .context("server params")?;
        server.distinguished_name = named("aws proxy");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = server
            .signed_by(&key, &issuer)
            .context("sign server certificate")?;
        let config = server_config(
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )?;
        Ok(ProxyTls {
            ca_pem: ca_cert.pem(),
            server_config: Arc::new(config),
        })
    }

    /// Writes `<dir>/trust.pem`: the system root store (if the machine has one) followed by the CA.
    /// Returns its path and how many system roots it holds.
    pub fn write_trust_bundle(&self, dir: &Path) -> Result<(PathBuf, usize), Error> {
        let system = SYSTEM_STORES
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        let roots = system.matches("-----BEGIN CERTIFICATE-----").count();
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let path = dir.join("trust.pem");
        let bundle = format!("{}\n{}", system.trim_end(), self.ca_pem);
        std::fs::write(&path, bundle).with_context(|| format!("write {}", path.display()))?;
        Ok((path, roots))
    }
}

fn named(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

fn server_config(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .context("TLS server certificate")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
