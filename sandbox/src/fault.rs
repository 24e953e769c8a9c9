//! Servers for the SDK's error paths that moto cannot produce: a plain-HTTP server that answers every
//! request with one fixed AWS error (throttling, access denied, 5xx …), and one that accepts connections
//! and never answers. Point a client's `endpoint_url` at them.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;

use crate::util::{random_uuid, Context};
use crate::Error;

/// The running fault server.
#[derive(Debug)]
pub struct FaultServer {
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl FaultServer {
    /// Answers every request with `status`, an `x-amzn-requestid` header, `content-type: <content_type>`
    /// and `body`.
    pub async fn start(status: u16, content_type: &str, body: &str) -> Result<FaultServer, Error> {
        let status =
            StatusCode::from_u16(status).map_err(|e| format!("invalid status {status}: {e}"))?;
        let content_type = hyper::header::HeaderValue::from_str(content_type)
            .map_err(|e| format!("invalid content type {content_type:?}: {e}"))?;
        let body = Bytes::from(body.to_owned());
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
                .await
                .context("bind 127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let task = tokio::spawn(async move {
            loop {
                let tcp = match listener.accept().await {
                    Ok((tcp, _)) => tcp,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (counter, content_type, body) =
                    (counter.clone(), content_type.clone(), body.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |_req| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let mut response = Response::new(Full::new(body.clone()));
                        *response.status_mut() = status;
                        let headers = response.headers_mut();
                        headers.insert(hyper::header::CONTENT_TYPE, content_type.clone());
                        if let Ok(id) = hyper::header::HeaderValue::from_str(&random_uuid()) {
                            headers.insert("x-amzn-requestid", id);
                        }
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Ok(FaultServer {
            endpoint: format!("http://127.0.0.1:{port}"),
            hits,
            task,
        })
    }

    /// Requests answered so far (SDK retries included).
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A TCP server that accepts every connection, reads what is sent, and never answers: the endpoint that
/// keeps a client waiting until its own timeouts fire.
#[derive(Debug)]
pub struct HangServer {
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl HangServer {
    pub async fn start() -> Result<HangServer, Error> {
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
                .await
                .context("bind 127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    let mut sink = [0u8; 4096];
                    // Read until the client gives up; never write a byte.
                    while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {}
                });
            }
        });
        Ok(HangServer {
            endpoint: format!("http://127.0.0.1:{port}"),
            connections,
            task,
        })
    }

    /// Connections accepted so far (one per SDK attempt).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for HangServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
