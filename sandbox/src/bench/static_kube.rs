//! A Kubernetes API in which no node ever registers, for the scale-out burst: its nodes booted in a
//! subnet with no way out, and a node whose bootstrap timed out stays away even once the route is
//! fixed (what the fake API's kubelet simulator does with `bootstrap_gives_up`). Unlike that simulator it
//! reads nothing from moto per request, so 1000 registration checks cost moto nothing and the burst
//! measures the function's AWS calls alone. HTTPS with its own CA; tokens are not checked.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::tls::ProxyTls;
use crate::util::Context;
use crate::Error;

pub struct StaticKube {
    pub endpoint: String,
    pub ca_file: PathBuf,
    requests: Arc<AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for StaticKube {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl StaticKube {
    pub async fn start(dir: &Path) -> Result<StaticKube, Error> {
        let tls = ProxyTls::generate()?;
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let ca_file = dir.join("kube-ca.pem");
        std::fs::write(&ca_file, &tls.ca_pem)
            .with_context(|| format!("write {}", ca_file.display()))?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind static kube")?;
        let port = listener.local_addr()?.port();
        let acceptor = TlsAcceptor::from(tls.server_config.clone());
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let server = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                crate::util::no_delay(&tcp);
                let (acceptor, counter) = (acceptor.clone(), counter.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = service_fn(move |req| answer(counter.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Ok(StaticKube {
            endpoint: format!("https://127.0.0.1:{port}"),
            ca_file,
            requests,
            server,
        })
    }

    pub fn requests_seen(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// An empty node list; `NotFound` for anything else (one node, `aws-auth`).
async fn answer(
    requests: Arc<AtomicUsize>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    requests.fetch_add(1, Ordering::SeqCst);
    let (status, body) = if req.uri().path() == "/api/v1/nodes" {
        let list = json!({ "kind": "NodeList", "apiVersion": "v1", "metadata": { "resourceVersion": "1" }, "items": [] });
        (StatusCode::OK, list)
    } else {
        let status = json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
            "message": format!("{} not found", req.uri().path()),
        });
        (StatusCode::NOT_FOUND, status)
    };
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(r)
}
