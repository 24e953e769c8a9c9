//! Locating or starting moto, and SDK configurations for its accounts.
//!
//! One moto serves a whole test process. Isolation between tests comes from accounts: `fresh_account`
//! assumes a role in a new random account id, and moto keeps every account's resources apart.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use tokio::sync::OnceCell;

use crate::util::{plain_http, random_u64};
use crate::Error;

/// The region every sandbox world lives in.
pub const REGION: &str = "us-west-2";
/// moto's default account.
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

/// A running moto server.
#[derive(Debug)]
pub struct Moto {
    /// e.g. `http://127.0.0.1:5000`
    pub endpoint: String,
}

static SHARED: OnceCell<Moto> = OnceCell::const_new();

impl Moto {
    /// Process-wide moto: `MOTO_ENDPOINT` if set (and answering), else moto's server spawned once on a free
    /// port by `sandbox/moto_server.py` with the workspace's `.venv` Python (AWS-managed IAM policies: the EKS,
    /// ECR and SSM ones only, see that file). The spawned server dies with this process.
    ///
    /// Panics (this is test set-up) with a message saying how to get moto if neither works.
    pub async fn shared() -> &'static Moto {
        let init = SHARED.get_or_try_init(|| async {
            if let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") {
                let endpoint = endpoint.trim_end_matches('/').to_owned();
                wait_until_answers(&endpoint, Duration::from_secs(10), None)
                    .await
                    .map_err(|e| format!("MOTO_ENDPOINT={endpoint} does not answer: {e}"))?;
                return Ok::<_, Error>(Moto { endpoint });
            }
            Moto::spawn().await
        });
        match init.await {
            Ok(moto) => moto,
            Err(e) => panic!(
                "moto is not available: {e}\n\
                 Run the tests with `make test` (it starts moto), or create the venv with `make venv`, \
                 or point MOTO_ENDPOINT at a running moto_server."
            ),
        }
    }

    async fn spawn() -> Result<Moto, Error> {
        let (python, launcher) = moto_launcher();
        if !python.is_file() {
            return Err(format!("{} not found", python.display()).into());
        }
        let port = free_port()?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let (tx, rx) = std::sync::mpsc::channel::<Result<u32, String>>();
        let (exit_tx, exit_rx) = tokio::sync::oneshot::channel::<String>();
        // The child is spawned from a thread that lives as long as the process: PR_SET_PDEATHSIG fires when
        // the *thread* that forked exits, and test threads end long before the process does.
        std::thread::Builder::new()
            .name("moto-server".into())
            .spawn(move || {
                let mut command = Command::new(&python);
                command
                    .arg(&launcher)
                    .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                set_parent_death_signal(&mut command);
                match command.spawn() {
                    Ok(mut child) => {
                        let _ = tx.send(Ok(child.id()));
                        let status = child.wait();
                        let _ = exit_tx.send(format!("moto_server exited: {status:?}"));
                    }
                    Err(e) => {
                        let _ = tx.send(Err(format!(
                            "cannot start {} {}: {e}",
                            python.display(),
                            launcher.display()
                        )));
                    }
                }
            })?;
        rx.recv()
            .map_err(|_| "moto launcher thread died".to_owned())??;
        wait_until_answers(&endpoint, Duration::from_secs(60), Some(exit_rx)).await?;
        Ok(Moto { endpoint })
    }

    /// SDK configuration for moto's default account `123456789012` (static `testing` credentials).
    pub async fn default_account(&self) -> SdkConfig {
        sdk_config(
            &self.endpoint,
            Credentials::new("testing", "testing", None, None, "sandbox-static"),
        )
        .await
    }

    /// A new isolated account: `sts:AssumeRole` into `arn:aws:iam::<random>:role/sandbox`.
    /// Returns the SDK configuration using the role's credentials, and the account id.
    ///
    /// Panics if moto refuses the role (test set-up).
    pub async fn fresh_account(&self) -> (SdkConfig, String) {
        match self.try_fresh_account().await {
            Ok(pair) => pair,
            Err(e) => panic!(
                "cannot create a fresh moto account at {}: {e}",
                self.endpoint
            ),
        }
    }

    /// Fallible form of [`Moto::fresh_account`].
    pub async fn try_fresh_account(&self) -> Result<(SdkConfig, String), Error> {
        let account_id = format!("{:012}", 100_000_000_000 + random_u64() % 900_000_000_000);
        let base = self.default_account().await;
        let sts = aws_sdk_sts::Client::new(&base);
        let assumed = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account_id}:role/sandbox"))
            .role_session_name("sandbox")
            .send()
            .await
            .map_err(|e| {
                format!(
                    "sts:AssumeRole: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(e)
                )
            })?;
        let creds = assumed
            .credentials()
            .ok_or("sts:AssumeRole returned no credentials")?;
        let config = sdk_config(
            &self.endpoint,
            Credentials::new(
                creds.access_key_id(),
                creds.secret_access_key(),
                Some(creds.session_token().to_owned()),
                None,
                "sandbox-assume-role",
            ),
        )
        .await;
        Ok((config, account_id))
    }
}

/// SDK configuration pointing every client at `endpoint`, region us-west-2, with `credentials`.
pub async fn sdk_config(endpoint: &str, credentials: Credentials) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .region(Region::new(REGION))
        .credentials_provider(credentials)
        .endpoint_url(endpoint)
        .load()
        .await
}

/// The HTTP(S) client of the sandbox's AWS clients: rustls with ring, as the function's own (the SDK crates
/// are built without a default client, so every configuration names one).
pub fn http_client() -> aws_sdk_sts::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// `<workspace root>/.venv/bin/python3` and `<workspace root>/sandbox/moto_server.py`.
fn moto_launcher() -> (PathBuf, PathBuf) {
    let sandbox_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let launcher = sandbox_dir.join("moto_server.py");
    let root = sandbox_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(sandbox_dir);
    (root.join(".venv").join("bin").join("python3"), launcher)
}

fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(target_os = "linux")]
fn set_parent_death_signal(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe libc calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn set_parent_death_signal(_command: &mut Command) {}

/// Polls `GET /moto-api/` until moto answers 200. `exited` reports an early death of a spawned server.
pub(crate) async fn wait_until_answers(
    endpoint: &str,
    within: Duration,
    mut exited: Option<tokio::sync::oneshot::Receiver<String>>,
) -> Result<(), Error> {
    let deadline = Instant::now() + within;
    let mut last_error = String::from("no attempt");
    while Instant::now() < deadline {
        if let Some(rx) = exited.as_mut() {
            if let Ok(message) = rx.try_recv() {
                return Err(message.into());
            }
        }
        match plain_http(endpoint, "GET", "/moto-api/", Duration::from_secs(5)).await {
            Ok((200, _)) => return Ok(()),
            Ok((status, _)) => last_error = format!("HTTP {status}"),
            Err(e) => last_error = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("{endpoint} did not answer within {within:?} (last: {last_error})").into())
}

/// `POST /moto-api/reset`: forgets every resource of every account.
pub async fn reset(endpoint: &str) -> Result<(), Error> {
    match plain_http(endpoint, "POST", "/moto-api/reset", Duration::from_secs(30)).await? {
        (200, _) => Ok(()),
        (status, body) => {
            Err(format!("POST {endpoint}/moto-api/reset: HTTP {status}: {body}").into())
        }
    }
}
