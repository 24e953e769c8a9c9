//! Diagnosis rules: pure functions of a [`Snapshot`]. The egress evaluator says, per destination, which
//! hop stops the node's traffic; each blocked hop becomes a finding with its evidence and a remedy that
//! points at the resource that must change. Nothing blocked: `cause-unknown`, saying what was verified.

mod aws_auth;
mod capacity;
mod console;
mod filters;
mod health;
pub use health::function_cannot_read_nodes;
mod identity;
#[cfg(test)]
mod identity_tests;
mod route;
#[cfg(test)]
mod tests;

use serde::Serialize;

use crate::egress::{self, Block, PathReport, PathSummary};
use crate::finding::{has_blocker, Code, Finding};
use crate::snapshot::Snapshot;

/// What the rules made of a snapshot: the path table and the findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    pub paths: Vec<PathSummary>,
    pub findings: Vec<Finding>,
}

pub fn diagnose(s: &Snapshot) -> Diagnosis {
    let paths = egress::evaluate(s);
    let mut findings = blocked_findings(s, &paths);
    let identity = identity::check(s);
    findings.extend(identity.findings);
    findings.extend(capacity::subnet_addresses(s));
    let mut notes = identity.notes;
    match console::check(s) {
        Ok(note) => notes.push(note),
        Err(finding) => findings.push(*finding),
    }
    findings.extend(health::nodegroup_health(s));
    if !has_blocker(&findings) {
        findings.push(health::cause_unknown(s, &paths, &notes));
    }
    Diagnosis {
        paths: paths.iter().map(PathReport::summary).collect(),
        findings,
    }
}

/// A destination whose path is blocked, and the block.
pub(crate) struct Blocked<'a> {
    pub path: &'a PathReport,
    pub block: Block,
}

/// The finding code a block belongs to, given how the subnet's egress is designed.
fn code_of(block: &Block, private_design: bool) -> Code {
    match block {
        Block::NoRoute { .. } | Block::NoIpv4Egress { .. } if private_design => {
            Code::MissingVpcEndpoints
        }
        Block::NoRoute { .. } | Block::NoIpv4Egress { .. } => Code::NoDefaultRoute,
        Block::BlackholeRoute { .. }
        | Block::NatNotAvailable { .. }
        | Block::NatGone { .. }
        | Block::IgwNotAttached { .. }
        | Block::EgressOnlyGatewayGone { .. } => Code::DeadDefaultRoute,
        Block::IgwWithoutPublicIp { .. } => Code::IgwRouteWithoutPublicIp,
        Block::NatWithoutInternet { .. } => Code::NatGatewayWithoutInternet,
        Block::NaclDeniesEgress { .. } | Block::NaclDeniesReturn { .. } => Code::NaclBlocksTraffic,
        Block::SgDeniesEgress { .. } => Code::SecurityGroupBlocksEgress,
        Block::EndpointSgDeniesIngress { .. }
        | Block::EndpointNotAvailable { .. }
        | Block::SourceOutsidePublicAccessCidrs { .. } => Code::EndpointNotReachable,
        Block::DnsSupportDisabled { .. } | Block::DnsHostnamesDisabled { .. } => {
            Code::VpcDnsDisabled
        }
    }
}

/// One finding per code, covering every destination blocked for that reason, in the order of the codes.
fn blocked_findings(s: &Snapshot, paths: &[PathReport]) -> Vec<Finding> {
    let private_design = egress::design(s).is_private_endpoint_design();
    let blocked: Vec<(Code, Blocked)> = paths
        .iter()
        .filter_map(|path| match path.verdict() {
            egress::Verdict::Blocked(block) => {
                Some((code_of(&block, private_design), Blocked { path, block }))
            }
            _ => None,
        })
        .collect();
    let mut findings = Vec::new();
    for code in Code::ALL {
        let group: Vec<&Blocked> = blocked
            .iter()
            .filter(|(c, _)| c == code)
            .map(|(_, b)| b)
            .collect();
        if !group.is_empty() {
            findings.extend(finding_for(s, *code, &group));
        }
    }
    findings
}

fn finding_for(s: &Snapshot, code: Code, blocked: &[&Blocked]) -> Option<Finding> {
    Some(match code {
        Code::NoDefaultRoute => route::no_default_route(s, blocked),
        Code::DeadDefaultRoute => route::dead_default_route(s, blocked),
        Code::IgwRouteWithoutPublicIp => route::igw_without_public_ip(s, blocked),
        Code::NatGatewayWithoutInternet => route::nat_without_internet(s, blocked),
        Code::MissingVpcEndpoints => route::missing_vpc_endpoints(s, blocked),
        Code::NaclBlocksTraffic => filters::nacl(s, blocked),
        Code::SecurityGroupBlocksEgress => filters::security_group(s, blocked),
        Code::EndpointNotReachable => filters::endpoint(s, blocked),
        Code::VpcDnsDisabled => filters::dns(s, blocked),
        // Not from a blocked hop.
        Code::NodeRoleMissingPolicy
        | Code::MissingAccessEntry
        | Code::SubnetOutOfAddresses
        | Code::NodeBootstrapFailed
        | Code::NodegroupHealthIssue
        | Code::FunctionCannotReadNodes
        | Code::CauseUnknown => return None,
    })
}

/// The destinations in a group, as `ecr.api, ecr.dkr, s3`.
pub(crate) fn destinations(blocked: &[&Blocked]) -> String {
    let names: Vec<&str> = blocked
        .iter()
        .map(|b| b.path.destination.service.as_str())
        .collect();
    names.join(", ")
}

/// Evidence lines for the blocked paths of a group.
pub(crate) fn path_evidence(blocked: &[&Blocked]) -> Vec<String> {
    blocked
        .iter()
        .map(|b| b.path.summary().to_string())
        .collect()
}
