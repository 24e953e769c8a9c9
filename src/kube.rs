//! Registration check through the Kubernetes API: HTTPS trusting the cluster's CA only, an EKS bearer
//! token, read-only GETs on nodes. Anything that keeps the API from answering becomes
//! [`Registration::Unknown`], never "no node".

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorSettings};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::{AggregatedBytes, ByteStream};
use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde::Deserialize;

use crate::eks_token;
use crate::registration::Registration;

/// A client for one cluster's API server. Cloning it shares its connections.
///
/// Its HTTPS is the AWS clients' own (`aws-smithy-http-client`: hyper, rustls with ring), with a trust
/// store holding the cluster's CA only: no second HTTP stack in the binary.
#[derive(Clone)]
pub struct KubeApi {
    http: Arc<Connector>,
    endpoint: String,
    cluster: String,
    region: String,
    credentials: SharedCredentialsProvider,
}

/// Nodes asked for per page.
const PAGE_SIZE: usize = 500;
/// To open a connection to the API server, and for a whole answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What a refusal most likely means, for the report.
fn refusal_hint(status: u16, path: &str) -> &'static str {
    match status {
        401 => " (the token was rejected)",
        403 if path.starts_with(AWS_AUTH_PATH) => {
            " (this function's role may not get the ConfigMap kube-system/aws-auth)"
        }
        403 => " (this function's role has no access entry or policy that can read nodes)",
        _ => "",
    }
}

#[derive(Debug, Deserialize)]
struct NodeList {
    #[serde(default)]
    items: Vec<Node>,
    #[serde(default)]
    metadata: ListMetadata,
}

#[derive(Debug, Default, Deserialize)]
struct ListMetadata {
    #[serde(rename = "continue")]
    continue_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Node {
    metadata: Metadata,
    #[serde(default)]
    spec: NodeSpec,
    #[serde(default)]
    status: NodeStatus,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    name: String,
    #[serde(rename = "creationTimestamp")]
    creation_timestamp: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct NodeSpec {
    #[serde(rename = "providerID")]
    provider_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct NodeStatus {
    #[serde(default)]
    conditions: Vec<Condition>,
}

#[derive(Debug, Deserialize)]
struct Condition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
}

impl Node {
    fn provider_id_ends_with(&self, instance_id: &str) -> bool {
        let suffix = format!("/{instance_id}");
        self.spec
            .provider_id
            .as_deref()
            .is_some_and(|p| p.ends_with(&suffix))
    }

    fn provider_id_is_unset_or_ends_with(&self, instance_id: &str) -> bool {
        self.spec.provider_id.is_none() || self.provider_id_ends_with(instance_id)
    }

    fn ready(&self) -> bool {
        self.status
            .conditions
            .iter()
            .any(|c| c.kind == "Ready" && c.status == "True")
    }

    fn registration(&self) -> Registration {
        Registration::Registered {
            node_name: self.metadata.name.clone(),
            ready: self.ready(),
            created_at: self
                .metadata
                .creation_timestamp
                .as_deref()
                .and_then(parse_timestamp),
        }
    }
}

/// Kubernetes timestamps are RFC 3339 in UTC.
fn parse_timestamp(text: &str) -> Option<i64> {
    use aws_smithy_types::date_time::{DateTime, Format};
    DateTime::from_str(text, Format::DateTime)
        .ok()
        .map(|t| t.secs())
}

/// Why the API could not be asked or did not answer; becomes [`Registration::Unknown`].
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("{0}")]
    Setup(String),
    #[error("no AWS credentials for the EKS token: {0}")]
    Credentials(String),
    #[error("GET {path}: {message}")]
    Transport { path: String, message: String },
    #[error("GET {path} answered {status}{hint}: {body}")]
    Refused {
        path: String,
        status: u16,
        hint: &'static str,
        body: String,
    },
    #[error("GET {path}: unreadable answer: {message}")]
    Unreadable { path: String, message: String },
}

impl KubeApi {
    /// `ca_pem` is the PEM bundle (EKS returns it base64-encoded: use [`decode_cluster_ca`]).
    pub fn new(
        endpoint: &str,
        ca_pem: &[u8],
        cluster: &str,
        region: &str,
        credentials: SharedCredentialsProvider,
    ) -> Result<KubeApi, KubeError> {
        let setup =
            |what: &str, e: &dyn std::fmt::Display| KubeError::Setup(format!("{what}: {e}"));
        if !endpoint.starts_with("https://") {
            return Err(KubeError::Setup(format!(
                "the cluster endpoint {endpoint} is not https"
            )));
        }
        // Checked here, certificate by certificate, because the connector's own parse of the same bundle
        // panics on what it cannot read.
        let mut roots = rustls::RootCertStore::empty();
        let mut count = 0;
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert.map_err(|e| setup("cluster CA is not valid PEM", &e))?;
            roots
                .add(cert)
                .map_err(|e| setup("cluster CA certificate rejected", &e))?;
            count += 1;
        }
        if count == 0 {
            return Err(KubeError::Setup(
                "cluster CA bundle holds no certificate".to_string(),
            ));
        }
        let trust = TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(ca_pem.to_vec());
        let context = TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .map_err(|e| setup("TLS configuration", &e))?;
        let settings = HttpConnectorSettings::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(REQUEST_TIMEOUT)
            .build();
        // No proxy: the API server is reached directly, as kubectl on the node's network would.
        let http = Connector::builder()
            .connector_settings(settings)
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .tls_context(context)
            .build();
        Ok(KubeApi {
            http: Arc::new(http),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            cluster: cluster.to_string(),
            region: region.to_string(),
            credentials,
        })
    }

    /// The answer to `GET path`, read as `T`; `None` on 404.
    async fn get<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<Option<T>, KubeError> {
        let (status, body) = self.send(path).await?;
        let body = body.into_bytes();
        match status {
            404 => Ok(None),
            200..=299 => {
                let read = serde_json::from_slice::<T>(&body);
                read.map(Some).map_err(|e| KubeError::Unreadable {
                    path: path.to_string(),
                    message: e.to_string(),
                })
            }
            _ => Err(KubeError::Refused {
                path: path.to_string(),
                status,
                hint: refusal_hint(status, path),
                body: String::from_utf8_lossy(&body).chars().take(200).collect(),
            }),
        }
    }

    /// `GET path` with a fresh EKS token: the status and the whole body, within [`REQUEST_TIMEOUT`].
    async fn send(&self, path: &str) -> Result<(u16, AggregatedBytes), KubeError> {
        let creds = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| KubeError::Credentials(e.to_string()))?;
        let token = eks_token::token(&creds, &self.region, &self.cluster, SystemTime::now())
            .map_err(|e| KubeError::Credentials(e.to_string()))?;
        let transport = |e: &dyn std::error::Error| KubeError::Transport {
            path: path.to_string(),
            message: error_chain(e),
        };
        let request = http::Request::get(format!("{}{path}", self.endpoint))
            .header("Authorization", format!("Bearer {token}"))
            .header("Accept", "application/json")
            .body(SdkBody::empty())
            .map_err(|e| transport(&e))
            .and_then(|r| HttpRequest::try_from(r).map_err(|e| transport(&e)))?;
        let answer = async {
            let response = self.http.call(request).await.map_err(|e| transport(&e))?;
            let status = response.status().as_u16();
            let body = ByteStream::new(response.into_body()).collect().await;
            Ok((status, body.map_err(|e| transport(&e))?))
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, answer).await {
            Ok(answer) => answer,
            Err(_) => Err(KubeError::Transport {
                path: path.to_string(),
                message: format!("no answer in {} s", REQUEST_TIMEOUT.as_secs()),
            }),
        }
    }

    /// Looks the instance up: nodes labelled with its group (`eks.amazonaws.com/nodegroup=<ng>`,
    /// `karpenter.sh/nodepool=<pool>`) whose `spec.providerID` ends with `/<instance-id>`, else the node
    /// named after the private DNS name.
    pub async fn registration(
        &self,
        label: Option<(&str, &str)>,
        instance_id: &str,
        private_dns_name: Option<&str>,
    ) -> Registration {
        match self.lookup(label, instance_id, private_dns_name).await {
            Ok(r) => r,
            Err(e) => Registration::Unknown {
                reason: e.to_string(),
            },
        }
    }

    async fn lookup(
        &self,
        label: Option<(&str, &str)>,
        instance_id: &str,
        private_dns_name: Option<&str>,
    ) -> Result<Registration, KubeError> {
        let mut nodegroup_nodes = 0;
        if let Some((key, value)) = label {
            let selector = percent_encode(&format!("{key}={value}"));
            let (found, count) = self.find_in_nodegroup(&selector, instance_id).await?;
            if let Some(node) = found {
                return Ok(node.registration());
            }
            nodegroup_nodes = count;
        }
        if let Some(name) = private_dns_name.filter(|n| !n.is_empty()) {
            let path = format!("/api/v1/nodes/{}", percent_encode(name));
            if let Some(node) = self.get::<Node>(&path).await? {
                if node.provider_id_is_unset_or_ends_with(instance_id) {
                    return Ok(node.registration());
                }
            }
        }
        Ok(Registration::Missing { nodegroup_nodes })
    }

    /// Pages through the nodegroup's nodes (`limit`/`continue`, so a 5,000-node cluster is never one
    /// answer in memory) for the one whose `spec.providerID` ends with `/<instance-id>`; also counts them.
    async fn find_in_nodegroup(
        &self,
        selector: &str,
        instance_id: &str,
    ) -> Result<(Option<Node>, usize), KubeError> {
        let mut count = 0;
        let mut next: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/nodes?labelSelector={selector}&limit={PAGE_SIZE}");
            if let Some(token) = &next {
                path.push_str(&format!("&continue={}", percent_encode(token)));
            }
            // A 404 on a list is not "no nodes": the API is not what we think it is.
            let page: NodeList = self.get(&path).await?.ok_or_else(|| KubeError::Refused {
                path: path.clone(),
                status: 404,
                hint: " (the nodes list does not exist at this endpoint)",
                body: String::new(),
            })?;
            count += page.items.len();
            let found = page
                .items
                .into_iter()
                .find(|n| n.provider_id_ends_with(instance_id));
            if found.is_some() {
                return Ok((found, count));
            }
            next = page.metadata.continue_token.filter(|t| !t.is_empty());
            if next.is_none() {
                return Ok((None, count));
            }
        }
    }
}

/// The part of a ConfigMap read here.
#[derive(Debug, Deserialize)]
struct ConfigMap {
    #[serde(default)]
    data: std::collections::BTreeMap<String, String>,
}

/// Where EKS keeps the IAM-to-Kubernetes mappings of `CONFIG_MAP` authentication.
pub const AWS_AUTH_PATH: &str = "/api/v1/namespaces/kube-system/configmaps/aws-auth";

impl KubeApi {
    /// `data.mapRoles` of `kube-system/aws-auth`: `None` when the ConfigMap or the key does not exist.
    pub async fn aws_auth_map_roles(&self) -> Result<Option<String>, KubeError> {
        let map: Option<ConfigMap> = self.get(AWS_AUTH_PATH).await?;
        Ok(map.and_then(|m| m.data.get("mapRoles").cloned()))
    }
}

/// EKS returns `certificateAuthority.data` as base64 of the PEM bundle.
pub fn decode_cluster_ca(data: &str) -> Result<Vec<u8>, KubeError> {
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| {
            KubeError::Setup(format!(
                "cluster certificateAuthority.data is not base64: {e}"
            ))
        })
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selector_is_percent_encoded() {
        assert_eq!(
            percent_encode("karpenter.sh/nodepool=default"),
            "karpenter.sh%2Fnodepool%3Ddefault"
        );
        assert_eq!(
            percent_encode("eks.amazonaws.com/nodegroup=new_nodegroup_2"),
            "eks.amazonaws.com%2Fnodegroup%3Dnew_nodegroup_2"
        );
    }

    #[test]
    fn node_readiness_comes_from_the_ready_condition() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "ip-10-42-200-17.us-west-2.compute.internal", "creationTimestamp": "2024-10-09T15:02:45Z"},
            "spec": {"providerID": "aws:///us-west-2a/i-1234abcd1234abcd1"},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]}
        }))
        .expect("node");
        assert_eq!(
            node.registration(),
            Registration::Registered {
                node_name: "ip-10-42-200-17.us-west-2.compute.internal".into(),
                ready: true,
                created_at: Some(1_728_486_165),
            }
        );
    }

    #[test]
    fn invalid_ca_bundles_are_refused() {
        let creds = SharedCredentialsProvider::new(aws_credential_types::Credentials::new(
            "a", "b", None, None, "t",
        ));
        assert!(KubeApi::new("https://x", b"not a pem", "c", "us-west-2", creds.clone()).is_err());
        assert!(decode_cluster_ca("%%%").is_err());
    }

    #[test]
    fn a_cluster_endpoint_that_is_not_https_is_refused_before_any_request() {
        let creds = SharedCredentialsProvider::new(aws_credential_types::Credentials::new(
            "a", "b", None, None, "t",
        ));
        let refused = KubeApi::new("http://x", b"", "c", "us-west-2", creds);
        assert!(
            matches!(&refused, Err(KubeError::Setup(m)) if m.contains("not https")),
            "{:?}",
            refused.err()
        );
    }
}
