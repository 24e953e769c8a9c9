//! Init in the same run as its baselines: the Lambda binary, a hello-world `lambda_runtime` binary built
//! with the same release profile, and a Python process importing boto3 and creating the same clients,
//! interleaved run by run (the order rotates) so a busy moment of the machine hits all three alike.
//! Init is process start → its first `GET …/invocation/next`; for Python, process start → exit.
//!
//! Ours is started twice a round. Once as on Lambda, without the bench's endpoint URLs and trust bundle,
//! so it trusts Amazon's roots as it does there (`src/trust.rs`): that init is the one compared with
//! hello-world. Once as the bench needs it to reach moto, through the TLS proxy with `SSL_CERT_FILE` (the
//! machine's whole store plus the proxy's CA), to handle the first event: its init is reported too, as
//! what trusting the platform's store costs.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use super::function::{Function, Process};
use super::proxy::{Proxy, Tally};
use super::runtime::Finished;
use super::stats::{median, min, ms, ratio};
use crate::Error;

/// What boto3 has to do before a Python function could call AWS: the same clients as the Lambda's.
const PYTHON_INIT: &str = "import os, boto3\n\
session = boto3.session.Session(region_name=os.environ['AWS_REGION'])\n\
clients = [session.client(name) for name in ('ec2', 'eks', 'autoscaling', 'sns')]\n";

/// The three programs and what they are run with.
pub struct Contenders<'a> {
    pub ours: PathBuf,
    pub hello: Option<PathBuf>,
    pub python: Option<PathBuf>,
    /// The Lambda's configuration and AWS environment (the Runtime API is added per run).
    pub ours_env: Vec<(String, String)>,
    pub event: Value,
    pub proxy: &'a Proxy,
    /// Forgotten before each of our runs: each first event reports, as a new instance's would.
    pub claims: &'a super::seed::Claims,
    /// The seed's Kubernetes API, whose answering time is part of each first event's handler time.
    pub kube: &'a crate::kube::FakeKube,
}

/// One cold start through the Runtime API.
pub struct ColdRun {
    pub init: Duration,
    pub first: Finished,
    /// Process start → first answer.
    pub cold: Duration,
}

/// Samples of every contender, in milliseconds.
#[derive(Debug, Default)]
pub struct Samples {
    /// Started as on Lambda: Amazon's roots.
    pub ours_init: Vec<f64>,
    /// Started with the bench's `SSL_CERT_FILE`: the platform's store and the proxy's CA.
    pub ours_init_with_bundle: Vec<f64>,
    pub ours_first_event: Vec<f64>,
    /// Of each first event's handler time, how long the fake Kubernetes API took to answer it.
    pub ours_first_event_kube: Vec<f64>,
    pub ours_cold: Vec<f64>,
    /// TLS handshakes while the first event was handled.
    pub ours_handshakes: Vec<usize>,
    pub ours_calls: Vec<usize>,
    /// The longest chain of sequential AWS calls before the first event's report.
    pub ours_chain_before_report: Vec<usize>,
    /// Its calls, for a human.
    pub ours_chain_before_report_ops: Vec<String>,
    /// Every call of the first event, when it started and was answered (`chain::timeline`).
    pub ours_first_event_calls: Vec<Value>,
    pub hello_init: Vec<f64>,
    pub hello_first_event: Vec<f64>,
    pub python_init: Vec<f64>,
}

/// Starts `program` against a fresh Runtime API, times its init, stops it.
pub async fn init_only(
    program: &std::path::Path,
    env: &[(String, String)],
) -> Result<Duration, Error> {
    let mut f = Function::start(program, env).await?;
    let polled = f.runtime.first_poll(Duration::from_secs(60)).await;
    let started = f.process.started;
    f.stop().await;
    let polled = polled.map_err(|e| format!("{}: {e}", program.display()))?;
    Ok(polled.duration_since(started))
}

/// `env` as Lambda would give it: without the variables that point the function at the bench's proxy
/// (endpoint URLs, the trust bundle).
pub fn as_on_lambda(env: &[(String, String)]) -> Vec<(String, String)> {
    env.iter()
        .filter(|(k, _)| !k.starts_with("AWS_ENDPOINT_URL") && !k.starts_with("SSL_CERT_"))
        .cloned()
        .collect()
}

/// Starts `program` against a fresh Runtime API, times its init, sends `event`, stops it.
pub async fn cold_run(
    program: &std::path::Path,
    env: &[(String, String)],
    event: Value,
) -> Result<ColdRun, Error> {
    let mut f = Function::start(program, env).await?;
    let polled = match f.runtime.first_poll(Duration::from_secs(60)).await {
        Ok(at) => at,
        Err(e) => {
            f.stop().await;
            return Err(format!("{}: {e}", program.display()).into());
        }
    };
    let first = f.invoke(event).await;
    let started = f.process.started;
    f.stop().await;
    let first = first?;
    Ok(ColdRun {
        init: polled.duration_since(started),
        cold: first.answered.duration_since(started),
        first,
    })
}

async fn python_run(python: &std::path::Path, env: &[(String, String)]) -> Result<f64, Error> {
    let mut process = Process::spawn(python, &["-c", PYTHON_INIT], env)?;
    let exited = process.exited(Duration::from_secs(60)).await?;
    Ok(ms(exited.duration_since(process.started)))
}

impl Contenders<'_> {
    /// `runs` rounds; round `i` starts with contender `i % 3`.
    pub async fn interleaved(&self, runs: usize) -> Result<Samples, Error> {
        let mut samples = Samples::default();
        for round in 0..runs {
            for k in 0..3 {
                match (round + k) % 3 {
                    0 => self.ours_once(&mut samples).await?,
                    1 => self.hello_once(&mut samples).await?,
                    _ => self.python_once(&mut samples).await?,
                }
            }
        }
        Ok(samples)
    }

    async fn ours_once(&self, samples: &mut Samples) -> Result<(), Error> {
        let init = init_only(&self.ours, &as_on_lambda(&self.ours_env)).await?;
        samples.ours_init.push(ms(init));
        self.claims.forget().await?;
        self.proxy.take();
        let event = crate::world::reported_now(&self.event);
        let kube_before = self.kube.time_answering();
        let run = cold_run(&self.ours, &self.ours_env, event).await?;
        let kube = self.kube.time_answering().saturating_sub(kube_before);
        let tally: Tally = self.proxy.take();
        // The next run starts with EC2's read bucket as full as this one found it.
        tokio::time::sleep(tally.ec2_refill_time()).await;
        samples.ours_init_with_bundle.push(ms(run.init));
        samples.ours_first_event.push(ms(run.first.handler_time()));
        samples.ours_first_event_kube.push(ms(kube));
        samples.ours_cold.push(ms(run.cold));
        samples.ours_handshakes.push(tally.handshakes_total());
        samples.ours_calls.push(tally.calls_total());
        let before = super::chain::before_report(&tally.spans);
        samples
            .ours_chain_before_report
            .push(super::chain::longest_chain(&before));
        samples
            .ours_chain_before_report_ops
            .push(super::chain::describe(&super::chain::chain(&before)));
        samples
            .ours_first_event_calls
            .push(super::chain::timeline(&tally.spans));
        Ok(())
    }

    async fn hello_once(&self, samples: &mut Samples) -> Result<(), Error> {
        let Some(hello) = &self.hello else {
            return Ok(());
        };
        let run = cold_run(hello, &[], json!({ "hello": "world" })).await?;
        samples.hello_init.push(ms(run.init));
        samples.hello_first_event.push(ms(run.first.handler_time()));
        Ok(())
    }

    async fn python_once(&self, samples: &mut Samples) -> Result<(), Error> {
        let Some(python) = &self.python else {
            return Ok(());
        };
        let mut env = self.ours_env.clone();
        env.push(("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()));
        samples.python_init.push(python_run(python, &env).await?);
        Ok(())
    }
}

impl Samples {
    /// Medians and ratios: `ours / hello` (the goal: at most 2) and `python / ours`.
    pub fn summary(&self) -> Value {
        let ours = median(&self.ours_init);
        let hello = median(&self.hello_init);
        let python = median(&self.python_init);
        json!({
            "runs": self.ours_init.len(),
            "ours": {
                "init_ms": self.ours_init,
                "first_event_ms": self.ours_first_event,
                "first_event_kubernetes_api_ms": self.ours_first_event_kube,
                "cold_ms": self.ours_cold,
                "handshakes_first_event": self.ours_handshakes,
                "aws_calls_first_event": self.ours_calls,
                "longest_chain_before_report_first_event": self.ours_chain_before_report,
                "longest_chain_before_report_first_event_ops": self.ours_chain_before_report_ops,
                "first_event_calls": self.ours_first_event_calls,
                "median_init_ms": ours,
                "min_init_ms": min(&self.ours_init),
                "init_with_bundle_ms": self.ours_init_with_bundle,
                "median_init_with_bundle_ms": median(&self.ours_init_with_bundle),
                "median_first_event_ms": median(&self.ours_first_event),
                "median_cold_ms": median(&self.ours_cold),
            },
            "hello_world": {
                "init_ms": self.hello_init,
                "first_event_ms": self.hello_first_event,
                "median_init_ms": hello,
                "min_init_ms": min(&self.hello_init),
            },
            "python_boto3": { "init_ms": self.python_init, "median_init_ms": python },
            "ratio_ours_to_hello_world": ratio(ours, hello),
            "ratio_ours_to_hello_world_fastest": ratio(min(&self.ours_init), min(&self.hello_init)),
            "ratio_python_to_ours": ratio(python, ours),
        })
    }
}
