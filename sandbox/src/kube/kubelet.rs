//! The kubelet simulator: a node registers for each `running` instance of the cluster whose egress paths
//! all pass (see [`super::egress`]); nodes of instances that stopped running go away. Registered nodes live
//! in memory; a node's creation time is its first registration.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use aws_config::SdkConfig;
use serde_json::{json, Value};

use super::egress::{self, Cluster, Network, PathReport};
use super::identity::IdentityReader;
use super::instances::{cluster_instances, ClusterInstance};
use super::server::Shared;
use super::{NodeView, KUBELET_VERSION, NODEGROUP_LABEL};
use crate::access::ClusterAccess;
use crate::util::rfc3339;
use crate::Error;

/// A node the simulator registered.
#[derive(Debug)]
pub(super) struct Registered {
    pub(super) name: String,
    instance_id: String,
    private_ip: String,
    az: String,
    instance_type: String,
    nodegroup: Option<String>,
    nodepool: Option<String>,
    created: SystemTime,
}

impl Shared {
    /// Registers nodes of running instances that have egress, removes nodes of instances no longer running.
    pub(super) async fn reconcile(&self) -> Result<(), Error> {
        let mut nodes = self.nodes.lock().await;
        let instances = cluster_instances(&self.ec2, &self.cluster).await?;
        let running: HashSet<String> = instances
            .iter()
            .filter(|i| i.running)
            .map(|i| i.instance_id.clone())
            .collect();
        nodes.retain(|id, _| running.contains(id));
        let candidates: Vec<&ClusterInstance> = instances
            .iter()
            .filter(|i| i.running && !nodes.contains_key(&i.instance_id))
            .collect();
        if candidates.is_empty() {
            return Ok(());
        }
        let (net, cluster) = load(&self.ec2, &self.eks, &self.cluster).await?;
        let gives_up = self.bootstrap_gives_up.load(Ordering::SeqCst);
        let mut gave_up = self.gave_up.lock().await;
        let reader = IdentityReader {
            iam: &self.iam,
            eks: &self.eks,
            cluster: &self.cluster,
        };
        for i in candidates {
            if gave_up.contains(&i.instance_id) {
                continue;
            }
            let network = joins(&net, &cluster, i, &self.region);
            if network && reader.admitted(i, &self.access).await? {
                nodes.insert(i.instance_id.clone(), Registered::new(i));
            } else if gives_up {
                gave_up.insert(i.instance_id.clone());
            }
        }
        Ok(())
    }
}

async fn load(
    ec2: &aws_sdk_ec2::Client,
    eks: &aws_sdk_eks::Client,
    cluster: &str,
) -> Result<(Network, Cluster), Error> {
    tokio::try_join!(
        egress::load_network(ec2),
        egress::load_cluster(eks, cluster)
    )
}

fn joins(net: &Network, cluster: &Cluster, instance: &ClusterInstance, region: &str) -> bool {
    instance
        .egress_node()
        .is_some_and(|node| egress::joins(&egress::evaluate(net, cluster, &node, region)))
}

/// Runs the kubelet simulator once in this process (no HTTP) for `cluster`: the nodes that would be
/// registered right now, all aged 0 (the cluster's access as EKS keeps it for managed nodegroups).
pub async fn simulate_nodes(sdk: &SdkConfig, cluster: &str) -> Result<Vec<NodeView>, Error> {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let eks = aws_sdk_eks::Client::new(sdk);
    let iam = aws_sdk_iam::Client::new(sdk);
    let instances = cluster_instances(&ec2, cluster).await?;
    let (net, cl) = load(&ec2, &eks, cluster).await?;
    let region = region_of(sdk);
    let reader = IdentityReader {
        iam: &iam,
        eks: &eks,
        cluster,
    };
    let access = ClusterAccess::default();
    let mut nodes = Vec::new();
    for i in instances
        .iter()
        .filter(|i| i.running && joins(&net, &cl, i, &region))
    {
        if reader.admitted(i, &access).await? {
            nodes.push(Registered::new(i).view(SystemTime::now()));
        }
    }
    Ok(nodes)
}

/// Why the simulator does (or does not) register each running instance of `cluster`: instance id → the
/// evaluated path of every destination. An instance without a usable private IP has no paths.
pub async fn explain_egress(
    sdk: &SdkConfig,
    cluster: &str,
) -> Result<Vec<(String, Vec<PathReport>)>, Error> {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let eks = aws_sdk_eks::Client::new(sdk);
    let instances = cluster_instances(&ec2, cluster).await?;
    let (net, cl) = load(&ec2, &eks, cluster).await?;
    let region = region_of(sdk);
    Ok(instances
        .iter()
        .filter(|i| i.running)
        .map(|i| {
            let paths = i
                .egress_node()
                .map(|node| egress::evaluate(&net, &cl, &node, &region))
                .unwrap_or_default();
            (i.instance_id.clone(), paths)
        })
        .collect())
}

pub(super) fn region_of(sdk: &SdkConfig) -> String {
    sdk.region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| crate::moto::REGION.to_owned())
}

impl Registered {
    fn new(i: &ClusterInstance) -> Registered {
        Registered {
            name: i.private_dns_name.clone(),
            instance_id: i.instance_id.clone(),
            private_ip: i.private_ip.clone(),
            az: i.az.clone(),
            instance_type: i.instance_type.clone(),
            nodegroup: i.nodegroup.clone(),
            nodepool: i.nodepool.clone(),
            created: SystemTime::now(),
        }
    }

    fn provider_id(&self) -> String {
        format!("aws:///{}/{}", self.az, self.instance_id)
    }

    pub(super) fn view(&self, now: SystemTime) -> NodeView {
        NodeView {
            name: self.name.clone(),
            provider_id: self.provider_id(),
            nodegroup: self.nodegroup.clone(),
            ready: true,
            age_seconds: now
                .duration_since(self.created)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
        }
    }

    /// The `Node` object as the API serves it.
    pub(super) fn to_json(&self, region: &str) -> Value {
        let created = rfc3339(self.created);
        json!({
            "kind": "Node",
            "apiVersion": "v1",
            "metadata": {
                "name": self.name,
                "uid": format!("{:016x}-sandbox", fxhash(&self.instance_id)),
                "resourceVersion": "1",
                "creationTimestamp": created,
                "labels": self.labels(region),
            },
            "spec": { "providerID": self.provider_id() },
            "status": {
                "conditions": [{
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": rfc3339(SystemTime::now()),
                    "lastTransitionTime": created,
                }],
                "addresses": [
                    { "type": "InternalIP", "address": self.private_ip },
                    { "type": "Hostname", "address": self.name },
                    { "type": "InternalDNS", "address": self.name },
                ],
                "nodeInfo": {
                    "kubeletVersion": KUBELET_VERSION,
                    "kubeProxyVersion": KUBELET_VERSION,
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                    "containerRuntimeVersion": "containerd://1.7.11",
                },
            },
        })
    }

    fn labels(&self, region: &str) -> serde_json::Map<String, Value> {
        let mut labels = serde_json::Map::new();
        if let Some(ng) = &self.nodegroup {
            labels.insert(NODEGROUP_LABEL.into(), ng.clone().into());
            labels.insert("eks.amazonaws.com/capacityType".into(), "ON_DEMAND".into());
        }
        if let Some(pool) = &self.nodepool {
            labels.insert("karpenter.sh/nodepool".into(), pool.clone().into());
        }
        labels.insert("kubernetes.io/hostname".into(), self.name.clone().into());
        labels.insert("kubernetes.io/os".into(), "linux".into());
        labels.insert("kubernetes.io/arch".into(), "amd64".into());
        labels.insert(
            "node.kubernetes.io/instance-type".into(),
            self.instance_type.clone().into(),
        );
        labels.insert("topology.kubernetes.io/region".into(), region.into());
        labels.insert("topology.kubernetes.io/zone".into(), self.az.clone().into());
        labels
    }
}

/// A stable small hash for synthetic uids.
fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
