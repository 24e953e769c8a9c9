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
    /// The `Action` of every query-protocol request ([`FaultServer::query_error`]), or the operation of
    /// every JSON-protocol one ([`FaultServer::json_by_target`]).
    actions: Arc<std::sync::Mutex<Vec<String>>>,
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
            actions: Arc::default(),
        })
    }

    /// Requests answered so far (SDK retries included).
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Answers every AWS query-protocol request with the error `code`, in the error document of the
    /// service that was called: EC2's `<Response><Errors>…` (API version 2016-11-15) or the
    /// `<ErrorResponse>…` of Auto Scaling, SNS and the others. Counts hits per `Action`.
    pub async fn query_error(status: u16, code: &str, message: &str) -> Result<FaultServer, Error> {
        let status =
            StatusCode::from_u16(status).map_err(|e| format!("invalid status {status}: {e}"))?;
        let answer = Arc::new(QueryError {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
        });
        Self::serving(|listener, hits, actions| serve_query_errors(listener, hits, actions, answer))
            .await
    }

    /// Binds a loopback port and spawns `serve` on it with the hit counters it is to keep.
    async fn serving<F, Fut>(serve: F) -> Result<FaultServer, Error>
    where
        F: FnOnce(tokio::net::TcpListener, Arc<AtomicUsize>, Actions) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
                .await
                .context("bind 127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let hits = Arc::new(AtomicUsize::new(0));
        let actions: Actions = Arc::default();
        let task = tokio::spawn(serve(listener, hits.clone(), actions.clone()));
        Ok(FaultServer {
            endpoint: format!("http://127.0.0.1:{port}"),
            hits,
            task,
            actions,
        })
    }

    /// Answers AWS JSON-protocol requests (DynamoDB's and the like) by the operation their
    /// `x-amz-target` header names (`DynamoDB_20120810.PutItem` → `PutItem`): `(operation, status, body)`.
    /// An operation not listed gets HTTP 400 `UnknownOperationException`. Counts hits per operation
    /// ([`FaultServer::hits_for`]).
    pub async fn json_by_target(answers: &[(&str, u16, &str)]) -> Result<FaultServer, Error> {
        let mut table = std::collections::HashMap::new();
        for (operation, status, body) in answers {
            let status = StatusCode::from_u16(*status)
                .map_err(|e| format!("invalid status {status}: {e}"))?;
            table.insert(
                operation.to_string(),
                (status, Bytes::from(body.to_string())),
            );
        }
        let answers = Arc::new(table);
        Self::serving(|listener, hits, operations| {
            serve_json_by_target(listener, hits, operations, answers)
        })
        .await
    }

    /// Requests answered so far for one `Action` (SDK retries included).
    pub fn hits_for(&self, action: &str) -> usize {
        self.actions
            .lock()
            .map(|a| a.iter().filter(|x| x.as_str() == action).count())
            .unwrap_or(0)
    }
}

struct QueryError {
    status: StatusCode,
    code: String,
    message: String,
}

impl QueryError {
    fn body(&self, form: &str) -> String {
        let (code, message) = (&self.code, &self.message);
        if form.contains("Version=2016-11-15") {
            format!("<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>{}</RequestID></Response>", random_uuid())
        } else {
            format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{}</RequestId></ErrorResponse>", random_uuid())
        }
    }
}

fn form_param(form: &str, name: &str) -> String {
    form.split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_default()
        .to_owned()
}

type JsonAnswers = std::collections::HashMap<String, (StatusCode, Bytes)>;
/// What each request was, in order: its `Action` or operation.
type Actions = Arc<std::sync::Mutex<Vec<String>>>;

/// Serves every connection `listener` accepts with `service`, until the listener fails.
async fn serve_each<S>(listener: tokio::net::TcpListener, service: S)
where
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = Response<Full<Bytes>>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    while let Ok((tcp, _)) = listener.accept().await {
        let service = service.clone();
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

async fn serve_json_by_target(
    listener: tokio::net::TcpListener,
    hits: Arc<AtomicUsize>,
    operations: Actions,
    answers: Arc<JsonAnswers>,
) {
    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        hits.fetch_add(1, Ordering::SeqCst);
        let operation = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or_default()
            .to_owned();
        if let Ok(mut o) = operations.lock() {
            o.push(operation.clone());
        }
        let unknown = (
            StatusCode::BAD_REQUEST,
            Bytes::from_static(
                br#"{"__type":"UnknownOperationException","message":"not scripted"}"#,
            ),
        );
        let (status, body) = answers.get(&operation).cloned().unwrap_or(unknown);
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = status;
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/x-amz-json-1.0"),
        );
        async move { Ok::<_, Infallible>(response) }
    });
    serve_each(listener, service).await;
}

async fn serve_query_errors(
    listener: tokio::net::TcpListener,
    hits: Arc<AtomicUsize>,
    actions: Actions,
    answer: Arc<QueryError>,
) {
    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let (hits, actions, answer) = (hits.clone(), actions.clone(), answer.clone());
        async move {
            use http_body_util::BodyExt;
            let bytes = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let form = String::from_utf8_lossy(&bytes).into_owned();
            hits.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut a) = actions.lock() {
                a.push(form_param(&form, "Action"));
            }
            let mut response = Response::new(Full::new(Bytes::from(answer.body(&form))));
            *response.status_mut() = answer.status;
            let headers = response.headers_mut();
            headers.insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/xml"),
            );
            Ok::<_, Infallible>(response)
        }
    });
    serve_each(listener, service).await;
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
