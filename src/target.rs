//! Which cluster a launched instance belongs to and what launched it (README, "Node sources"): an Auto
//! Scaling group from its tags (managed nodegroups by `eks:cluster-name` + `eks:nodegroup-name`,
//! self-managed groups by the cluster tags), or, for an instance seen running without a group, the
//! instance's own tags (Karpenter, EKS Auto Mode, or only `kubernetes.io/cluster/<name>`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::skip::{Skip, SkipReason};

pub const TAG_CLUSTER: &str = "eks:cluster-name";
pub const TAG_NODEGROUP: &str = "eks:nodegroup-name";
pub const TAG_EKSCTL_CLUSTER: &str = "alpha.eksctl.io/cluster-name";
pub const TAG_OPT_OUT: &str = "eks-node-join-remediator/ignore";
const CLUSTER_OWNED_PREFIX: &str = "kubernetes.io/cluster/";
/// On every instance an Auto Scaling group launched.
pub const TAG_ASG: &str = "aws:autoscaling:groupName";
/// Karpenter tags every instance it launches with its NodePool (and `karpenter.k8s.aws/ec2nodeclass`).
pub const TAG_KARPENTER_NODEPOOL: &str = "karpenter.sh/nodepool";
/// Added by Karpenter once it has tagged the instance for its NodeClaim.
pub const TAG_NODECLAIM: &str = "karpenter.sh/nodeclaim";
/// The cluster of a Karpenter or EKS Auto Mode instance.
pub const TAG_EKS_CLUSTER_NAME: &str = "eks:eks-cluster-name";
/// EKS Auto Mode's node pool on the EC2 managed instances it launches (beside
/// `eks:kubernetes-node-class-name`); Karpenter never sets it.
pub const TAG_AUTO_MODE_NODEPOOL: &str = "eks:kubernetes-node-pool-name";
/// The node labels a node's group is selected by.
pub const LABEL_NODEGROUP: &str = "eks.amazonaws.com/nodegroup";
pub const LABEL_NODEPOOL: &str = "karpenter.sh/nodepool";

/// What launched the instance, and so what replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum NodeSource {
    /// An Auto Scaling group: a managed nodegroup's or a self-managed one.
    AutoScalingGroup { name: String },
    /// Karpenter's NodePool (EC2 CreateFleet): terminating the instance makes it launch another.
    Karpenter {
        nodepool: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        nodeclaim: Option<String>,
    },
    /// EKS Auto Mode's NodePool: an EC2 managed instance that EKS owns; deleting its NodeClaim replaces it.
    AutoMode {
        nodepool: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        nodeclaim: Option<String>,
    },
    /// Only tagged for the cluster: nothing replaces it by itself.
    Standalone,
}

impl NodeSource {
    /// How a reader names it: `Auto Scaling group g`, `Karpenter NodePool p`, ….
    pub fn describe(&self) -> String {
        match self {
            NodeSource::AutoScalingGroup { name } => format!("Auto Scaling group {name}"),
            NodeSource::Karpenter { nodepool, .. } => format!("Karpenter NodePool {nodepool}"),
            NodeSource::AutoMode { nodepool, .. } => format!("EKS Auto Mode NodePool {nodepool}"),
            NodeSource::Standalone => "no Auto Scaling group or NodePool".to_string(),
        }
    }

    /// A short label for subjects and message attributes.
    pub fn label(&self) -> String {
        match self {
            NodeSource::AutoScalingGroup { .. } => "self-managed".to_string(),
            NodeSource::Karpenter { nodepool, .. } => format!("karpenter:{nodepool}"),
            NodeSource::AutoMode { nodepool, .. } => format!("auto-mode:{nodepool}"),
            NodeSource::Standalone => "standalone".to_string(),
        }
    }

    pub fn nodepool(&self) -> Option<&str> {
        match self {
            NodeSource::Karpenter { nodepool, .. } | NodeSource::AutoMode { nodepool, .. } => {
                Some(nodepool)
            }
            _ => None,
        }
    }
}

/// The EKS side of a launch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub cluster: String,
    /// Set for managed nodegroups; no other source has one (and none other is ever rescaled).
    pub nodegroup: Option<String>,
    pub source: NodeSource,
}

impl Target {
    /// A managed nodegroup's or a self-managed Auto Scaling group.
    pub fn auto_scaling(cluster: &str, nodegroup: Option<&str>, asg_name: &str) -> Target {
        Target {
            cluster: cluster.to_string(),
            nodegroup: nodegroup.map(str::to_string),
            source: NodeSource::AutoScalingGroup {
                name: asg_name.to_string(),
            },
        }
    }

    pub fn asg_name(&self) -> Option<&str> {
        match &self.source {
            NodeSource::AutoScalingGroup { name } => Some(name),
            _ => None,
        }
    }

    /// The group the loop breaker counts and reports name: the nodegroup, else the Auto Scaling group or
    /// the NodePool, else the cluster's standalone instances.
    pub fn group(&self) -> &str {
        if let Some(ng) = &self.nodegroup {
            return ng;
        }
        match &self.source {
            NodeSource::AutoScalingGroup { name } => name,
            NodeSource::Karpenter { nodepool, .. } | NodeSource::AutoMode { nodepool, .. } => {
                nodepool
            }
            NodeSource::Standalone => "standalone",
        }
    }

    /// The node label the group's nodes carry, if the group has one.
    pub fn node_selector(&self) -> Option<(&'static str, &str)> {
        match (&self.nodegroup, self.source.nodepool()) {
            (Some(ng), _) => Some((LABEL_NODEGROUP, ng)),
            (None, Some(pool)) => Some((LABEL_NODEPOOL, pool)),
            _ => None,
        }
    }
}

/// The cluster an Auto Scaling group belongs to, from the group's tags.
pub fn resolve(
    asg_name: &str,
    tags: &BTreeMap<String, String>,
    allowlist: &[String],
) -> Result<Target, Skip> {
    let managed = tags.get(TAG_CLUSTER).map(|cluster| {
        Target::auto_scaling(
            cluster,
            tags.get(TAG_NODEGROUP).map(|s| s.as_str()),
            asg_name,
        )
    });
    let self_managed = || {
        cluster_owned(tags)
            .or_else(|| tags.get(TAG_EKSCTL_CLUSTER).cloned())
            .map(|cluster| Target::auto_scaling(&cluster, None, asg_name))
    };
    let Some(target) = managed.or_else(self_managed) else {
        return Err(Skip::new(
            SkipReason::NotEks,
            format!(
                "Auto Scaling group {asg_name} has none of the tags {TAG_CLUSTER}, {CLUSTER_OWNED_PREFIX}<cluster>, {TAG_EKSCTL_CLUSTER}"
            ),
        ));
    };
    admitted(
        target,
        tags,
        &format!("Auto Scaling group {asg_name}"),
        allowlist,
    )
}

/// The cluster an instance seen running belongs to and what launched it, from the instance's tags. An
/// instance of an Auto Scaling group is left to its group's launch event.
pub fn resolve_instance(
    instance_id: &str,
    tags: &BTreeMap<String, String>,
    allowlist: &[String],
) -> Result<Target, Skip> {
    if let Some(group) = tags.get(TAG_ASG) {
        return Err(Skip::new(
            SkipReason::InAutoScalingGroup,
            format!(
                "{instance_id} belongs to Auto Scaling group {group}: its launch event is checked"
            ),
        ));
    }
    let Some(target) = instance_target(tags) else {
        return Err(Skip::new(
            SkipReason::NotEks,
            format!(
                "{instance_id} has none of the tags {TAG_KARPENTER_NODEPOOL}, {TAG_AUTO_MODE_NODEPOOL}, {CLUSTER_OWNED_PREFIX}<cluster>"
            ),
        ));
    };
    admitted(target, tags, instance_id, allowlist)
}

/// EKS Auto Mode first (its instances carry no Karpenter tag), then Karpenter, then the cluster tag alone.
fn instance_target(tags: &BTreeMap<String, String>) -> Option<Target> {
    let nodeclaim = tags.get(TAG_NODECLAIM).cloned();
    let eks_cluster = tags.get(TAG_EKS_CLUSTER_NAME).cloned();
    let target = |cluster: String, source| Target {
        cluster,
        nodegroup: None,
        source,
    };
    if let (Some(pool), Some(cluster)) = (tags.get(TAG_AUTO_MODE_NODEPOOL), &eks_cluster) {
        let source = NodeSource::AutoMode {
            nodepool: pool.clone(),
            nodeclaim,
        };
        return Some(target(cluster.clone(), source));
    }
    let cluster = eks_cluster.or_else(|| cluster_owned(tags))?;
    let source = match tags.get(TAG_KARPENTER_NODEPOOL) {
        Some(pool) => NodeSource::Karpenter {
            nodepool: pool.clone(),
            nodeclaim,
        },
        None => NodeSource::Standalone,
    };
    Some(target(cluster, source))
}

/// `kubernetes.io/cluster/<name>` = `owned` or `shared`.
fn cluster_owned(tags: &BTreeMap<String, String>) -> Option<String> {
    tags.iter().find_map(|(k, v)| {
        k.strip_prefix(CLUSTER_OWNED_PREFIX)
            .filter(|name| !name.is_empty() && (v == "owned" || v == "shared"))
            .map(str::to_string)
    })
}

/// The opt-out tag and the allowlist, for every source alike.
fn admitted(
    target: Target,
    tags: &BTreeMap<String, String>,
    what: &str,
    allowlist: &[String],
) -> Result<Target, Skip> {
    if tags
        .get(TAG_OPT_OUT)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Err(Skip::new(
            SkipReason::OptedOut,
            format!("{what} is tagged {TAG_OPT_OUT}=true"),
        ));
    }
    if !allowlist.is_empty() && !allowlist.contains(&target.cluster) {
        return Err(Skip::new(
            SkipReason::NotAllowlisted,
            format!(
                "cluster {} is not in CLUSTER_ALLOWLIST ({})",
                target.cluster,
                allowlist.join(",")
            ),
        ));
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn managed_nodegroup_tags_name_cluster_and_nodegroup() {
        let r = resolve(
            "eks-new_nodegroup_2-abcd",
            &tags(&[
                ("eks:cluster-name", "eks-workshop"),
                ("eks:nodegroup-name", "new_nodegroup_2"),
                ("kubernetes.io/cluster/eks-workshop", "owned"),
            ]),
            &[],
        );
        assert_eq!(
            r,
            Ok(Target::auto_scaling(
                "eks-workshop",
                Some("new_nodegroup_2"),
                "eks-new_nodegroup_2-abcd"
            ))
        );
    }

    #[test]
    fn self_managed_group_resolves_without_nodegroup() {
        for t in [
            tags(&[("kubernetes.io/cluster/prod", "owned")]),
            tags(&[("alpha.eksctl.io/cluster-name", "prod")]),
        ] {
            let Ok(target) = resolve("workers", &t, &[]) else {
                panic!("expected EKS target for {t:?}");
            };
            assert_eq!(target.cluster, "prod");
            assert_eq!(target.nodegroup, None);
        }
    }

    #[test]
    fn group_without_eks_tags_is_skipped_as_not_eks() {
        let r = resolve("web", &tags(&[("Name", "web")]), &[]);
        assert!(matches!(
            r,
            Err(Skip {
                reason: SkipReason::NotEks,
                ..
            })
        ));
    }

    #[test]
    fn opt_out_tag_wins() {
        let r = resolve(
            "g",
            &tags(&[
                ("eks:cluster-name", "c"),
                ("eks-node-join-remediator/ignore", "TRUE"),
            ]),
            &[],
        );
        assert!(matches!(
            r,
            Err(Skip {
                reason: SkipReason::OptedOut,
                ..
            })
        ));
    }

    #[test]
    fn allowlist_limits_clusters() {
        let t = tags(&[("eks:cluster-name", "staging")]);
        let r = resolve("g", &t, &["prod".to_string()]);
        assert!(matches!(
            r,
            Err(Skip {
                reason: SkipReason::NotAllowlisted,
                ..
            })
        ));
        assert!(resolve("g", &t, &["staging".to_string()]).is_ok());
    }

    fn instance(pairs: &[(&str, &str)]) -> Result<Target, Skip> {
        resolve_instance("i-0f1e2d3c4b5a69788", &tags(pairs), &[])
    }

    fn karpenter_tags() -> Vec<(&'static str, &'static str)> {
        vec![
            ("kubernetes.io/cluster/eks-workshop", "owned"),
            ("karpenter.sh/nodepool", "default"),
            ("karpenter.k8s.aws/ec2nodeclass", "default"),
            ("eks:eks-cluster-name", "eks-workshop"),
        ]
    }

    #[test]
    fn karpenter_instances_are_admitted_with_their_nodepool() {
        let Ok(target) = instance(&karpenter_tags()) else {
            panic!("a Karpenter node is admitted");
        };
        assert_eq!(target.cluster, "eks-workshop");
        assert_eq!(target.nodegroup, None);
        assert_eq!(
            target.source,
            NodeSource::Karpenter {
                nodepool: "default".into(),
                nodeclaim: None
            }
        );
        assert_eq!(target.node_selector(), Some((LABEL_NODEPOOL, "default")));
        assert_eq!(target.group(), "default");
    }

    #[test]
    fn karpenter_before_v1_is_found_by_the_cluster_tag_and_the_nodeclaim_is_kept() {
        let Ok(target) = instance(&[
            ("kubernetes.io/cluster/prod", "owned"),
            ("karpenter.sh/nodepool", "spot"),
            ("karpenter.sh/nodeclaim", "spot-x7k2p"),
        ]) else {
            panic!("admitted");
        };
        assert_eq!(target.cluster, "prod");
        assert_eq!(
            target.source,
            NodeSource::Karpenter {
                nodepool: "spot".into(),
                nodeclaim: Some("spot-x7k2p".into())
            }
        );
    }

    #[test]
    fn auto_mode_instances_are_admitted_as_eks_owned() {
        let Ok(target) = instance(&[
            ("eks:eks-cluster-name", "eks-workshop"),
            ("eks:kubernetes-node-pool-name", "general-purpose"),
            ("eks:kubernetes-node-class-name", "default"),
            ("kubernetes.io/cluster/eks-workshop", "owned"),
        ]) else {
            panic!("admitted");
        };
        assert_eq!(
            target.source,
            NodeSource::AutoMode {
                nodepool: "general-purpose".into(),
                nodeclaim: None
            }
        );
    }

    #[test]
    fn an_instance_tagged_only_for_the_cluster_is_standalone() {
        let Ok(target) = instance(&[("kubernetes.io/cluster/eks-workshop", "shared")]) else {
            panic!("admitted");
        };
        assert_eq!(target.source, NodeSource::Standalone);
        assert_eq!(target.node_selector(), None);
    }

    #[test]
    fn an_untagged_instance_is_not_eks_and_a_group_instance_is_left_to_its_group() {
        assert!(matches!(
            instance(&[("Name", "bastion")]),
            Err(Skip {
                reason: SkipReason::NotEks,
                ..
            })
        ));
        let mut in_group = karpenter_tags();
        in_group.push(("aws:autoscaling:groupName", "eks-ng-1"));
        assert!(matches!(
            instance(&in_group),
            Err(Skip {
                reason: SkipReason::InAutoScalingGroup,
                ..
            })
        ));
    }

    #[test]
    fn instances_opt_out_and_follow_the_allowlist_like_groups() {
        let mut opted = karpenter_tags();
        opted.push(("eks-node-join-remediator/ignore", "true"));
        assert!(matches!(
            instance(&opted),
            Err(Skip {
                reason: SkipReason::OptedOut,
                ..
            })
        ));
        let r = resolve_instance("i-1", &tags(&karpenter_tags()), &["prod".to_string()]);
        assert!(matches!(
            r,
            Err(Skip {
                reason: SkipReason::NotAllowlisted,
                ..
            })
        ));
    }
}
