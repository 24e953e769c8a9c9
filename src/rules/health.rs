//! What EKS itself reports about the nodegroup, and the finding for when nothing checked blocks the node.

use crate::commands;
use crate::egress::{PathReport, Verdict};
use crate::finding::{Code, Finding, Remedy, Severity};
use crate::snapshot::Snapshot;

use super::route::table_evidence;

pub(super) fn nodegroup_health(s: &Snapshot) -> Vec<Finding> {
    let Some(ng) = &s.nodegroup else {
        return vec![];
    };
    ng.health_issues
        .iter()
        .map(|issue| Finding {
            code: Code::NodegroupHealthIssue,
            severity: Severity::Info,
            summary: format!("EKS reports {} on nodegroup {}", issue.code, ng.name),
            evidence: vec![issue.message.clone()],
            remedy: Remedy {
                fix: None,
                commands: vec![commands::describe_nodegroup_health(
                    &s.region,
                    &s.cluster.name,
                    &ng.name,
                )],
                note: None,
            },
        })
        .collect()
}

/// Nothing blocked: say what passed, what stayed unknown (and why), and where to look next.
pub(super) fn cause_unknown(s: &Snapshot, paths: &[PathReport]) -> Finding {
    let mut evidence = table_evidence(s);
    evidence.extend(paths.iter().map(|p| p.summary().to_string()));
    let unknown = paths
        .iter()
        .filter(|p| matches!(p.verdict(), Verdict::Unknown(_)))
        .count();
    evidence.push("checked for every destination: VPC DNS, the route (longest prefix, prefix lists), the network ACL both ways, security groups, the next hop to the internet, the cluster's publicAccessCidrs".to_string());
    evidence.push("not checked by this version: the node IAM role and its policies, the cluster's access entries and aws-auth, the node's console output".to_string());
    let summary = if unknown == 0 {
        format!(
            "every path the node in {} needs is open; the cause is on the node or in cluster access",
            s.subnet.id
        )
    } else {
        format!(
            "nothing blocks the node in {} as far as the VPC shows; {unknown} destination(s) could not be verified",
            s.subnet.id
        )
    };
    Finding {
        code: Code::CauseUnknown,
        severity: Severity::Warning,
        summary,
        evidence,
        remedy: Remedy::manual(
            vec![
                commands::console_output(&s.region, &s.instance.id),
                commands::troubleshoot_runbook(&s.region, &s.cluster.name, &s.instance.id),
            ],
            "the console output shows whether the bootstrap reached the cluster endpoint; the SSM runbook checks IAM, access entries and the kubelet",
        ),
    }
}
