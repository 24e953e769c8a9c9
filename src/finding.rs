//! Findings as data: a code with a stable kebab-case name, a severity, the evidence and a remedy.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    NoDefaultRoute,
    DeadDefaultRoute,
    IgwRouteWithoutPublicIp,
    NatGatewayWithoutInternet,
    NodegroupHealthIssue,
    CauseUnknown,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::NoDefaultRoute => "no-default-route",
            Code::DeadDefaultRoute => "dead-default-route",
            Code::IgwRouteWithoutPublicIp => "igw-route-without-public-ip",
            Code::NatGatewayWithoutInternet => "nat-gateway-without-internet",
            Code::NodegroupHealthIssue => "nodegroup-health-issue",
            Code::CauseUnknown => "cause-unknown",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Code::NoDefaultRoute => {
                "the subnet's route table has no 0.0.0.0/0 route and no complete set of VPC endpoints"
            }
            Code::DeadDefaultRoute => {
                "the default route is a blackhole or targets a NAT gateway that is not available or an internet gateway that is not attached"
            }
            Code::IgwRouteWithoutPublicIp => {
                "the default route goes to an internet gateway but the instance has no public IP"
            }
            Code::NatGatewayWithoutInternet => {
                "the NAT gateway's own subnet has no route to an attached internet gateway"
            }
            Code::NodegroupHealthIssue => "EKS reports a health issue on the nodegroup",
            Code::CauseUnknown => "no known cause was found in what was checked",
        }
    }
}

/// Ordered so that `max()` is the most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Info,
    Warning,
    /// The node cannot possibly join while this holds.
    Blocker,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Blocker => "blocker",
        }
    }
}

/// A change this function knows how to make safely.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fix {
    CreateDefaultRoute {
        route_table_id: String,
        nat_gateway_id: String,
    },
    ReplaceDefaultRoute {
        route_table_id: String,
        nat_gateway_id: String,
        /// The dead target being replaced, as seen in the snapshot.
        previous_target: String,
    },
}

impl Fix {
    pub fn route_table_id(&self) -> &str {
        match self {
            Fix::CreateDefaultRoute { route_table_id, .. }
            | Fix::ReplaceDefaultRoute { route_table_id, .. } => route_table_id,
        }
    }

    pub fn nat_gateway_id(&self) -> &str {
        match self {
            Fix::CreateDefaultRoute { nat_gateway_id, .. }
            | Fix::ReplaceDefaultRoute { nat_gateway_id, .. } => nat_gateway_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Remedy {
    /// What `MODE=remediate` would apply; `None` when only a human can fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
    /// The exact commands for a human (also given when `fix` is set, for alert mode).
    pub commands: Vec<String>,
    /// What else to know before running them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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
    fn codes_serialize_to_their_documented_names() {
        for code in [
            Code::NoDefaultRoute,
            Code::DeadDefaultRoute,
            Code::IgwRouteWithoutPublicIp,
            Code::NatGatewayWithoutInternet,
            Code::NodegroupHealthIssue,
            Code::CauseUnknown,
        ] {
            assert_eq!(
                serde_json::to_value(code).expect("serializes"),
                code.as_str()
            );
            assert!(!code.description().is_empty());
        }
    }

    #[test]
    fn blocker_outranks_warning_and_info() {
        assert!(Severity::Blocker > Severity::Warning && Severity::Warning > Severity::Info);
        assert_eq!(worst(&[]), Severity::Info);
    }
}
