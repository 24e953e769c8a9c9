//! A fake of the two Kubernetes endpoints the Lambda calls, served over real HTTPS, with a kubelet simulator
//! that registers a node only when its instance could really reach everything a node needs.
//!
//! * [`server`]: the HTTPS server, the nodes API and its `Status` errors; [`query`]: query strings and
//!   label selectors; [`token`]: the EKS bearer-token check; [`tls`]: the CA and server certificate.
//! * [`kubelet`]: the simulator, reading the cluster's instances ([`instances`]) and deciding with the
//!   egress path model ([`egress`]) and the identity check ([`identity`]): the node's role, its
//!   policies, and whether the cluster admits it ([`crate::access`]). The server also serves
//!   `kube-system/aws-auth`.
//! * [`views`] and [`client`]: what the `sandbox` CLI uses to fetch and print nodes.

mod client;
pub mod egress;
mod identity;
mod instances;
mod kubelet;
mod query;
mod server;
mod tls;
mod token;
mod views;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::access::ClusterAccess;
use crate::util::{random_u64, Context};
use crate::Error;
use server::{serve, Shared};
use tls::TlsMaterial;

pub use crate::util::kubectl_age;
pub use client::get_json;
pub use kubelet::{explain_egress, simulate_nodes};
pub use token::{unsigned_token, validate_token};
pub use views::{node_views, render_nodes, NodeView};

/// Label carrying the managed nodegroup's name.
pub const NODEGROUP_LABEL: &str = "eks.amazonaws.com/nodegroup";
/// Kubelet version the simulated nodes report (the seed's).
pub const KUBELET_VERSION: &str = "v1.30.0-eks-036c24b";

/// The running fake Kubernetes API.
#[derive(Debug)]
pub struct FakeKube {
    /// `https://127.0.0.1:<port>`
    pub endpoint: String,
    /// PEM of the CA that signed the server certificate.
    pub ca_pem: String,
    /// File holding `ca_pem`.
    pub ca_file: PathBuf,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
    temp_dir: Option<PathBuf>,
}

impl FakeKube {
    /// Starts on `127.0.0.1:<free port>` with the CA written into a new temporary directory
    /// (removed when the `FakeKube` is dropped).
    pub async fn start(sdk: SdkConfig, cluster: &str) -> Result<FakeKube, Error> {
        let dir = std::env::temp_dir().join(format!(
            "sandbox-kube-{}-{:016x}",
            std::process::id(),
            random_u64()
        ));
        std::fs::create_dir_all(&dir).context(format!("create {}", dir.display()))?;
        let mut kube = FakeKube::start_on(sdk, cluster, 0, dir.join("ca.pem")).await?;
        kube.temp_dir = Some(dir);
        Ok(kube)
    }

    /// Starts on `127.0.0.1:port` (0: any free port) and writes the CA PEM to `ca_file`.
    pub async fn start_on(
        sdk: SdkConfig,
        cluster: &str,
        port: u16,
        ca_file: PathBuf,
    ) -> Result<FakeKube, Error> {
        let tls = TlsMaterial::generate()?;
        if let Some(parent) = ca_file.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).context(format!("create {}", parent.display()))?;
        }
        std::fs::write(&ca_file, &tls.ca_pem).context(format!("write {}", ca_file.display()))?;

        let listener =
            tokio::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
                .await
                .context(format!("bind 127.0.0.1:{port}"))?;
        let port = listener.local_addr()?.port();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls.server_config()?));
        let shared = Arc::new(Shared {
            ec2: aws_sdk_ec2::Client::new(&sdk),
            eks: aws_sdk_eks::Client::new(&sdk),
            iam: aws_sdk_iam::Client::new(&sdk),
            access: ClusterAccess::default(),
            cluster: cluster.to_owned(),
            region: kubelet::region_of(&sdk),
            nodes: Mutex::new(BTreeMap::new()),
            refuse: AtomicU16::new(0),
            requests: AtomicUsize::new(0),
            answering_us: AtomicU64::new(0),
            verbose: AtomicBool::new(false),
            bootstrap_gives_up: AtomicBool::new(false),
            gave_up: Mutex::new(Default::default()),
        });
        let task = tokio::spawn(serve(listener, acceptor, shared.clone()));
        Ok(FakeKube {
            endpoint: format!("https://127.0.0.1:{port}"),
            ca_pem: tls.ca_pem,
            ca_file,
            shared,
            task,
            temp_dir: None,
        })
    }

    /// Reconciles (kubelet simulator), then lists every registered node.
    pub async fn nodes(&self) -> Result<Vec<NodeView>, Error> {
        self.shared.reconcile().await?;
        let nodes = self.shared.nodes.lock().await;
        let now = SystemTime::now();
        Ok(nodes.values().map(|n| n.view(now)).collect())
    }

    /// `Some(status)`: every authenticated API request is answered with `status` and a Status body.
    /// `None`: normal service.
    pub fn refuse_with(&self, status: Option<u16>) {
        self.shared
            .refuse
            .store(status.unwrap_or(0), Ordering::SeqCst);
    }

    /// How long this server has spent answering requests so far (the kubelet simulator's reads included),
    /// however many were answered at once.
    pub fn time_answering(&self) -> Duration {
        Duration::from_micros(self.shared.answering_us.load(Ordering::SeqCst))
    }

    /// Authenticated API requests served so far (refused ones included; 401s are not counted).
    pub fn requests_seen(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// `true`: an instance first seen without egress never registers, even after its subnet is fixed (its
    /// bootstrap timed out, as in the incident, where only replaced nodes joined). `false` (the default): a
    /// node registers as soon as its subnet has egress.
    pub fn bootstrap_gives_up(&self, on: bool) {
        self.shared.bootstrap_gives_up.store(on, Ordering::SeqCst);
    }

    /// Who the cluster admits and what `aws-auth` holds; share it with an AWS overlay
    /// (`crate::overlay::AwsOverlay`) so that both tell the same story.
    pub fn access(&self) -> ClusterAccess {
        self.shared.access.clone()
    }

    /// Log one line per request on stderr (used by `sandbox fake-kube`).
    pub fn set_verbose(&self, on: bool) {
        self.shared.verbose.store(on, Ordering::SeqCst);
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(dir) = &self.temp_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
