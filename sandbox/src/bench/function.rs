//! Processes the bench runs as Lambda runs them: a clean environment (only what is given), the Lambda
//! variables pointing at a [`RuntimeApi`], stdout discarded (appended to the file `BENCH_FUNCTION_LOG` names,
//! when set, to read what the function logged), stderr shown.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_credential_types::provider::ProvideCredentials;

use super::proxy::Proxy;
use super::runtime::{Finished, RuntimeApi};
use crate::util::Context;
use crate::world::World;
use crate::Error;

/// A spawned process and when it was spawned.
pub struct Process {
    child: tokio::process::Child,
    pub started: Instant,
}

impl Process {
    pub fn spawn(
        program: &Path,
        args: &[&str],
        env: &[(String, String)],
    ) -> Result<Process, Error> {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(function_log())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let started = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("start {}", program.display()))?;
        Ok(Process { child, started })
    }

    /// Peak resident memory so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    }

    /// Waits for the process to exit; returns when it did, failing on a non-zero status.
    pub async fn exited(&mut self, timeout: Duration) -> Result<Instant, Error> {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .map_err(|_| format!("process did not exit within {timeout:?}"))?
            .context("wait for the process")?;
        let at = Instant::now();
        if !status.success() {
            return Err(format!("process exited with {status}").into());
        }
        Ok(at)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// What every Lambda process gets: the Runtime API and the function's identity.
pub fn lambda_env(runtime: &RuntimeApi) -> Vec<(String, String)> {
    let path = std::env::var("PATH").unwrap_or_default();
    [
        ("PATH", path.as_str()),
        ("AWS_LAMBDA_RUNTIME_API", runtime.address.as_str()),
        ("AWS_LAMBDA_FUNCTION_NAME", "eks-node-join-remediator"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "/aws/lambda/eks-node-join-remediator",
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The world's credentials and region, and every AWS endpoint through the proxy.
pub async fn aws_env(world: &World, proxy: &Proxy) -> Result<Vec<(String, String)>, Error> {
    let creds = world
        .sdk
        .credentials_provider()
        .ok_or("world has no credentials")?
        .provide_credentials()
        .await
        .context("credentials")?;
    let mut env = vec![
        ("AWS_REGION".to_owned(), world.region.clone()),
        (
            "AWS_ACCESS_KEY_ID".to_owned(),
            creds.access_key_id().to_owned(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".to_owned(),
            creds.secret_access_key().to_owned(),
        ),
    ];
    if let Some(token) = creds.session_token() {
        env.push(("AWS_SESSION_TOKEN".to_owned(), token.to_owned()));
    }
    env.extend(proxy.env());
    Ok(env)
}

/// The remediator's configuration for a bench world.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: &'static str,
    pub registration_check: &'static str,
    pub topic: Option<String>,
    pub max_recycles_per_hour: u32,
}

impl Settings {
    pub fn alert(topic: Option<String>) -> Settings {
        Settings {
            mode: "alert",
            registration_check: "poll",
            topic,
            max_recycles_per_hour: 3,
        }
    }

    pub fn env(&self, world: &World, kube_endpoint: &str, kube_ca: &Path) -> Vec<(String, String)> {
        let mut env = vec![
            ("MODE", self.mode.to_owned()),
            ("REGISTRATION_CHECK", self.registration_check.to_owned()),
            (
                "MAX_RECYCLES_PER_HOUR",
                self.max_recycles_per_hour.to_string(),
            ),
            ("STATE_TABLE", world.state_table.clone()),
            ("GRACE_PERIOD_SECONDS", "0".to_owned()),
            ("KUBE_API_ENDPOINT_OVERRIDE", kube_endpoint.to_owned()),
            ("KUBE_CA_FILE", kube_ca.display().to_string()),
            ("RUST_LOG", "warn".to_owned()),
        ];
        if let Some(topic) = &self.topic {
            env.push(("SNS_TOPIC_ARN", topic.clone()));
        }
        env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }
}

/// A scratch directory under the system's temporary directory, unique to this run.
pub fn scratch_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sandbox-bench-{}-{name}", std::process::id()))
}

/// A Lambda process with its own Runtime API.
pub struct Function {
    pub runtime: RuntimeApi,
    pub process: Process,
}

impl Function {
    /// Starts `program` with the Lambda variables and `env`.
    pub async fn start(program: &Path, env: &[(String, String)]) -> Result<Function, Error> {
        let runtime = RuntimeApi::start().await?;
        let mut full = lambda_env(&runtime);
        full.extend(env.iter().cloned());
        let process = Process::spawn(program, &[], &full)?;
        Ok(Function { runtime, process })
    }

    /// Sends one event and waits for its answer.
    pub async fn invoke(&mut self, event: serde_json::Value) -> Result<Finished, Error> {
        let id = self.runtime.enqueue(event)?;
        let finished = self.runtime.finished(Duration::from_secs(180)).await?;
        if finished.id != id {
            return Err(format!("answer for {}, expected {id}", finished.id).into());
        }
        Ok(finished)
    }

    pub async fn stop(self) {
        self.process.stop().await;
    }
}

/// `n` processes of one function polling one Runtime API, as Lambda scales a function out.
pub struct Pool {
    pub runtime: RuntimeApi,
    processes: Vec<Process>,
}

impl Pool {
    pub async fn start(program: &Path, env: &[(String, String)], n: usize) -> Result<Pool, Error> {
        let runtime = RuntimeApi::start().await?;
        let mut full = lambda_env(&runtime);
        full.extend(env.iter().cloned());
        let mut processes = Vec::new();
        for _ in 0..n {
            processes.push(Process::spawn(program, &[], &full)?);
        }
        Ok(Pool { runtime, processes })
    }

    /// Queues every event and collects as many answers, each within `quiet` of the previous one.
    pub async fn run(
        &mut self,
        events: Vec<serde_json::Value>,
        quiet: Duration,
    ) -> Result<Vec<Finished>, Error> {
        let n = events.len();
        for event in events {
            self.runtime.enqueue(event)?;
        }
        let mut answers = Vec::with_capacity(n);
        while answers.len() < n {
            answers.push(self.runtime.finished(quiet).await?);
        }
        Ok(answers)
    }

    /// The largest peak resident memory (VmHWM) of the processes, in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.processes
            .iter()
            .filter_map(Process::peak_rss_kib)
            .max()
    }

    pub async fn stop(self) {
        for p in self.processes {
            p.stop().await;
        }
    }
}

/// Where a function's stdout goes: the file `BENCH_FUNCTION_LOG` names (appended to), else nowhere.
fn function_log() -> Stdio {
    let Some(path) = std::env::var_os("BENCH_FUNCTION_LOG") else {
        return Stdio::null();
    };
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        Ok(file) => Stdio::from(file),
        Err(e) => {
            eprintln!(
                "BENCH_FUNCTION_LOG {}: {e}; the function's stdout is discarded",
                path.to_string_lossy()
            );
            Stdio::null()
        }
    }
}
