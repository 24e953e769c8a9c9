//! The one context every invocation shares: configuration and AWS clients, built once in `main`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_types::timeout::TimeoutConfig;
use tokio::sync::{Mutex, OnceCell, OwnedMutexGuard};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::kube::KubeApi;
use crate::scope::Reach;
use crate::snapshot::{Cluster, ClusterReads, InstanceTypeNetwork, ProfileRole, VpcReads};
use crate::state::StateStore;

pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub eks: aws_sdk_eks::Client,
    /// Reads the node's role and its policies.
    pub iam: aws_sdk_iam::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub sns: aws_sdk_sns::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Signs the EKS token.
    pub credentials: SharedCredentialsProvider,
    pub region: String,
    /// The configuration the clients were built from (timeouts included): clients of another account
    /// or Region are derived from it.
    pub sdk: SdkConfig,
}

/// Every AWS call is bounded: a connection that is not made in 3 s, an attempt not answered in 5 s, or an
/// operation (retries included) not done in 15 s fails as a retryable transport error, well before the
/// invocation's deadline.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(15))
        .build()
}

impl Clients {
    pub fn new(sdk: &SdkConfig) -> Result<Clients> {
        let sdk = &sdk.to_builder().timeout_config(timeouts()).build();
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| Error::Config {
                key: "AWS_REGION",
                message: "no AWS region is configured".to_string(),
            })?;
        let credentials = sdk.credentials_provider().ok_or_else(|| Error::Config {
            key: "AWS_ACCESS_KEY_ID",
            message: "no AWS credentials provider is configured".to_string(),
        })?;
        Ok(Clients {
            ec2: aws_sdk_ec2::Client::new(sdk),
            eks: aws_sdk_eks::Client::new(sdk),
            iam: aws_sdk_iam::Client::new(sdk),
            autoscaling: aws_sdk_autoscaling::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            credentials,
            region,
            sdk: sdk.clone(),
        })
    }
}

pub struct App {
    pub config: Config,
    /// The function's own account and Region: the state table, the report topics, and the resources
    /// of its own account.
    pub clients: Arc<Clients>,
    /// The durable state, when `STATE_TABLE` is set (always in remediate mode).
    pub state: Option<StateStore>,
    /// One lock per route table: concurrent records of one batch re-read and write one at a time.
    route_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Clusters read recently (endpoint, CA), for the registration check of a warm container.
    clusters: Mutex<HashMap<String, (Instant, Cluster)>>,
    /// The role behind each instance profile read recently (`None`: the profile has no role).
    profile_roles: Mutex<HashMap<String, (Instant, Option<ProfileRole>)>>,
    /// Clients of other accounts and Regions, built once each per container (`member`).
    pub(crate) reached: Mutex<HashMap<(String, String), Arc<Clients>>>,
    /// The VPC reads around a subnet, shared by the events that need the same ones at once.
    pub vpc_reads: InFlight<VpcReads>,
    /// The reads about a cluster, its nodegroup and the node role, shared the same way: the records of
    /// one SQS batch for one nodegroup make them once, not once each.
    pub cluster_reads: InFlight<ClusterReads>,
    /// Network limits of the instance types read so far (they never change).
    instance_types: std::sync::Mutex<HashMap<String, InstanceTypeNetwork>>,
    /// Kubernetes API clients by account, Region, cluster and endpoint, with the CA they trust: a warm container's registration
    /// check reuses the connection (no TLS handshake per event).
    kube_apis: std::sync::Mutex<HashMap<String, (Vec<u8>, KubeApi)>>,
}

/// What one event acts through: the clients of its account and Region, and the durable state under
/// that account's keys.
pub struct Scoped {
    pub aws: Arc<Clients>,
    pub state: Option<StateStore>,
    pub reach: Reach,
}

/// A read still marked in flight after this long is abandoned (its event was cancelled mid-read).
const READS_SHARED_FOR: Duration = Duration::from_secs(20);

/// Reads that the events running side by side in this container share, by key: the records of one SQS
/// batch start together, and those that need the same read make it once. Shared while in flight only:
/// an event that starts after a read is done reads afresh, so nothing is staler than what events running
/// side by side see anyway. A failed read fails every event waiting for it, with its error: they go
/// back to their queue together, instead of each trying again in turn against an API that has just
/// refused or not answered (each try up to an operation's 15 s).
pub struct InFlight<V> {
    reads: Mutex<HashMap<String, Started<V>>>,
}

/// One read, started at the instant, whose outcome every event wanting it awaits.
type Started<V> = (Instant, Arc<OnceCell<Result<Arc<V>>>>);

impl<V> Default for InFlight<V> {
    fn default() -> Self {
        InFlight {
            reads: Mutex::new(HashMap::new()),
        }
    }
}

impl<V> InFlight<V> {
    /// The read named by `key`: the one another event is making right now, else made by `read`.
    pub async fn share<F, Fut>(&self, key: String, read: F) -> Result<Arc<V>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V>>,
    {
        let cell = {
            let mut shared = self.reads.lock().await;
            shared.retain(|_, (started, _)| started.elapsed() < READS_SHARED_FOR);
            let (_, cell) = shared
                .entry(key.clone())
                .or_insert_with(|| (Instant::now(), Arc::new(OnceCell::new())));
            cell.clone()
        };
        let reads = cell
            .get_or_init(|| async { read().await.map(Arc::new) })
            .await
            .clone();
        let mut shared = self.reads.lock().await;
        if shared.get(&key).is_some_and(|(_, c)| Arc::ptr_eq(c, &cell)) {
            shared.remove(&key);
        }
        reads
    }
}

/// How long a warm container trusts a cluster (or an instance profile's role) it read.
const CLUSTER_CACHE: Duration = Duration::from_secs(300);

impl App {
    pub fn new(config: Config, clients: Clients) -> App {
        let state = config
            .state_table
            .clone()
            .map(|table| StateStore::new(clients.dynamodb.clone(), table));
        App {
            config,
            clients: Arc::new(clients),
            state,
            route_locks: Mutex::new(HashMap::new()),
            clusters: Mutex::new(HashMap::new()),
            profile_roles: Mutex::new(HashMap::new()),
            vpc_reads: InFlight::default(),
            cluster_reads: InFlight::default(),
            instance_types: std::sync::Mutex::new(HashMap::new()),
            kube_apis: std::sync::Mutex::new(HashMap::new()),
            reached: Mutex::new(HashMap::new()),
        }
    }

    /// The Kubernetes API client named by `key` (account, Region, cluster, endpoint) trusting `ca`,
    /// made by `make` the first time (or when the CA changed).
    pub fn kube_api<E>(
        &self,
        key: &str,
        ca: &[u8],
        make: impl FnOnce() -> std::result::Result<KubeApi, E>,
    ) -> std::result::Result<KubeApi, E> {
        if let Ok(apis) = self.kube_apis.lock() {
            if let Some((_, api)) = apis.get(key).filter(|(c, _)| c == ca) {
                return Ok(api.clone());
            }
        }
        let api = make()?;
        if let Ok(mut apis) = self.kube_apis.lock() {
            apis.insert(key.to_string(), (ca.to_vec(), api.clone()));
        }
        Ok(api)
    }

    /// The network limits of an instance type read before.
    pub fn known_instance_type(&self, kind: &str) -> Option<InstanceTypeNetwork> {
        let types = self.instance_types.lock().ok()?;
        types.get(kind).cloned()
    }

    pub fn remember_instance_type(&self, t: InstanceTypeNetwork) {
        if let Ok(mut types) = self.instance_types.lock() {
            types.insert(t.instance_type.clone(), t);
        }
    }

    /// The role of an instance profile read recently.
    pub async fn cached_profile_role(&self, profile_arn: &str) -> Option<Option<ProfileRole>> {
        let roles = self.profile_roles.lock().await;
        let (read_at, role) = roles.get(profile_arn)?;
        (read_at.elapsed() < CLUSTER_CACHE).then(|| role.clone())
    }

    pub async fn remember_profile_role(&self, profile_arn: &str, role: Option<ProfileRole>) {
        let mut roles = self.profile_roles.lock().await;
        roles.insert(profile_arn.to_string(), (Instant::now(), role));
    }

    /// A cluster read recently, with when it was read (`scope`: the key prefix of its account).
    pub async fn cached_cluster(&self, scope: &str, name: &str) -> Option<(Instant, Cluster)> {
        let clusters = self.clusters.lock().await;
        let (read_at, cluster) = clusters.get(&format!("{scope}{name}"))?;
        (read_at.elapsed() < CLUSTER_CACHE).then(|| (*read_at, cluster.clone()))
    }

    pub async fn remember_cluster(&self, scope: &str, cluster: Cluster) {
        let mut clusters = self.clusters.lock().await;
        let key = format!("{scope}{}", cluster.name);
        clusters.insert(key, (Instant::now(), cluster));
    }

    pub async fn lock_route_table(&self, id: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.route_locks.lock().await;
            locks.entry(id.to_string()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_credential_types::Credentials;

    use super::*;
    use crate::fixture;

    fn app() -> App {
        let sdk = SdkConfig::builder()
            .region(aws_config::Region::new("us-west-2"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::for_tests()))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        App::new(Config::default(), Clients::new(&sdk).expect("clients"))
    }

    fn reads() -> VpcReads {
        fixture::vpc_reads(fixture::seed())
    }

    #[tokio::test]
    async fn events_wanting_the_same_vpc_reads_at_once_share_one_read_and_a_failed_one_is_not_kept()
    {
        let app = app();
        let shared = &app.vpc_reads;
        let calls = AtomicUsize::new(0);
        let read = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(reads())
        };
        let key = || "us-west-2/vpc-1/subnet-1/c".to_string();
        let (a, b, c) = tokio::join!(
            shared.share(key(), read),
            shared.share(key(), read),
            shared.share(key(), read)
        );
        assert!(a.is_ok() && b.is_ok() && c.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "three events, one read");
        shared
            .share("us-west-2/vpc-1/subnet-2/c".into(), read)
            .await
            .expect("another subnet");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "another subnet is read on its own"
        );
        shared.share(key(), read).await.expect("later");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "an event after the read is done reads afresh"
        );

        let failing = || async { Err::<VpcReads, _>(Error::Inconsistent("throttled".into())) };
        let other = || "us-west-2/vpc-2/subnet-9/c".to_string();
        assert!(shared.share(other(), failing).await.is_err());
        shared.share(other(), read).await.expect("read again");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            4,
            "an event after a failed read tries again"
        );
    }

    #[tokio::test]
    async fn events_waiting_for_a_read_that_fails_all_fail_with_its_error_without_trying_again() {
        let app = app();
        let shared = &app.cluster_reads;
        let calls = AtomicUsize::new(0);
        let failing = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err::<ClusterReads, _>(Error::Aws {
                operation: "eks:DescribeNodegroup",
                code: "ThrottlingException".into(),
                message: "Rate exceeded".into(),
                retryable: true,
            })
        };
        let key = || "eks-workshop/new_nodegroup_2/role".to_string();
        let (a, b, c) = tokio::join!(
            shared.share(key(), failing),
            shared.share(key(), failing),
            shared.share(key(), failing)
        );
        for outcome in [a, b, c] {
            let e = outcome.expect_err("the read failed");
            assert_eq!(e.aws_code(), Some("ThrottlingException"));
            assert!(e.is_retryable());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "three events, one try");
    }
}
