//! The I/O half of diagnosis: AWS reads turned into plain data. The event's own reads (group, instance,
//! cluster) come first; the snapshot's reads then run in one concurrent wave, each once per event. A read
//! that IAM denies makes the hops that need it `unknown: not permitted` instead of failing the event.

mod convert;
mod identity;
mod network;
mod shared;

pub use shared::{give_back_unused, lease_ahead, LeaseAhead};

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::aws_error::{aws, code};
use crate::context::{App, Clients};
use crate::error::{Error, Result};
use crate::kube::{KubeApi, KubeError};
use crate::snapshot::*;
use crate::state::{StateStore, Until};
use crate::target::TAG_KARPENTER_NODEPOOL;

pub use identity::profile_role;
pub use network::{nat_state_now, route_table_now};

/// The Auto Scaling group of the launch.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub tags: BTreeMap<String, String>,
    pub subnets: Vec<String>,
    /// The group's instances and whether each is in service and healthy (for the blast-radius guard).
    pub members: Vec<GroupMember>,
}

pub async fn group(clients: &Clients, name: &str) -> Result<Option<Group>> {
    let out = clients
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(aws("autoscaling:DescribeAutoScalingGroups"))?;
    Ok(out
        .auto_scaling_groups()
        .first()
        .map(|g| convert::group(g, name)))
}

/// Auto Scaling groups by name, read together (the records of a batch name a few); a group EC2 Auto
/// Scaling no longer knows is left out.
pub async fn groups(
    clients: &Clients,
    names: &[String],
) -> Result<std::collections::HashMap<String, Group>> {
    let mut found = std::collections::HashMap::new();
    // 50 names fit one page of the answer (MaxRecords 100).
    for chunk in names.chunks(50) {
        let out = clients
            .autoscaling
            .describe_auto_scaling_groups()
            .set_auto_scaling_group_names(Some(chunk.to_vec()))
            .max_records(100)
            .send()
            .await
            .map_err(aws("autoscaling:DescribeAutoScalingGroups"))?;
        for g in out.auto_scaling_groups() {
            if let Some(name) = g.auto_scaling_group_name() {
                found.insert(name.to_string(), convert::group(g, name));
            }
        }
    }
    Ok(found)
}

/// The instance, or `None` when EC2 no longer knows it.
pub async fn instance(clients: &Clients, id: &str) -> Result<Option<Instance>> {
    Ok(tagged_instance(clients, id).await?.map(|(i, _)| i))
}

/// The instance and its tags (what an instance seen running is admitted by), in one call; `None` when
/// EC2 no longer knows it.
pub async fn tagged_instance(
    clients: &Clients,
    id: &str,
) -> Result<Option<(Instance, BTreeMap<String, String>)>> {
    let out = match clients
        .ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if code(&e) == Some("InvalidInstanceID.NotFound") => return Ok(None),
        Err(e) => return Err(aws("ec2:DescribeInstances")(e)),
    };
    let found = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .find(|i| i.instance_id() == Some(id));
    Ok(found.map(|i| (convert::instance(i, id), convert::instance_tags(i))))
}

/// Several instances and their tags in one call (the records of one SQS batch), by id. An id EC2 does
/// not know fails the whole call: then nothing is returned and each record reads its own.
pub async fn tagged_instances(
    clients: &Clients,
    ids: &[String],
) -> Result<BTreeMap<String, (Instance, BTreeMap<String, String>)>> {
    let out = match clients
        .ec2
        .describe_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if code(&e) == Some("InvalidInstanceID.NotFound") => return Ok(BTreeMap::new()),
        Err(e) => return Err(aws("ec2:DescribeInstances")(e)),
    };
    Ok(out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| {
            let id = i.instance_id()?;
            Some((
                id.to_string(),
                (convert::instance(i, id), convert::instance_tags(i)),
            ))
        })
        .collect())
}

/// Pages of a NodePool's instances read at most (1,000 each) for the blast-radius guard.
const POOL_PAGES: usize = 10;

/// A Karpenter NodePool's instances that are not gone (pending, running or terminating), for the
/// blast-radius guard: the pool has no Auto Scaling group to ask.
pub async fn pool_members(
    clients: &Clients,
    cluster: &str,
    nodepool: &str,
) -> Result<Vec<GroupMember>> {
    let filter = |name: &str, values: &[&str]| {
        aws_sdk_ec2::types::Filter::builder()
            .name(name)
            .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
            .build()
    };
    let states = ["pending", "running", "shutting-down", "stopping"];
    let mut members = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..POOL_PAGES {
        let page = clients
            .ec2
            .describe_instances()
            .filters(filter(
                &format!("tag:{TAG_KARPENTER_NODEPOOL}"),
                &[nodepool],
            ))
            .filters(filter(
                &format!("tag:kubernetes.io/cluster/{cluster}"),
                &["owned", "shared"],
            ))
            .filters(filter("instance-state-name", &states))
            .max_results(1000)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(aws("ec2:DescribeInstances"))?;
        let instances = page.reservations().iter().flat_map(|r| r.instances());
        members.extend(instances.map(convert::pool_member));
        next = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(String::from);
        if next.is_none() {
            break;
        }
    }
    Ok(members)
}

/// The cluster, or `None` when EKS does not know it (kops and Cluster API groups carry the same
/// `kubernetes.io/cluster/<name>` tag).
pub async fn cluster(clients: &Clients, name: &str) -> Result<Option<Cluster>> {
    match clients.eks.describe_cluster().name(name).send().await {
        Ok(out) => Ok(Some(convert::cluster(out.cluster(), name))),
        Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(aws("eks:DescribeCluster")(e)),
    }
}

async fn nodegroup(
    clients: &Clients,
    cluster: &str,
    name: Option<&str>,
) -> Result<Option<Nodegroup>> {
    let Some(name) = name else { return Ok(None) };
    let out = clients
        .eks
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .send()
        .await
        .map_err(aws("eks:DescribeNodegroup"))?;
    Ok(out.nodegroup().map(|ng| convert::nodegroup(ng, name)))
}

/// Whether the grace period after `launched_at` (Unix seconds) is over: the console output is read only
/// then (the node has had its chance to print why it did not join).
pub fn past_grace(launched_at: i64, grace: Duration) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    launched_at.saturating_add(grace.as_secs() as i64) <= now
}

/// What the admission already knows about the launch, for the snapshot.
pub struct Known<'a> {
    /// The key prefix of the event's account and Region (`scope::Reach::key_prefix`).
    pub scope: String,
    pub instance: Instance,
    pub cluster: Cluster,
    /// `cluster` came from a warm container's cache or is old: read it again (its endpoint access,
    /// CIDRs and authentication mode are part of the diagnosis).
    pub reread_cluster: bool,
    /// The role behind the instance's profile ([`profile_role`]).
    pub role: &'a Readable<Option<ProfileRole>>,
    pub nodegroup_name: Option<&'a str>,
    pub group_subnets: Vec<String>,
    pub burst: BurstRead,
}

/// How an event takes part in its burst's VPC read ([`shared`]).
pub struct BurstRead {
    /// The lease on the VPC reads asked for during admission, if it was ([`LeaseAhead`]).
    pub lease_ahead: Option<LeaseAhead>,
    /// When a VPC read this event makes may be stored for the other containers of the burst: once the
    /// event has its diagnosis (`state::Hold`).
    pub store_after: Until,
}

/// What names one VPC read, within a container and across the containers of a burst: the Region, the
/// instance's VPC and subnet, and the cluster (whose ENIs and security groups are part of it).
pub fn network_key(region: &str, instance: &Instance, cluster: &str) -> String {
    format!(
        "{region}/{}/{}/{cluster}",
        instance.vpc_id, instance.subnet_id
    )
}

/// Everything else the rules need, around what the admission read: one concurrent wave. The VPC reads
/// and the cluster-side reads ([`ClusterReads`]) are each shared with the events of this container that
/// need the same ones at the same time (the records of one SQS batch). Two kinds of read wait for
/// another, which adds no round trip (the VPC reads follow the burst's lease anyway) and keeps the calls
/// in flight at once to each service within the connections the container's first event opened, so a
/// warm container opens none:
/// - the reads that depend on the cluster's authentication mode (access entries, `aws-auth`) follow
///   the cluster's re-read, when there is one;
/// - the EC2 reads about the node start with the VPC reads (or when those are served), so the first
///   event, which makes them all, has them all in flight at once, and a later one never has more.
///
/// `kube` reads `aws-auth`; `console_output` says whether to read what the node printed; `state`, when
/// there is one, shares the VPC reads with the other containers of a burst.
pub async fn snapshot(
    app: &App,
    clients: &Clients,
    state: Option<&StateStore>,
    known: Known<'_>,
    kube: std::result::Result<&KubeApi, &KubeError>,
    console_output: bool,
) -> Result<Snapshot> {
    let Known {
        scope,
        instance,
        cluster,
        reread_cluster,
        role,
        nodegroup_name,
        group_subnets,
        burst,
    } = known;
    let name = cluster.name.clone();
    let side = ClusterSide {
        cluster,
        reread: reread_cluster,
        nodegroup: nodegroup_name,
        role,
        kube,
    };
    let vpc_reads_started = tokio::sync::Notify::new();
    // Boxed: a dozen concurrent SDK calls make a future too large for a 2 MiB worker-thread stack.
    let network = Box::pin(async {
        let at = (&instance, name.as_str(), burst);
        let read = shared_network(app, clients, state, at, &vpc_reads_started).await;
        vpc_reads_started.notify_one();
        read
    });
    let cluster_side = Box::pin(
        app.cluster_reads
            .share(side.key(&scope), || cluster_reads(clients, side)),
    );
    let node = Box::pin(async {
        vpc_reads_started.notified().await;
        node_reads(app, clients, &instance, console_output).await
    });
    let (net, side, node) = tokio::try_join!(network, cluster_side, async { Ok(node.await) })?;
    let ClusterReads {
        cluster,
        nodegroup,
        identity,
    } = (*side).clone();
    let mut snapshot = assemble(
        clients.region.clone(),
        instance,
        cluster,
        nodegroup,
        group_subnets,
        (*net).clone(),
    )?;
    snapshot.identity = identity;
    (snapshot.instance_type_network, snapshot.console_output) = node;
    Ok(snapshot)
}

/// Which VPC read an event needs (the instance, the cluster's name), and how it takes part in the burst's.
type NetworkAt<'a> = (&'a Instance, &'a str, BurstRead);

/// The VPC reads around the instance, shared with the events of this container that need the same ones
/// at the same time (the records of one SQS batch for one subnet make one read, not ten).
/// With a state table, the containers of a burst share them too (`shared`); a lease this event asked
/// for ahead is used, or given back when another event's read served it.
/// `started` is told when this event's own reads start.
async fn shared_network(
    app: &App,
    clients: &Clients,
    state: Option<&StateStore>,
    (instance, cluster, burst): NetworkAt<'_>,
    started: &tokio::sync::Notify,
) -> Result<std::sync::Arc<network::Network>> {
    let (vpc, subnet) = (&instance.vpc_id, &instance.subnet_id);
    let key = network_key(&clients.region, instance, cluster);
    let read = || {
        started.notify_one();
        network::read(clients, vpc, subnet, cluster)
    };
    let BurstRead {
        lease_ahead,
        store_after,
    } = burst;
    let lease = std::sync::Mutex::new(lease_ahead);
    let take_lease = || lease.lock().ok().and_then(|mut l| l.take());
    let reads = app
        .vpc_reads
        .share(key.clone(), || {
            let ahead = (take_lease(), store_after);
            shared::across_containers(state, &key, ahead, read)
        })
        .await;
    if let (Some(state), Some(unused)) = (state, take_lease()) {
        shared::give_back_unused(state, unused).await;
    }
    reads
}

/// What the cluster-side reads of an event depend on; events that agree on all of it read the same.
struct ClusterSide<'a> {
    /// The admission's copy of the cluster.
    cluster: Cluster,
    /// Read the cluster again first (the admission's copy is old).
    reread: bool,
    nodegroup: Option<&'a str>,
    role: &'a Readable<Option<ProfileRole>>,
    kube: std::result::Result<&'a KubeApi, &'a KubeError>,
}

impl ClusterSide<'_> {
    /// Account and Region, cluster, nodegroup, node role, and what the event brings to the reads.
    fn key(&self, scope: &str) -> String {
        let role = match self.role {
            Readable::Read(Some(role)) => role.arn.as_str(),
            Readable::Read(None) => "no role",
            Readable::NotRead(_) => "role not read",
        };
        format!(
            "{scope}{}/{}/{role}/reread={}/kube={}",
            self.cluster.name,
            self.nodegroup.unwrap_or("-"),
            self.reread,
            self.kube.is_ok()
        )
    }
}

/// The cluster (again, when asked), its nodegroup and the node's identity, side by side; the identity
/// reads follow the cluster's re-read (they depend on its authentication mode).
async fn cluster_reads(clients: &Clients, side: ClusterSide<'_>) -> Result<ClusterReads> {
    let name = side.cluster.name.clone();
    let identity = async {
        let cluster = match side.reread {
            true => self::cluster(clients, &name).await?.unwrap_or(side.cluster),
            false => side.cluster,
        };
        let identity = identity::read(clients, side.kube, side.role, &cluster).await;
        Ok::<_, Error>((cluster, identity))
    };
    let (nodegroup, (cluster, identity)) =
        tokio::try_join!(nodegroup(clients, &name, side.nodegroup), identity)?;
    Ok(ClusterReads {
        cluster,
        nodegroup,
        identity,
    })
}

type NodeReads = (
    Readable<Option<InstanceTypeNetwork>>,
    Option<Readable<String>>,
);

/// The best-effort EC2 reads about the node itself, side by side.
async fn node_reads(
    app: &App,
    clients: &Clients,
    instance: &Instance,
    console_output: bool,
) -> NodeReads {
    let console = async {
        match console_output {
            true => Some(identity::console_output(clients, &instance.id).await),
            false => None,
        }
    };
    tokio::join!(
        instance_type_network(app, clients, instance.instance_type.as_deref()),
        console,
    )
}

/// An instance type's network limits never change: a warm container reads each type once.
async fn instance_type_network(
    app: &App,
    clients: &Clients,
    kind: Option<&str>,
) -> Readable<Option<InstanceTypeNetwork>> {
    if let Some(known) = kind.and_then(|k| app.known_instance_type(k)) {
        return Readable::Read(Some(known));
    }
    let read = identity::instance_type_network(clients, kind).await;
    if let Readable::Read(Some(t)) = &read {
        app.remember_instance_type(t.clone());
    }
    read
}

/// The instance's subnet and the table that routes it (explicit association, else the main table).
fn instance_subnet(net: &network::Network, instance: &Instance) -> Result<(Subnet, RouteTable)> {
    let subnet = net
        .subnets
        .iter()
        .find(|s| s.id == instance.subnet_id)
        .cloned()
        .ok_or_else(|| {
            Error::Inconsistent(format!(
                "subnet {} of {} is not in {}",
                instance.subnet_id, instance.id, instance.vpc_id
            ))
        })?;
    let route_table = net
        .route_tables
        .iter()
        .find(|t| t.subnets.contains(&instance.subnet_id))
        .or_else(|| net.route_tables.iter().find(|t| t.main))
        .cloned()
        .ok_or_else(|| {
            Error::Inconsistent(format!(
                "no route table (explicit or main) serves {} in {}",
                instance.subnet_id, instance.vpc_id
            ))
        })?;
    Ok((subnet, route_table))
}

fn assemble(
    region: String,
    instance: Instance,
    cluster: Cluster,
    nodegroup: Option<Nodegroup>,
    group_subnets: Vec<String>,
    net: network::Network,
) -> Result<Snapshot> {
    let (subnet, route_table) = instance_subnet(&net, &instance)?;
    let group_subnets = with_nodegroup_subnets(group_subnets, nodegroup.as_ref());
    Ok(Snapshot {
        taken_at_ms: net.taken_at_ms,
        region,
        instance,
        subnet,
        vpc_subnets: net.subnets,
        vpc: net.vpc,
        route_table,
        vpc_route_tables: net.route_tables,
        prefix_lists: net.prefix_lists,
        nat_gateways: net.nat_gateways,
        attached_internet_gateways: net.internet_gateways,
        egress_only_internet_gateways: net.egress_only_gateways,
        vpc_endpoints: net.endpoints,
        network_acl: net.network_acl,
        security_groups: net.security_groups,
        cluster,
        cluster_enis: net.cluster_enis,
        nodegroup,
        group_subnets,
        identity: Identity {
            node_role: Readable::NotRead("not read yet".into()),
            access_entries: Readable::NotRead("not read yet".into()),
            aws_auth_map_roles: Readable::NotRead("not read yet".into()),
        },
        instance_type_network: Readable::Read(None),
        console_output: None,
    })
}

fn with_nodegroup_subnets(mut subnets: Vec<String>, nodegroup: Option<&Nodegroup>) -> Vec<String> {
    for s in nodegroup.iter().flat_map(|ng| &ng.subnets) {
        if !subnets.contains(s) {
            subnets.push(s.clone());
        }
    }
    subnets
}
