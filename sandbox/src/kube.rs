//! A fake of the two Kubernetes endpoints the Lambda calls, served over real HTTPS, with a kubelet simulator.
//!
//! * TLS: a CA generated with rcgen signs a server certificate for `127.0.0.1` and `localhost`; the CA PEM
//!   is written to `ca_file` so the Lambda's production client (`KUBE_CA_FILE`) trusts it.
//! * Authentication like EKS: `Authorization: Bearer k8s-aws-v1.<base64url(presigned STS GetCallerIdentity URL)>`.
//!   The URL's shape and freshness are checked ([`validate_token`]); its signature is not (there is no STS
//!   to ask), so the fake proves the Lambda sends a well-formed, fresh token, not a correctly signed one.
//! * Kubelet simulator: on every authenticated request (and in [`FakeKube::nodes`]) the instances of the
//!   cluster are listed and a node is registered for each `running` one whose subnet really has egress:
//!   its route table (explicit, else the VPC main table) has `0.0.0.0/0` → an `available` NAT gateway whose
//!   own subnet routes `0.0.0.0/0` to an attached internet gateway, or → an attached internet gateway while
//!   the instance has a public IP. Nodes of instances no longer running are removed. Registered nodes live
//!   in memory; a node's creation time is its first registration.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::util::{random_u64, rfc3339, Context};
use crate::Error;

pub use crate::util::kubectl_age;

/// Label carrying the managed nodegroup's name.
pub const NODEGROUP_LABEL: &str = "eks.amazonaws.com/nodegroup";
/// Kubelet version the simulated nodes report (the seed's).
pub const KUBELET_VERSION: &str = "v1.30.0-eks-036c24b";
/// Oldest `X-Amz-Date` accepted, as EKS does.
const TOKEN_MAX_AGE: Duration = Duration::from_secs(15 * 60);
/// Largest `X-Amz-Expires` accepted.
const TOKEN_MAX_EXPIRES: u64 = 900;

/// A node as the fake API serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// The instance's private DNS name.
    pub name: String,
    /// `aws:///<az>/<instance-id>`
    pub provider_id: String,
    /// Value of the `eks.amazonaws.com/nodegroup` label.
    pub nodegroup: Option<String>,
    /// Condition `Ready` is `True`.
    pub ready: bool,
    /// Seconds since the node registered.
    pub age_seconds: u64,
}

/// The running fake Kubernetes API.
#[derive(Debug)]
pub struct FakeKube {
    /// `https://127.0.0.1:<port>`
    pub endpoint: String,
    /// PEM of the CA that signed the server certificate.
    pub ca_pem: String,
    /// File holding `ca_pem`.
    pub ca_file: PathBuf,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
    temp_dir: Option<PathBuf>,
}

#[derive(Debug)]
struct Registered {
    name: String,
    instance_id: String,
    private_ip: String,
    az: String,
    instance_type: String,
    nodegroup: Option<String>,
    created: SystemTime,
}

#[derive(Debug)]
struct Shared {
    ec2: aws_sdk_ec2::Client,
    cluster: String,
    region: String,
    nodes: Mutex<BTreeMap<String, Registered>>,
    refuse: AtomicU16,
    requests: AtomicUsize,
    verbose: AtomicBool,
}

impl FakeKube {
    /// Starts on `127.0.0.1:<free port>` with the CA written into a new temporary directory
    /// (removed when the `FakeKube` is dropped).
    pub async fn start(sdk: SdkConfig, cluster: &str) -> Result<FakeKube, Error> {
        let dir = std::env::temp_dir().join(format!(
            "sandbox-kube-{}-{:016x}",
            std::process::id(),
            random_u64()
        ));
        std::fs::create_dir_all(&dir).context(format!("create {}", dir.display()))?;
        let mut kube = FakeKube::start_on(sdk, cluster, 0, dir.join("ca.pem")).await?;
        kube.temp_dir = Some(dir);
        Ok(kube)
    }

    /// Starts on `127.0.0.1:port` (0: any free port) and writes the CA PEM to `ca_file`.
    pub async fn start_on(
        sdk: SdkConfig,
        cluster: &str,
        port: u16,
        ca_file: PathBuf,
    ) -> Result<FakeKube, Error> {
        let tls = TlsMaterial::generate()?;
        if let Some(parent) = ca_file.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).context(format!("create {}", parent.display()))?;
        }
        std::fs::write(&ca_file, &tls.ca_pem).context(format!("write {}", ca_file.display()))?;

        let listener =
            tokio::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
                .await
                .context(format!("bind 127.0.0.1:{port}"))?;
        let port = listener.local_addr()?.port();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls.server_config()?));
        let shared = Arc::new(Shared {
            ec2: aws_sdk_ec2::Client::new(&sdk),
            cluster: cluster.to_owned(),
            region: sdk
                .region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| crate::moto::REGION.to_owned()),
            nodes: Mutex::new(BTreeMap::new()),
            refuse: AtomicU16::new(0),
            requests: AtomicUsize::new(0),
            verbose: AtomicBool::new(false),
        });
        let task = tokio::spawn(serve(listener, acceptor, shared.clone()));
        Ok(FakeKube {
            endpoint: format!("https://127.0.0.1:{port}"),
            ca_pem: tls.ca_pem,
            ca_file,
            shared,
            task,
            temp_dir: None,
        })
    }

    /// Reconciles (kubelet simulator), then lists every registered node.
    pub async fn nodes(&self) -> Result<Vec<NodeView>, Error> {
        self.shared.reconcile().await?;
        let nodes = self.shared.nodes.lock().await;
        let now = SystemTime::now();
        Ok(nodes.values().map(|n| n.view(now)).collect())
    }

    /// `Some(status)`: every authenticated API request is answered with `status` and a Status body.
    /// `None`: normal service.
    pub fn refuse_with(&self, status: Option<u16>) {
        self.shared
            .refuse
            .store(status.unwrap_or(0), Ordering::SeqCst);
    }

    /// Authenticated API requests served so far (refused ones included; 401s are not counted).
    pub fn requests_seen(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Log one line per request on stderr (used by `sandbox fake-kube`).
    pub fn set_verbose(&self, on: bool) {
        self.shared.verbose.store(on, Ordering::SeqCst);
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(dir) = &self.temp_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

async fn serve(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
) {
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(shared.handle(req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

impl Shared {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or_default().to_owned();
        let authorization = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let response = self
            .respond(&method, &path, &query, authorization.as_deref())
            .await;
        if self.verbose.load(Ordering::SeqCst) {
            let q = if query.is_empty() {
                String::new()
            } else {
                format!("?{}", percent_decode(&query))
            };
            eprintln!(
                "fake-kube: {method} {path}{q} -> {}",
                response.status().as_u16()
            );
        }
        response
    }

    async fn respond(
        &self,
        method: &hyper::Method,
        path: &str,
        query: &str,
        authorization: Option<&str>,
    ) -> Response<Full<Bytes>> {
        if let Err(reason) = validate_token(authorization, SystemTime::now()) {
            return status_response(
                401,
                "Unauthorized",
                &format!("Unauthorized: {reason}"),
                None,
            );
        }
        self.requests.fetch_add(1, Ordering::SeqCst);
        let refuse = self.refuse.load(Ordering::SeqCst);
        if refuse != 0 {
            let reason = match refuse {
                401 => "Unauthorized",
                403 => "Forbidden",
                404 => "NotFound",
                429 => "TooManyRequests",
                503 => "ServiceUnavailable",
                _ => "InternalError",
            };
            return status_response(
                refuse,
                reason,
                &format!("fake-kube refuses every request with {refuse}"),
                None,
            );
        }
        if method != hyper::Method::GET {
            return not_found(path);
        }
        let route = if path == "/api/v1/nodes" {
            Some(None)
        } else {
            path.strip_prefix("/api/v1/nodes/")
                .filter(|name| !name.is_empty() && !name.contains('/'))
                .map(Some)
        };
        let Some(route) = route else {
            return not_found(path);
        };
        if let Err(e) = self.reconcile().await {
            eprintln!("fake-kube: kubelet simulator failed: {e}");
            return status_response(
                500,
                "InternalError",
                &format!("kubelet simulator: {e}"),
                None,
            );
        }
        let nodes = self.nodes.lock().await;
        match route {
            None => {
                let selector = query_param(query, "labelSelector").unwrap_or_default();
                let selector = match LabelSelector::parse(&selector) {
                    Ok(s) => s,
                    Err(e) => {
                        return status_response(400, "BadRequest", &e, None);
                    }
                };
                let items: Vec<Value> = nodes
                    .values()
                    .map(|n| n.to_json(&self.region))
                    .filter(|n| selector.matches(n))
                    .collect();
                json_response(
                    200,
                    &json!({
                        "kind": "NodeList",
                        "apiVersion": "v1",
                        "metadata": { "resourceVersion": "1" },
                        "items": items,
                    }),
                )
            }
            Some(name) => match nodes.values().find(|n| n.name == name) {
                Some(node) => json_response(200, &node.to_json(&self.region)),
                None => status_response(
                    404,
                    "NotFound",
                    &format!("nodes \"{name}\" not found"),
                    Some(json!({ "name": name, "kind": "nodes" })),
                ),
            },
        }
    }

    /// The kubelet simulator: registers nodes of running instances that have egress, removes nodes of
    /// instances that are no longer running.
    async fn reconcile(&self) -> Result<(), Error> {
        let mut nodes = self.nodes.lock().await;
        let instances = cluster_instances(&self.ec2, &self.cluster).await?;
        let net = Network::load(&self.ec2).await?;
        let mut running = HashSet::new();
        for i in instances.iter().filter(|i| i.running) {
            running.insert(i.instance_id.clone());
            if nodes.contains_key(&i.instance_id) {
                continue;
            }
            if net.has_egress(&i.subnet_id, &i.vpc_id, i.public_ip) {
                nodes.insert(
                    i.instance_id.clone(),
                    Registered {
                        name: i.private_dns_name.clone(),
                        instance_id: i.instance_id.clone(),
                        private_ip: i.private_ip.clone(),
                        az: i.az.clone(),
                        instance_type: i.instance_type.clone(),
                        nodegroup: i.nodegroup.clone(),
                        created: SystemTime::now(),
                    },
                );
            }
        }
        nodes.retain(|id, _| running.contains(id));
        Ok(())
    }
}

impl Registered {
    fn provider_id(&self) -> String {
        format!("aws:///{}/{}", self.az, self.instance_id)
    }

    fn view(&self, now: SystemTime) -> NodeView {
        NodeView {
            name: self.name.clone(),
            provider_id: self.provider_id(),
            nodegroup: self.nodegroup.clone(),
            ready: true,
            age_seconds: now
                .duration_since(self.created)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
        }
    }

    fn to_json(&self, region: &str) -> Value {
        let created = rfc3339(self.created);
        let now = rfc3339(SystemTime::now());
        let mut labels = serde_json::Map::new();
        if let Some(ng) = &self.nodegroup {
            labels.insert(NODEGROUP_LABEL.into(), ng.clone().into());
            labels.insert("eks.amazonaws.com/capacityType".into(), "ON_DEMAND".into());
        }
        labels.insert("kubernetes.io/hostname".into(), self.name.clone().into());
        labels.insert("kubernetes.io/os".into(), "linux".into());
        labels.insert("kubernetes.io/arch".into(), "amd64".into());
        labels.insert(
            "node.kubernetes.io/instance-type".into(),
            self.instance_type.clone().into(),
        );
        labels.insert("topology.kubernetes.io/region".into(), region.into());
        labels.insert("topology.kubernetes.io/zone".into(), self.az.clone().into());
        json!({
            "kind": "Node",
            "apiVersion": "v1",
            "metadata": {
                "name": self.name,
                "uid": format!("{:016x}-sandbox", fxhash(&self.instance_id)),
                "resourceVersion": "1",
                "creationTimestamp": created,
                "labels": labels,
            },
            "spec": { "providerID": self.provider_id() },
            "status": {
                "conditions": [{
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": created,
                }],
                "addresses": [
                    { "type": "InternalIP", "address": self.private_ip },
                    { "type": "Hostname", "address": self.name },
                    { "type": "InternalDNS", "address": self.name },
                ],
                "nodeInfo": {
                    "kubeletVersion": KUBELET_VERSION,
                    "kubeProxyVersion": KUBELET_VERSION,
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                    "containerRuntimeVersion": "containerd://1.7.11",
                },
            },
        })
    }
}

/// A stable small hash for synthetic uids.
fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn json_response(status: u16, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn status_response(
    code: u16,
    reason: &str,
    message: &str,
    details: Option<Value>,
) -> Response<Full<Bytes>> {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let (Some(details), Some(obj)) = (details, body.as_object_mut()) {
        obj.insert("details".into(), details);
    }
    json_response(code, &body)
}

fn not_found(path: &str) -> Response<Full<Bytes>> {
    status_response(
        404,
        "NotFound",
        &format!("the server could not find the requested resource ({path})"),
        None,
    )
}

// ---------------------------------------------------------------------------------------------------------
// Label selectors

/// `key=value`, `key==value`, `key!=value`, `key`, `!key`, comma-separated (all must hold).
#[derive(Debug, PartialEq, Eq)]
struct LabelSelector(Vec<Requirement>);

#[derive(Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
}

impl LabelSelector {
    fn parse(selector: &str) -> Result<LabelSelector, String> {
        let mut requirements = Vec::new();
        for term in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let requirement = if let Some((k, v)) = term.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once("==") {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once('=') {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some(k) = term.strip_prefix('!') {
                Requirement::NotExists(k.trim().into())
            } else if term.contains(' ') || term.contains('(') {
                return Err(format!("unsupported label selector term {term:?}"));
            } else {
                Requirement::Exists(term.into())
            };
            requirements.push(requirement);
        }
        Ok(LabelSelector(requirements))
    }

    fn matches(&self, node: &Value) -> bool {
        let labels = node.pointer("/metadata/labels");
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::NotExists(k) => label(k).is_none(),
        })
    }
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

/// Decodes `%XX` escapes and `+` (as a space), as in `application/x-www-form-urlencoded` queries.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

// ---------------------------------------------------------------------------------------------------------
// Token validation

/// Checks an `Authorization` header the way EKS's authenticator would, minus the call to STS:
/// `Bearer k8s-aws-v1.<base64url without padding>` of a presigned `https://sts[.<region>].amazonaws.com/`
/// URL with `Action=GetCallerIdentity`, `Version=2011-06-15`, `X-Amz-Algorithm=AWS4-HMAC-SHA256`,
/// an `X-Amz-Credential` scoped to `…/sts/aws4_request`, `x-k8s-aws-id` among the signed headers,
/// `X-Amz-Expires` ≤ 900, an `X-Amz-Date` at most 15 minutes old, and a signature.
pub fn validate_token(authorization: Option<&str>, now: SystemTime) -> Result<(), String> {
    let header = authorization.ok_or("no Authorization header")?;
    let token = header
        .strip_prefix("Bearer ")
        .ok_or("Authorization is not a Bearer token")?
        .trim();
    let encoded = token
        .strip_prefix("k8s-aws-v1.")
        .ok_or("token does not start with k8s-aws-v1.")?;
    if encoded.contains('=') {
        return Err("token is padded base64; EKS tokens are base64url without padding".into());
    }
    let raw = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|e| format!("token is not base64url: {e}"))?;
    let url = String::from_utf8(raw).map_err(|_| "token is not a UTF-8 URL")?;
    let rest = url
        .strip_prefix("https://")
        .ok_or("presigned URL is not https://")?;
    let (host_path, query) = rest
        .split_once('?')
        .ok_or("presigned URL has no query string")?;
    let (host, path) = host_path.split_once('/').unwrap_or((host_path, ""));
    let regional = host
        .strip_prefix("sts.")
        .and_then(|h| h.strip_suffix(".amazonaws.com"))
        .map(|region| {
            !region.is_empty()
                && region
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
        .unwrap_or(false);
    if host != "sts.amazonaws.com" && !regional {
        return Err(format!("presigned URL host {host:?} is not STS"));
    }
    if !path.is_empty() {
        return Err(format!("presigned URL path /{path} is not /"));
    }
    let params: HashMap<String, String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("presigned URL lacks {name}"))
    };
    if get("Action")? != "GetCallerIdentity" {
        return Err("presigned URL is not for Action=GetCallerIdentity".into());
    }
    if get("Version")? != "2011-06-15" {
        return Err("presigned URL is not for Version=2011-06-15".into());
    }
    if get("X-Amz-Algorithm")? != "AWS4-HMAC-SHA256" {
        return Err("X-Amz-Algorithm is not AWS4-HMAC-SHA256".into());
    }
    if !get("X-Amz-Credential")?.ends_with("/sts/aws4_request") {
        return Err("X-Amz-Credential is not scoped to sts/aws4_request".into());
    }
    if !get("X-Amz-SignedHeaders")?
        .split(';')
        .any(|h| h.eq_ignore_ascii_case("x-k8s-aws-id"))
    {
        return Err("x-k8s-aws-id is not a signed header".into());
    }
    let expires: u64 = get("X-Amz-Expires")?
        .parse()
        .map_err(|_| "X-Amz-Expires is not a number")?;
    if expires == 0 || expires > TOKEN_MAX_EXPIRES {
        return Err(format!(
            "X-Amz-Expires={expires} is outside 1..={TOKEN_MAX_EXPIRES}"
        ));
    }
    let signed_at =
        parse_amz_date(get("X-Amz-Date")?).ok_or("X-Amz-Date is not YYYYMMDDTHHMMSSZ")?;
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    if now_secs > signed_at + TOKEN_MAX_AGE.as_secs() {
        return Err("token expired (X-Amz-Date older than 15 minutes)".into());
    }
    if signed_at > now_secs + TOKEN_MAX_AGE.as_secs() {
        return Err("X-Amz-Date is in the future".into());
    }
    let signature = get("X-Amz-Signature")?;
    if signature.is_empty() || !signature.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("X-Amz-Signature is not hex".into());
    }
    Ok(())
}

/// Seconds since the epoch of an `X-Amz-Date` (`20241009T145936Z`).
fn parse_amz_date(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + se).ok()
}

/// A token with the shape [`validate_token`] accepts, for `now`, but signed by nobody (`X-Amz-Signature`
/// is zeros). Good only against this fake, which cannot check signatures.
pub fn unsigned_token(region: &str, now: SystemTime) -> String {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let date = rfc3339(UNIX_EPOCH + Duration::from_secs(secs)).replace(['-', ':'], "");
    let day = &date[..8];
    let url = format!(
        "https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15\
         &X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=SANDBOX%2F{day}%2F{region}%2Fsts%2Faws4_request\
         &X-Amz-Date={date}&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id\
         &X-Amz-Signature={}",
        "0".repeat(64)
    );
    format!("k8s-aws-v1.{}", URL_SAFE_NO_PAD.encode(url))
}

// ---------------------------------------------------------------------------------------------------------
// HTTPS client (for the `sandbox` binary)

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
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| format!("read CA {}: {e}", ca_file.display()))?
    {
        let cert = cert.map_err(|e| format!("parse CA {}: {e}", ca_file.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("CA {}: {e}", ca_file.display()))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS client configuration")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let server_name =
        ServerName::try_from(host.to_owned()).map_err(|e| format!("server name {host}: {e}"))?;
    let tcp = tokio::net::TcpStream::connect(&address)
        .await
        .context(format!("connect {address}"))?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
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
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("GET {endpoint}{path}: incomplete answer ({read:?})"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("GET {endpoint}{path}: not an HTTP answer"))?;
    let value = serde_json::from_str(body)
        .map_err(|e| format!("GET {endpoint}{path}: body is not JSON ({e}): {body}"))?;
    Ok((status, value))
}

/// Reads [`NodeView`]s out of a `NodeList` (or a single `Node`) served by the fake.
pub fn node_views(body: &Value, now: SystemTime) -> Vec<NodeView> {
    let items: Vec<&Value> = match body.get("items").and_then(Value::as_array) {
        Some(items) => items.iter().collect(),
        None if body.get("kind").and_then(Value::as_str) == Some("Node") => vec![body],
        None => Vec::new(),
    };
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    items
        .into_iter()
        .map(|node| {
            let str_at = |p: &str| node.pointer(p).and_then(Value::as_str).map(str::to_owned);
            let created = str_at("/metadata/creationTimestamp")
                .and_then(|t| {
                    aws_smithy_types::DateTime::from_str(
                        &t,
                        aws_smithy_types::date_time::Format::DateTime,
                    )
                    .ok()
                })
                .map(|t| t.secs().max(0) as u64)
                .unwrap_or(now_secs);
            let ready = node
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .map(|conditions| {
                    conditions.iter().any(|c| {
                        c.get("type").and_then(Value::as_str) == Some("Ready")
                            && c.get("status").and_then(Value::as_str) == Some("True")
                    })
                })
                .unwrap_or(false);
            NodeView {
                name: str_at("/metadata/name").unwrap_or_default(),
                provider_id: str_at("/spec/providerID").unwrap_or_default(),
                nodegroup: node
                    .pointer("/metadata/labels")
                    .and_then(|l| l.get(NODEGROUP_LABEL))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                ready,
                age_seconds: now_secs.saturating_sub(created),
            }
        })
        .collect()
}

/// Prints nodes like `kubectl get nodes` (or `No resources found`).
pub fn render_nodes(nodes: &[NodeView]) -> String {
    if nodes.is_empty() {
        return "No resources found\n".to_owned();
    }
    let width = nodes.iter().map(|n| n.name.len()).max().unwrap_or(4).max(4) + 3;
    let mut out = format!(
        "{:<width$}{:<9}{:<9}{:<7}{}\n",
        "NAME", "STATUS", "ROLES", "AGE", "VERSION"
    );
    for n in nodes {
        out.push_str(&format!(
            "{:<width$}{:<9}{:<9}{:<7}{}\n",
            n.name,
            if n.ready { "Ready" } else { "NotReady" },
            "<none>",
            kubectl_age(n.age_seconds),
            KUBELET_VERSION
        ));
    }
    out
}

/// Runs the kubelet simulator once in this process (no HTTP) for `cluster`: the nodes that would be
/// registered right now, all aged 0.
pub async fn simulate_nodes(sdk: &SdkConfig, cluster: &str) -> Result<Vec<NodeView>, Error> {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let instances = cluster_instances(&ec2, cluster).await?;
    let net = Network::load(&ec2).await?;
    Ok(instances
        .iter()
        .filter(|i| i.running && net.has_egress(&i.subnet_id, &i.vpc_id, i.public_ip))
        .map(|i| NodeView {
            name: i.private_dns_name.clone(),
            provider_id: format!("aws:///{}/{}", i.az, i.instance_id),
            nodegroup: i.nodegroup.clone(),
            ready: true,
            age_seconds: 0,
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------------------
// What the kubelet simulator reads from EC2

#[derive(Debug, Clone)]
struct ClusterInstance {
    instance_id: String,
    running: bool,
    subnet_id: String,
    vpc_id: String,
    public_ip: bool,
    private_dns_name: String,
    private_ip: String,
    az: String,
    instance_type: String,
    nodegroup: Option<String>,
}

async fn cluster_instances(
    ec2: &aws_sdk_ec2::Client,
    cluster: &str,
) -> Result<Vec<ClusterInstance>, Error> {
    let owned_key = format!("kubernetes.io/cluster/{cluster}");
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = ec2
            .describe_instances()
            .set_next_token(next.take())
            .send()
            .await
            .context("ec2:DescribeInstances")?;
        for instance in page.reservations().iter().flat_map(|r| r.instances()) {
            let tag = |k: &str| {
                instance
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some(k))
                    .and_then(|t| t.value())
            };
            let member =
                tag("eks:cluster-name") == Some(cluster) || tag(&owned_key) == Some("owned");
            let Some(instance_id) = instance.instance_id() else {
                continue;
            };
            if !member {
                continue;
            }
            out.push(ClusterInstance {
                instance_id: instance_id.to_owned(),
                running: instance.state().and_then(|s| s.name())
                    == Some(&aws_sdk_ec2::types::InstanceStateName::Running),
                subnet_id: instance.subnet_id().unwrap_or_default().to_owned(),
                vpc_id: instance.vpc_id().unwrap_or_default().to_owned(),
                public_ip: instance
                    .public_ip_address()
                    .is_some_and(|ip| !ip.is_empty()),
                private_dns_name: instance.private_dns_name().unwrap_or_default().to_owned(),
                private_ip: instance.private_ip_address().unwrap_or_default().to_owned(),
                az: instance
                    .placement()
                    .and_then(|p| p.availability_zone())
                    .unwrap_or_default()
                    .to_owned(),
                instance_type: instance
                    .instance_type()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                nodegroup: tag("eks:nodegroup-name").map(str::to_owned),
            });
        }
        next = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if next.is_none() {
            return Ok(out);
        }
    }
}

/// Plain data about routing, enough to decide whether a subnet reaches the internet.
#[derive(Debug, Default)]
struct Network {
    tables: Vec<Table>,
    /// NAT id → (state, subnet, VPC)
    nats: HashMap<String, (String, String, String)>,
    /// IGW id → VPCs it is attached to
    igws: HashMap<String, Vec<String>>,
}

#[derive(Debug, Default)]
struct Table {
    vpc_id: String,
    main: bool,
    subnets: Vec<String>,
    /// Target of the `0.0.0.0/0` route, unless it is a blackhole.
    default_target: Option<String>,
}

impl Network {
    async fn load(ec2: &aws_sdk_ec2::Client) -> Result<Network, Error> {
        let (tables, nats, igws) = tokio::try_join!(
            async {
                ec2.describe_route_tables()
                    .send()
                    .await
                    .context("ec2:DescribeRouteTables")
            },
            async {
                ec2.describe_nat_gateways()
                    .send()
                    .await
                    .context("ec2:DescribeNatGateways")
            },
            async {
                ec2.describe_internet_gateways()
                    .send()
                    .await
                    .context("ec2:DescribeInternetGateways")
            },
        )?;
        let tables = tables
            .route_tables()
            .iter()
            .map(|t| Table {
                vpc_id: t.vpc_id().unwrap_or_default().to_owned(),
                main: t.associations().iter().any(|a| a.main() == Some(true)),
                subnets: t
                    .associations()
                    .iter()
                    .filter_map(|a| a.subnet_id().map(str::to_owned))
                    .collect(),
                default_target: t
                    .routes()
                    .iter()
                    .find(|r| {
                        r.destination_cidr_block() == Some("0.0.0.0/0")
                            && r.state() != Some(&aws_sdk_ec2::types::RouteState::Blackhole)
                    })
                    .map(crate::world::route_target),
            })
            .collect();
        let nats = nats
            .nat_gateways()
            .iter()
            .filter_map(|n| {
                Some((
                    n.nat_gateway_id()?.to_owned(),
                    (
                        n.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                        n.subnet_id().unwrap_or_default().to_owned(),
                        n.vpc_id().unwrap_or_default().to_owned(),
                    ),
                ))
            })
            .collect();
        let igws = igws
            .internet_gateways()
            .iter()
            .filter_map(|g| {
                Some((
                    g.internet_gateway_id()?.to_owned(),
                    g.attachments()
                        .iter()
                        .filter(|a| {
                            a.state().map(|s| s.as_str()) == Some("available")
                                || a.state().map(|s| s.as_str()) == Some("attached")
                        })
                        .filter_map(|a| a.vpc_id().map(str::to_owned))
                        .collect(),
                ))
            })
            .collect();
        Ok(Network { tables, nats, igws })
    }

    /// The subnet's explicit route table, else its VPC's main table.
    fn table_of(&self, subnet_id: &str, vpc_id: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.subnets.iter().any(|s| s == subnet_id))
            .or_else(|| self.tables.iter().find(|t| t.main && t.vpc_id == vpc_id))
    }

    fn igw_attached(&self, igw_id: &str, vpc_id: &str) -> bool {
        self.igws
            .get(igw_id)
            .is_some_and(|vpcs| vpcs.iter().any(|v| v == vpc_id))
    }

    fn has_egress(&self, subnet_id: &str, vpc_id: &str, public_ip: bool) -> bool {
        let Some(target) = self
            .table_of(subnet_id, vpc_id)
            .and_then(|t| t.default_target.as_deref())
        else {
            return false;
        };
        if target.starts_with("igw-") {
            return public_ip && self.igw_attached(target, vpc_id);
        }
        if target.starts_with("nat-") {
            let Some((state, nat_subnet, nat_vpc)) = self.nats.get(target) else {
                return false;
            };
            if state != "available" {
                return false;
            }
            return self
                .table_of(nat_subnet, nat_vpc)
                .and_then(|t| t.default_target.as_deref())
                .is_some_and(|t| t.starts_with("igw-") && self.igw_attached(t, nat_vpc));
        }
        false
    }
}

// ---------------------------------------------------------------------------------------------------------
// TLS material

struct TlsMaterial {
    ca_pem: String,
    server_cert: CertificateDer<'static>,
    server_key: Vec<u8>,
}

impl TlsMaterial {
    fn generate() -> Result<TlsMaterial, Error> {
        use rcgen::{
            BasicConstraints, CertificateParams, DistinguishedName, DnType,
            ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        };
        let ca_key = KeyPair::generate().context("generate CA key")?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).context("CA params")?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let mut ca_dn = DistinguishedName::new();
        ca_dn.push(DnType::CommonName, "sandbox fake-kube CA");
        ca_params.distinguished_name = ca_dn;
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).context("self-sign CA")?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().context("generate server key")?;
        let mut server_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .context("server params")?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "kube-apiserver");
        server_params.distinguished_name = dn;
        server_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params
            .signed_by(&server_key, &issuer)
            .context("sign server certificate")?;
        Ok(TlsMaterial {
            ca_pem: ca_cert.pem(),
            server_cert: server_cert.der().clone(),
            server_key: server_key.serialize_der(),
        })
    }

    fn server_config(&self) -> Result<rustls::ServerConfig, Error> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .context("TLS server protocol versions")?
        .with_no_client_auth()
        .with_single_cert(
            vec![self.server_cert.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone())),
        )
        .context("TLS server certificate")?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_for(url: &str) -> String {
        format!("Bearer k8s-aws-v1.{}", URL_SAFE_NO_PAD.encode(url))
    }

    fn url(date: &str, expires: u32, signed_headers: &str) -> String {
        format!(
            "https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15\
             &X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIDEXAMPLE%2F20241009%2Fus-west-2%2Fsts%2Faws4_request\
             &X-Amz-Date={date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders={signed_headers}\
             &X-Amz-Security-Token=FwoG%2Bz&X-Amz-Signature=9f0e1d2c3b4a59687766554433221100ffeeddccbbaa99887766554433221100"
        )
    }

    /// 2024-10-09T14:59:36Z
    fn at_seed_time(offset_secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_728_485_976 + offset_secs)
    }

    #[test]
    fn well_formed_fresh_token_is_accepted() {
        let header = token_for(&url("20241009T145936Z", 60, "host%3Bx-k8s-aws-id"));
        assert_eq!(validate_token(Some(&header), at_seed_time(30)), Ok(()));
    }

    /// What botocore presigns for `aws eks get-token` (credentials are AWS's documentation examples).
    const BOTOCORE_URL: &str = "https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261127%2Fus-west-2%2Fsts%2Faws4_request&X-Amz-Date=20261127T190241Z&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Expires=60&X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLE%2B%2F%3Dtoken&X-Amz-Signature=9259416b202d22f3744fc0ed63b13d722c384fb8736f4a740ef232c957c5cace";

    #[test]
    fn botocore_presigned_token_is_accepted() {
        let signed_at = parse_amz_date("20261127T190241Z").expect("valid date literal");
        let now = UNIX_EPOCH + Duration::from_secs(signed_at + 20);
        assert_eq!(validate_token(Some(&token_for(BOTOCORE_URL)), now), Ok(()));
    }

    #[test]
    fn global_sts_host_is_accepted() {
        let u = url("20241009T145936Z", 60, "host%3Bx-k8s-aws-id")
            .replace("sts.us-west-2.amazonaws.com", "sts.amazonaws.com");
        assert_eq!(
            validate_token(Some(&token_for(&u)), at_seed_time(0)),
            Ok(())
        );
    }

    #[test]
    fn missing_or_foreign_tokens_are_refused() {
        assert!(validate_token(None, at_seed_time(0)).is_err());
        assert!(validate_token(Some("Basic dXNlcjpwYXNz"), at_seed_time(0)).is_err());
        assert!(validate_token(Some("Bearer eyJhbGciOi.x.y"), at_seed_time(0)).is_err());
        assert!(validate_token(Some("Bearer k8s-aws-v1.!!!"), at_seed_time(0)).is_err());
    }

    #[test]
    fn padded_base64_is_refused() {
        let u = url("20241009T145936Z", 60, "host%3Bx-k8s-aws-id");
        let padded = format!(
            "Bearer k8s-aws-v1.{}",
            base64::engine::general_purpose::URL_SAFE.encode(&u)
        );
        if padded.ends_with('=') {
            assert!(validate_token(Some(&padded), at_seed_time(0)).is_err());
        }
    }

    #[test]
    fn token_older_than_fifteen_minutes_is_expired() {
        let header = token_for(&url("20241009T145936Z", 60, "host%3Bx-k8s-aws-id"));
        let err = validate_token(Some(&header), at_seed_time(15 * 60 + 1)).expect_err("refused");
        assert!(err.contains("expired"), "{err}");
    }

    #[test]
    fn cluster_id_header_must_be_signed() {
        let header = token_for(&url("20241009T145936Z", 60, "host"));
        let err = validate_token(Some(&header), at_seed_time(0)).expect_err("refused");
        assert!(err.contains("x-k8s-aws-id"), "{err}");
    }

    #[test]
    fn long_expiry_and_other_hosts_are_refused() {
        let header = token_for(&url("20241009T145936Z", 3600, "host%3Bx-k8s-aws-id"));
        assert!(validate_token(Some(&header), at_seed_time(0)).is_err());
        let evil = url("20241009T145936Z", 60, "host%3Bx-k8s-aws-id").replace(
            "sts.us-west-2.amazonaws.com",
            "sts.us-west-2.amazonaws.com.evil.example",
        );
        assert!(validate_token(Some(&token_for(&evil)), at_seed_time(0)).is_err());
        let other_action = url("20241009T145936Z", 60, "host%3Bx-k8s-aws-id")
            .replace("GetCallerIdentity", "AssumeRole");
        assert!(validate_token(Some(&token_for(&other_action)), at_seed_time(0)).is_err());
    }

    #[test]
    fn unsigned_token_has_the_accepted_shape() {
        let now = SystemTime::now();
        let header = format!("Bearer {}", unsigned_token("us-west-2", now));
        assert_eq!(validate_token(Some(&header), now), Ok(()));
    }

    #[test]
    fn amz_dates_parse_to_epoch_seconds() {
        assert_eq!(parse_amz_date("20241009T145936Z"), Some(1_728_485_976));
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("2024-10-09T14:59:36Z"), None);
    }

    #[test]
    fn label_selectors_match_like_kubernetes() {
        let node =
            json!({ "metadata": { "labels": { NODEGROUP_LABEL: "new_nodegroup_2", "a": "b" } } });
        let sel = |s: &str| LabelSelector::parse(s).map(|l| l.matches(&node));
        assert_eq!(sel("eks.amazonaws.com/nodegroup=new_nodegroup_2"), Ok(true));
        assert_eq!(
            sel("eks.amazonaws.com/nodegroup==new_nodegroup_2,a"),
            Ok(true)
        );
        assert_eq!(sel("eks.amazonaws.com/nodegroup=other"), Ok(false));
        assert_eq!(sel("a!=b"), Ok(false));
        assert_eq!(sel("!missing"), Ok(true));
        assert_eq!(sel(""), Ok(true));
        assert!(sel("a in (b)").is_err());
        assert_eq!(
            query_param(
                "limit=5&labelSelector=eks.amazonaws.com%2Fnodegroup%3Dnew_nodegroup_2",
                "labelSelector"
            ),
            Some("eks.amazonaws.com/nodegroup=new_nodegroup_2".to_owned())
        );
    }

    fn net() -> Network {
        let table = |vpc: &str, main: bool, subnets: &[&str], target: Option<&str>| Table {
            vpc_id: vpc.into(),
            main,
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            default_target: target.map(str::to_owned),
        };
        Network {
            tables: vec![
                table("vpc-1", true, &[], None),
                table("vpc-1", false, &["subnet-pub"], Some("igw-1")),
                table("vpc-1", false, &["subnet-priv"], Some("nat-ok")),
                table("vpc-1", false, &["subnet-dead"], Some("nat-gone")),
                table("vpc-1", false, &["subnet-local"], None),
                table("vpc-1", false, &["subnet-tgw"], Some("tgw-1")),
                table("vpc-1", false, &["subnet-orphan-nat"], Some("nat-no-igw")),
            ],
            nats: HashMap::from([
                (
                    "nat-ok".into(),
                    ("available".into(), "subnet-pub".into(), "vpc-1".into()),
                ),
                (
                    "nat-gone".into(),
                    ("deleted".into(), "subnet-pub".into(), "vpc-1".into()),
                ),
                (
                    "nat-no-igw".into(),
                    ("available".into(), "subnet-local".into(), "vpc-1".into()),
                ),
            ]),
            igws: HashMap::from([("igw-1".into(), vec!["vpc-1".into()])]),
        }
    }

    #[test]
    fn egress_needs_a_working_path_to_the_internet() {
        let n = net();
        assert!(n.has_egress("subnet-priv", "vpc-1", false));
        assert!(n.has_egress("subnet-pub", "vpc-1", true));
        assert!(
            !n.has_egress("subnet-pub", "vpc-1", false),
            "IGW without public IP"
        );
        assert!(
            !n.has_egress("subnet-local", "vpc-1", false),
            "local route only"
        );
        assert!(
            !n.has_egress("subnet-new", "vpc-1", false),
            "main table, local only"
        );
        assert!(!n.has_egress("subnet-dead", "vpc-1", false), "deleted NAT");
        assert!(
            !n.has_egress("subnet-tgw", "vpc-1", false),
            "TGW is not simulated"
        );
        assert!(
            !n.has_egress("subnet-orphan-nat", "vpc-1", false),
            "NAT without IGW"
        );
    }

    #[test]
    fn nodes_render_like_kubectl() {
        assert_eq!(render_nodes(&[]), "No resources found\n");
        let out = render_nodes(&[NodeView {
            name: "ip-10-42-108-252.us-west-2.compute.internal".into(),
            provider_id: "aws:///us-west-2a/i-1".into(),
            nodegroup: Some("new_nodegroup_2".into()),
            ready: true,
            age_seconds: 189,
        }]);
        assert!(out.starts_with("NAME "), "{out}");
        assert!(
            out.contains("Ready    <none>   3m9s   v1.30.0-eks-036c24b"),
            "{out}"
        );
    }
}
