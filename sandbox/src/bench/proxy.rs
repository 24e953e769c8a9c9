//! The bench's view of AWS: a TLS-terminating proxy in front of moto. Every service gets its own
//! listener (`AWS_ENDPOINT_URL_<SERVICE>`), so, as on Lambda, each service costs the function its own TLS
//! handshake, and connections are kept alive between calls, so reuse shows. The proxy counts every call
//! per operation, the handshakes per service, the calls' times (for the longest sequential chain), and
//! enforces EC2's request buckets ([`super::buckets`]). DynamoDB calls are forwarded one at a time, so
//! conditional writes stay atomic as in DynamoDB (moto's threaded server does not make them so).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::buckets::{request_limit_exceeded, ActionClass, Buckets, NON_MUTATING};
use super::chain::Connection;
use super::operation::{form_value, operation, Scope};
use super::tls::ProxyTls;
use crate::util::{random_uuid, Context};
use crate::Error;

/// The services the function calls (the SDK's service id, as its endpoint variable spells it).
const SERVICES: [(&str, &str); 7] = [
    ("ec2", "EC2"),
    ("eks", "EKS"),
    ("iam", "IAM"),
    ("autoscaling", "AUTO_SCALING"),
    ("sns", "SNS"),
    ("dynamodb", "DYNAMODB"),
    ("sts", "STS"),
];

/// A mutating query-protocol call, as sent.
#[derive(Debug, Clone)]
pub struct Write {
    pub operation: String,
    pub body: String,
    pub status: u16,
}

impl Write {
    pub fn param(&self, key: &str) -> Option<String> {
        form_value(self.body.as_bytes(), key)
    }
}

/// What the proxy saw since the last [`Proxy::take`].
#[derive(Debug, Default)]
pub struct Tally {
    /// Calls forwarded to moto, per operation.
    pub calls: BTreeMap<String, usize>,
    /// Calls answered `RequestLimitExceeded` by the proxy, per operation.
    pub throttled: BTreeMap<String, usize>,
    /// Forwarded calls moto answered with an error status, per operation.
    pub errors: BTreeMap<String, usize>,
    /// TLS handshakes completed, per service listener.
    pub handshakes: BTreeMap<String, usize>,
    /// When each call started (for a connection's first call, when the client connected) and was
    /// answered, and its operation.
    pub spans: Vec<super::chain::Span>,
    pub writes: Vec<Write>,
}

impl Tally {
    pub fn calls_total(&self) -> usize {
        self.calls.values().sum()
    }
    pub fn throttled_total(&self) -> usize {
        self.throttled.values().sum()
    }
    pub fn handshakes_total(&self) -> usize {
        self.handshakes.values().sum()
    }

    /// How long EC2's non-mutating bucket takes to earn back what these calls took from it (answered or
    /// throttled): waiting that long before the next event keeps a sequence of events within budget.
    pub fn ec2_refill_time(&self) -> Duration {
        let reads = |m: &BTreeMap<String, usize>| -> usize {
            m.iter()
                .filter_map(|(op, n)| Some((op.strip_prefix("ec2:")?, n)))
                .filter(|(action, _)| ActionClass::of(action) == ActionClass::NonMutating)
                .map(|(_, n)| n)
                .sum()
        };
        let taken = reads(&self.calls) + reads(&self.throttled);
        Duration::from_secs_f64(taken as f64 / NON_MUTATING.refill_per_second)
    }
}

struct Shared {
    upstream: String,
    tally: Mutex<Tally>,
    buckets: Mutex<Buckets>,
    /// DynamoDB's conditional writes are atomic; moto's threaded server checks a condition and writes
    /// without a lock, so two concurrent writes could both pass. DynamoDB calls go to moto one at a time.
    dynamodb: tokio::sync::Mutex<()>,
}

pub struct Proxy {
    /// `(service id, https://127.0.0.1:<port>)`, plus `("", …)` for any other service.
    endpoints: Vec<(&'static str, String)>,
    /// `SSL_CERT_FILE` for the function: the system roots and the proxy's CA.
    pub trust_file: PathBuf,
    /// How many system roots the trust file holds.
    pub system_roots: usize,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Starts one TLS listener per service, all forwarding to `upstream` (`http://host:port`), with the
    /// trust bundle written into `dir`.
    pub async fn start(upstream: &str, dir: &std::path::Path) -> Result<Proxy, Error> {
        let upstream = upstream
            .strip_prefix("http://")
            .ok_or("the proxy forwards to http:// only")?
            .trim_end_matches('/')
            .to_owned();
        let tls = ProxyTls::generate()?;
        let (trust_file, system_roots) = tls.write_trust_bundle(dir)?;
        let acceptor = TlsAcceptor::from(tls.server_config.clone());
        let shared = Arc::new(Shared {
            upstream,
            tally: Mutex::new(Tally::default()),
            buckets: Mutex::new(Buckets::default()),
            dynamodb: tokio::sync::Mutex::new(()),
        });
        let mut endpoints = Vec::new();
        for (service, id) in SERVICES.iter().copied().chain([("other", "")]) {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .context("bind proxy")?;
            let port = listener.local_addr()?.port();
            tokio::spawn(accept(listener, acceptor.clone(), shared.clone(), service));
            endpoints.push((id, format!("https://127.0.0.1:{port}")));
        }
        Ok(Proxy {
            endpoints,
            trust_file,
            system_roots,
            shared,
        })
    }

    /// The function's environment for AWS: an endpoint per service, the trust bundle.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .endpoints
            .iter()
            .map(|(id, url)| match *id {
                "" => ("AWS_ENDPOINT_URL".to_owned(), url.clone()),
                id => (format!("AWS_ENDPOINT_URL_{id}"), url.clone()),
            })
            .collect();
        env.push((
            "SSL_CERT_FILE".to_owned(),
            self.trust_file.display().to_string(),
        ));
        env
    }

    /// Everything seen since the last call, and forgets it.
    pub fn take(&self) -> Tally {
        self.shared
            .tally
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default()
    }
}

async fn accept(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    service: &'static str,
) {
    while let Ok((tcp, _)) = listener.accept().await {
        crate::util::no_delay(&tcp);
        let (acceptor, shared) = (acceptor.clone(), shared.clone());
        let connected = Instant::now();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let opened = Arc::new(std::sync::Mutex::new(Some(Opened {
                connected,
                handshaken: Instant::now(),
            })));
            if let Ok(mut t) = shared.tally.lock() {
                *t.handshakes.entry(service.to_owned()).or_default() += 1;
            }
            let handler = service_fn(move |req| {
                let first = opened.lock().ok().and_then(|mut c| c.take());
                handle(shared.clone(), service, req, first)
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(tls), handler)
                .await;
        });
    }
}

/// When a connection was opened and when its handshake ended.
#[derive(Clone, Copy)]
struct Opened {
    connected: Instant,
    handshaken: Instant,
}

/// A client sends the call that opened a connection as soon as the handshake is done; a first call that
/// arrives later than this found the connection idle in the client's pool, opened for a call that went on
/// another connection. A new connection's call misjudged idle is dated later than it started (the chain
/// can only lengthen); a call that found the connection idle within this time of its handshake is dated
/// from the connect, earlier than it started by at most this time plus the handshake.
const SENT_WHEN_READY: Duration = Duration::from_millis(10);

/// When a call started and how it came: the first call on a connection opened for it started when the
/// client connected (not when the handshake let it through); any other when it arrived.
fn received(opened: Option<Opened>, arrived: Instant) -> Received {
    let (at, connection) = match opened {
        Some(o) if arrived.saturating_duration_since(o.handshaken) <= SENT_WHEN_READY => {
            (o.connected, Connection::New)
        }
        Some(_) => (arrived, Connection::Idle),
        None => (arrived, Connection::Reused),
    };
    let handshake = opened.map(|o| o.handshaken.saturating_duration_since(o.connected));
    Received {
        at,
        connection,
        handshake,
    }
}

/// One call: named, throttled or forwarded, recorded. `opened`: for the first call on a connection.
async fn handle(
    shared: Arc<Shared>,
    listener: &'static str,
    req: Request<Incoming>,
    opened: Option<Opened>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let received = received(opened, Instant::now());
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let scope = Scope::of(header("authorization"));
    let service = if scope.service == "unsigned" {
        listener
    } else {
        scope.service.as_str()
    };
    let op = operation(
        service,
        header("x-amz-target"),
        parts.method.as_str(),
        parts.uri.path(),
        &body,
    );
    let action = (service == "ec2")
        .then(|| form_value(&body, "Action"))
        .flatten();
    if let Some(action) = &action {
        if !admitted(&shared, &scope, action) {
            record(&shared, &op, Outcome::Throttled, received, None);
            return Ok(throttled());
        }
    }
    let serial = match service {
        "dynamodb" => Some(shared.dynamodb.lock().await),
        _ => None,
    };
    let response = match forward(&shared.upstream, parts, body.clone()).await {
        Ok(r) => r,
        Err(e) => plain(StatusCode::BAD_GATEWAY, &format!("bench proxy: {e}")),
    };
    drop(serial);
    let status = response.status().as_u16();
    let write = form_value(&body, "Action")
        .filter(|a| ActionClass::of(a) == ActionClass::Mutating)
        .map(|_| String::from_utf8_lossy(&body).into_owned());
    record(&shared, &op, Outcome::Answered(status), received, write);
    Ok(response)
}

fn admitted(shared: &Shared, scope: &Scope, action: &str) -> bool {
    shared
        .buckets
        .lock()
        .map(|mut b| b.admit(&scope.access_key, &scope.region, action, Instant::now()))
        .unwrap_or(true)
}

enum Outcome {
    Throttled,
    Answered(u16),
}

/// When a call started, and how it came.
#[derive(Clone, Copy)]
struct Received {
    at: Instant,
    connection: Connection,
    handshake: Option<Duration>,
}

fn record(shared: &Shared, op: &str, outcome: Outcome, received: Received, write: Option<String>) {
    let Ok(mut t) = shared.tally.lock() else {
        return;
    };
    t.spans.push(super::chain::Span {
        start: received.at,
        end: Instant::now(),
        op: op.to_owned(),
        connection: received.connection,
        handshake: received.handshake,
    });
    match outcome {
        Outcome::Throttled => *t.throttled.entry(op.to_owned()).or_default() += 1,
        Outcome::Answered(status) => {
            *t.calls.entry(op.to_owned()).or_default() += 1;
            if status >= 300 {
                *t.errors.entry(op.to_owned()).or_default() += 1;
            }
            if let Some(body) = write {
                let operation = op.to_owned();
                t.writes.push(Write {
                    operation,
                    body,
                    status,
                });
            }
        }
    }
}

fn throttled() -> Response<Full<Bytes>> {
    let mut r = plain(
        StatusCode::SERVICE_UNAVAILABLE,
        &request_limit_exceeded(&random_uuid()),
    );
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    r
}

fn plain(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())));
    *r.status_mut() = status;
    r
}

/// Hop-by-hop headers, and the length the body framing recomputes.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

fn strip_hop_by_hop(headers: &mut hyper::HeaderMap) {
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The call sent to moto over a fresh plain-HTTP connection, its whole answer read.
async fn forward(
    upstream: &str,
    mut parts: hyper::http::request::Parts,
    body: Bytes,
) -> Result<Response<Full<Bytes>>, Error> {
    let tcp = TcpStream::connect(upstream)
        .await
        .context("connect to moto")?;
    crate::util::no_delay(&tcp);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .context("HTTP to moto")?;
    tokio::spawn(connection);
    strip_hop_by_hop(&mut parts.headers);
    let answer = sender
        .send_request(Request::from_parts(parts, Full::new(body)))
        .await
        .context("moto's answer")?;
    let (mut parts, body) = answer.into_parts();
    let body = body
        .collect()
        .await
        .context("moto's answer body")?
        .to_bytes();
    strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, Full::new(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_call_starts_at_the_connect_only_when_it_came_as_soon_as_the_handshake_was_done() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let opened = Some(Opened {
            connected: t0,
            handshaken: ms(20),
        });
        let opened_for_it = received(opened, ms(21));
        assert_eq!(
            (opened_for_it.at, opened_for_it.connection),
            (t0, Connection::New)
        );
        assert_eq!(opened_for_it.handshake, Some(Duration::from_millis(20)));
        let found_idle = received(opened, ms(60));
        assert_eq!(
            (found_idle.at, found_idle.connection),
            (ms(60), Connection::Idle)
        );
        let kept_alive = received(None, ms(70));
        assert_eq!(
            (kept_alive.at, kept_alive.connection),
            (ms(70), Connection::Reused)
        );
        assert_eq!(kept_alive.handshake, None);
    }

    #[test]
    fn the_refill_time_counts_ec2_reads_answered_or_throttled_and_nothing_else() {
        let mut tally = Tally::default();
        tally.calls.insert("ec2:DescribeSubnets".into(), 30);
        tally.calls.insert("ec2:CreateRoute".into(), 5);
        tally.calls.insert("eks:GET /clusters/{}".into(), 7);
        tally.throttled.insert("ec2:DescribeVpcs".into(), 10);
        assert_eq!(tally.ec2_refill_time(), Duration::from_secs(2));
        assert_eq!(Tally::default().ec2_refill_time(), Duration::ZERO);
    }
}
