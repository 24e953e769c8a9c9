//! The one context every invocation shares: configuration and AWS clients, built once in `main`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_types::timeout::TimeoutConfig;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::scope::Reach;
use crate::snapshot::{Cluster, ProfileRole};
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
}

/// What one event acts through: the clients of its account and Region, and the durable state under
/// that account's keys.
pub struct Scoped {
    pub aws: Arc<Clients>,
    pub state: Option<StateStore>,
    pub reach: Reach,
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
            reached: Mutex::new(HashMap::new()),
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
