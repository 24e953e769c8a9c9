//! A minimal HTTPS client for the `sandbox` CLI: `GET` a path of the fake API, trusting only its CA, with
//! an unsigned token of the accepted shape.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::token::unsigned_token;
use crate::util::Context;
use crate::Error;

/// `GET <endpoint><path>` over HTTPS trusting only the CA in `ca_file`, with an [`unsigned_token`].
/// Returns the status and the JSON body.
pub async fn get_json(
    endpoint: &str,
    ca_file: &Path,
    region: &str,
    path: &str,
) -> Result<(u16, Value), Error> {
    let authority = endpoint
        .strip_prefix("https://")
        .ok_or_else(|| format!("endpoint {endpoint} is not https://host:port"))?
        .trim_end_matches('/');
    let host = authority
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(authority);
    let address = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:443")
    };
    let server_name =
        ServerName::try_from(host.to_owned()).map_err(|e| format!("server name {host}: {e}"))?;
    let tcp = tokio::net::TcpStream::connect(&address)
        .await
        .context(format!("connect {address}"))?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(client_config(ca_file)?))
        .connect(server_name, tcp)
        .await
        .context(format!("TLS handshake with {endpoint}"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        unsigned_token(region, SystemTime::now())
    );
    tls.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    let read = tls.read_to_end(&mut raw).await;
    parse_answer(
        &String::from_utf8_lossy(&raw),
        &format!("GET {endpoint}{path}"),
        read,
    )
}

/// A TLS client configuration trusting only the CA certificates in `ca_file`.
fn client_config(ca_file: &Path) -> Result<rustls::ClientConfig, Error> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| format!("read CA {}: {e}", ca_file.display()))?
    {
        let cert = cert.map_err(|e| format!("parse CA {}: {e}", ca_file.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("CA {}: {e}", ca_file.display()))?;
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS client configuration")?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

/// Status and JSON body of a raw HTTP/1.1 answer.
fn parse_answer(
    text: &str,
    what: &str,
    read: std::io::Result<usize>,
) -> Result<(u16, Value), Error> {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{what}: incomplete answer ({read:?})"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("{what}: not an HTTP answer"))?;
    let value = serde_json::from_str(body)
        .map_err(|e| format!("{what}: body is not JSON ({e}): {body}"))?;
    Ok((status, value))
}
