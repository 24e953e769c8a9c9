//! Registration check through the Kubernetes API (DESIGN.md section 4): HTTPS with the cluster's CA only,
//! an EKS bearer token, two read-only GETs on nodes.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde::Deserialize;

use crate::eks_token;
use crate::outcome::Registration;

pub const NODEGROUP_LABEL: &str = "eks.amazonaws.com/nodegroup";

/// A client for one cluster's API server.
pub struct KubeApi {
    http: reqwest::Client,
    endpoint: String,
    cluster: String,
    region: String,
    credentials: SharedCredentialsProvider,
}

#[derive(Debug, Deserialize)]
struct NodeList {
    #[serde(default)]
    items: Vec<Node>,
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
                .and_then(crate::time::parse_rfc3339),
        }
    }
}

/// Why the API could not answer; becomes [`Registration::Unknown`].
#[derive(Debug)]
struct Unreachable(String);

impl KubeApi {
    /// `ca_pem` is the PEM bundle (EKS returns it base64-encoded: use [`decode_cluster_ca`]).
    pub fn new(
        endpoint: &str,
        ca_pem: &[u8],
        cluster: &str,
        region: &str,
        credentials: SharedCredentialsProvider,
    ) -> Result<KubeApi, String> {
        let mut roots = rustls::RootCertStore::empty();
        let mut count = 0;
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert.map_err(|e| format!("cluster CA is not valid PEM: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("cluster CA certificate rejected: {e}"))?;
            count += 1;
        }
        if count == 0 {
            return Err("cluster CA bundle holds no certificate".to_string());
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(KubeApi {
            http,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            cluster: cluster.to_string(),
            region: region.to_string(),
            credentials,
        })
    }

    async fn get<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
    ) -> Result<Option<T>, Unreachable> {
        let creds = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| Unreachable(format!("no AWS credentials for the EKS token: {e}")))?;
        let token = eks_token::token(&creds, &self.region, &self.cluster, SystemTime::now())
            .map_err(|e| Unreachable(e.to_string()))?;
        let url = format!("{}{path}", self.endpoint);
        let response = self
            .http
            .get(&url)
            .bearer_auth(token)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| Unreachable(format!("GET {path}: {}", error_chain(&e))))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let hint = match status.as_u16() {
                401 => " (the token was rejected)",
                403 => " (this function's role has no access entry or policy that can read nodes)",
                _ => "",
            };
            return Err(Unreachable(format!(
                "GET {path} answered {status}{hint}: {}",
                body.chars().take(200).collect::<String>()
            )));
        }
        response
            .json::<T>()
            .await
            .map(Some)
            .map_err(|e| Unreachable(format!("GET {path}: unreadable answer: {e}")))
    }

    /// Looks the instance up: nodes labelled with the nodegroup whose `spec.providerID` ends with
    /// `/<instance-id>`, else the node named after the private DNS name.
    pub async fn registration(
        &self,
        nodegroup: Option<&str>,
        instance_id: &str,
        private_dns_name: Option<&str>,
    ) -> Registration {
        match self.lookup(nodegroup, instance_id, private_dns_name).await {
            Ok(r) => r,
            Err(Unreachable(reason)) => Registration::Unknown { reason },
        }
    }

    async fn lookup(
        &self,
        nodegroup: Option<&str>,
        instance_id: &str,
        private_dns_name: Option<&str>,
    ) -> Result<Registration, Unreachable> {
        let suffix = format!("/{instance_id}");
        let mut nodegroup_nodes = 0;
        if let Some(ng) = nodegroup {
            let selector = percent_encode(&format!("{NODEGROUP_LABEL}={ng}"));
            let list: NodeList = self
                .get(&format!("/api/v1/nodes?labelSelector={selector}"))
                .await?
                .unwrap_or(NodeList { items: vec![] });
            if let Some(node) = list.items.iter().find(|n| {
                n.spec
                    .provider_id
                    .as_deref()
                    .is_some_and(|p| p.ends_with(&suffix))
            }) {
                return Ok(node.registration());
            }
            nodegroup_nodes = list.items.len();
        }
        if let Some(name) = private_dns_name.filter(|n| !n.is_empty()) {
            if let Some(node) = self
                .get::<Node>(&format!("/api/v1/nodes/{}", percent_encode(name)))
                .await?
            {
                let matches = node
                    .spec
                    .provider_id
                    .as_deref()
                    .is_none_or(|p| p.ends_with(&suffix));
                if matches {
                    return Ok(node.registration());
                }
            }
        }
        Ok(Registration::Missing { nodegroup_nodes })
    }
}

/// EKS returns `certificateAuthority.data` as base64 of the PEM bundle.
pub fn decode_cluster_ca(data: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| format!("cluster certificateAuthority.data is not base64: {e}"))
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
}
