//! Which cluster and nodegroup an Auto Scaling group belongs to, from its tags (README, "Configuration"): managed
//! nodegroups by `eks:cluster-name` + `eks:nodegroup-name`, self-managed groups by the cluster tags.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::skip::{Skip, SkipReason};

pub const TAG_CLUSTER: &str = "eks:cluster-name";
pub const TAG_NODEGROUP: &str = "eks:nodegroup-name";
pub const TAG_EKSCTL_CLUSTER: &str = "alpha.eksctl.io/cluster-name";
pub const TAG_OPT_OUT: &str = "eks-node-join-remediator/ignore";
const CLUSTER_OWNED_PREFIX: &str = "kubernetes.io/cluster/";

/// The EKS side of an Auto Scaling group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub cluster: String,
    /// Set for managed nodegroups; self-managed groups have none (and are never rescaled).
    pub nodegroup: Option<String>,
    pub asg_name: String,
}

pub fn resolve(
    asg_name: &str,
    tags: &BTreeMap<String, String>,
    allowlist: &[String],
) -> Result<Target, Skip> {
    let managed = tags.get(TAG_CLUSTER).map(|cluster| Target {
        cluster: cluster.clone(),
        nodegroup: tags.get(TAG_NODEGROUP).cloned(),
        asg_name: asg_name.to_string(),
    });
    let self_managed = || {
        let owned = tags.iter().find_map(|(k, v)| {
            k.strip_prefix(CLUSTER_OWNED_PREFIX)
                .filter(|name| !name.is_empty() && (v == "owned" || v == "shared"))
                .map(str::to_string)
        });
        owned
            .or_else(|| tags.get(TAG_EKSCTL_CLUSTER).cloned())
            .map(|cluster| Target {
                cluster,
                nodegroup: None,
                asg_name: asg_name.to_string(),
            })
    };
    let Some(target) = managed.or_else(self_managed) else {
        return Err(Skip::new(
            SkipReason::NotEks,
            format!(
                "Auto Scaling group {asg_name} has none of the tags {TAG_CLUSTER}, {CLUSTER_OWNED_PREFIX}<cluster>, {TAG_EKSCTL_CLUSTER}"
            ),
        ));
    };
    if tags
        .get(TAG_OPT_OUT)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Err(Skip::new(
            SkipReason::OptedOut,
            format!("Auto Scaling group {asg_name} is tagged {TAG_OPT_OUT}=true"),
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
            Ok(Target {
                cluster: "eks-workshop".into(),
                nodegroup: Some("new_nodegroup_2".into()),
                asg_name: "eks-new_nodegroup_2-abcd".into(),
            })
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
}
