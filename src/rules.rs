//! Diagnosis rules: pure functions of a [`Snapshot`]. No I/O here.

use crate::finding::{Code, Finding, Fix, Remedy, Severity};
use crate::snapshot::{NatGateway, Route, RouteTable, RouteTarget, Snapshot, DEFAULT_ROUTE};

/// Interface endpoints a node needs to join without an internet path (plus the S3 gateway endpoint).
pub const REQUIRED_INTERFACE_ENDPOINTS: &[&str] = &["ec2", "ecr.api", "ecr.dkr", "sts"];

/// Runs every rule. Ends with `cause-unknown` when nothing found blocks the node.
pub fn diagnose(s: &Snapshot) -> Vec<Finding> {
    let mut findings = default_route(s);
    findings.extend(nodegroup_health(s));
    if !findings.iter().any(|f| f.severity == Severity::Blocker) {
        findings.push(cause_unknown(s));
    }
    findings
}

/// Why a NAT gateway cannot carry the node's traffic to the internet, or `None` when it can.
pub fn nat_without_internet(s: &Snapshot, nat: &NatGateway) -> Option<String> {
    if nat.state != "available" {
        return Some(format!("NAT gateway {} is {}", nat.id, nat.state));
    }
    if nat.connectivity != "public" {
        return Some(format!(
            "NAT gateway {} has {} connectivity",
            nat.id, nat.connectivity
        ));
    }
    let Some(table) = s.route_table_for_subnet(&nat.subnet_id) else {
        return Some(format!(
            "no route table found for NAT gateway {}'s subnet {}",
            nat.id, nat.subnet_id
        ));
    };
    match table.default_route() {
        Some(Route {
            target: RouteTarget::InternetGateway(igw),
            state,
            ..
        }) if state == "active" && s.igw_attached(igw) => None,
        Some(r) => Some(format!(
            "NAT gateway {}'s subnet {} routes 0.0.0.0/0 -> {} ({}) in {}, not to an attached internet gateway",
            nat.id,
            nat.subnet_id,
            r.target.id(),
            r.state,
            table.id
        )),
        None => Some(format!(
            "NAT gateway {}'s subnet {} has no 0.0.0.0/0 route in {}",
            nat.id, nat.subnet_id, table.id
        )),
    }
}

/// The NAT gateway to send the subnet's default route to: `available`, public, its own subnet routed to an
/// attached internet gateway; same Availability Zone as the instance first, then the lowest id.
pub fn best_nat_gateway(s: &Snapshot) -> Option<&NatGateway> {
    let mut usable: Vec<&NatGateway> = s
        .nat_gateways
        .iter()
        .filter(|n| nat_without_internet(s, n).is_none())
        .collect();
    usable.sort_by_key(|n| {
        (
            n.availability_zone.as_deref() != Some(s.instance.availability_zone.as_str()),
            n.id.clone(),
        )
    });
    usable.first().copied()
}

/// Service short names (`ecr.api`, `s3`) missing for a node to join without internet access.
pub fn missing_private_endpoints(s: &Snapshot) -> Vec<String> {
    let prefix = format!("com.amazonaws.{}.", s.region);
    let available = |short: &str, kind: &str| {
        s.vpc_endpoints.iter().any(|e| {
            e.service_name.strip_prefix(&prefix) == Some(short)
                && e.endpoint_type.eq_ignore_ascii_case(kind)
                && e.state.eq_ignore_ascii_case("available")
                && (kind != "Gateway" || e.route_table_ids.contains(&s.route_table.id))
        })
    };
    let mut missing: Vec<String> = REQUIRED_INTERFACE_ENDPOINTS
        .iter()
        .filter(|svc| !available(svc, "Interface"))
        .map(|svc| svc.to_string())
        .collect();
    if !available("s3", "Gateway") {
        missing.push("s3".to_string());
    }
    missing
}

fn describe_table(s: &Snapshot, t: &RouteTable) -> String {
    if s.route_table_is_explicit() {
        format!(
            "route table {} (explicitly associated with {})",
            t.id, s.subnet.id
        )
    } else {
        format!(
            "route table {} (the VPC main table, serving {} implicitly)",
            t.id, s.subnet.id
        )
    }
}

fn route_lines(t: &RouteTable) -> Vec<String> {
    t.routes
        .iter()
        .map(|r| format!("  {} -> {} ({})", r.destination, r.target.id(), r.state))
        .collect()
}

fn create_route_command(s: &Snapshot, table: &str, nat: &str) -> String {
    format!(
        "aws ec2 create-route --region {} --route-table-id {table} --destination-cidr-block {DEFAULT_ROUTE} --nat-gateway-id {nat}",
        s.region
    )
}

fn replace_route_command(s: &Snapshot, table: &str, target_flag: &str, target: &str) -> String {
    format!(
        "aws ec2 replace-route --region {} --route-table-id {table} --destination-cidr-block {DEFAULT_ROUTE} {target_flag} {target}",
        s.region
    )
}

fn nat_evidence(s: &Snapshot, nat: &NatGateway) -> String {
    let igw = s
        .route_table_for_subnet(&nat.subnet_id)
        .and_then(RouteTable::default_route)
        .map(|r| r.target.id().to_string())
        .unwrap_or_default();
    format!(
        "NAT gateway {} is available in {} ({}) and its subnet routes 0.0.0.0/0 -> {} (attached)",
        nat.id,
        nat.subnet_id,
        nat.availability_zone.as_deref().unwrap_or("?"),
        igw
    )
}

fn no_usable_nat_remedy(s: &Snapshot) -> Remedy {
    let public_subnet = s
        .vpc_route_tables
        .iter()
        .find(|t| {
            matches!(t.default_route(), Some(Route { target: RouteTarget::InternetGateway(g), .. }) if s.igw_attached(g))
        })
        .and_then(|t| t.subnets.first().cloned())
        .unwrap_or_else(|| "<public-subnet-id>".to_string());
    Remedy {
        fix: None,
        commands: vec![
            format!("aws ec2 allocate-address --region {} --domain vpc", s.region),
            format!(
                "aws ec2 create-nat-gateway --region {} --subnet-id {public_subnet} --allocation-id <allocation-id>",
                s.region
            ),
            create_route_command(s, &s.route_table.id, "<nat-gateway-id>"),
        ],
        note: Some(format!(
            "no NAT gateway in {} is available with a route to an attached internet gateway, so there is nothing safe to point the route at",
            s.instance.vpc_id
        )),
    }
}

fn default_route(s: &Snapshot) -> Vec<Finding> {
    let table = &s.route_table;
    let mut evidence = vec![describe_table(s, table)];
    evidence.extend(route_lines(table));

    let Some(route) = table.default_route() else {
        let missing = missing_private_endpoints(s);
        if missing.is_empty() && s.cluster.endpoint_private_access {
            // A deliberate private subnet with every endpoint it needs: not a cause.
            return vec![];
        }
        if !missing.is_empty() {
            evidence.push(format!(
                "VPC endpoints missing for a private-only join: {}",
                missing.join(", ")
            ));
        } else {
            evidence.push(format!(
                "cluster {} has no private endpoint access, so the node must reach the public endpoint",
                s.cluster.name
            ));
        }
        let remedy = match best_nat_gateway(s) {
            Some(nat) => {
                evidence.push(nat_evidence(s, nat));
                Remedy {
                    fix: Some(Fix::CreateDefaultRoute {
                        route_table_id: table.id.clone(),
                        nat_gateway_id: nat.id.clone(),
                    }),
                    commands: vec![create_route_command(s, &table.id, &nat.id)],
                    note: None,
                }
            }
            None => no_usable_nat_remedy(s),
        };
        return vec![Finding {
            code: Code::NoDefaultRoute,
            severity: Severity::Blocker,
            summary: format!(
                "{} has no 0.0.0.0/0 route, so the node in {} cannot reach the EKS, ECR and STS endpoints",
                table.id, s.subnet.id
            ),
            evidence,
            remedy,
        }];
    };

    let dead_reason = if route.state == "blackhole" {
        Some(format!(
            "the default route -> {} is a blackhole",
            route.target.id()
        ))
    } else {
        match &route.target {
            RouteTarget::NatGateway(id) => match s.nat_gateway(id) {
                None => Some(format!("NAT gateway {id} no longer exists")),
                Some(nat) if nat.state != "available" => {
                    Some(format!("NAT gateway {id} is {}", nat.state))
                }
                Some(_) => None,
            },
            RouteTarget::InternetGateway(id) if !s.igw_attached(id) => Some(format!(
                "internet gateway {id} is not attached to {}",
                s.instance.vpc_id
            )),
            _ => None,
        }
    };

    if let Some(reason) = dead_reason {
        evidence.push(reason.clone());
        let replaceable = matches!(
            route.target,
            RouteTarget::NatGateway(_) | RouteTarget::InternetGateway(_)
        );
        let remedy = match best_nat_gateway(s) {
            Some(nat) if replaceable => {
                evidence.push(nat_evidence(s, nat));
                Remedy {
                    fix: Some(Fix::ReplaceDefaultRoute {
                        route_table_id: table.id.clone(),
                        nat_gateway_id: nat.id.clone(),
                        previous_target: route.target.id().to_string(),
                    }),
                    commands: vec![replace_route_command(
                        s,
                        &table.id,
                        "--nat-gateway-id",
                        &nat.id,
                    )],
                    note: None,
                }
            }
            Some(nat) => Remedy {
                fix: None,
                commands: vec![replace_route_command(
                    s,
                    &table.id,
                    "--nat-gateway-id",
                    &nat.id,
                )],
                note: Some(format!(
                    "the dead route pointed at {} ({}); egress through it may be a deliberate design (central inspection), so it is not replaced automatically — restore that path, or run the command to use {} instead",
                    route.target.id(),
                    target_kind(&route.target),
                    nat.id
                )),
            },
            None => no_usable_nat_remedy(s),
        };
        return vec![Finding {
            code: Code::DeadDefaultRoute,
            severity: Severity::Blocker,
            summary: format!(
                "{}'s default route is dead ({reason}), so the node in {} cannot reach the EKS, ECR and STS endpoints",
                table.id, s.subnet.id
            ),
            evidence,
            remedy,
        }];
    }

    match &route.target {
        RouteTarget::InternetGateway(igw) if s.instance.public_ip.is_none() => {
            evidence.push(format!(
                "instance {} has no public IP (subnet {} MapPublicIpOnLaunch={})",
                s.instance.id, s.subnet.id, s.subnet.map_public_ip_on_launch
            ));
            let mut commands = vec![format!(
                "aws ec2 modify-subnet-attribute --region {} --subnet-id {} --map-public-ip-on-launch",
                s.region, s.subnet.id
            )];
            if let Some(nat) = best_nat_gateway(s) {
                commands.push(replace_route_command(
                    s,
                    &table.id,
                    "--nat-gateway-id",
                    &nat.id,
                ));
            }
            vec![Finding {
                code: Code::IgwRouteWithoutPublicIp,
                severity: Severity::Blocker,
                summary: format!(
                    "{} sends 0.0.0.0/0 to internet gateway {igw}, but instance {} has no public IP, so its traffic cannot leave the VPC",
                    table.id, s.instance.id
                ),
                evidence,
                remedy: Remedy {
                    fix: None,
                    commands,
                    note: Some(
                        "either give the subnet public IPs on launch (first command; new instances only) or, for a private subnet, route through a NAT gateway (second command); the route is alive, so it is never changed automatically"
                            .to_string(),
                    ),
                },
            }]
        }
        RouteTarget::NatGateway(id) => {
            let Some(nat) = s.nat_gateway(id) else {
                return vec![];
            };
            let Some(reason) = nat_without_internet(s, nat) else {
                return vec![];
            };
            evidence.push(reason);
            let nat_table = s.route_table_for_subnet(&nat.subnet_id);
            let mut commands = Vec::new();
            if let (Some(t), Some(igw)) = (nat_table, s.attached_internet_gateways.first()) {
                commands.push(match t.default_route() {
                    None => format!(
                        "aws ec2 create-route --region {} --route-table-id {} --destination-cidr-block {DEFAULT_ROUTE} --gateway-id {igw}",
                        s.region, t.id
                    ),
                    Some(_) => replace_route_command(s, &t.id, "--gateway-id", igw),
                });
            }
            if let Some(other) = best_nat_gateway(s) {
                commands.push(replace_route_command(
                    s,
                    &table.id,
                    "--nat-gateway-id",
                    &other.id,
                ));
            }
            vec![Finding {
                code: Code::NatGatewayWithoutInternet,
                severity: Severity::Blocker,
                summary: format!(
                    "{} sends 0.0.0.0/0 to NAT gateway {id}, but that NAT gateway has no way to the internet",
                    table.id
                ),
                evidence,
                remedy: Remedy {
                    fix: None,
                    commands,
                    note: Some(
                        "give the NAT gateway's subnet a route to the VPC's internet gateway, or point this subnet at a NAT gateway that has one; a public subnet's route table is shared infrastructure, so this is left to a human"
                            .to_string(),
                    ),
                },
            }]
        }
        _ => vec![],
    }
}

fn target_kind(t: &RouteTarget) -> &'static str {
    match t {
        RouteTarget::Local => "local",
        RouteTarget::NatGateway(_) => "NAT gateway",
        RouteTarget::InternetGateway(_) => "internet gateway",
        RouteTarget::EgressOnlyInternetGateway(_) => "egress-only internet gateway",
        RouteTarget::TransitGateway(_) => "transit gateway",
        RouteTarget::VpcPeering(_) => "VPC peering connection",
        RouteTarget::NetworkInterface(_) => "network interface",
        RouteTarget::Instance(_) => "instance",
        RouteTarget::VpcEndpoint(_) => "VPC endpoint (firewall / load balancer)",
        RouteTarget::Other(_) => "other target",
    }
}

fn nodegroup_health(s: &Snapshot) -> Vec<Finding> {
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
                commands: vec![format!(
                    "aws eks describe-nodegroup --region {} --cluster-name {} --nodegroup-name {} --query nodegroup.health",
                    s.region, s.cluster.name, ng.name
                )],
                note: None,
            },
        })
        .collect()
}

fn cause_unknown(s: &Snapshot) -> Finding {
    let mut evidence = vec![describe_table(s, &s.route_table)];
    evidence.extend(route_lines(&s.route_table));
    match s.route_table.default_route() {
        Some(r) => evidence.push(format!(
            "the default route -> {} ({}) looks alive; egress beyond it cannot be verified from the VPC",
            r.target.id(),
            target_kind(&r.target)
        )),
        None => evidence.push(
            "no default route, but every VPC endpoint a node needs is present and the cluster has private endpoint access"
                .to_string(),
        ),
    }
    evidence.push(
        "checked: the subnet's route table and default route, NAT gateways and their subnets' routes, internet gateway attachment, VPC endpoints, the instance's public IP, nodegroup health"
            .to_string(),
    );
    evidence.push(
        "not checked by this version: network ACLs, security groups, VPC DNS attributes, the node IAM role, access entries"
            .to_string(),
    );
    Finding {
        code: Code::CauseUnknown,
        severity: Severity::Warning,
        summary: format!(
            "no routing cause found for instance {} in {}; look at the node itself",
            s.instance.id, s.subnet.id
        ),
        evidence,
        remedy: Remedy {
            fix: None,
            commands: vec![
                format!(
                    "aws ec2 get-console-output --region {} --instance-id {} --latest --output text",
                    s.region, s.instance.id
                ),
                format!(
                    "aws ssm start-automation-execution --region {} --document-name AWSSupport-TroubleshootEKSWorkerNode --parameters ClusterName={},WorkerID={}",
                    s.region, s.cluster.name, s.instance.id
                ),
            ],
            note: Some(
                "the console output shows whether the bootstrap reached the cluster endpoint; the SSM runbook checks security groups, NACLs, IAM and the kubelet"
                    .to_string(),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{self, *};
    use crate::snapshot::VpcEndpoint;

    fn codes(findings: &[Finding]) -> Vec<Code> {
        findings.iter().map(|f| f.code).collect()
    }

    #[test]
    fn seed_local_only_table_is_no_default_route_fixable_with_the_existing_nat() {
        let findings = diagnose(&fixture::seed());
        assert_eq!(codes(&findings), vec![Code::NoDefaultRoute]);
        let f = &findings[0];
        assert_eq!(f.severity, Severity::Blocker);
        assert_eq!(
            f.remedy.fix,
            Some(Fix::CreateDefaultRoute {
                route_table_id: NEW_TABLE.into(),
                nat_gateway_id: NAT_A.into()
            })
        );
        assert_eq!(
            f.remedy.commands,
            vec![format!("aws ec2 create-route --region us-west-2 --route-table-id {NEW_TABLE} --destination-cidr-block 0.0.0.0/0 --nat-gateway-id {NAT_A}")]
        );
        assert!(f
            .evidence
            .iter()
            .any(|e| e.contains("10.42.0.0/16 -> local (active)")));
        assert!(f
            .evidence
            .iter()
            .any(|e| e.contains("explicitly associated")));
    }

    #[test]
    fn subnet_without_explicit_association_is_judged_by_the_main_table() {
        let mut s = fixture::seed();
        s.vpc_route_tables.retain(|t| t.id != NEW_TABLE);
        s.route_table = s
            .vpc_route_tables
            .iter()
            .find(|t| t.main)
            .cloned()
            .expect("main");
        let findings = diagnose(&s);
        assert_eq!(codes(&findings), vec![Code::NoDefaultRoute]);
        assert!(findings[0].evidence[0].contains("main table"));
        assert_eq!(
            findings[0].remedy.fix.as_ref().map(Fix::route_table_id),
            Some(MAIN_TABLE)
        );
    }

    #[test]
    fn same_az_nat_is_preferred_and_unusable_nats_are_ignored() {
        let mut s = fixture::seed();
        s.nat_gateways = vec![
            nat("nat-0aaa-b", PUBLIC_SUBNET_B, "us-west-2b", "available"),
            nat("nat-0bbb-a", PUBLIC_SUBNET_A, "us-west-2a", "available"),
            nat("nat-0000-dead", PUBLIC_SUBNET_A, "us-west-2a", "deleted"),
        ];
        assert_eq!(
            best_nat_gateway(&s).map(|n| n.id.as_str()),
            Some("nat-0bbb-a")
        );
        s.nat_gateways.retain(|n| n.id != "nat-0bbb-a");
        assert_eq!(
            best_nat_gateway(&s).map(|n| n.id.as_str()),
            Some("nat-0aaa-b")
        );
    }

    #[test]
    fn no_default_route_without_any_usable_nat_gives_manual_commands() {
        let mut s = fixture::seed();
        s.nat_gateways[0].state = "failed".into();
        let f = &diagnose(&s)[0];
        assert_eq!(f.code, Code::NoDefaultRoute);
        assert_eq!(f.remedy.fix, None);
        assert!(f
            .remedy
            .commands
            .iter()
            .any(|c| c.contains("create-nat-gateway") && c.contains(PUBLIC_SUBNET_A)));
    }

    #[test]
    fn complete_private_endpoints_mean_a_missing_default_route_is_not_a_cause() {
        let mut s = fixture::seed();
        let ep = |svc: &str, kind: &str| VpcEndpoint {
            id: format!("vpce-{svc}"),
            service_name: format!("com.amazonaws.us-west-2.{svc}"),
            endpoint_type: kind.into(),
            state: "available".into(),
            route_table_ids: vec![NEW_TABLE.into()],
        };
        s.vpc_endpoints = vec![
            ep("ec2", "Interface"),
            ep("ecr.api", "Interface"),
            ep("ecr.dkr", "Interface"),
            ep("sts", "Interface"),
        ];
        assert_eq!(missing_private_endpoints(&s), vec!["s3"]);
        assert_eq!(diagnose(&s)[0].code, Code::NoDefaultRoute);
        s.vpc_endpoints.push(ep("s3", "Gateway"));
        assert!(missing_private_endpoints(&s).is_empty());
        assert_eq!(codes(&diagnose(&s)), vec![Code::CauseUnknown]);
        s.cluster.endpoint_private_access = false;
        assert_eq!(codes(&diagnose(&s)), vec![Code::NoDefaultRoute]);
    }

    #[test]
    fn route_to_deleted_nat_is_dead_and_replaced_by_a_healthy_nat() {
        let mut s =
            fixture::seed().with_new_subnet_default(RouteTarget::NatGateway("nat-0dead".into()));
        s.nat_gateways
            .push(nat("nat-0dead", PUBLIC_SUBNET_B, "us-west-2b", "deleted"));
        let findings = diagnose(&s);
        assert_eq!(codes(&findings), vec![Code::DeadDefaultRoute]);
        assert_eq!(
            findings[0].remedy.fix,
            Some(Fix::ReplaceDefaultRoute {
                route_table_id: NEW_TABLE.into(),
                nat_gateway_id: NAT_A.into(),
                previous_target: "nat-0dead".into()
            })
        );
        assert!(findings[0].remedy.commands[0].starts_with("aws ec2 replace-route"));
    }

    #[test]
    fn route_to_detached_igw_is_dead() {
        let s = fixture::seed()
            .with_new_subnet_default(RouteTarget::InternetGateway("igw-0gone".into()));
        let findings = diagnose(&s);
        assert_eq!(codes(&findings), vec![Code::DeadDefaultRoute]);
        assert!(findings[0].remedy.fix.is_some());
    }

    #[test]
    fn blackhole_transit_gateway_route_is_dead_but_never_auto_replaced() {
        let mut s =
            fixture::seed().with_new_subnet_default(RouteTarget::TransitGateway("tgw-1".into()));
        s.route_table.routes[1].state = "blackhole".into();
        let findings = diagnose(&s);
        assert_eq!(codes(&findings), vec![Code::DeadDefaultRoute]);
        assert_eq!(findings[0].remedy.fix, None);
        assert!(findings[0]
            .remedy
            .note
            .as_deref()
            .is_some_and(|n| n.contains("transit gateway")));
    }

    #[test]
    fn live_transit_gateway_route_is_not_a_routing_cause() {
        let s =
            fixture::seed().with_new_subnet_default(RouteTarget::TransitGateway("tgw-1".into()));
        let findings = diagnose(&s);
        assert_eq!(codes(&findings), vec![Code::CauseUnknown]);
        assert!(findings[0]
            .evidence
            .iter()
            .any(|e| e.contains("tgw-1") && e.contains("transit gateway")));
        assert!(findings[0]
            .remedy
            .commands
            .iter()
            .any(|c| c.contains("get-console-output")));
    }

    #[test]
    fn igw_route_without_public_ip_is_a_blocker_left_to_a_human() {
        let s = fixture::seed().with_new_subnet_default(RouteTarget::InternetGateway(IGW.into()));
        let findings = diagnose(&s);
        assert_eq!(codes(&findings), vec![Code::IgwRouteWithoutPublicIp]);
        assert_eq!(findings[0].remedy.fix, None);
        let mut with_ip = s.clone();
        with_ip.instance.public_ip = Some("54.1.2.3".into());
        assert_eq!(codes(&diagnose(&with_ip)), vec![Code::CauseUnknown]);
    }

    #[test]
    fn nat_whose_subnet_has_no_internet_is_reported() {
        let mut s = fixture::seed().with_new_subnet_default(RouteTarget::NatGateway(NAT_A.into()));
        for t in &mut s.vpc_route_tables {
            if t.id == PUBLIC_TABLE {
                t.routes.retain(|r| r.destination != DEFAULT_ROUTE);
            }
        }
        let findings = diagnose(&s);
        assert_eq!(codes(&findings), vec![Code::NatGatewayWithoutInternet]);
        assert!(
            findings[0].remedy.commands[0].contains(&format!("--route-table-id {PUBLIC_TABLE}"))
        );
        assert!(findings[0].remedy.commands[0].contains(&format!("--gateway-id {IGW}")));
        assert_eq!(findings[0].remedy.fix, None);
    }

    #[test]
    fn working_nat_route_gives_cause_unknown_with_next_steps() {
        let s = fixture::seed().with_new_subnet_default(RouteTarget::NatGateway(NAT_A.into()));
        let findings = diagnose(&s);
        assert_eq!(codes(&findings), vec![Code::CauseUnknown]);
        assert!(findings[0]
            .evidence
            .iter()
            .any(|e| e.starts_with("not checked")));
    }

    #[test]
    fn nodegroup_health_issues_are_info_findings() {
        let mut s = fixture::seed();
        if let Some(ng) = s.nodegroup.as_mut() {
            ng.health_issues.push(crate::snapshot::HealthIssue {
                code: "NodeCreationFailure".into(),
                message: "Instances failed to join the kubernetes cluster".into(),
            });
        }
        let findings = diagnose(&s);
        assert_eq!(
            codes(&findings),
            vec![Code::NoDefaultRoute, Code::NodegroupHealthIssue]
        );
        assert_eq!(findings[1].severity, Severity::Info);
    }
}
