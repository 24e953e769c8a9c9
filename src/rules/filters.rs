//! Findings about what filters or resolves the node's traffic: network ACLs, security groups, the
//! endpoints' own reachability, VPC DNS.

use crate::commands::{self, CommandLine};
use crate::egress::Block;
use crate::finding::{Code, Finding, Remedy, Severity};
use crate::snapshot::Snapshot;

use super::{destinations, path_evidence, Blocked};

fn blocker(code: Code, summary: String, blocked: &[&Blocked], remedy: Remedy) -> Finding {
    Finding {
        code,
        severity: Severity::Blocker,
        summary,
        evidence: path_evidence(blocked),
        remedy,
    }
}

/// A free-looking rule number just below the one that denies (the human checks it is free).
fn rule_below(rule: Option<i32>) -> i32 {
    rule.filter(|n| *n > 1).map_or(100, |n| n - 1)
}

pub(super) fn nacl(s: &Snapshot, blocked: &[&Blocked]) -> Finding {
    let mut cmds: Vec<CommandLine> = Vec::new();
    let mut acl = String::from("the subnet's network ACL");
    for b in blocked {
        let line = match &b.block {
            Block::NaclDeniesEgress {
                network_acl_id,
                rule,
            } => {
                acl = network_acl_id.clone();
                commands::allow_nacl_entry(
                    &s.region,
                    network_acl_id,
                    true,
                    rule_below(*rule),
                    "From=443,To=443",
                )
            }
            Block::NaclDeniesReturn {
                network_acl_id,
                rule,
            } => {
                acl = network_acl_id.clone();
                commands::allow_nacl_entry(
                    &s.region,
                    network_acl_id,
                    false,
                    rule_below(*rule),
                    "From=1024,To=65535",
                )
            }
            _ => continue,
        };
        if !cmds.contains(&line) {
            cmds.push(line);
        }
    }
    let summary = format!(
        "{acl} of {} stops TCP 443 (or its return traffic), so the node cannot reach {}",
        s.subnet.id,
        destinations(blocked)
    );
    let note = "rules are evaluated in ascending number and the first match wins: the allow entry must come before the rule that denies; check the number is free and narrow the CIDR to what your policy allows";
    blocker(
        Code::NaclBlocksTraffic,
        summary,
        blocked,
        Remedy::manual(cmds, note),
    )
}

pub(super) fn security_group(s: &Snapshot, blocked: &[&Blocked]) -> Finding {
    let groups = blocked.iter().find_map(|b| match &b.block {
        Block::SgDeniesEgress { security_group_ids } => Some(security_group_ids.clone()),
        _ => None,
    });
    let groups = groups.unwrap_or_default();
    let cmds = groups
        .first()
        .map(|g| commands::allow_https_egress(&s.region, g))
        .into_iter()
        .collect();
    let summary = format!(
        "no security group of instance {} ({}) allows TCP 443 out, so it cannot reach {}",
        s.instance.id,
        groups.join(", "),
        destinations(blocked)
    );
    let note = "nodes need HTTPS out to the cluster endpoint and the AWS service endpoints; narrow the CIDR to your endpoints or prefix lists if your policy requires";
    blocker(
        Code::SecurityGroupBlocksEgress,
        summary,
        blocked,
        Remedy::manual(cmds, note),
    )
}

pub(super) fn endpoint(s: &Snapshot, blocked: &[&Blocked]) -> Finding {
    let mut cmds: Vec<CommandLine> = Vec::new();
    for b in blocked {
        cmds.extend(endpoint_commands(s, &b.block));
    }
    cmds.dedup();
    let summary = format!(
        "the node in {} reaches the endpoints for {} but they do not let it in",
        s.subnet.id,
        destinations(blocked)
    );
    let note = "an endpoint's security group must allow TCP 443 from the nodes; a public-only cluster endpoint must list the addresses the nodes leave from (their NAT gateways' public IPs) in publicAccessCidrs, or enable private access";
    blocker(
        Code::EndpointNotReachable,
        summary,
        blocked,
        Remedy::manual(cmds, note),
    )
}

fn endpoint_commands(s: &Snapshot, block: &Block) -> Vec<CommandLine> {
    match block {
        Block::EndpointSgDeniesIngress {
            security_group_ids, ..
        } => {
            let node_group = s.instance.security_groups.first();
            match (security_group_ids.first(), node_group) {
                (Some(target), Some(node)) => {
                    vec![commands::allow_https_from_group(&s.region, target, node)]
                }
                _ => vec![],
            }
        }
        Block::SourceOutsidePublicAccessCidrs {
            sources,
            public_access_cidrs,
        } => {
            let mut cidrs = public_access_cidrs.clone();
            cidrs.extend(sources.iter().map(|ip| format!("{ip}/32")));
            vec![
                commands::set_public_access_cidrs(&s.region, &s.cluster.name, &cidrs),
                commands::enable_private_endpoint(&s.region, &s.cluster.name),
            ]
        }
        _ => vec![],
    }
}

pub(super) fn dns(s: &Snapshot, blocked: &[&Blocked]) -> Finding {
    let vpc = &s.instance.vpc_id;
    let support_off = blocked
        .iter()
        .any(|b| matches!(b.block, Block::DnsSupportDisabled { .. }));
    let mut cmds = Vec::new();
    if support_off {
        cmds.push(commands::enable_vpc_dns(
            &s.region,
            vpc,
            "--enable-dns-support",
        ));
    }
    if blocked
        .iter()
        .any(|b| matches!(b.block, Block::DnsHostnamesDisabled { .. }))
        || support_off
    {
        cmds.push(commands::enable_vpc_dns(
            &s.region,
            vpc,
            "--enable-dns-hostnames",
        ));
    }
    let what = if support_off {
        "DNS support"
    } else {
        "DNS hostnames"
    };
    let summary = format!(
        "{vpc} has {what} turned off, so the node cannot resolve {}",
        destinations(blocked)
    );
    let note = "EKS nodes need the VPC's DNS resolver; private endpoints (interface endpoints, the cluster's private endpoint) also need DNS hostnames";
    blocker(
        Code::VpcDnsDisabled,
        summary,
        blocked,
        Remedy::manual(cmds, note),
    )
}
