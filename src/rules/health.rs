//! What EKS itself reports about the nodegroup, and the finding for when nothing checked blocks the node.

use crate::commands;
use crate::egress::{PathReport, Verdict};
use crate::finding::{Code, Finding, Remedy, Severity};
use crate::snapshot::Snapshot;

use super::route::table_evidence;

/// The finding codes of this function an EKS nodegroup health code corresponds to.
pub(crate) fn our_codes(health_code: &str) -> &'static [Code] {
    use Code::*;
    match health_code {
        "Ec2SubnetInvalidConfiguration" => &[NoDefaultRoute, IgwRouteWithoutPublicIp],
        "InsufficientFreeAddresses" => &[SubnetOutOfAddresses],
        "AccessDenied" => &[NodeRoleMissingPolicy, MissingAccessEntry],
        "IamInstanceProfileNotFound" | "IamNodeRoleNotFound" => &[NodeRoleMissingPolicy],
        "ClusterUnreachable" => &[
            NoDefaultRoute,
            DeadDefaultRoute,
            NatGatewayWithoutInternet,
            MissingVpcEndpoints,
            EndpointNotReachable,
            NaclBlocksTraffic,
            SecurityGroupBlocksEgress,
            VpcDnsDisabled,
        ],
        "NodeCreationFailure" => &[
            MissingAccessEntry,
            NodeRoleMissingPolicy,
            NodeBootstrapFailed,
        ],
        _ => &[],
    }
}

fn correspondence(health_code: &str) -> String {
    let ours: Vec<&str> = our_codes(health_code).iter().map(|c| c.as_str()).collect();
    if ours.is_empty() {
        format!("{health_code} is not one of the causes this function checks")
    } else {
        format!("{health_code} corresponds to: {}", ours.join(", "))
    }
}

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
            evidence: vec![issue.message.clone(), correspondence(&issue.code)],
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
pub(super) fn cause_unknown(s: &Snapshot, paths: &[PathReport], notes: &[String]) -> Finding {
    let mut evidence = table_evidence(s);
    evidence.extend(paths.iter().map(|p| p.summary().to_string()));
    let unknown = paths
        .iter()
        .filter(|p| matches!(p.verdict(), Verdict::Unknown(_)))
        .count();
    evidence.push("checked for every destination: VPC DNS, the route (longest prefix, prefix lists), the network ACL both ways, security groups, the next hop to the internet, the cluster's publicAccessCidrs".to_string());
    evidence.extend(notes.iter().cloned());
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

/// The Kubernetes group the template's access entry maps this function to.
pub const FUNCTION_GROUP: &str = "eks-node-join-remediator";

/// Registration unknown because the API refused or could not be reached: name the problem and the exact
/// fix for this function's own access (it is not a node that did not join).
pub fn function_cannot_read_nodes(
    region: &str,
    cluster: &str,
    reason: &str,
    role_arn: Option<&str>,
) -> Finding {
    let role = role_arn.unwrap_or("<this function's role ARN: the stack output FunctionRoleArn>");
    Finding {
        code: Code::FunctionCannotReadNodes,
        severity: Severity::Warning,
        summary: format!(
            "this function could not read the nodes of cluster {cluster}, so it cannot tell whether the node joined"
        ),
        evidence: vec![format!("Kubernetes API: {reason}")],
        remedy: Remedy::manual(
            vec![
                commands::function_access_entry(region, cluster, role, FUNCTION_GROUP),
                commands::node_reader_binding(FUNCTION_GROUP),
            ],
            "the template creates the access entry for clusters in ClusterAllowlist; the binding lets its Kubernetes group get and list nodes (and get kube-system/aws-auth, see the README). Until then the function only acts on a definitive blocker",
        ),
    }
}
