//! Findings as data: a code with a stable kebab-case name, a severity, the evidence and a remedy.

use serde::Serialize;

use crate::action::RouteFix;
use crate::commands::CommandLine;
use crate::names::public_names;

public_names! {
    /// What was found. The names are public: dashboards, subscribers' filters and the README use them.
    pub enum Code {
        NoDefaultRoute => "no-default-route",
        DeadDefaultRoute => "dead-default-route",
        IgwRouteWithoutPublicIp => "igw-route-without-public-ip",
        NatGatewayWithoutInternet => "nat-gateway-without-internet",
        MissingVpcEndpoints => "missing-vpc-endpoints",
        EndpointNotReachable => "endpoint-not-reachable",
        NaclBlocksTraffic => "nacl-blocks-traffic",
        SecurityGroupBlocksEgress => "security-group-blocks-egress",
        VpcDnsDisabled => "vpc-dns-disabled",
        NodeRoleMissingPolicy => "node-role-missing-policy",
        MissingAccessEntry => "missing-access-entry",
        SubnetOutOfAddresses => "subnet-out-of-addresses",
        NodeBootstrapFailed => "node-bootstrap-failed",
        NodegroupHealthIssue => "nodegroup-health-issue",
        /// The function could not read the cluster's nodes (registration unknown): how to let it.
        FunctionCannotReadNodes => "function-cannot-read-nodes",
        CauseUnknown => "cause-unknown",
    }
}

public_names! {
    /// Ordered so that `max()` is the most severe.
    pub enum Severity {
        Info => "info",
        Warning => "warning",
        /// The node cannot possibly join while this holds.
        Blocker => "blocker",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Remedy {
    /// What `MODE=remediate` would apply; `None` when only a human can fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<RouteFix>,
    /// The exact commands for a human (also given when `fix` is set, for alert mode).
    pub commands: Vec<CommandLine>,
    /// What else to know before running them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Remedy {
    /// Commands for a human only.
    pub fn manual(commands: Vec<CommandLine>, note: impl Into<String>) -> Remedy {
        Remedy {
            fix: None,
            commands,
            note: Some(note.into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    pub summary: String,
    pub evidence: Vec<String>,
    pub remedy: Remedy,
}

/// The most severe level among findings (info when there are none).
pub fn worst(findings: &[Finding]) -> Severity {
    findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Info)
}

pub fn has_blocker(findings: &[Finding]) -> bool {
    worst(findings) == Severity::Blocker
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocker_outranks_warning_and_info() {
        assert!(Severity::Blocker > Severity::Warning && Severity::Warning > Severity::Info);
        assert_eq!(worst(&[]), Severity::Info);
    }
}
