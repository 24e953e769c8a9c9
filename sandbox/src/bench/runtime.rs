//! A Lambda Runtime API emulator (the subset a custom runtime uses): events are queued, any process
//! polling `GET /2018-06-01/runtime/invocation/next` takes the next one, its answer is reported with the
//! times it was served and answered. The first poll marks the end of a process's init.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::util::Context;
use crate::Error;

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const FUNCTION_ARN: &str =
    "arn:aws:lambda:us-west-2:123456789012:function:eks-node-join-remediator";

/// One answered invocation.
#[derive(Debug, Clone)]
pub struct Finished {
    pub id: String,
    pub served: Instant,
    pub answered: Instant,
    /// `response` (true) or `error` (false).
    pub ok: bool,
    pub body: Value,
}

impl Finished {
    pub fn handler_time(&self) -> Duration {
        self.answered.duration_since(self.served)
    }
}

struct State {
    pending: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>,
    served: Mutex<HashMap<String, Instant>>,
    done: mpsc::UnboundedSender<Finished>,
    first_poll: watch::Sender<Option<Instant>>,
}

pub struct RuntimeApi {
    /// `127.0.0.1:<port>` (what `AWS_LAMBDA_RUNTIME_API` holds).
    pub address: String,
    queue: mpsc::UnboundedSender<(String, Value)>,
    done: mpsc::UnboundedReceiver<Finished>,
    first_poll: watch::Receiver<Option<Instant>>,
    next_id: usize,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    pub async fn start() -> Result<RuntimeApi, Error> {
        let (queue, pending) = mpsc::unbounded_channel();
        let (done_tx, done) = mpsc::unbounded_channel();
        let (first_tx, first_poll) = watch::channel(None);
        let state = Arc::new(State {
            pending: tokio::sync::Mutex::new(pending),
            served: Mutex::new(HashMap::new()),
            done: done_tx,
            first_poll: first_tx,
        });
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind runtime API")?;
        let port = listener.local_addr()?.port();
        let server = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                crate::util::no_delay(&tcp);
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| route(state.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Ok(RuntimeApi {
            address: format!("127.0.0.1:{port}"),
            queue,
            done,
            first_poll,
            next_id: 0,
            server,
        })
    }

    /// Queues an event; returns its request id.
    pub fn enqueue(&mut self, event: Value) -> Result<String, Error> {
        self.next_id += 1;
        let id = format!("bench-{:06}", self.next_id);
        self.queue
            .send((id.clone(), event))
            .map_err(|_| "runtime API queue closed")?;
        Ok(id)
    }

    /// The next answer, whichever invocation it belongs to.
    pub async fn finished(&mut self, timeout: Duration) -> Result<Finished, Error> {
        tokio::time::timeout(timeout, self.done.recv())
            .await
            .map_err(|_| format!("no answer from the function within {timeout:?}"))?
            .ok_or_else(|| "runtime API stopped".into())
    }

    /// When a process first asked for an event (the end of its init), waiting up to `timeout`.
    pub async fn first_poll(&mut self, timeout: Duration) -> Result<Instant, Error> {
        let seen = tokio::time::timeout(timeout, self.first_poll.wait_for(Option::is_some))
            .await
            .map_err(|_| format!("the function did not poll for an event within {timeout:?}"))?
            .map_err(|_| "runtime API stopped")?;
        (*seen).ok_or_else(|| "no first poll".into())
    }
}

async fn route(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    if req.method() == Method::GET && path == NEXT {
        state.first_poll.send_if_modified(|first| {
            let unset = first.is_none();
            first.get_or_insert_with(Instant::now);
            unset
        });
        return Ok(next(&state).await);
    }
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    if req.method() == Method::POST && parts.len() == 5 && parts[2] == "invocation" {
        let (id, ok) = (parts[3].to_owned(), parts[4] == "response");
        let body = body_bytes(req).await;
        let served = state
            .served
            .lock()
            .ok()
            .and_then(|mut s| s.remove(&id))
            .unwrap_or_else(Instant::now);
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let answered = Instant::now();
        let _ = state.done.send(Finished {
            id,
            served,
            answered,
            ok,
            body,
        });
        return Ok(text(StatusCode::ACCEPTED, "{}"));
    }
    if path == "/2018-06-01/runtime/init/error" {
        let body = body_bytes(req).await;
        eprintln!(
            "bench: the function failed to start: {}",
            String::from_utf8_lossy(&body)
        );
        return Ok(text(StatusCode::ACCEPTED, "{}"));
    }
    Ok(text(StatusCode::NOT_FOUND, "unknown runtime API path"))
}

/// Waits for the next queued event and serves it with the headers Lambda sends.
async fn next(state: &State) -> Response<Full<Bytes>> {
    let next = state.pending.lock().await.recv().await;
    let Some((id, event)) = next else {
        return text(StatusCode::GONE, "no more events");
    };
    if let Ok(mut served) = state.served.lock() {
        served.insert(id.clone(), Instant::now());
    }
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() + 120_000)
        .unwrap_or_default();
    let mut r = text(StatusCode::OK, &event.to_string());
    let headers = [
        ("lambda-runtime-aws-request-id", id.clone()),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            FUNCTION_ARN.to_owned(),
        ),
        ("lambda-runtime-trace-id", format!("Root=1-00000000-{id}")),
        ("content-type", "application/json".to_owned()),
    ];
    for (k, v) in headers {
        if let Ok(v) = hyper::header::HeaderValue::from_str(&v) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

async fn body_bytes(req: Request<Incoming>) -> Bytes {
    req.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())));
    *r.status_mut() = status;
    r
}

impl Finished {
    /// The outcome the function answered (`batch` for an SQS batch answer, `error …` for an error).
    pub fn outcome(&self) -> String {
        if !self.ok {
            return format!("error {}", self.body);
        }
        self.body
            .get("outcome")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| "batch".to_owned())
    }

    /// Whether the function says it published its report.
    pub fn notified(&self) -> bool {
        self.ok && self.body.get("notified").and_then(Value::as_bool) == Some(true)
    }
}
