//! `sandbox bench`: figures for `make bench`, measured on the real (release) Lambda binary.
//!
//! The binary runs as Lambda runs it: a process that polls a Runtime API. Here that API is a small
//! emulator ([`RuntimeApi`]); AWS is moto behind a counting proxy ([`CountingProxy`]) so every AWS call the
//! function makes is counted per operation; Kubernetes is the fake API. Nothing here asserts a time: it
//! prints figures.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_credential_types::provider::ProvideCredentials;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::kube::FakeKube;
use crate::moto::Moto;
use crate::util::Context;
use crate::world::{NewSubnetRouting, World, WorldOptions};
use crate::Error;

// ------------------------------------------------------------------------------------------------
// Counting proxy: plain TCP, one request per connection (`Connection: close` both ways).

/// Forwards HTTP/1.1 requests to an upstream, counts them per `service:Operation` and records when each
/// was received and answered (to measure how many calls ran one after the other).
pub struct CountingProxy {
    pub endpoint: String,
    counts: Arc<Mutex<BTreeMap<String, usize>>>,
    spans: Arc<Mutex<Vec<(Instant, Instant)>>>,
}

/// The longest chain of calls each of which started after the previous one was answered: the number
/// of sequential round trips, measured from the calls' own times (two overlapping calls ran
/// concurrently and count once).
pub fn longest_chain(spans: &[(Instant, Instant)]) -> usize {
    let mut by_end: Vec<(Instant, Instant)> = spans.to_vec();
    by_end.sort_by_key(|(_, end)| *end);
    let mut chain = vec![0usize; by_end.len()];
    for i in 0..by_end.len() {
        let before = (0..i)
            .filter(|&j| by_end[j].1 <= by_end[i].0)
            .map(|j| chain[j])
            .max()
            .unwrap_or(0);
        chain[i] = before + 1;
    }
    chain.into_iter().max().unwrap_or(0)
}

impl CountingProxy {
    pub async fn start(upstream: &str) -> Result<CountingProxy, Error> {
        let upstream = upstream
            .strip_prefix("http://")
            .ok_or("the proxy forwards to http:// only")?
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
            .await
            .context("bind proxy")?;
        let port = listener.local_addr()?.port();
        let counts = Arc::new(Mutex::new(BTreeMap::new()));
        let spans = Arc::new(Mutex::new(Vec::new()));
        let (shared, shared_spans) = (counts.clone(), spans.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, counts, spans) =
                    (upstream.clone(), shared.clone(), shared_spans.clone());
                tokio::spawn(async move {
                    let received = Instant::now();
                    if let Err(e) = forward(client, &upstream, &counts).await {
                        eprintln!("bench proxy: {e}");
                    }
                    if let Ok(mut s) = spans.lock() {
                        s.push((received, Instant::now()));
                    }
                });
            }
        });
        Ok(CountingProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            counts,
            spans,
        })
    }

    /// The longest sequential chain of the calls since the last call, and forgets them.
    pub fn take_chain(&self) -> usize {
        let spans = self
            .spans
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        longest_chain(&spans)
    }

    /// The counts since the last call, and resets them.
    pub fn take(&self) -> BTreeMap<String, usize> {
        self.counts
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}

pub(crate) async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize, Error> {
    loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(pos + 4);
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed before the end of the headers".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Rewrites the `Connection` header of an HTTP head to `close`.
pub(crate) fn close_head(head: &str) -> String {
    let mut lines: Vec<&str> = head
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("Connection: close");
    format!("{}\r\n\r\n", lines.join("\r\n"))
}

/// `ec2:DescribeRouteTables`, `eks:GET /clusters/{name}` …
pub fn operation(head: &str, body: &[u8]) -> String {
    let service = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
        .and_then(|l| l.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unsigned")
        .to_string();
    let body = String::from_utf8_lossy(body);
    if let Some(action) = body.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
        return format!("{service}:{action}");
    }
    let request_line = head.lines().next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("?");
    let path = parts.next().unwrap_or("/").split('?').next().unwrap_or("/");
    // Keep the resource shape, not the names: /clusters/x/node-groups/y -> /clusters/{}/node-groups/{}
    let shape: Vec<&str> = path
        .split('/')
        .enumerate()
        .map(|(i, seg)| {
            if i % 2 == 1 || seg.is_empty() {
                seg
            } else {
                "{}"
            }
        })
        .collect();
    format!("{service}:{method} {}", shape.join("/"))
}

async fn forward(
    mut client: TcpStream,
    upstream: &str,
    counts: &Mutex<BTreeMap<String, usize>>,
) -> Result<(), Error> {
    let mut buf = Vec::new();
    let head_len = read_head(&mut client, &mut buf).await?;
    let head = String::from_utf8_lossy(&buf[..head_len]).to_string();
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_len + length {
        let mut chunk = vec![0u8; head_len + length - buf.len()];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed inside the body".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = &buf[head_len..head_len + length];
    if let Ok(mut c) = counts.lock() {
        *c.entry(operation(&head, body)).or_default() += 1;
    }
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(close_head(&head).as_bytes()).await?;
    up.write_all(body).await?;
    let mut response = Vec::new();
    let response_head = read_head(&mut up, &mut response).await?;
    let head = String::from_utf8_lossy(&response[..response_head]).to_string();
    client.write_all(close_head(&head).as_bytes()).await?;
    client.write_all(&response[response_head..]).await?;
    // With a Content-Length, the answer is complete once that many bytes are through: the caller may
    // send its next request before the upstream closes, so stop there (the span ends when it could).
    match content_length(&head) {
        Some(length) => {
            let left = length.saturating_sub(response.len() - response_head);
            tokio::io::copy(&mut (&mut up).take(left as u64), &mut client).await?;
        }
        None => {
            tokio::io::copy(&mut up, &mut client).await?;
        }
    }
    client.shutdown().await?;
    Ok(())
}

fn content_length(head: &str) -> Option<usize> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    })
}

// ------------------------------------------------------------------------------------------------
// Lambda Runtime API emulator (the subset a custom runtime uses).

struct Finished {
    served: Instant,
    answered: Instant,
    ok: bool,
    body: Value,
}

struct RuntimeState {
    pending: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>,
    served: Mutex<HashMap<String, Instant>>,
    done: mpsc::UnboundedSender<(String, Finished)>,
}

pub struct RuntimeApi {
    /// `127.0.0.1:<port>` (what `AWS_LAMBDA_RUNTIME_API` holds).
    pub address: String,
    queue: mpsc::UnboundedSender<(String, Value)>,
    done: mpsc::UnboundedReceiver<(String, Finished)>,
    next_id: usize,
}

impl RuntimeApi {
    pub async fn start() -> Result<RuntimeApi, Error> {
        let (queue, pending) = mpsc::unbounded_channel();
        let (done_tx, done) = mpsc::unbounded_channel();
        let state = Arc::new(RuntimeState {
            pending: tokio::sync::Mutex::new(pending),
            served: Mutex::new(HashMap::new()),
            done: done_tx,
        });
        let listener = TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
            .await
            .context("bind runtime API")?;
        let port = listener.local_addr()?.port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| runtime_route(state.clone(), req));
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
            next_id: 0,
        })
    }

    pub fn enqueue(&mut self, event: Value) -> Result<String, Error> {
        self.next_id += 1;
        let id = format!("bench-{:06}", self.next_id);
        self.queue
            .send((id.clone(), event))
            .map_err(|_| "runtime API queue closed")?;
        Ok(id)
    }

    async fn finished(&mut self, timeout: Duration) -> Result<(String, Finished), Error> {
        tokio::time::timeout(timeout, self.done.recv())
            .await
            .map_err(|_| format!("no answer from the function within {timeout:?}"))?
            .ok_or_else(|| "runtime API stopped".into())
    }
}

async fn body_bytes(req: Request<hyper::body::Incoming>) -> Bytes {
    req.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r
}

async fn runtime_route(
    state: Arc<RuntimeState>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    if req.method() == hyper::Method::GET && path == "/2018-06-01/runtime/invocation/next" {
        let next = state.pending.lock().await.recv().await;
        let Some((id, event)) = next else {
            return Ok(text(StatusCode::GONE, "no more events"));
        };
        if let Ok(mut served) = state.served.lock() {
            served.insert(id.clone(), Instant::now());
        }
        let deadline = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() + 120_000)
            .unwrap_or_default();
        let mut r = text(StatusCode::OK, &event.to_string());
        let h = r.headers_mut();
        for (k, v) in [
            ("lambda-runtime-aws-request-id", id.clone()),
            ("lambda-runtime-deadline-ms", deadline.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-west-2:123456789012:function:eks-node-join-remediator"
                    .to_string(),
            ),
            ("lambda-runtime-trace-id", format!("Root=1-00000000-{id}")),
            ("content-type", "application/json".to_string()),
        ] {
            if let Ok(v) = hyper::header::HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        }
        return Ok(r);
    }
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    if req.method() == hyper::Method::POST && parts.len() == 5 && parts[2] == "invocation" {
        let id = parts[3].to_string();
        let ok = parts[4] == "response";
        let body = body_bytes(req).await;
        let served = state
            .served
            .lock()
            .ok()
            .and_then(|mut s| s.remove(&id))
            .unwrap_or_else(Instant::now);
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let _ = state.done.send((
            id,
            Finished {
                served,
                answered: Instant::now(),
                ok,
                body,
            },
        ));
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

// ------------------------------------------------------------------------------------------------
// Scenarios.

struct Function {
    child: tokio::process::Child,
    runtime: RuntimeApi,
    proxy: CountingProxy,
    started: Instant,
}

impl Function {
    async fn start(
        binary: &Path,
        world: &World,
        kube: &FakeKube,
        mode: &str,
        topic: Option<&str>,
    ) -> Result<Function, Error> {
        let moto = Moto::shared().await;
        let proxy = CountingProxy::start(&moto.endpoint).await?;
        let runtime = RuntimeApi::start().await?;
        let creds = world
            .sdk
            .credentials_provider()
            .ok_or("world has no credentials")?
            .provide_credentials()
            .await
            .context("credentials")?;
        let mut cmd = tokio::process::Command::new(binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "eks-node-join-remediator")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "/aws/lambda/eks-node-join-remediator",
            )
            .env("AWS_REGION", &world.region)
            .env("AWS_ENDPOINT_URL", &proxy.endpoint)
            .env("AWS_ACCESS_KEY_ID", creds.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key())
            .env("MODE", mode)
            .env("STATE_TABLE", &world.state_table)
            .env("GRACE_PERIOD_SECONDS", "0")
            .env("KUBE_API_ENDPOINT_OVERRIDE", &kube.endpoint)
            .env("KUBE_CA_FILE", &kube.ca_file)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(token) = creds.session_token() {
            cmd.env("AWS_SESSION_TOKEN", token);
        }
        if let Some(topic) = topic {
            cmd.env("SNS_TOPIC_ARN", topic);
        }
        let started = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        Ok(Function {
            child,
            runtime,
            proxy,
            started,
        })
    }

    /// Peak resident memory of the process so far (VmHWM), in KiB.
    fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    }

    async fn invoke(&mut self, event: Value) -> Result<Finished, Error> {
        let id = self.runtime.enqueue(event)?;
        let (got, finished) = self.runtime.finished(Duration::from_secs(180)).await?;
        if got != id {
            return Err(format!("answer for {got}, expected {id}").into());
        }
        Ok(finished)
    }
}

fn print_process_figures(f: &Function, kube: &FakeKube) {
    println!("  Kubernetes API requests: {}", kube.requests_seen());
    println!(
        "  peak memory (VmHWM): {}",
        f.peak_rss_kib()
            .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
            .unwrap_or_else(|| "n/a".into())
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn calls_line(counts: &BTreeMap<String, usize>, events: usize) -> String {
    let total: usize = counts.values().sum();
    let detail: Vec<String> = counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{:.1} per event ({total} for {events}): {}",
        total as f64 / events.max(1) as f64,
        detail.join(", ")
    )
}

fn outcome(f: &Finished) -> String {
    if !f.ok {
        return format!("error {}", f.body);
    }
    f.body
        .get("outcome")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| "batch".to_string())
}

pub async fn run(binary: &Path, warm: usize, burst: usize) -> Result<(), Error> {
    let size = std::fs::metadata(binary)
        .with_context(|| format!("{} (run `make release` first)", binary.display()))?
        .len();
    println!(
        "binary: {} — {:.2} MiB ({size} bytes)",
        binary.display(),
        size as f64 / 1_048_576.0
    );
    let moto = Moto::shared().await;
    bench_seed(binary, moto, warm).await?;
    bench_burst(binary, moto, burst).await?;
    println!("\n(moto is a single Python process on this machine: AWS latency here is moto's, not AWS's.)");
    Ok(())
}

/// The seed in alert mode: cold start, then `warm` more events.
async fn bench_seed(binary: &Path, moto: &Moto, warm: usize) -> Result<(), Error> {
    // Full triage (gather, rules, SNS report) on every event.
    let (sdk, account) = moto.try_fresh_account().await?;
    let world = World::seed(sdk.clone(), &account).await?;
    let kube = FakeKube::start(sdk.clone(), &world.cluster_name).await?;
    let topic = aws_sdk_sns::Client::new(&sdk)
        .create_topic()
        .name("bench-reports")
        .send()
        .await
        .context("sns:CreateTopic")?
        .topic_arn()
        .map(String::from);
    let stuck = world
        .nodegroup_instance_ids()
        .await?
        .into_iter()
        .next()
        .ok_or("no instance")?;
    let event = world.launch_event(&stuck).await?;
    let mut f = Function::start(binary, &world, &kube, "alert", topic.as_deref()).await?;
    let first = f.invoke(event.clone()).await?;
    let cold = first.answered.duration_since(f.started);
    let first_chain = f.proxy.take_chain();
    let first_calls = f.proxy.take();
    println!("\nseed, MODE=alert (not joined → diagnosed, SNS report):");
    println!(
        "  cold start (process start → first response via the Runtime API): {:.0} ms  [outcome: {}]",
        ms(cold),
        outcome(&first)
    );
    println!(
        "    of which handler: {:.0} ms",
        ms(first.answered.duration_since(first.served))
    );
    println!("  AWS calls, first event: {}", calls_line(&first_calls, 1));
    println!("  longest sequential chain of AWS calls, first event (measured at the proxy): {first_chain}");
    warm_events(&mut f, &event, warm).await?;
    print_process_figures(&f, &kube);
    Ok(())
}

async fn warm_events(f: &mut Function, event: &Value, warm: usize) -> Result<(), Error> {
    let mut times = Vec::new();
    let mut chain = 0;
    for _ in 0..warm {
        let r = f.invoke(event.clone()).await?;
        if outcome(&r) != "diagnosed" {
            return Err(format!("unexpected outcome {}", outcome(&r)).into());
        }
        times.push(ms(r.answered.duration_since(r.served)));
        chain = chain.max(f.proxy.take_chain());
    }
    println!("  longest sequential chain of AWS calls, warm events (measured): {chain}");
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "  warm handler time over {warm} events: median {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        percentile(&times, 50.0),
        percentile(&times, 95.0),
        percentile(&times, 100.0)
    );
    println!(
        "  AWS calls, warm events: {}",
        calls_line(&f.proxy.take(), warm)
    );
    Ok(())
}

/// A burst of healthy launches through the delay queue: batches of 10 SQS records.
async fn bench_burst(binary: &Path, moto: &Moto, burst: usize) -> Result<(), Error> {
    let (sdk, account) = moto.try_fresh_account().await?;
    let healthy = World::build(
        sdk.clone(),
        &account,
        WorldOptions {
            desired_capacity: 10,
            ..WorldOptions::routed(NewSubnetRouting::ViaNat)
        },
    )
    .await?;
    let kube = FakeKube::start(sdk.clone(), &healthy.cluster_name).await?;
    let ids = healthy.nodegroup_instance_ids().await?;
    let mut bodies = Vec::new();
    for id in &ids {
        bodies.push(healthy.launch_event(id).await?.to_string());
    }
    let mut f = Function::start(binary, &healthy, &kube, "alert", None).await?;
    healthy_direct(&mut f, &healthy, &ids).await?;
    let batches = burst.div_ceil(10);
    let started = Instant::now();
    let mut tally = Tally::default();
    for b in 0..batches {
        let records = sqs_batch(&bodies, b, &healthy.region);
        let r = f.invoke(json!({ "Records": records })).await?;
        tally.add(&r);
    }
    let Tally {
        handler,
        registered,
        failures,
    } = tally;
    let wall = started.elapsed();
    let events = batches * 10;
    println!("\nburst: {events} healthy launches as {batches} SQS batches of 10 (delayed check → registered):");
    println!(
        "  wall {:.2} s, handler {:.2} s in all = {:.1} ms of compute per launch; {registered} registered, {failures} batch item failures",
        wall.as_secs_f64(),
        handler.as_secs_f64(),
        ms(handler) / events as f64
    );
    println!("  AWS calls: {}", calls_line(&f.proxy.take(), events));
    print_process_figures(&f, &kube);
    Ok(())
}

/// Two direct launches of registered nodes: the first on a cold cache, the second warm.
async fn healthy_direct(f: &mut Function, world: &World, ids: &[String]) -> Result<(), Error> {
    println!("\nhealthy launch, direct (registered):");
    for (label, id) in ["first (cold caches)", "second (warm container)"]
        .iter()
        .zip(ids)
    {
        let r = f.invoke(world.launch_event(id).await?).await?;
        let chain = f.proxy.take_chain();
        let calls = f.proxy.take();
        println!(
            "  {label}: {} AWS calls, longest sequential chain {chain}, handler {:.0} ms [outcome: {}]",
            calls.values().sum::<usize>(),
            ms(r.answered.duration_since(r.served)),
            outcome(&r)
        );
    }
    Ok(())
}

/// Records `10 * b .. 10 * b + 10` of a burst, cycling through `bodies`.
fn sqs_batch(bodies: &[String], b: usize, region: &str) -> Vec<Value> {
    (0..10)
        .map(|i| {
            let n = b * 10 + i;
            json!({
                "messageId": format!("m-{n}"),
                "receiptHandle": format!("h-{n}"),
                "body": bodies[n % bodies.len()],
                "attributes": {}, "messageAttributes": {},
                "eventSource": "aws:sqs", "awsRegion": region,
            })
        })
        .collect()
}

/// Handler time, registered launches and batch item failures of a burst.
#[derive(Default)]
struct Tally {
    handler: Duration,
    registered: usize,
    failures: usize,
}

impl Tally {
    fn add(&mut self, r: &Finished) {
        self.handler += r.answered.duration_since(r.served);
        self.failures += r.body["batchItemFailures"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(10);
        self.registered += r.body["results"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .filter(|x| x["report"]["outcome"] == "registered")
                    .count()
            })
            .unwrap_or(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_chain_counts_calls_that_waited_for_each_other_once_each() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + std::time::Duration::from_millis(ms);
        // group || instance, then cluster, then (nodegroup || five reads), then publish.
        let spans = [
            (at(0), at(10)),
            (at(1), at(9)),
            (at(11), at(20)),
            (at(21), at(30)),
            (at(21), at(35)),
            (at(22), at(28)),
            (at(36), at(40)),
        ];
        assert_eq!(longest_chain(&spans), 4);
        assert_eq!(longest_chain(&[]), 0);
        assert_eq!(longest_chain(&[(at(0), at(5)), (at(1), at(6))]), 1);
    }

    #[test]
    fn operations_are_named_by_service_and_action_or_resource_shape() {
        let head = "POST / HTTP/1.1\r\nauthorization: AWS4-HMAC-SHA256 Credential=AKID/20261127/us-west-2/ec2/aws4_request, SignedHeaders=host, Signature=x\r\n\r\n";
        assert_eq!(
            operation(head, b"Action=DescribeRouteTables&Version=2016-11-15"),
            "ec2:DescribeRouteTables"
        );
        let head = "GET /clusters/eks-workshop/node-groups/new_nodegroup_2 HTTP/1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKID/20261127/us-west-2/eks/aws4_request\r\n\r\n";
        assert_eq!(operation(head, b""), "eks:GET /clusters/{}/node-groups/{}");
    }

    #[test]
    fn heads_are_rewritten_to_close_the_connection() {
        let head = "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(
            close_head(head),
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
        );
    }
}
