//! Stage 1 of a launch, admission: which cluster, what launched the instance, the instance and the
//! cluster; or why the event is skipped. A launch event names its Auto Scaling group, whose tags decide.
//! An instance seen running is decided by its own tags, read in the same call that reads the instance,
//! so an instance that is nobody's node costs that one call and no report.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use crate::context::{App, Clients, Scoped};
use crate::error::{Error, Result};
use crate::event::{LaunchEvent, Origin};
use crate::gather::{self, Group};
use crate::kube::{decode_cluster_ca, KubeApi, KubeError};
use crate::member;
use crate::outcome::Subject;
use crate::registration::Registration;
use crate::skip::{Skip, SkipReason};
use crate::snapshot::{Cluster, GroupMember, Instance, ProfileRole, Readable};
use crate::target::{resolve, resolve_instance, NodeSource, Target};

/// Everything known about a launch once it is admitted.
pub struct Admitted {
    pub launch: LaunchEvent,
    /// The Auto Scaling group, when one launched the instance.
    pub group: Option<Group>,
    pub target: Target,
    pub instance: Instance,
    pub cluster: Cluster,
    /// When `cluster` was read (it may come from a warm container's cache).
    pub cluster_read_at: Instant,
    /// The role behind the instance's profile (it may come from a warm container's cache).
    pub role: Readable<Option<ProfileRole>>,
    pub kube: std::result::Result<KubeApi, KubeError>,
    /// The clients and the state of the event's account and Region.
    pub scoped: Scoped,
    /// The lease on the VPC reads, asked for beside the cluster's read when the event said the node was
    /// just launched; taken by the first snapshot (`gather::LeaseAhead`), given back if none needs it.
    pub lease_ahead: std::sync::Mutex<Option<gather::LeaseAhead>>,
}

impl Admitted {
    /// The lease asked for ahead, if no snapshot has taken it yet.
    pub fn take_lease_ahead(&self) -> Option<gather::LeaseAhead> {
        self.lease_ahead.lock().ok().and_then(|mut l| l.take())
    }

    /// Gives back the lease asked for ahead if nothing used it (the node had registered).
    pub async fn give_back_unused_lease(&self) {
        if let (Some(state), Some(lease)) = (self.scoped.state.as_ref(), self.take_lease_ahead()) {
            gather::give_back_unused(state, lease).await;
        }
    }
}

/// What a batch of records read ahead, in one wave per account: the instances (with their tags) and
/// the Auto Scaling groups the records name. Keys: account (empty: the function's own), then the
/// instance id or group name. And the waves that failed in a way that trying again later can mend
/// (throttling, a timeout, a 5xx): their records fail with that error, without reads of their own.
#[derive(Debug, Default)]
pub struct ReadAhead {
    instances: HashMap<(String, String), (Instance, BTreeMap<String, String>)>,
    groups: HashMap<(String, String), Group>,
    failed: HashMap<Origin, Error>,
}

impl ReadAhead {
    pub fn new() -> ReadAhead {
        ReadAhead::default()
    }

    fn instance(&self, launch: &LaunchEvent) -> Option<(Instance, BTreeMap<String, String>)> {
        let account = launch.origin.account.clone().unwrap_or_default();
        self.instances
            .get(&(account, launch.instance_id.clone()))
            .cloned()
    }

    fn group(&self, launch: &LaunchEvent) -> Option<Group> {
        let account = launch.origin.account.clone().unwrap_or_default();
        let name = launch.asg_name.clone()?;
        self.groups.get(&(account, name)).cloned()
    }

    /// The retryable error of the wave this launch's reads were part of, if it failed.
    fn failed(&self, launch: &LaunchEvent) -> Option<Error> {
        self.failed.get(&launch.origin).cloned()
    }
}

/// The group, the EKS side and the instance, once found; else why the event is skipped.
type Found = std::result::Result<(Option<Group>, Target, Instance), Skip>;

fn gone<T>(detail: String) -> Result<std::result::Result<T, Skip>> {
    Ok(Err(Skip::new(SkipReason::InstanceGone, detail)))
}

/// Which cluster and what launched the instance, the instance, the cluster; or why the event is skipped.
/// `lease_early`: the node was just launched, so it cannot have registered and its snapshot will read
/// the VPC: ask for that read's lease beside the cluster's read ([`gather::LeaseAhead`]).
pub async fn admit(
    app: &App,
    scoped: Scoped,
    launch: LaunchEvent,
    ahead: &ReadAhead,
    lease_early: bool,
) -> Result<std::result::Result<Admitted, Skip>> {
    if let Some(e) = ahead.failed(&launch) {
        return Err(e);
    }
    let allowlist = &app.config.cluster_allowlist;
    let found = match &launch.asg_name {
        Some(asg) => {
            let read = (
                ahead.group(&launch),
                ahead.instance(&launch).map(|(i, _)| i),
            );
            by_group(&scoped.aws, asg, &launch.instance_id, read, allowlist).await?
        }
        None => {
            let read = ahead.instance(&launch);
            by_instance(&scoped.aws, &launch.instance_id, read, allowlist).await?
        }
    };
    let (group, target, instance) = match found {
        Ok(found) => found,
        Err(skip) => return Ok(Err(skip)),
    };
    if instance.is_gone() {
        return gone(format!("{} is {}", instance.id, instance.state));
    }
    let (cluster_read_at, cluster, role, lease) =
        match cluster_side(app, &scoped, &target.cluster, &instance, lease_early).await? {
            Ok(found) => found,
            Err(skip) => return Ok(Err(skip)),
        };
    let kube = kube_api(app, &scoped, &cluster);
    Ok(Ok(Admitted {
        launch,
        group,
        target,
        instance,
        cluster,
        cluster_read_at,
        role,
        kube,
        scoped,
        lease_ahead: std::sync::Mutex::new(lease),
    }))
}

/// The cluster, its read time, the role behind the instance's profile, and the VPC read's lease when
/// `lease_early`, all at once; or why the event is skipped (EKS does not know the cluster; a lease taken
/// is then given back).
async fn cluster_side(
    app: &App,
    scoped: &Scoped,
    name: &str,
    instance: &Instance,
    lease_early: bool,
) -> Result<std::result::Result<ClusterSide, Skip>> {
    // The profile's role is needed only to diagnose, but reading it now, beside the cluster (or from the
    // warm cache), keeps the diagnosis to one wave of reads.
    let profile = instance.instance_profile_arn.as_deref();
    let lease_early = lease_early && reads_anything(app, scoped, name, profile).await;
    let lease = async {
        match (lease_early, scoped.state.as_ref()) {
            (true, Some(state)) => {
                let key = gather::network_key(&scoped.aws.region, instance, name);
                Some(gather::lease_ahead(state, &key).await)
            }
            _ => None,
        }
    };
    let (cluster, role, lease) = tokio::join!(
        cluster(app, scoped, name),
        profile_role(app, &scoped.aws, profile),
        lease
    );
    match cluster {
        Ok(Some((read_at, cluster))) => Ok(Ok((read_at, cluster, role, lease))),
        not_found => {
            if let (Some(state), Some(lease)) = (scoped.state.as_ref(), lease) {
                gather::give_back_unused(state, lease).await;
            }
            let _ = not_found?;
            tracing::debug!(cluster = %name, "EKS does not know this cluster");
            let detail = format!("EKS does not know cluster {name} (kops or Cluster API?)");
            Ok(Err(Skip::new(SkipReason::NotEks, detail)))
        }
    }
}

/// Whether `cluster_side` reads the cluster or the profile's role (a warm container has both cached).
/// Only then does asking for the VPC read's lease beside them take it off the sequential path; alone,
/// it would be a round trip of its own, as it is when asked at the snapshot.
async fn reads_anything(app: &App, scoped: &Scoped, name: &str, profile: Option<&str>) -> bool {
    let cached_cluster = app
        .cached_cluster(&scoped.reach.key_prefix(), name)
        .await
        .is_some();
    let cached_role = match profile {
        Some(arn) => app.cached_profile_role(arn).await.is_some(),
        None => true,
    };
    !(cached_cluster && cached_role)
}

/// What `cluster_side` found.
type ClusterSide = (
    Instant,
    Cluster,
    Readable<Option<ProfileRole>>,
    Option<gather::LeaseAhead>,
);

/// The role behind the instance's profile, from the warm cache or read (and cached when it could be).
/// A profile's ARN names its account, so one cache serves every account.
async fn profile_role(
    app: &App,
    aws: &Clients,
    profile_arn: Option<&str>,
) -> Readable<Option<ProfileRole>> {
    let Some(arn) = profile_arn else {
        return Readable::Read(None);
    };
    if let Some(role) = app.cached_profile_role(arn).await {
        return Readable::Read(role);
    }
    let role = gather::profile_role(aws, Some(arn)).await;
    if let Readable::Read(r) = &role {
        app.remember_profile_role(arn, r.clone()).await;
    }
    role
}

/// A group's launch: the group and the instance are both named in the event, so both are read at once
/// (what the batch read ahead is not read again).
async fn by_group(
    aws: &Clients,
    asg_name: &str,
    instance_id: &str,
    (group, instance): (Option<Group>, Option<Instance>),
    allowlist: &[String],
) -> Result<Found> {
    let group = async {
        match group {
            Some(g) => Ok(Some(g)),
            None => gather::group(aws, asg_name).await,
        }
    };
    let instance = async {
        match instance {
            Some(i) => Ok(Some(i)),
            None => gather::instance(aws, instance_id).await,
        }
    };
    let (group, instance) = tokio::try_join!(group, instance)?;
    let Some(group) = group else {
        return gone(format!("Auto Scaling group {asg_name} no longer exists"));
    };
    let target = match resolve(&group.name, &group.tags, allowlist) {
        Ok(target) => target,
        Err(skip) => return Ok(Err(skip)),
    };
    let Some(instance) = instance else {
        return gone(format!("EC2 no longer knows {instance_id}"));
    };
    Ok(Ok((Some(group), target, instance)))
}

/// An instance seen running: one read (or the batch's read ahead) gives the instance and the tags that
/// say whose it is.
async fn by_instance(
    aws: &Clients,
    instance_id: &str,
    read: Option<(Instance, BTreeMap<String, String>)>,
    allowlist: &[String],
) -> Result<Found> {
    let read = match read {
        Some(read) => Some(read),
        None => gather::tagged_instance(aws, instance_id).await?,
    };
    let Some((instance, tags)) = read else {
        return gone(format!("EC2 no longer knows {instance_id}"));
    };
    Ok(resolve_instance(instance_id, &tags, allowlist).map(|target| (None, target, instance)))
}

/// One wave per account and Region for a batch of records: one DescribeInstances for their instances and
/// one DescribeAutoScalingGroups for the groups they name, side by side (each record is then admitted
/// without reads of its own). What the wave did not return is read per record.
///
/// A wave that fails in a way trying again can mend (throttling, a timeout, a 5xx) fails its records
/// with that error: they are handed back to the queue and come again after its visibility timeout,
/// instead of each making the same reads of an API that is already refusing or not answering (ten
/// times the calls into a throttled bucket). Any other failure (access denied, a malformed id that
/// slipped through) is read per record, so that one bad record does not spoil the batch.
pub async fn read_ahead(app: &App, launches: &[&LaunchEvent]) -> ReadAhead {
    let mut by_origin: HashMap<&Origin, Vec<&LaunchEvent>> = HashMap::new();
    for launch in launches {
        by_origin.entry(&launch.origin).or_default().push(launch);
    }
    let mut ahead = ReadAhead::new();
    for (origin, records) in by_origin.into_iter().filter(|(_, r)| r.len() > 1) {
        // A redelivered record can name an instance twice: each id once (moto answers a list with a
        // duplicate with a 500, seen in tests/safety.rs).
        let mut ids: Vec<String> = records.iter().map(|l| l.instance_id.clone()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut names: Vec<String> = records.iter().filter_map(|l| l.asg_name.clone()).collect();
        names.sort_unstable();
        names.dedup();
        let read = async {
            let scoped = member::scoped(app, origin).await?;
            let groups = async {
                match names.is_empty() {
                    true => Ok(HashMap::new()),
                    false => gather::groups(&scoped.aws, &names).await,
                }
            };
            tokio::try_join!(gather::tagged_instances(&scoped.aws, &ids), groups)
        };
        match read.await {
            Ok((instances, groups)) => {
                let account = origin.account.clone().unwrap_or_default();
                let at = |key: String| (account.clone(), key);
                ahead
                    .instances
                    .extend(instances.into_iter().map(|(id, v)| (at(id), v)));
                ahead
                    .groups
                    .extend(groups.into_iter().map(|(name, g)| (at(name), g)));
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, records = records.len(), "reading ahead failed; the records are handed back without reads of their own");
                ahead.failed.insert(origin.clone(), e);
            }
            Err(e) => {
                tracing::debug!(error = %e, "reading ahead failed; each record reads its own")
            }
        }
    }
    ahead
}

/// The cluster's endpoint and CA rarely change: a warm container keeps them a few minutes (the
/// diagnosis reads the cluster afresh).
async fn cluster(app: &App, scoped: &Scoped, name: &str) -> Result<Option<(Instant, Cluster)>> {
    let prefix = scoped.reach.key_prefix();
    if let Some(cached) = app.cached_cluster(&prefix, name).await {
        return Ok(Some(cached));
    }
    let cluster = gather::cluster(&scoped.aws, name).await?;
    if let Some(c) = &cluster {
        app.remember_cluster(&prefix, c.clone()).await;
    }
    Ok(cluster.map(|c| (Instant::now(), c)))
}

/// The cluster's API, reached with the event's account credentials (the member role, in another
/// account): that is the principal the cluster's access entry must map.
fn kube_api(
    app: &App,
    scoped: &Scoped,
    cluster: &Cluster,
) -> std::result::Result<KubeApi, KubeError> {
    let aws = &scoped.aws;
    let config = &app.config;
    let setup = |what: &str| KubeError::Setup(what.to_string());
    let (endpoint, ca) = match (&config.kube_api_endpoint_override, &config.kube_ca_pem) {
        (Some(endpoint), Some(ca)) => (endpoint.clone(), ca.as_bytes().to_vec()),
        (Some(_), None) => {
            return Err(setup(
                "KUBE_API_ENDPOINT_OVERRIDE is set without KUBE_CA_FILE",
            ))
        }
        (None, _) => {
            let endpoint = cluster
                .endpoint
                .clone()
                .ok_or_else(|| setup("the cluster has no API endpoint yet"))?;
            let ca = cluster
                .certificate_authority
                .as_deref()
                .ok_or_else(|| setup("the cluster has no certificate authority yet"))?;
            (endpoint, decode_cluster_ca(ca)?)
        }
    };
    // One client per account and Region, cluster and endpoint: the token names the cluster and is signed
    // with that account's credentials.
    let key = format!(
        "{}{}|{}|{endpoint}",
        scoped.reach.key_prefix(),
        aws.region,
        cluster.name
    );
    app.kube_api(&key, &ca, || {
        KubeApi::new(
            &endpoint,
            &ca,
            &cluster.name,
            &aws.region,
            aws.credentials.clone(),
        )
    })
}

/// What a report says the event is about, as far as the event itself tells.
pub fn subject_of(launch: &LaunchEvent) -> Subject {
    Subject {
        instance_id: Some(launch.instance_id.clone()),
        asg_name: launch.asg_name.clone(),
        account: launch.origin.account.clone(),
        region: launch.origin.region.clone(),
        ..Subject::default()
    }
}

impl Admitted {
    pub fn subject(&self) -> Subject {
        let event = subject_of(&self.launch);
        Subject {
            cluster: Some(self.target.cluster.clone()),
            nodegroup: self.target.nodegroup.clone(),
            node_source: Some(self.target.source.clone()),
            region: event
                .region
                .clone()
                .or(Some(self.scoped.aws.region.clone())),
            ..event
        }
    }

    pub async fn registration(&self) -> Registration {
        match &self.kube {
            Ok(api) => {
                let i = &self.instance;
                let label = self.target.node_selector();
                api.registration(label, &i.id, i.private_dns_name.as_deref())
                    .await
            }
            Err(e) => Registration::Unknown {
                reason: e.to_string(),
            },
        }
    }

    /// The subnets of the instance's group: the Auto Scaling group's, else the instance's own (a
    /// NodePool's subnets are chosen by its node class, which EC2 does not know).
    pub fn group_subnets(&self) -> Vec<String> {
        match &self.group {
            Some(group) => group.subnets.clone(),
            None => vec![self.instance.subnet_id.clone()],
        }
    }

    /// The group's instances, for the blast-radius guard: the Auto Scaling group's, or a Karpenter
    /// NodePool's (read only when a recycle is about to happen).
    pub async fn members(&self) -> Result<Vec<GroupMember>> {
        match (&self.group, &self.target.source) {
            (Some(group), _) => Ok(group.members.clone()),
            (None, NodeSource::Karpenter { nodepool, .. }) => {
                gather::pool_members(&self.scoped.aws, &self.target.cluster, nodepool).await
            }
            (None, _) => Ok(vec![]),
        }
    }
}
