use super::*;
use crate::action::RouteFix;
use crate::finding::Severity;
use crate::fixture::{self, *};
use crate::snapshot::*;

fn codes(s: &Snapshot) -> Vec<Code> {
    diagnose(s).findings.iter().map(|f| f.code).collect()
}

fn first(s: &Snapshot) -> Finding {
    diagnose(s).findings.remove(0)
}

fn commands(f: &Finding) -> Vec<String> {
    f.remedy.commands.iter().map(ToString::to_string).collect()
}

fn with_nat_default() -> Snapshot {
    fixture::seed().with_new_subnet_default(nat_target(NAT_A))
}

#[test]
fn seed_local_only_table_is_no_default_route_fixable_with_the_existing_nat() {
    let s = fixture::seed();
    assert_eq!(codes(&s), vec![Code::NoDefaultRoute]);
    let f = first(&s);
    assert_eq!(f.severity, Severity::Blocker);
    assert_eq!(
        f.remedy.fix,
        Some(RouteFix::CreateDefaultRoute {
            route_table_id: NEW_TABLE.into(),
            nat_gateway_id: NAT_A.into()
        })
    );
    assert_eq!(
        commands(&f),
        vec![format!("aws ec2 create-route --region us-west-2 --route-table-id {NEW_TABLE} --destination-cidr-block 0.0.0.0/0 --nat-gateway-id {NAT_A}")]
    );
    for needle in [
        "10.42.0.0/16 -> local (active)",
        "explicitly associated",
        "sts via internet: blocked at route",
    ] {
        assert!(
            f.evidence.iter().any(|e| e.contains(needle)),
            "{needle} not in {:#?}",
            f.evidence
        );
    }
    assert!(
        f.summary.contains("ecr.api") && f.summary.contains("sts"),
        "{}",
        f.summary
    );
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
    let f = first(&s);
    assert_eq!(f.code, Code::NoDefaultRoute);
    assert!(f.evidence[0].contains("main table"));
    assert_eq!(
        f.remedy.fix.as_ref().map(RouteFix::route_table_id),
        Some(MAIN_TABLE)
    );
}

#[test]
fn without_any_nat_the_remedy_creates_one_by_hand() {
    let mut s = fixture::seed();
    s.nat_gateways[0].state = NatState::Failed;
    let f = first(&s);
    assert_eq!(f.code, Code::NoDefaultRoute);
    assert_eq!(f.remedy.fix, None);
    assert!(commands(&f)
        .iter()
        .any(|c| c.contains("create-nat-gateway") && c.contains(PUBLIC_SUBNET_A)));
}

#[test]
fn a_nat_that_only_lacks_its_own_route_is_fixed_not_replaced_by_a_new_one() {
    let s = fixture::seed()
        .with_table_routes(PUBLIC_TABLE, vec![local()])
        .with_table_routes(PRIVATE_TABLE, vec![local()]);
    let f = first(&s);
    assert_eq!(f.code, Code::NoDefaultRoute);
    assert_eq!(f.remedy.fix, None);
    let cmds = commands(&f);
    assert!(
        !cmds.iter().any(|c| c.contains("create-nat-gateway")),
        "{cmds:#?}"
    );
    assert!(cmds[0].contains(&format!("--route-table-id {PUBLIC_TABLE}")) && cmds[0].contains(IGW));
    assert!(cmds[1].contains(&format!("--nat-gateway-id {NAT_A}")));
}

#[test]
fn split_defaults_through_a_nat_are_not_a_cause() {
    let s = fixture::seed().with_new_subnet_routes(vec![
        route("0.0.0.0/1", nat_target(NAT_A)),
        route("128.0.0.0/1", nat_target(NAT_A)),
    ]);
    assert_eq!(codes(&s), vec![Code::CauseUnknown]);
    assert!(
        first(&s).summary.contains("every path"),
        "{}",
        first(&s).summary
    );
}

#[test]
fn egress_through_a_transit_gateway_without_default_route_is_never_a_blocker() {
    let s = fixture::seed().with_new_subnet_routes(vec![route(
        "10.0.0.0/8",
        RouteTarget::TransitGateway("tgw-1".into()),
    )]);
    assert_eq!(codes(&s), vec![Code::CauseUnknown]);
    let f = first(&s);
    assert!(f.summary.contains("could not be verified"), "{}", f.summary);
    assert!(commands(&f)
        .iter()
        .any(|c| c.contains("get-console-output")));
}

#[test]
fn private_cluster_missing_one_endpoint_names_it_and_adds_no_nat_route() {
    let mut s = fixture::seed()
        .with_interface_endpoints(&["ec2", "ecr.api", "ecr.dkr"])
        .with_s3_gateway_endpoint();
    s.cluster.endpoint_public_access = false;
    assert_eq!(codes(&s), vec![Code::MissingVpcEndpoints]);
    let f = first(&s);
    assert_eq!(f.remedy.fix, None);
    assert!(
        f.summary.contains("sts") && !f.summary.contains("ecr"),
        "{}",
        f.summary
    );
    let cmds = commands(&f);
    assert_eq!(cmds.len(), 1);
    assert!(
        cmds[0].contains("create-vpc-endpoint") && cmds[0].contains("com.amazonaws.us-west-2.sts")
    );
    let complete = s.with_interface_endpoints(&["sts"]);
    assert_eq!(codes(&complete), vec![Code::CauseUnknown]);
}

#[test]
fn route_to_a_deleted_nat_is_dead_and_replaced_by_a_healthy_nat() {
    let mut s = fixture::seed().with_new_subnet_default(nat_target("nat-0dead"));
    s.nat_gateways
        .push(nat("nat-0dead", PUBLIC_SUBNET_B, "us-west-2b", "deleted"));
    assert_eq!(codes(&s), vec![Code::DeadDefaultRoute]);
    let f = first(&s);
    assert_eq!(
        f.remedy.fix,
        Some(RouteFix::ReplaceDefaultRoute {
            route_table_id: NEW_TABLE.into(),
            nat_gateway_id: NAT_A.into(),
            previous: s.route_table.routes[1].clone(),
        })
    );
    assert!(commands(&f)[0].starts_with("aws ec2 replace-route"));
}

#[test]
fn a_pending_nat_is_not_a_blocker() {
    let mut s = fixture::seed().with_new_subnet_default(nat_target("nat-0new"));
    s.nat_gateways
        .push(nat("nat-0new", PUBLIC_SUBNET_B, "us-west-2b", "pending"));
    assert_eq!(codes(&s), vec![Code::CauseUnknown]);
}

#[test]
fn detached_igw_route_is_dead_and_replaced_only_in_a_private_subnet() {
    let s =
        fixture::seed().with_new_subnet_default(RouteTarget::InternetGateway("igw-0gone".into()));
    assert_eq!(codes(&s), vec![Code::DeadDefaultRoute]);
    assert!(first(&s).remedy.fix.is_some());
    let mut public = s.clone();
    public.subnet.map_public_ip_on_launch = true;
    let f = first(&public);
    assert_eq!(f.code, Code::DeadDefaultRoute);
    assert_eq!(
        f.remedy.fix, None,
        "a public subnet is never turned private"
    );
    assert!(f
        .remedy
        .note
        .as_deref()
        .is_some_and(|n| n.contains("public subnet")));
}

#[test]
fn blackholed_transit_gateway_route_is_dead_but_never_auto_replaced() {
    let s = fixture::seed().with_new_subnet_routes(vec![blackhole(
        DEFAULT_ROUTE,
        RouteTarget::TransitGateway("tgw-1".into()),
    )]);
    let f = first(&s);
    assert_eq!(f.code, Code::DeadDefaultRoute);
    assert_eq!(f.remedy.fix, None);
    assert!(f
        .remedy
        .note
        .as_deref()
        .is_some_and(|n| n.contains("transit gateway")));
}

#[test]
fn igw_route_without_public_ip_is_a_blocker_left_to_a_human() {
    let s = fixture::seed().with_new_subnet_default(RouteTarget::InternetGateway(IGW.into()));
    assert_eq!(codes(&s), vec![Code::IgwRouteWithoutPublicIp]);
    assert_eq!(first(&s).remedy.fix, None);
    let mut with_ip = s.clone();
    with_ip.instance.public_ip = Some("54.1.2.3".into());
    assert_eq!(codes(&with_ip), vec![Code::CauseUnknown]);
}

#[test]
fn nat_whose_subnet_has_no_internet_is_reported_with_that_tables_fix() {
    let s = with_nat_default()
        .with_table_routes(PUBLIC_TABLE, vec![local()])
        .with_table_routes(PRIVATE_TABLE, vec![local()]);
    assert_eq!(codes(&s), vec![Code::NatGatewayWithoutInternet]);
    let f = first(&s);
    let cmds = commands(&f);
    assert!(
        cmds[0].contains(&format!("--route-table-id {PUBLIC_TABLE}")),
        "{cmds:#?}"
    );
    assert!(cmds[0].contains(&format!("--gateway-id {IGW}")));
    assert_eq!(f.remedy.fix, None);
}

#[test]
fn firewall_fronted_nat_still_gets_the_seeds_fix() {
    let firewall_subnet = "subnet-firewall0a";
    let mut s = fixture::seed().with_table_routes(
        PUBLIC_TABLE,
        vec![
            local(),
            route(DEFAULT_ROUTE, RouteTarget::VpcEndpoint("vpce-fw".into())),
        ],
    );
    s.vpc_subnets
        .push(subnet(firewall_subnet, "10.42.48.0/28", "us-west-2a"));
    s.vpc_route_tables.push(table(
        "rtb-firewall",
        false,
        &[firewall_subnet],
        vec![
            local(),
            route(DEFAULT_ROUTE, RouteTarget::InternetGateway(IGW.into())),
        ],
    ));
    let mut fw = endpoint("fw", EndpointType::GatewayLoadBalancer, &[]);
    fw.id = "vpce-fw".into();
    fw.subnet_ids = vec![firewall_subnet.into()];
    s.vpc_endpoints.push(fw);
    let f = first(&s);
    assert_eq!(f.code, Code::NoDefaultRoute);
    assert_eq!(
        f.remedy.fix.as_ref().map(RouteFix::nat_gateway_id),
        Some(NAT_A)
    );
    let fixed = s.with_new_subnet_default(nat_target(NAT_A));
    assert_eq!(codes(&fixed), vec![Code::CauseUnknown]);
}

#[test]
fn a_network_acl_denying_443_out_is_named_with_an_allow_entry_before_the_deny() {
    let s = with_nat_default().with_nacl_entries(vec![
        nacl_entry(100, true, "6", Some((443, 443)), "0.0.0.0/0", "deny"),
        nacl_entry(200, true, "-1", None, "0.0.0.0/0", "allow"),
        nacl_entry(100, false, "-1", None, "0.0.0.0/0", "allow"),
    ]);
    assert_eq!(codes(&s), vec![Code::NaclBlocksTraffic]);
    let cmds = commands(&first(&s));
    assert!(
        cmds[0].contains("create-network-acl-entry") && cmds[0].contains("--rule-number 99"),
        "{cmds:#?}"
    );
}

#[test]
fn a_security_group_without_443_out_is_named() {
    let s = with_nat_default().with_security_group(sg(
        NODE_SG,
        vec![sg_rule_group(NODE_SG)],
        vec![sg_rule("tcp", Some((22, 22)), &["0.0.0.0/0"])],
    ));
    assert_eq!(codes(&s), vec![Code::SecurityGroupBlocksEgress]);
    assert!(commands(&first(&s))[0].contains("authorize-security-group-egress"));
}

#[test]
fn vpc_dns_support_off_is_named() {
    let mut s = with_nat_default();
    s.vpc.dns_support = Some(false);
    assert_eq!(codes(&s), vec![Code::VpcDnsDisabled]);
    assert!(commands(&first(&s))[0].contains("--enable-dns-support"));
}

#[test]
fn public_only_endpoint_outside_public_access_cidrs_is_not_reachable() {
    let mut s = with_nat_default();
    s.cluster.endpoint_private_access = false;
    s.cluster.public_access_cidrs = vec!["203.0.113.0/24".into()];
    assert_eq!(codes(&s), vec![Code::EndpointNotReachable]);
    let cmds = commands(&first(&s));
    assert!(
        cmds[0].contains(&format!("publicAccessCidrs=203.0.113.0/24,{NAT_A_IP}/32")),
        "{cmds:#?}"
    );
}

#[test]
fn nodegroup_health_issues_are_info_findings() {
    let mut s = fixture::seed();
    if let Some(ng) = s.nodegroup.as_mut() {
        ng.health_issues.push(HealthIssue {
            code: "NodeCreationFailure".into(),
            message: "Instances failed to join the kubernetes cluster".into(),
        });
    }
    assert_eq!(
        codes(&s),
        vec![Code::NoDefaultRoute, Code::NodegroupHealthIssue]
    );
    assert_eq!(diagnose(&s).findings[1].severity, Severity::Info);
}

#[test]
fn the_path_table_has_one_row_per_destination() {
    let d = diagnose(&fixture::seed());
    let names: Vec<&str> = d.paths.iter().map(|p| p.destination.as_str()).collect();
    assert_eq!(
        names,
        vec!["cluster-api", "ecr.api", "ecr.dkr", "sts", "ec2", "s3"]
    );
}
