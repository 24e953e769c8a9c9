//! A 500-node scale-out into the seed's broken subnet, in remediate mode: every launch reaches the
//! function twice, at once (EventBridge, one event per invocation) and after the grace period (the delay
//! queue, SQS batches of 10), handled by `concurrency` processes of the function polling one Runtime
//! API. Delayed copies the function hands back (`batchItemFailures`) are delivered again, as SQS does, up
//! to the template's `maxReceiveCount`, after EC2's buckets refilled. EC2's request buckets are enforced
//! by the proxy; Kubernetes is [`StaticKube`] (no node ever registers). The figures: route writes (1 is
//! right), recycles (only stuck instances, none twice, at most `MAX_RECYCLES_PER_HOUR`), throttling
//! answered and surfaced in an answer, AWS calls per launch, wall time, what reaches the DLQ.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::burst::{
    check_recycles, failed_messages, histogram, launch_event_for, launch_outcomes,
    mentions_throttling, recycled, route_writes, sqs_batches, RecycleCheck,
};
use super::function::{aws_env, scratch_dir, Pool, Settings};
use super::proxy::{Proxy, Tally};
use super::report::Report;
use super::runtime::Finished;
use super::seed::join;
use super::static_kube::StaticKube;
use crate::moto::Moto;
use crate::util::Context;
use crate::world::{World, WorldOptions};
use crate::Error;

/// The loop breaker the burst runs with (the function's default).
const MAX_RECYCLES_PER_HOUR: u32 = 3;

pub struct ScaleOut {
    pub launches: usize,
    pub concurrency: usize,
}

/// The world, its launches, and the function's environment.
struct Burst {
    world: World,
    kube: StaticKube,
    instances: Vec<String>,
    direct: Vec<Value>,
    env: Vec<(String, String)>,
}

/// What came back.
struct Run {
    direct: Vec<Finished>,
    /// The delayed copies' first receive.
    delayed: Vec<Finished>,
    /// Every answer to a redelivery.
    redelivered: Vec<Finished>,
    direct_wall: Duration,
    /// Wall time of each receive of the delayed copies (the first, then the redeliveries).
    receive_walls: Vec<Duration>,
    /// Delayed copies handed back after each receive; the last count went to the DLQ.
    handed_back: Vec<usize>,
    tally: Tally,
    peak_rss_kib: Option<u64>,
}

/// Receives of a delayed copy before SQS moves it to the DLQ (the template's `maxReceiveCount`).
const MAX_RECEIVES: usize = 3;

/// Between receives SQS waits out the visibility timeout (720 s), long enough for EC2's buckets to fill
/// up again: the bench waits until the read bucket is full.
const REFILL: Duration = Duration::from_secs(5);

pub async fn run(
    report: &mut Report,
    binary: &Path,
    moto: &Moto,
    proxy: &Proxy,
    opts: &ScaleOut,
) -> Result<(), Error> {
    if opts.launches == 0 {
        return Ok(());
    }
    let built = Instant::now();
    let burst = prepare(moto, proxy, opts.launches).await?;
    println!(
        "\nscale-out: {} instances launched into the broken subnet (world built in {:.0} s); {} direct + {} delayed (SQS batches of 10, redelivered up to {MAX_RECEIVES} receives) on {} processes, MODE=remediate …",
        burst.instances.len(),
        built.elapsed().as_secs_f64(),
        burst.instances.len(),
        burst.instances.len(),
        opts.concurrency
    );
    let run = execute(binary, &burst, proxy, opts.concurrency).await?;
    let routes = burst.world.routes(burst.world.new_subnet_table()).await?;
    let summary = summarize(&burst, &run, &routes);
    print_summary(&summary, &run);
    record(report, &summary, &run, burst.kube.requests_seen(), opts);
    Ok(())
}

async fn prepare(moto: &Moto, proxy: &Proxy, launches: usize) -> Result<Burst, Error> {
    let (sdk, account) = moto.try_fresh_account().await?;
    let desired = i32::try_from(launches).map_err(|_| "--scale-out is too large")?;
    let options = WorldOptions {
        desired_capacity: desired,
        ..WorldOptions::default()
    };
    let world = World::build(sdk.clone(), &account, options).await?;
    let kube = StaticKube::start(&scratch_dir("scale-out-kube")).await?;
    let topic = aws_sdk_sns::Client::new(&sdk)
        .create_topic()
        .name("bench-scale-out-reports")
        .send()
        .await
        .context("sns:CreateTopic")?
        .topic_arn()
        .map(String::from);
    let instances = world.nodegroup_instance_ids().await?;
    let first = instances
        .first()
        .ok_or("the nodegroup launched no instance")?;
    let template = world.launch_event(first).await?;
    let direct = instances
        .iter()
        .map(|id| launch_event_for(&template, id))
        .collect();
    let settings = Settings {
        mode: "remediate",
        registration_check: "delayed-queue",
        topic,
        max_recycles_per_hour: MAX_RECYCLES_PER_HOUR,
    };
    let mut env = settings.env(&world, &kube.endpoint, &kube.ca_file);
    env.extend(aws_env(&world, proxy).await?);
    Ok(Burst {
        world,
        kube,
        instances,
        direct,
        env,
    })
}

/// The direct copies first, then the delayed ones, on one pool of processes.
async fn execute(
    binary: &Path,
    burst: &Burst,
    proxy: &Proxy,
    concurrency: usize,
) -> Result<Run, Error> {
    proxy.take();
    let mut pool = Pool::start(binary, &burst.env, concurrency).await?;
    let run = phases(&mut pool, burst).await;
    let peak_rss_kib = pool.peak_rss_kib();
    pool.stop().await;
    let mut run = run?;
    run.tally = proxy.take();
    run.peak_rss_kib = peak_rss_kib;
    Ok(run)
}

async fn phases(pool: &mut Pool, burst: &Burst) -> Result<Run, Error> {
    let quiet = Duration::from_secs(300);
    let bodies: Vec<String> = burst.direct.iter().map(Value::to_string).collect();
    let t0 = Instant::now();
    let direct = pool.run(burst.direct.clone(), quiet).await?;
    let direct_wall = t0.elapsed();
    let mut pending: Vec<usize> = (0..bodies.len()).collect();
    let (mut receives, mut receive_walls, mut handed_back) = (Vec::new(), Vec::new(), Vec::new());
    for receive in 0..MAX_RECEIVES {
        if pending.is_empty() {
            break;
        }
        if receive > 0 {
            tokio::time::sleep(REFILL).await;
        }
        let batches = sqs_batches(&bodies, &pending, &burst.world.region);
        let t = Instant::now();
        let answers = pool.run(batches, quiet).await?;
        receive_walls.push(t.elapsed());
        pending = answers.iter().flat_map(failed_messages).collect();
        handed_back.push(pending.len());
        receives.push(answers);
    }
    let mut receives = receives.into_iter();
    Ok(Run {
        direct,
        delayed: receives.next().unwrap_or_default(),
        redelivered: receives.flatten().collect(),
        direct_wall,
        receive_walls,
        handed_back,
        tally: Tally::default(),
        peak_rss_kib: None,
    })
}

/// What the burst's answers and writes add up to.
struct Summary {
    launches: usize,
    outcomes_direct: BTreeMap<String, usize>,
    outcomes_delayed: BTreeMap<String, usize>,
    outcomes_redelivered: BTreeMap<String, usize>,
    /// Delayed copies still failing after the last receive: SQS moves them to the DLQ.
    to_dlq: usize,
    surfaced: usize,
    route_writes: usize,
    route_attempts: usize,
    recycles: RecycleCheck,
    recycles_ok: bool,
    default_route: Option<String>,
    calls: usize,
    throttled: usize,
}

fn summarize(burst: &Burst, run: &Run, routes: &[(String, String, String)]) -> Summary {
    let answers = run
        .direct
        .iter()
        .chain(&run.delayed)
        .chain(&run.redelivered);
    let (route_writes, route_attempts) = route_writes(&run.tally.writes);
    let stuck: BTreeSet<String> = burst.instances.iter().cloned().collect();
    let recycles = check_recycles(&recycled(&run.tally.writes), &stuck);
    let recycles_ok = recycles.not_stuck == 0
        && recycles.distinct == recycles.recycles
        && recycles.recycles <= MAX_RECYCLES_PER_HOUR as usize;
    Summary {
        launches: burst.instances.len(),
        outcomes_direct: histogram(run.direct.iter().flat_map(launch_outcomes)),
        outcomes_delayed: histogram(run.delayed.iter().flat_map(launch_outcomes)),
        outcomes_redelivered: histogram(run.redelivered.iter().flat_map(launch_outcomes)),
        to_dlq: run.handed_back.last().copied().unwrap_or_default(),
        surfaced: answers.filter(|a| mentions_throttling(&a.body)).count(),
        route_writes,
        route_attempts,
        recycles,
        recycles_ok,
        default_route: routes
            .iter()
            .find(|(d, ..)| d == "0.0.0.0/0")
            .map(|(_, t, s)| format!("{t} ({s})")),
        calls: run.tally.calls_total(),
        throttled: run.tally.throttled_total(),
    }
}

fn print_summary(s: &Summary, run: &Run) {
    let per_launch = s.calls as f64 / s.launches.max(1) as f64;
    println!(
        "  direct:  {:.1} s, outcomes {}",
        run.direct_wall.as_secs_f64(),
        join(&s.outcomes_direct)
    );
    let walls: Vec<String> = run
        .receive_walls
        .iter()
        .map(|w| format!("{:.1} s", w.as_secs_f64()))
        .collect();
    println!(
        "  delayed: receives took {}, first receive outcomes {}; handed back for redelivery after each receive {:?}; redelivered outcomes {}; to the DLQ {}",
        walls.join(" / "),
        join(&s.outcomes_delayed),
        run.handed_back,
        join(&s.outcomes_redelivered),
        s.to_dlq
    );
    println!(
        "  route writes {} (attempts {}); 0.0.0.0/0 now → {}",
        s.route_writes,
        s.route_attempts,
        s.default_route.as_deref().unwrap_or("none")
    );
    println!(
        "  recycles {} ({} distinct, {} of instances that were not stuck; loop breaker {MAX_RECYCLES_PER_HOUR}/h)",
        s.recycles.recycles, s.recycles.distinct, s.recycles.not_stuck
    );
    println!(
        "  AWS calls {} = {per_launch:.1} per launch; throttling answers {} ({}); surfaced in answers: {}",
        s.calls,
        s.throttled,
        join(&run.tally.throttled),
        s.surfaced
    );
    println!("  AWS calls by operation: {}", join(&run.tally.calls));
}

fn record(report: &mut Report, s: &Summary, run: &Run, kube_requests: usize, opts: &ScaleOut) {
    let per_launch = s.calls as f64 / s.launches.max(1) as f64;
    let wall = run.direct_wall + run.receive_walls.iter().sum::<Duration>();
    let writes = s.route_writes;
    report.goal(
        "scale-out: route writes",
        writes.to_string(),
        "1",
        Some(writes == 1),
    );
    let all_stuck = if s.recycles_ok { "yes" } else { "no" };
    report.goal(
        "scale-out: recycles",
        format!(
            "{} (stuck ones only, none twice: {all_stuck})",
            s.recycles.recycles
        ),
        &format!("stuck instances only, <= loop breaker ({MAX_RECYCLES_PER_HOUR}/h)"),
        Some(s.recycles_ok),
    );
    report.figure(
        "scale-out: throttling answers received",
        s.throttled.to_string(),
    );
    let surfaced = s.surfaced.to_string();
    report.goal(
        "scale-out: throttling surfaced in answers",
        surfaced,
        "0",
        Some(s.surfaced == 0),
    );
    report.figure(
        "scale-out: AWS calls per launch",
        format!("{per_launch:.1}"),
    );
    let wall_text = format!(
        "{:.1} s ({} launches, {} processes)",
        wall.as_secs_f64(),
        s.launches,
        opts.concurrency
    );
    report.figure("scale-out: wall time (direct + every receive)", wall_text);
    record_outcomes(report, s, run, opts);
    report.section("scale_out", details(s, run, kube_requests, opts));
}

/// Where the launches ended up, and the handshakes they cost.
fn record_outcomes(report: &mut Report, s: &Summary, run: &Run, opts: &ScaleOut) {
    report.figure(
        &format!("scale-out: delayed copies to the DLQ (after {MAX_RECEIVES} receives)"),
        s.to_dlq.to_string(),
    );
    report.figure("scale-out: outcomes, direct", join(&s.outcomes_direct));
    report.figure(
        "scale-out: outcomes, delayed (first receive)",
        join(&s.outcomes_delayed),
    );
    let handshakes: usize = run.tally.handshakes.values().sum();
    report.figure(
        "scale-out: TLS handshakes",
        format!(
            "{handshakes} ({:.1} per process)",
            handshakes as f64 / opts.concurrency.max(1) as f64
        ),
    );
}

/// The scenario's details for the JSON.
fn details(s: &Summary, run: &Run, kube_requests: usize, opts: &ScaleOut) -> Value {
    let per_launch = s.calls as f64 / s.launches.max(1) as f64;
    let writes = s.route_writes;
    json!({
        "launches": s.launches, "concurrency": opts.concurrency, "max_recycles_per_hour": MAX_RECYCLES_PER_HOUR,
        "direct": { "wall_s": run.direct_wall.as_secs_f64(), "outcomes": s.outcomes_direct },
        "delayed": { "receive_wall_s": run.receive_walls.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
                     "outcomes_first_receive": s.outcomes_delayed, "outcomes_redelivered": s.outcomes_redelivered,
                     "handed_back_after_each_receive": run.handed_back, "to_dlq": s.to_dlq,
                     "max_receives": MAX_RECEIVES },
        "route_writes": writes, "route_write_attempts": s.route_attempts, "default_route_after": s.default_route,
        "recycles": s.recycles.recycles, "recycled_distinct": s.recycles.distinct,
        "recycled_not_stuck": s.recycles.not_stuck,
        "aws_calls": run.tally.calls, "aws_calls_total": s.calls, "aws_calls_per_launch": per_launch,
        "aws_errors": run.tally.errors, "throttled": run.tally.throttled, "throttled_total": s.throttled,
        "throttling_surfaced": s.surfaced, "handshakes": run.tally.handshakes,
        "kubernetes_requests": kube_requests, "peak_rss_kib_per_process": run.peak_rss_kib,
    })
}
