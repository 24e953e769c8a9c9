//! The seed's world in alert mode (not joined → diagnosed, SNS report): the event every init run handles
//! first, then one process handling `warm` more events, to see what a warm container costs and that it
//! reuses its TLS connections. Events are paced so EC2's read bucket refills between them (each event's
//! reads / 20 per second): a warm event's time is the function's, not the throttling's (the scale-out
//! measures that).

use std::path::Path;

use serde_json::{json, Value};

use super::function::{aws_env, Function, Settings};
use super::proxy::{Proxy, Tally};
use super::report::Report;
use super::stats::{median, ms, percentile};
use crate::kube::FakeKube;
use crate::moto::Moto;
use crate::util::Context;
use crate::world::{reported_now, World};
use crate::Error;

pub struct Seed {
    pub kube: FakeKube,
    pub event: Value,
    /// The Lambda's whole environment but the Runtime API.
    pub env: Vec<(String, String)>,
    pub claims: Claims,
}

/// The function's state table, reached directly (not through the counting proxy).
pub struct Claims {
    ddb: aws_sdk_dynamodb::Client,
    table: String,
}

impl Claims {
    /// Forgets what earlier events claimed and stored, so the next one is handled as a new instance's
    /// launch would be (the seed has one stuck instance; without this, every event after the first
    /// finds it reported and publishes nothing).
    pub async fn forget(&self) -> Result<(), Error> {
        let items = self
            .ddb
            .scan()
            .table_name(&self.table)
            .send()
            .await
            .context("dynamodb:Scan")?;
        for item in items.items() {
            let Some(key) = item.get("pk").cloned() else {
                continue;
            };
            self.ddb
                .delete_item()
                .table_name(&self.table)
                .key("pk", key)
                .send()
                .await
                .context("dynamodb:DeleteItem")?;
        }
        Ok(())
    }
}

impl Seed {
    pub async fn build(moto: &Moto, proxy: &Proxy) -> Result<Seed, Error> {
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
            .ok_or("the seed's nodegroup launched no instance")?;
        let event = world.launch_event(&stuck).await?;
        let mut env = Settings::alert(topic).env(&world, &kube.endpoint, &kube.ca_file);
        env.extend(aws_env(&world, proxy).await?);
        let claims = Claims {
            ddb: aws_sdk_dynamodb::Client::new(&sdk),
            table: world.state_table.clone(),
        };
        Ok(Seed {
            kube,
            event,
            env,
            claims,
        })
    }
}

/// Per-event figures of the warm events.
#[derive(Debug, Default)]
struct Warm {
    handler_ms: Vec<f64>,
    handshakes: usize,
    /// Handshakes per service, and in which warm event (1-based) each happened.
    handshakes_by_service: std::collections::BTreeMap<String, usize>,
    events_with_handshakes: Vec<usize>,
    /// The calls of each warm event that opened a connection ([`super::chain::timeline`]): which call
    /// found no idle connection, and what else was in flight.
    calls_of_events_with_handshakes: Vec<Value>,
    chain: usize,
    /// The calls of the longest chain of any warm event.
    chain_ops: String,
    throttled: usize,
    calls: std::collections::BTreeMap<String, usize>,
}

/// One process: the first event, then `warm` more; handshakes counted per event.
pub async fn warm_container(
    report: &mut Report,
    binary: &Path,
    seed: &Seed,
    proxy: &Proxy,
    warm: usize,
) -> Result<(), Error> {
    seed.claims.forget().await?;
    proxy.take();
    let mut f = Function::start(binary, &seed.env).await?;
    let first = f.invoke(reported_now(&seed.event)).await?;
    let first_tally = proxy.take();
    tokio::time::sleep(first_tally.ec2_refill_time()).await;
    let mut w = Warm::default();
    for _ in 0..warm {
        seed.claims.forget().await?;
        proxy.take();
        let r = f.invoke(reported_now(&seed.event)).await?;
        if r.outcome() != "diagnosed" || !r.notified() {
            f.stop().await;
            let outcome = r.outcome();
            return Err(
                format!("warm event: {outcome}, report published: {}", r.notified()).into(),
            );
        }
        let tally = proxy.take();
        let pause = tally.ec2_refill_time();
        w.add(ms(r.handler_time()), tally);
        tokio::time::sleep(pause).await;
    }
    let rss = f.process.peak_rss_kib();
    f.stop().await;
    let first_ms = ms(first.handler_time());
    print_warm(&first.outcome(), first_ms, &first_tally, &w, warm);
    record_warm(
        report,
        first_ms,
        &first_tally,
        &w,
        warm,
        rss,
        seed.kube.requests_seen(),
    );
    Ok(())
}

impl Warm {
    fn add(&mut self, handler_ms: f64, tally: Tally) {
        self.handler_ms.push(handler_ms);
        self.handshakes += tally.handshakes_total();
        if tally.handshakes_total() > 0 {
            self.events_with_handshakes.push(self.handler_ms.len());
            let calls = super::chain::timeline(&tally.spans);
            self.calls_of_events_with_handshakes.push(calls);
        }
        for (service, n) in &tally.handshakes {
            *self
                .handshakes_by_service
                .entry(service.clone())
                .or_default() += n;
        }
        let chain = super::chain::chain(&tally.spans);
        if chain.len() > self.chain {
            self.chain = chain.len();
            self.chain_ops = super::chain::describe(&chain);
        }
        self.throttled += tally.throttled_total();
        for (op, n) in tally.calls {
            *self.calls.entry(op).or_default() += n;
        }
    }
}

fn print_warm(outcome: &str, first_ms: f64, first: &Tally, w: &Warm, warm: usize) {
    println!("\nseed, MODE=alert, one process (not joined → {outcome}, SNS report):");
    println!(
        "  first event: handler {first_ms:.0} ms, {} AWS calls, {} TLS handshakes ({}), longest chain {}: {}",
        first.calls_total(),
        first.handshakes_total(),
        join(&first.handshakes),
        super::chain::longest_chain(&first.spans),
        super::chain::describe(&super::chain::chain(&first.spans))
    );
    println!(
        "  {warm} warm events: handler median {:.0} ms, p95 {:.0} ms; {} TLS handshakes in all ({}; in events {:?}); {} AWS calls per event ({}); throttled {}",
        median(&w.handler_ms),
        percentile(&w.handler_ms, 95.0),
        w.handshakes,
        join(&w.handshakes_by_service),
        w.events_with_handshakes,
        w.calls.values().sum::<usize>() as f64 / warm.max(1) as f64,
        join(&w.calls),
        w.throttled
    );
    println!(
        "  longest chain of any warm event: {}: {}",
        w.chain, w.chain_ops
    );
}

fn record_warm(
    report: &mut Report,
    first_ms: f64,
    first: &Tally,
    w: &Warm,
    warm: usize,
    rss: Option<u64>,
    kube_requests: usize,
) {
    let before = super::chain::before_report(&first.spans);
    let before_report = super::chain::longest_chain(&before);
    report.figure(
        "seed's first event in the warm-container run: longest AWS chain before the report",
        format!(
            "{before_report}: {}",
            super::chain::describe(&super::chain::chain(&before))
        ),
    );
    report.figure(
        "longest chain, seed's first event, report included",
        super::chain::longest_chain(&first.spans).to_string(),
    );
    let per_warm = w.handshakes as f64 / warm.max(1) as f64;
    report.goal(
        "TLS handshakes per warm event",
        format!("{per_warm:.2} ({} over {warm} events)", w.handshakes),
        "0",
        (warm > 0).then_some(w.handshakes == 0),
    );
    report.figure(
        "warm handler time (median / p95)",
        format!(
            "{:.0} / {:.0} ms",
            median(&w.handler_ms),
            percentile(&w.handler_ms, 95.0)
        ),
    );
    report.figure(
        "peak memory, one process (VmHWM)",
        rss.map(mib).unwrap_or_else(|| "n/a".into()),
    );
    report.section(
        "warm_container",
        json!({
            "first_event": {
                "handler_ms": first_ms,
                "aws_calls": first.calls,
                "handshakes": first.handshakes,
                "longest_chain": super::chain::longest_chain(&first.spans),
                "longest_chain_ops": super::chain::describe(&super::chain::chain(&first.spans)),
                "longest_chain_before_report": before_report,
            },
            "warm_events": warm,
            "warm_handler_ms": w.handler_ms,
            "warm_handshakes": w.handshakes,
            "warm_handshakes_by_service": w.handshakes_by_service,
            "warm_events_with_handshakes": w.events_with_handshakes,
            "warm_events_with_handshakes_calls": w.calls_of_events_with_handshakes,
            "warm_longest_chain": w.chain,
            "warm_longest_chain_ops": w.chain_ops,
            "warm_aws_calls": w.calls,
            "warm_throttled": w.throttled,
            "peak_rss_kib": rss,
            "kubernetes_requests": kube_requests,
        }),
    );
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// `a=1, b=2`.
pub fn join(counts: &std::collections::BTreeMap<String, usize>) -> String {
    let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join(", ")
}
