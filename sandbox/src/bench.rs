//! `sandbox bench`: figures for `make bench`, measured on the real (release) Lambda binary.
//!
//! The binary runs as Lambda runs it: a process that polls a Runtime API ([`runtime`], an emulator). AWS
//! is moto behind a TLS-terminating proxy ([`proxy`]): one listener per service, so every service costs
//! a handshake as on Lambda; every call is counted per operation, and EC2's request buckets are enforced
//! ([`buckets`]). Kubernetes is the sandbox's fake API. In the same run, as baselines ([`baselines`]): a
//! hello-world `lambda_runtime` binary built with the same release profile, and Python creating the same
//! boto3 clients. Scenarios: the seed's world in alert mode ([`seed`]), healthy launches ([`healthy`]),
//! and a 500-node scale-out into the broken subnet in remediate mode ([`scale_out`]). Nothing here
//! asserts a time: it prints a table of figures (goal, met or not) and writes it as JSON ([`report`]).

mod artifact;
mod baselines;
mod buckets;
mod burst;
mod chain;
mod function;
mod healthy;
pub(crate) mod operation;
mod proxy;
mod raw_http;
mod report;
mod runtime;
mod scale_out;
mod seed;
mod static_kube;
mod stats;
mod tls;

use std::future::Future;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::moto::Moto;
use crate::Error;
use baselines::{Contenders, Samples};
use proxy::Proxy;
use report::Report;
use seed::Seed;
use stats::{median, min, ratio};

pub(crate) use raw_http::{close_head, read_head};
pub use scale_out::ScaleOut;

/// What `sandbox bench` measures, and where it writes.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Lambda's release binary.
    pub binary: PathBuf,
    /// The hello-world baseline binary (skipped when absent).
    pub hello: PathBuf,
    /// The Python with boto3 (skipped when absent).
    pub python: PathBuf,
    /// Interleaved init runs of each contender.
    pub runs: usize,
    /// Warm events on one process.
    pub warm: usize,
    /// Healthy launches in SQS batches of 10 on one process.
    pub burst: usize,
    /// Launches of the scale-out (0: skipped), and its concurrent processes.
    pub scale_out: usize,
    pub concurrency: usize,
    /// `make sam-build`'s arm64 executable.
    pub sam_artifact: PathBuf,
    /// Directory for results.json and the zips.
    pub out_dir: PathBuf,
}

pub async fn run(opts: &Options) -> Result<(), Error> {
    let mut report = Report::default();
    report.section("machine", machine());
    artifact::record(
        &mut report,
        &opts.binary,
        &opts.sam_artifact,
        &python_or_system(&opts.python),
        &opts.out_dir,
    )?;
    let moto = Moto::shared().await;
    let dir = function::scratch_dir("proxy");
    let proxy = Proxy::start(&moto.endpoint, &dir).await?;
    report.section(
        "tls",
        json!({ "trust_bundle_system_roots": proxy.system_roots }),
    );
    let mut failed = Vec::new();
    let seed = Seed::build(moto, &proxy).await?;
    if opts.runs > 0 {
        attempt(&mut failed, "init", init(&mut report, opts, &seed, &proxy)).await;
    }
    attempt(
        &mut failed,
        "warm container",
        seed::warm_container(&mut report, &opts.binary, &seed, &proxy, opts.warm),
    )
    .await;
    if opts.burst > 0 {
        attempt(
            &mut failed,
            "healthy burst",
            healthy::run(&mut report, &opts.binary, moto, &proxy, opts.burst),
        )
        .await;
    }
    let scale = ScaleOut {
        launches: opts.scale_out,
        concurrency: opts.concurrency,
    };
    attempt(
        &mut failed,
        "scale-out",
        scale_out::run(&mut report, &opts.binary, moto, &proxy, &scale),
    )
    .await;
    report.section("failed_scenarios", json!(failed));
    finish(&report, opts)?;
    let _ = std::fs::remove_dir_all(&dir);
    match failed.is_empty() {
        true => Ok(()),
        false => Err(format!("scenarios failed: {}", failed.join(", ")).into()),
    }
}

/// Runs one scenario; a failure is printed and remembered, and the bench goes on.
async fn attempt(
    failed: &mut Vec<String>,
    name: &str,
    scenario: impl Future<Output = Result<(), Error>>,
) {
    if let Err(e) = scenario.await {
        eprintln!("bench: {name} failed: {e}");
        failed.push(format!("{name}: {e}"));
    }
}

fn finish(report: &Report, opts: &Options) -> Result<(), Error> {
    let path = opts.out_dir.join("results.json");
    report.write_json(&path)?;
    println!("\n{}", report.table());
    println!(
        "(moto is one Python process on this machine: AWS latency here is moto's, not AWS's.)"
    );
    println!("results: {}", path.display());
    Ok(())
}

/// Init, interleaved with the baselines.
async fn init(
    report: &mut Report,
    opts: &Options,
    seed: &Seed,
    proxy: &Proxy,
) -> Result<(), Error> {
    let present = |p: &Path| p.is_file().then(|| p.to_path_buf());
    let contenders = Contenders {
        ours: opts.binary.clone(),
        hello: present(&opts.hello),
        python: present(&opts.python),
        ours_env: seed.env.clone(),
        event: seed.event.clone(),
        proxy,
        claims: &seed.claims,
        kube: &seed.kube,
    };
    for (name, path) in [
        ("hello-world", &contenders.hello),
        ("python/boto3", &contenders.python),
    ] {
        if path.is_none() {
            println!("(baseline {name} not found: skipped; `make bench` builds and installs it)");
        }
    }
    println!("\ninit: {} interleaved runs of each (process start → first poll of the Runtime API; Python: start → exit) …", opts.runs);
    let samples = contenders.interleaved(opts.runs).await?;
    record_init(report, &samples);
    Ok(())
}

fn record_init(report: &mut Report, s: &Samples) {
    let (ours, hello, python) = (
        median(&s.ours_init),
        median(&s.hello_init),
        median(&s.python_init),
    );
    let runs = s.ours_init.len();
    report.figure(
        &format!("init, ours as on Lambda: Amazon's roots (median of {runs})"),
        format!("{ours:.1} ms"),
    );
    report.figure(
        "init, ours with SSL_CERT_FILE: the platform's store + the proxy's CA (median)",
        format!("{:.1} ms", median(&s.ours_init_with_bundle)),
    );
    report.figure(
        "init, hello-world lambda_runtime (median)",
        format!("{hello:.1} ms"),
    );
    let to_hello = ratio(ours, hello);
    report.goal(
        "init, ours / hello-world",
        to_hello.map_or("n/a".into(), |r| format!("{r:.2}x")),
        "<= 2x",
        to_hello.map(|r| r <= 2.0),
    );
    let fastest = ratio(min(&s.ours_init), min(&s.hello_init));
    report.figure(
        "init, ours / hello-world, fastest runs (less noise)",
        fastest.map_or("n/a".into(), |r| {
            format!(
                "{r:.2}x ({:.1} / {:.1} ms)",
                min(&s.ours_init),
                min(&s.hello_init)
            )
        }),
    );
    report.figure(
        "init, Python + boto3 clients (median, start → exit)",
        format!("{python:.1} ms"),
    );
    report.figure(
        "init, Python + boto3 / ours",
        ratio(python, ours).map_or("n/a".into(), |r| format!("{r:.1}x")),
    );
    report.figure(
        "first event, ours (median handler, with TLS, the SSL_CERT_FILE run)",
        format!("{:.0} ms", median(&s.ours_first_event)),
    );
    report.figure(
        "first event: of which the sandbox's Kubernetes API answering (kubelet simulator; median)",
        format!("{:.0} ms", median(&s.ours_first_event_kube)),
    );
    report.figure(
        "cold start, ours (median start → first answer)",
        format!("{:.0} ms", median(&s.ours_cold)),
    );
    let chains: Vec<f64> = s
        .ours_chain_before_report
        .iter()
        .map(|c| *c as f64)
        .collect();
    let chain = median(&chains);
    report.goal(
        "seed's first event: longest AWS chain before the report (median of the cold starts, measured)",
        format!("{chain:.0} (each: {:?})", s.ours_chain_before_report),
        "<= 3",
        (!chains.is_empty()).then_some(chain <= 3.0),
    );
    let handshakes: Vec<f64> = s.ours_handshakes.iter().map(|h| *h as f64).collect();
    report.figure(
        "TLS handshakes, first event (median)",
        format!("{:.0}", median(&handshakes)),
    );
    report.section("init", s.summary());
}

fn machine() -> serde_json::Value {
    let cores = std::thread::available_parallelism().map(|n| n.get()).ok();
    let mem_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    });
    json!({ "cores": cores, "memory_kib": mem_kib, "arch": std::env::consts::ARCH })
}

fn python_or_system(python: &Path) -> PathBuf {
    if python.is_file() {
        python.to_path_buf()
    } else {
        PathBuf::from("python3")
    }
}
