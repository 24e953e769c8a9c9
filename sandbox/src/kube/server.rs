//! The HTTPS server of the fake API: accepts TLS connections, checks the bearer token, and serves
//! `GET /api/v1/nodes[?labelSelector=…]` and `GET /api/v1/nodes/{name}` from the kubelet simulator's nodes,
//! with Kubernetes `Status` bodies for errors. Can be told to refuse every request with one status.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::identity::IdentityReader;
use super::kubelet::Registered;
use super::query::{percent_decode, query_param, LabelSelector};
use super::token::validate_token;
use crate::access::{managed_map_roles, AwsAuth, ClusterAccess};

/// State shared by the server's connections and the [`super::FakeKube`] handle.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) ec2: aws_sdk_ec2::Client,
    pub(super) eks: aws_sdk_eks::Client,
    pub(super) iam: aws_sdk_iam::Client,
    /// Who the cluster admits, and what `aws-auth` holds.
    pub(super) access: ClusterAccess,
    pub(super) cluster: String,
    pub(super) region: String,
    pub(super) nodes: Mutex<BTreeMap<String, Registered>>,
    pub(super) refuse: AtomicU16,
    pub(super) requests: AtomicUsize,
    /// Microseconds spent answering requests (the kubelet simulator's reads of EC2 included): what the
    /// bench takes out of a handler's time to tell the function's part from this fake's.
    pub(super) answering_us: AtomicU64,
    pub(super) verbose: AtomicBool,
    /// When set, an instance seen without egress gives up its bootstrap for good (as a real node's
    /// bootstrap does once it has timed out), even after its subnet is fixed.
    pub(super) bootstrap_gives_up: AtomicBool,
    /// Instances whose bootstrap gave up.
    pub(super) gave_up: Mutex<std::collections::BTreeSet<String>>,
}

pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
) {
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => {
                crate::util::no_delay(&tcp);
                tcp
            }
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
        let started = std::time::Instant::now();
        let response = self
            .respond(&method, &path, &query, authorization.as_deref())
            .await;
        let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.answering_us.fetch_add(took, Ordering::SeqCst);
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

    /// Authentication, then a forced refusal if one is set, then the nodes API.
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
            return refusal(refuse);
        }
        if method == hyper::Method::GET && path == AWS_AUTH_PATH {
            return self.aws_auth().await;
        }
        // `Some(None)`: the list; `Some(Some(name))`: one node.
        let route = match (method == hyper::Method::GET, path) {
            (true, "/api/v1/nodes") => Some(None),
            (true, _) => path
                .strip_prefix("/api/v1/nodes/")
                .filter(|name| !name.is_empty() && !name.contains('/'))
                .map(Some),
            (false, _) => None,
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
        match route {
            None => self.list_nodes(query).await,
            Some(name) => self.get_node(name).await,
        }
    }

    async fn list_nodes(&self, query: &str) -> Response<Full<Bytes>> {
        let selector = query_param(query, "labelSelector").unwrap_or_default();
        let selector = match LabelSelector::parse(&selector) {
            Ok(s) => s,
            Err(e) => return status_response(400, "BadRequest", &e, None),
        };
        let nodes = self.nodes.lock().await;
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

    async fn get_node(&self, name: &str) -> Response<Full<Bytes>> {
        let nodes = self.nodes.lock().await;
        match nodes.values().find(|n| n.name == name) {
            Some(node) => json_response(200, &node.to_json(&self.region)),
            None => status_response(
                404,
                "NotFound",
                &format!("nodes \"{name}\" not found"),
                Some(json!({ "name": name, "kind": "nodes" })),
            ),
        }
    }
}

/// Where EKS keeps the `aws-auth` ConfigMap.
const AWS_AUTH_PATH: &str = "/api/v1/namespaces/kube-system/configmaps/aws-auth";

impl Shared {
    /// `kube-system/aws-auth` as [`ClusterAccess::aws_auth`] says.
    async fn aws_auth(&self) -> Response<Full<Bytes>> {
        let map_roles = match self.access.aws_auth() {
            AwsAuth::Absent => {
                let message = "configmaps \"aws-auth\" not found";
                let details = json!({ "name": "aws-auth", "kind": "configmaps" });
                return status_response(404, "NotFound", message, Some(details));
            }
            AwsAuth::MapRoles(text) => text,
            AwsAuth::Managed => {
                let reader = IdentityReader {
                    iam: &self.iam,
                    eks: &self.eks,
                    cluster: &self.cluster,
                };
                match reader.nodegroup_roles().await {
                    Ok(roles) => managed_map_roles(&roles),
                    Err(e) => return status_response(500, "InternalError", &e.to_string(), None),
                }
            }
        };
        json_response(
            200,
            &json!({
                "kind": "ConfigMap",
                "apiVersion": "v1",
                "metadata": { "name": "aws-auth", "namespace": "kube-system" },
                "data": { "mapRoles": map_roles },
            }),
        )
    }
}

/// The `Status` answer of a forced refusal.
fn refusal(status: u16) -> Response<Full<Bytes>> {
    let reason = match status {
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        _ => "InternalError",
    };
    let message = format!("fake-kube refuses every request with {status}");
    status_response(status, reason, &message, None)
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
