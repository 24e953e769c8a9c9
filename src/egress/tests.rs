use super::*;
use crate::fixture::{self, *};
use crate::snapshot::*;

const ALL_SERVICES: [Service; 5] = [
    Service::EcrApi,
    Service::EcrDkr,
    Service::Sts,
    Service::Ec2,
    Service::S3,
];

fn path(s: &Snapshot, service: Service) -> PathReport {
    evaluate(s)
        .into_iter()
        .find(|p| p.destination.service == service)
        .expect("every service has a path")
}

fn hop(s: &Snapshot, service: Service, kind: HopKind) -> Verdict {
    path(s, service)
        .hop(kind)
        .map(|h| h.verdict.clone())
        .expect("hop present")
}

fn unknown_mentions(v: &Verdict, text: &str) -> bool {
    matches!(v, Verdict::Unknown(why) if why.contains(text))
}

fn with_nat_default() -> Snapshot {
    fixture::seed().with_new_subnet_default(nat_target(NAT_A))
}

fn no_route() -> Verdict {
    Verdict::Blocked(Block::NoRoute {
        route_table_id: NEW_TABLE.into(),
    })
}

#[test]
fn seed_blocks_every_service_at_the_route_hop_and_finds_the_usable_nat() {
    let s = fixture::seed();
    for service in ALL_SERVICES {
        let p = path(&s, service);
        assert_eq!(p.destination.reach, Reach::Internet, "{service:?}");
        assert_eq!(p.verdict(), no_route(), "{service:?}");
        let route = p.hop(HopKind::Route).expect("route hop");
        assert!(
            route.detail.contains("10.42.0.0/16 -> local"),
            "{}",
            route.detail
        );
        assert_eq!(route.resource, NEW_TABLE);
        assert!(p.hop(HopKind::NextHop).is_none());
    }
    // Private endpoint access: the cluster API is reached on its ENIs through the local route.
    let api = path(&s, Service::ClusterApi);
    assert_eq!(api.destination.reach, Reach::ClusterEnis);
    assert_eq!(api.verdict(), Verdict::Pass);
    let ids: Vec<&str> = usable_nat_gateways(&s)
        .iter()
        .map(|n| n.id.as_str())
        .collect();
    assert_eq!(ids, vec![NAT_A]);
    assert_eq!(
        default_route_state(&s),
        DefaultRoute::Missing {
            route_table_id: NEW_TABLE.into()
        }
    );
    assert!(!design(&s).is_deliberate());
}

#[test]
fn default_route_to_a_working_nat_passes_every_destination() {
    let s = with_nat_default();
    for p in evaluate(&s) {
        assert_eq!(p.verdict(), Verdict::Pass, "{:?}", p);
    }
    let p = path(&s, Service::Sts);
    let route = p.hop(HopKind::Route).expect("route");
    assert_eq!(
        route.detail,
        format!("route 0.0.0.0/0 -> {NAT_A} (active) in {NEW_TABLE}")
    );
    let kinds: Vec<HopKind> = p.hops.iter().map(|h| h.kind).collect();
    assert_eq!(
        kinds,
        vec![
            HopKind::Dns,
            HopKind::Route,
            HopKind::NetworkAcl,
            HopKind::SecurityGroupEgress,
            HopKind::NextHop
        ]
    );
}

#[test]
fn split_default_routes_through_a_nat_pass() {
    let s = fixture::seed().with_new_subnet_routes(vec![
        route("0.0.0.0/1", nat_target(NAT_A)),
        route("128.0.0.0/1", nat_target(NAT_A)),
    ]);
    for service in ALL_SERVICES {
        assert_eq!(path(&s, service).verdict(), Verdict::Pass, "{service:?}");
    }
    assert!(matches!(
        default_route_state(&s),
        DefaultRoute::Alive { ref routes, next_hop: Verdict::Pass } if routes.len() == 2
    ));
}

#[test]
fn transit_gateway_for_private_space_without_default_is_unknown_and_routes_elsewhere() {
    let s = fixture::seed().with_new_subnet_routes(vec![route(
        "10.0.0.0/8",
        RouteTarget::TransitGateway("tgw-1".into()),
    )]);
    for service in ALL_SERVICES {
        let v = hop(&s, service, HopKind::Route);
        assert!(unknown_mentions(&v, "tgw-1"), "{service:?}: {v:?}");
        assert!(!path(&s, service).verdict().is_blocked());
    }
    let d = design(&s);
    assert!(d.routes_elsewhere());
    assert_eq!(d.routes_elsewhere[0].target.id(), "tgw-1");
    assert_eq!(
        default_route_state(&s),
        DefaultRoute::Missing {
            route_table_id: NEW_TABLE.into()
        }
    );
}

#[test]
fn a_more_specific_blackhole_inside_a_live_default_is_unknown_not_blocked() {
    let s = fixture::seed().with_new_subnet_routes(vec![
        route(DEFAULT_ROUTE, nat_target(NAT_A)),
        blackhole("52.0.0.0/8", nat_target("nat-0old")),
    ]);
    let v = hop(&s, Service::Sts, HopKind::Route);
    assert!(matches!(v, Verdict::Unknown(_)), "{v:?}");
    assert!(matches!(
        default_route_state(&s),
        DefaultRoute::Alive { .. }
    ));
    // A blackhole default alone is dead, and replaceable because it pointed at a NAT.
    let dead = fixture::seed()
        .with_new_subnet_routes(vec![blackhole(DEFAULT_ROUTE, nat_target("nat-0old"))]);
    assert!(matches!(
        hop(&dead, Service::Sts, HopKind::Route),
        Verdict::Blocked(Block::BlackholeRoute { .. })
    ));
    assert!(matches!(
        default_route_state(&dead),
        DefaultRoute::Dead {
            replaceable: true,
            why: Block::BlackholeRoute { .. },
            ..
        }
    ));
}

#[test]
fn blackholed_transit_gateway_default_is_dead_but_not_replaceable() {
    let s = fixture::seed().with_new_subnet_routes(vec![blackhole(
        DEFAULT_ROUTE,
        RouteTarget::TransitGateway("tgw-1".into()),
    )]);
    assert!(matches!(
        default_route_state(&s),
        DefaultRoute::Dead {
            replaceable: false,
            ..
        }
    ));
    assert!(design(&s).routes_elsewhere());
}

#[test]
fn s3_gateway_endpoint_prefix_list_route_passes_for_s3_only() {
    let s = fixture::seed().with_s3_gateway_endpoint();
    let p = path(&s, Service::S3);
    assert_eq!(
        p.destination.reach,
        Reach::GatewayEndpoint("vpce-s3".into())
    );
    assert_eq!(p.verdict(), Verdict::Pass);
    assert!(p
        .hop(HopKind::Route)
        .is_some_and(|h| h.detail.contains(&format!("{S3_PL} -> vpce-s3 (active)"))));
    for service in [Service::Sts, Service::EcrApi, Service::EcrDkr, Service::Ec2] {
        assert_eq!(path(&s, service).verdict(), no_route(), "{service:?}");
    }
    assert_eq!(
        default_route_state(&s),
        DefaultRoute::Missing {
            route_table_id: NEW_TABLE.into()
        }
    );
}

#[test]
fn s3_gateway_endpoint_not_associated_with_the_table_is_not_used() {
    let mut s = fixture::seed().with_s3_gateway_endpoint();
    s.vpc_endpoints[0].route_table_ids = vec![PRIVATE_TABLE.into()];
    assert_eq!(path(&s, Service::S3).destination.reach, Reach::Internet);
}

#[test]
fn ipv6_default_to_an_egress_only_gateway_gives_no_ipv4_egress() {
    let mut s = fixture::seed().with_new_subnet_routes(vec![route(
        "::/0",
        RouteTarget::EgressOnlyInternetGateway("eigw-1".into()),
    )]);
    s.egress_only_internet_gateways = vec!["eigw-1".into()];
    assert_eq!(path(&s, Service::Sts).verdict(), no_route());
    // Even an IPv4 route to it (never valid in EC2) does not carry IPv4.
    let s = s.with_new_subnet_default(RouteTarget::EgressOnlyInternetGateway("eigw-1".into()));
    assert_eq!(
        hop(&s, Service::Sts, HopKind::NextHop),
        Verdict::Blocked(Block::NoIpv4Egress {
            egress_only_gateway_id: "eigw-1".into()
        })
    );
}

fn nacl_order_cases() -> Vec<(&'static str, Vec<NaclEntry>, Verdict)> {
    let deny = |rule| {
        Verdict::Blocked(Block::NaclDeniesEgress {
            network_acl_id: ACL.into(),
            rule,
        })
    };
    let deny_return = |rule| {
        Verdict::Blocked(Block::NaclDeniesReturn {
            network_acl_id: ACL.into(),
            rule,
        })
    };
    let inbound_all = nacl_entry(100, false, "-1", None, "0.0.0.0/0", "allow");
    vec![
        (
            "deny 100 before allow 200",
            vec![
                nacl_entry(200, true, "-1", None, "0.0.0.0/0", "allow"),
                nacl_entry(100, true, "6", Some((443, 443)), "0.0.0.0/0", "deny"),
                inbound_all.clone(),
            ],
            deny(Some(100)),
        ),
        (
            "allow 100 before deny 200",
            vec![
                nacl_entry(200, true, "-1", None, "0.0.0.0/0", "deny"),
                nacl_entry(100, true, "6", Some((443, 443)), "0.0.0.0/0", "allow"),
                inbound_all.clone(),
            ],
            Verdict::Pass,
        ),
        (
            "a deny on another port does not match",
            vec![
                nacl_entry(100, true, "6", Some((80, 80)), "0.0.0.0/0", "deny"),
                nacl_entry(200, true, "-1", None, "0.0.0.0/0", "allow"),
                inbound_all.clone(),
            ],
            Verdict::Pass,
        ),
        (
            "a UDP allow does not match TCP: implicit deny",
            vec![
                nacl_entry(100, true, "17", None, "0.0.0.0/0", "allow"),
                inbound_all.clone(),
            ],
            deny(None),
        ),
        (
            "return traffic to 1024-32767 only misses the ephemeral range",
            vec![
                nacl_entry(100, true, "-1", None, "0.0.0.0/0", "allow"),
                nacl_entry(100, false, "6", Some((1024, 32767)), "0.0.0.0/0", "allow"),
            ],
            deny_return(None),
        ),
        (
            "return traffic explicitly denied",
            vec![
                nacl_entry(100, true, "-1", None, "0.0.0.0/0", "allow"),
                nacl_entry(90, false, "6", Some((1024, 65535)), "0.0.0.0/0", "deny"),
                inbound_all.clone(),
            ],
            deny_return(Some(90)),
        ),
        (
            "return traffic 1024-65535 allowed",
            vec![
                nacl_entry(100, true, "6", Some((443, 443)), "0.0.0.0/0", "allow"),
                nacl_entry(100, false, "6", Some((1024, 65535)), "0.0.0.0/0", "allow"),
            ],
            Verdict::Pass,
        ),
    ]
}

#[test]
fn network_acl_rules_apply_in_rule_number_order() {
    for (name, entries, want) in nacl_order_cases() {
        let s = with_nat_default().with_nacl_entries(entries);
        assert_eq!(hop(&s, Service::Sts, HopKind::NetworkAcl), want, "{name}");
    }
}

#[test]
fn network_acl_partial_coverage_is_unknown_never_blocked() {
    let cases: Vec<(&str, Vec<NaclEntry>)> = vec![
        (
            "half of public space allowed out",
            vec![
                nacl_entry(100, true, "-1", None, "0.0.0.0/1", "allow"),
                nacl_entry(100, false, "-1", None, "0.0.0.0/0", "allow"),
            ],
        ),
        (
            "part of the ephemeral ports allowed back",
            vec![
                nacl_entry(100, true, "-1", None, "0.0.0.0/0", "allow"),
                nacl_entry(100, false, "6", Some((32768, 40000)), "0.0.0.0/0", "allow"),
            ],
        ),
    ];
    for (name, entries) in cases {
        let s = with_nat_default().with_nacl_entries(entries);
        let v = hop(&s, Service::Sts, HopKind::NetworkAcl);
        assert!(matches!(v, Verdict::Unknown(_)), "{name}: {v:?}");
    }
}

#[test]
fn network_acl_is_not_crossed_inside_the_instance_subnet() {
    // Denies all, but the interface endpoint lives in the node's own subnet.
    let mut s = with_nat_default()
        .with_interface_endpoints(&["sts"])
        .with_nacl_entries(vec![]);
    s.vpc_endpoints[0].subnet_ids = vec![NEW_SUBNET.into()];
    assert_eq!(hop(&s, Service::Sts, HopKind::NetworkAcl), Verdict::Pass);
    assert!(hop(&s, Service::Ec2, HopKind::NetworkAcl).is_blocked());
}

#[test]
fn security_group_egress_to_private_space_only_blocks_the_internet_but_not_endpoints() {
    let s = with_nat_default()
        .with_interface_endpoints(&["sts"])
        .with_security_group(sg(
            NODE_SG,
            vec![sg_rule_group(NODE_SG)],
            vec![sg_rule("-1", None, &["10.0.0.0/8"])],
        ));
    assert_eq!(
        hop(&s, Service::Ec2, HopKind::SecurityGroupEgress),
        Verdict::Blocked(Block::SgDeniesEgress {
            security_group_ids: vec![NODE_SG.into()]
        })
    );
    assert_eq!(path(&s, Service::Sts).verdict(), Verdict::Pass);
    assert_eq!(path(&s, Service::ClusterApi).verdict(), Verdict::Pass);
}

#[test]
fn security_group_egress_port_ranges() {
    let cases = [
        ("tcp", Some((443, 443)), true),
        ("tcp", Some((0, 65535)), true),
        ("tcp", Some((400, 500)), true),
        ("6", Some((443, 443)), true),
        ("tcp", Some((80, 80)), false),
        ("tcp", Some((444, 1024)), false),
        ("udp", Some((443, 443)), false),
        ("-1", None, true),
    ];
    for (protocol, ports, pass) in cases {
        let s = with_nat_default().with_security_group(sg(
            NODE_SG,
            vec![sg_rule_group(NODE_SG)],
            vec![sg_rule(protocol, ports, &["0.0.0.0/0"])],
        ));
        let v = hop(&s, Service::Sts, HopKind::SecurityGroupEgress);
        assert_eq!(v.is_pass(), pass, "{protocol} {ports:?}: {v:?}");
        assert_eq!(v.is_blocked(), !pass, "{protocol} {ports:?}: {v:?}");
    }
}

#[test]
fn security_group_egress_to_part_of_public_space_is_unknown() {
    let s = with_nat_default().with_security_group(sg(
        NODE_SG,
        vec![sg_rule_group(NODE_SG)],
        vec![sg_rule("tcp", Some((443, 443)), &["52.0.0.0/8"])],
    ));
    assert!(matches!(
        hop(&s, Service::Sts, HopKind::SecurityGroupEgress),
        Verdict::Unknown(_)
    ));
}

#[test]
fn s3_gateway_path_accepts_egress_to_its_prefix_list() {
    let mut rule = sg_rule("tcp", Some((443, 443)), &[]);
    rule.prefix_list_ids = vec![S3_PL.into()];
    let s = fixture::seed()
        .with_s3_gateway_endpoint()
        .with_security_group(sg(NODE_SG, vec![sg_rule_group(NODE_SG)], vec![rule]));
    assert_eq!(path(&s, Service::S3).verdict(), Verdict::Pass);
}

#[test]
fn endpoint_security_group_without_ingress_from_the_node_blocks() {
    let s = fixture::seed()
        .with_interface_endpoints(&["sts"])
        .with_security_group(sg(
            ENDPOINT_SG,
            vec![sg_rule("tcp", Some((443, 443)), &["192.168.0.0/16"])],
            vec![],
        ));
    assert_eq!(
        path(&s, Service::Sts).verdict(),
        Verdict::Blocked(Block::EndpointSgDeniesIngress {
            target: "vpce-sts".into(),
            security_group_ids: vec![ENDPOINT_SG.into()]
        })
    );
    // Referencing the node's group lets it in.
    let s = s.with_security_group(sg(ENDPOINT_SG, vec![sg_rule_group(NODE_SG)], vec![]));
    assert_eq!(path(&s, Service::Sts).verdict(), Verdict::Pass);
}

#[test]
fn cluster_security_group_must_let_the_node_in() {
    let mut s = with_nat_default();
    s.cluster.cluster_security_group_id = Some("sg-cluster".into());
    s.cluster_enis = Readable::Read(vec![ClusterEni {
        id: "eni-1".into(),
        private_ip: CLUSTER_ENI_IP.into(),
        security_group_ids: vec!["sg-cluster".into()],
    }]);
    let s = s.with_security_group(sg("sg-cluster", vec![], vec![]));
    assert!(matches!(
        path(&s, Service::ClusterApi).verdict(),
        Verdict::Blocked(Block::EndpointSgDeniesIngress { .. })
    ));
    let s = s.with_security_group(sg(
        "sg-cluster",
        vec![sg_rule("tcp", Some((443, 443)), &[INSTANCE_IP_CIDR])],
        vec![],
    ));
    assert_eq!(path(&s, Service::ClusterApi).verdict(), Verdict::Pass);
}

const INSTANCE_IP_CIDR: &str = "10.42.200.17/32";

#[test]
fn dns_support_off_blocks_every_destination() {
    let mut s = with_nat_default();
    s.vpc.dns_support = Some(false);
    for p in evaluate(&s) {
        assert_eq!(
            p.verdict(),
            Verdict::Blocked(Block::DnsSupportDisabled { vpc_id: VPC.into() })
        );
    }
}

#[test]
fn dns_hostnames_off_blocks_only_private_dns_paths() {
    let mut s = with_nat_default().with_interface_endpoints(&["sts"]);
    s.vpc.dns_hostnames = Some(false);
    let hostnames = Verdict::Blocked(Block::DnsHostnamesDisabled { vpc_id: VPC.into() });
    assert_eq!(path(&s, Service::Sts).verdict(), hostnames);
    assert_eq!(path(&s, Service::ClusterApi).verdict(), hostnames);
    for service in [Service::Ec2, Service::EcrApi, Service::EcrDkr, Service::S3] {
        assert_eq!(path(&s, service).verdict(), Verdict::Pass, "{service:?}");
    }
}

#[test]
fn pending_nat_is_unknown_and_not_dead() {
    let mut s = with_nat_default();
    s.nat_gateways[0].state = NatState::Pending;
    let v = hop(&s, Service::Sts, HopKind::NextHop);
    assert!(unknown_mentions(&v, "pending"), "{v:?}");
    assert!(matches!(
        default_route_state(&s),
        DefaultRoute::Alive {
            next_hop: Verdict::Unknown(_),
            ..
        }
    ));
    assert!(usable_nat_gateways(&s).is_empty());
}

#[test]
fn deleted_or_missing_nat_is_dead_and_replaceable() {
    let mut s = with_nat_default();
    s.nat_gateways[0].state = NatState::Deleted;
    let dead = Block::NatNotAvailable {
        nat_gateway_id: NAT_A.into(),
        state: NatState::Deleted,
    };
    assert_eq!(
        hop(&s, Service::Sts, HopKind::NextHop),
        Verdict::Blocked(dead.clone())
    );
    assert!(matches!(
        default_route_state(&s),
        DefaultRoute::Dead { replaceable: true, ref why, .. } if *why == dead
    ));
    let gone = fixture::seed().with_new_subnet_default(nat_target("nat-0gone"));
    assert_eq!(
        hop(&gone, Service::Sts, HopKind::NextHop),
        Verdict::Blocked(Block::NatGone {
            nat_gateway_id: "nat-0gone".into()
        })
    );
}

#[test]
fn nat_whose_subnet_has_no_route_is_without_internet_naming_its_table() {
    let s = with_nat_default().with_table_routes(PUBLIC_TABLE, vec![local()]);
    let want = Verdict::Blocked(Block::NatWithoutInternet {
        nat_gateway_id: NAT_A.into(),
        route_table_id: PUBLIC_TABLE.into(),
        missing: "no route to the internet".into(),
    });
    // Known good (the private subnet uses it) does not lift a blocked own path.
    assert_eq!(hop(&s, Service::Sts, HopKind::NextHop), want);
    assert!(usable_nat_gateways(&s).is_empty());
    assert!(matches!(
        default_route_state(&s),
        DefaultRoute::Alive {
            next_hop: Verdict::Blocked(Block::NatWithoutInternet { .. }),
            ..
        }
    ));
}

#[test]
fn nat_behind_a_firewall_endpoint_that_reaches_the_igw_passes() {
    let firewall_subnet = "subnet-firewall0a";
    let firewall_table = "rtb-firewall00000000";
    let mut s = with_nat_default().with_table_routes(
        PUBLIC_TABLE,
        vec![
            local(),
            route(DEFAULT_ROUTE, RouteTarget::VpcEndpoint("vpce-fw".into())),
        ],
    );
    s.vpc_subnets
        .push(subnet(firewall_subnet, "10.42.48.0/28", "us-west-2a"));
    s.vpc_route_tables.push(table(
        firewall_table,
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
    assert_eq!(hop(&s, Service::Sts, HopKind::NextHop), Verdict::Pass);
    // Without the known-good private subnet, a firewall subnet routing elsewhere is unknown.
    let mut s = s.with_table_routes(
        firewall_table,
        vec![
            local(),
            route(DEFAULT_ROUTE, RouteTarget::TransitGateway("tgw-1".into())),
        ],
    );
    s.vpc_route_tables.retain(|t| t.id != PRIVATE_TABLE);
    assert!(matches!(
        hop(&s, Service::Sts, HopKind::NextHop),
        Verdict::Unknown(_)
    ));
}

#[test]
fn nat_used_by_other_subnets_is_known_good_despite_an_unknown_own_path() {
    let s = with_nat_default().with_table_routes(
        PUBLIC_TABLE,
        vec![
            local(),
            route("10.0.0.0/8", RouteTarget::TransitGateway("tgw-1".into())),
        ],
    );
    assert_eq!(hop(&s, Service::Sts, HopKind::NextHop), Verdict::Pass);
    assert_eq!(usable_nat_gateways(&s).len(), 1);
    let mut lonely = s.clone();
    lonely.vpc_route_tables.retain(|t| t.id != PRIVATE_TABLE);
    assert!(matches!(
        hop(&lonely, Service::Sts, HopKind::NextHop),
        Verdict::Unknown(_)
    ));
}

#[test]
fn igw_route_without_public_ip_is_blocked_but_alive() {
    let s = fixture::seed().with_new_subnet_default(RouteTarget::InternetGateway(IGW.into()));
    let want = Block::IgwWithoutPublicIp {
        internet_gateway_id: IGW.into(),
        instance_id: INSTANCE.into(),
    };
    assert_eq!(
        path(&s, Service::Sts).verdict(),
        Verdict::Blocked(want.clone())
    );
    assert!(matches!(
        default_route_state(&s),
        DefaultRoute::Alive { next_hop: Verdict::Blocked(ref b), .. } if *b == want
    ));
    let mut with_ip = s.clone();
    with_ip.instance.public_ip = Some("54.1.2.3".into());
    assert_eq!(path(&with_ip, Service::Sts).verdict(), Verdict::Pass);
}

#[test]
fn route_to_a_detached_igw_is_dead() {
    let s =
        fixture::seed().with_new_subnet_default(RouteTarget::InternetGateway("igw-0gone".into()));
    let want = Block::IgwNotAttached {
        internet_gateway_id: "igw-0gone".into(),
    };
    assert_eq!(
        path(&s, Service::Sts).verdict(),
        Verdict::Blocked(want.clone())
    );
    assert!(matches!(
        default_route_state(&s),
        DefaultRoute::Dead { replaceable: true, ref why, .. } if *why == want
    ));
}

#[test]
fn private_cluster_with_sts_endpoint_missing_sends_sts_to_the_internet() {
    let mut s = fixture::seed()
        .with_interface_endpoints(&["ec2", "ecr.api", "ecr.dkr"])
        .with_s3_gateway_endpoint();
    s.cluster.endpoint_public_access = false;
    for service in [
        Service::ClusterApi,
        Service::Ec2,
        Service::EcrApi,
        Service::EcrDkr,
        Service::S3,
    ] {
        assert_eq!(path(&s, service).verdict(), Verdict::Pass, "{service:?}");
    }
    let sts = path(&s, Service::Sts);
    assert_eq!(sts.destination.reach, Reach::Internet);
    assert_eq!(sts.verdict(), no_route());
    let d = design(&s);
    assert!(d.is_private_endpoint_design());
    assert_eq!(d.private_endpoints.len(), 3);
}

#[test]
fn unavailable_or_dnsless_interface_endpoint_is_not_used() {
    let mut s = fixture::seed().with_interface_endpoints(&["sts", "ec2"]);
    s.vpc_endpoints[0].state = EndpointState::Pending;
    s.vpc_endpoints[1].private_dns_enabled = false;
    assert_eq!(path(&s, Service::Sts).destination.reach, Reach::Internet);
    assert_eq!(path(&s, Service::Ec2).destination.reach, Reach::Internet);
}

#[test]
fn public_only_cluster_needs_the_nat_address_in_public_access_cidrs() {
    let mut s = with_nat_default();
    s.cluster.endpoint_private_access = false;
    s.cluster.public_access_cidrs = vec!["203.0.113.0/24".into()];
    let p = path(&s, Service::ClusterApi);
    assert_eq!(p.destination.reach, Reach::Internet);
    assert_eq!(
        p.verdict(),
        Verdict::Blocked(Block::SourceOutsidePublicAccessCidrs {
            sources: vec![NAT_A_IP.into()],
            public_access_cidrs: vec!["203.0.113.0/24".into()]
        })
    );
    s.cluster.public_access_cidrs = vec!["203.0.113.0/24".into(), format!("{NAT_A_IP}/32")];
    assert_eq!(path(&s, Service::ClusterApi).verdict(), Verdict::Pass);
    s.cluster.public_access_cidrs = vec![];
    assert_eq!(path(&s, Service::ClusterApi).verdict(), Verdict::Pass);
}

#[test]
fn denied_reads_make_hops_unknown_never_blocked() {
    let denied = "not permitted: UnauthorizedOperation";
    let mut s = with_nat_default().with_interface_endpoints(&["sts"]);
    s.network_acl = Readable::NotRead(denied.into());
    s.security_groups = Readable::NotRead(denied.into());
    s.cluster_enis = Readable::NotRead(denied.into());
    s.vpc.dns_support = None;
    s.vpc.dns_hostnames = None;
    s.vpc.dns_not_read = Some(denied.into());
    for p in evaluate(&s) {
        assert!(
            matches!(p.verdict(), Verdict::Unknown(ref why) if why.contains("not permitted")),
            "{p:?}"
        );
        for h in &p.hops {
            assert!(!h.verdict.is_blocked(), "{h:?}");
        }
    }
}

#[test]
fn unread_prefix_lists_make_prefix_list_routes_unknown() {
    let mut s = fixture::seed().with_new_subnet_routes(vec![route(
        "pl-corp",
        RouteTarget::TransitGateway("tgw-1".into()),
    )]);
    s.prefix_lists = Readable::NotRead("not permitted".into());
    assert!(unknown_mentions(
        &hop(&s, Service::Sts, HopKind::Route),
        "not permitted"
    ));
    assert!(matches!(
        default_route_state(&s),
        DefaultRoute::Unknown { .. }
    ));
    // The S3 gateway endpoint still passes by its route; its prefix-list route is ignored for others.
    let mut s = with_nat_default().with_s3_gateway_endpoint();
    s.prefix_lists = Readable::NotRead("not permitted".into());
    assert_eq!(hop(&s, Service::S3, HopKind::Route), Verdict::Pass);
    assert_eq!(path(&s, Service::Sts).verdict(), Verdict::Pass);
}

#[test]
fn garbage_and_empty_snapshots_never_panic_and_garbage_is_unknown() {
    let mut s =
        fixture::seed().with_new_subnet_routes(vec![route("0.0.0.0/garbage", nat_target(NAT_A))]);
    assert!(unknown_mentions(
        &hop(&s, Service::Sts, HopKind::Route),
        "not a CIDR"
    ));
    s.vpc.cidrs_v4 = vec!["nonsense".into()];
    s.subnet.cidr = "".into();
    s.vpc_subnets.clear();
    s.vpc_route_tables.clear();
    s.route_table.routes.clear();
    s.nat_gateways[0].subnet_id = "subnet-unknown".into();
    s.instance.private_ip = Some("not-an-ip".into());
    s.instance.security_groups.clear();
    s.cluster.public_access_cidrs = vec!["bad".into()];
    s.cluster_enis = Readable::Read(vec![]);
    s = s
        .with_interface_endpoints(&["sts"])
        .with_nacl_entries(vec![nacl_entry(1, true, "-1", None, "x/y", "allow")]);
    let reports = evaluate(&s);
    assert_eq!(reports.len(), 6);
    let _ = (design(&s), default_route_state(&s), usable_nat_gateways(&s));
    let json = serde_json::to_string(&reports).expect("serialises");
    assert!(json.contains("cluster-api"));
}

#[test]
fn usable_nats_prefer_the_instance_zone_then_id() {
    let mut s = fixture::seed();
    s.nat_gateways = vec![
        nat("nat-0aaa-b", PUBLIC_SUBNET_B, "us-west-2b", "available"),
        nat("nat-0bbb-a", PUBLIC_SUBNET_A, "us-west-2a", "available"),
        nat("nat-0000-dead", PUBLIC_SUBNET_A, "us-west-2a", "deleted"),
        nat("nat-0001-pending", PUBLIC_SUBNET_A, "us-west-2a", "pending"),
    ];
    let ids: Vec<&str> = usable_nat_gateways(&s)
        .iter()
        .map(|n| n.id.as_str())
        .collect();
    assert_eq!(ids, vec!["nat-0bbb-a", "nat-0aaa-b"]);
    s.nat_gateways[1].connectivity = NatConnectivity::Private;
    let ids: Vec<&str> = usable_nat_gateways(&s)
        .iter()
        .map(|n| n.id.as_str())
        .collect();
    assert_eq!(ids, vec!["nat-0aaa-b"]);
}

#[test]
fn combine_never_turns_a_mix_into_a_blocker() {
    let b = || {
        Verdict::Blocked(Block::NoRoute {
            route_table_id: "rtb".into(),
        })
    };
    let u = || Verdict::Unknown("x".into());
    assert_eq!(combine(vec![Verdict::Pass, Verdict::Pass]), Verdict::Pass);
    assert_eq!(combine(vec![b(), b()]), b());
    assert!(matches!(
        combine(vec![Verdict::Pass, b()]),
        Verdict::Unknown(_)
    ));
    assert!(matches!(combine(vec![u(), b()]), Verdict::Unknown(_)));
    assert!(matches!(combine(vec![]), Verdict::Unknown(_)));
}

#[test]
fn path_verdict_prefers_blocked_then_unknown() {
    let h = |v| Hop {
        kind: HopKind::Route,
        verdict: v,
        detail: String::new(),
        resource: String::new(),
    };
    let blocked = Verdict::Blocked(Block::DnsSupportDisabled { vpc_id: VPC.into() });
    assert_eq!(
        path_verdict(&[h(Verdict::Unknown("u".into())), h(blocked.clone())]),
        blocked
    );
    assert_eq!(
        path_verdict(&[h(Verdict::Pass), h(Verdict::Unknown("u".into()))]),
        Verdict::Unknown("u".into())
    );
    assert_eq!(path_verdict(&[]), Verdict::Pass);
}

// --- dual-stack: the cluster API's IPv6 path -------------------------------------------------------

fn v6_local() -> Route {
    route(VPC_CIDR_V6, RouteTarget::Local)
}

fn eigw_default() -> Route {
    route("::/0", RouteTarget::EgressOnlyInternetGateway(EIGW.into()))
}

/// The dual-stack seed with `routes` (besides both local routes) on the new subnet's table.
fn dual_stack_with(routes: Vec<Route>) -> Snapshot {
    let mut all = vec![v6_local()];
    all.extend(routes);
    fixture::dual_stack().with_new_subnet_routes(all)
}

fn legs(s: &Snapshot) -> Vec<String> {
    path(s, Service::ClusterApi)
        .summary()
        .families
        .iter()
        .map(Leg::to_string)
        .collect()
}

/// A named change to a snapshot, and what it should give.
type Case<W> = (&'static str, Box<dyn Fn(&mut Snapshot)>, W);
/// Routes on the new subnet's table, and a check of the verdict they give.
type RouteCase = (&'static str, Vec<Route>, fn(&Verdict) -> bool);

fn ipv6_leg(s: &Snapshot) -> Verdict {
    let p = path(s, Service::ClusterApi);
    p.ipv6.expect("an IPv6 path").verdict()
}

#[test]
fn dual_stack_cluster_api_is_reached_over_ipv6_when_ipv4_is_refused_by_public_access_cidrs() {
    let mut s = dual_stack_with(vec![
        route(DEFAULT_ROUTE, nat_target(NAT_A)),
        eigw_default(),
    ]);
    s.cluster.public_access_cidrs = vec!["198.51.100.0/24".into(), "::/0".into()];
    let p = path(&s, Service::ClusterApi);
    assert_eq!(p.verdict(), Verdict::Pass, "{p:#?}");
    assert!(
        path_verdict(&p.hops).is_blocked(),
        "the IPv4 path alone is refused"
    );
    let l = legs(&s);
    assert!(
        l[0].starts_with("IPv4 blocked at publicAccessCidrs"),
        "{l:?}"
    );
    assert_eq!(l[1], "IPv6 pass");
    let shown = p.summary().to_string();
    assert!(
        shown.starts_with("cluster-api via internet: pass [IPv4 blocked"),
        "{shown}"
    );
    // The AWS services are IPv4 only and pass through the NAT.
    for service in ALL_SERVICES {
        assert!(path(&s, service).ipv6.is_none(), "{service:?}");
        assert_eq!(path(&s, service).verdict(), Verdict::Pass, "{service:?}");
    }
}

#[test]
fn dual_stack_without_an_ipv4_default_still_blocks_every_aws_service() {
    let s = dual_stack_with(vec![eigw_default()]);
    assert_eq!(path(&s, Service::ClusterApi).verdict(), Verdict::Pass);
    assert_eq!(ipv6_leg(&s), Verdict::Pass);
    for service in ALL_SERVICES {
        assert_eq!(path(&s, service).verdict(), no_route(), "{service:?}");
    }
    assert_eq!(
        default_route_state(&s),
        DefaultRoute::Missing {
            route_table_id: NEW_TABLE.into()
        }
    );
    // Nothing at all to the internet: both paths blocked, and the IPv4 block is the one reported.
    let s = dual_stack_with(vec![]);
    assert_eq!(path(&s, Service::ClusterApi).verdict(), no_route());
    assert!(ipv6_leg(&s).is_blocked());
}

#[test]
fn ipv6_path_exists_only_for_a_dual_stack_public_endpoint_and_an_instance_with_ipv6() {
    let base = dual_stack_with(vec![eigw_default()]);
    let cases: Vec<Case<bool>> = vec![
        ("dual-stack seed", Box::new(|_| {}), true),
        (
            "IPv4 cluster",
            Box::new(|s| s.cluster.ip_family = Some(IpFamily::Ipv4)),
            false,
        ),
        (
            "instance without IPv6",
            Box::new(|s| s.instance.ipv6_addresses.clear()),
            false,
        ),
        (
            "private endpoint in use",
            Box::new(|s| s.cluster.endpoint_private_access = true),
            false,
        ),
        (
            "IPv6 cluster made before the dual-stack endpoints",
            Box::new(|s| {
                s.cluster.endpoint = Some("https://ABCD.gr7.us-west-2.eks.amazonaws.com".into());
                s.cluster.public_access_cidrs = vec![DEFAULT_ROUTE.into()];
            }),
            false,
        ),
        (
            "IPv6 ranges in publicAccessCidrs mark the endpoint dual-stack",
            Box::new(|s| {
                s.cluster.endpoint = Some("https://127.0.0.1:6443".into());
                s.cluster.public_access_cidrs = vec!["2001:db8::/32".into()];
            }),
            true,
        ),
        (
            "China partition host",
            Box::new(|s| {
                s.cluster.endpoint =
                    Some("https://X.eks-cluster.cn-north-1.api.amazonwebservices.com.cn/".into());
                s.cluster.public_access_cidrs = vec![DEFAULT_ROUTE.into()];
            }),
            true,
        ),
    ];
    for (name, change, want) in cases {
        let mut s = base.clone();
        change(&mut s);
        let p = path(&s, Service::ClusterApi);
        assert_eq!(p.ipv6.is_some(), want, "{name}");
    }
}

#[test]
fn ipv6_next_hops_pass_only_through_attached_internet_or_egress_only_gateways() {
    let igw = RouteTarget::InternetGateway(IGW.into());
    let cases: Vec<RouteCase> = vec![
        (
            "egress-only gateway",
            vec![eigw_default()],
            Verdict::is_pass,
        ),
        (
            "internet gateway, no public IPv4 needed",
            vec![route("::/0", igw)],
            Verdict::is_pass,
        ),
        (
            "NAT gateway: NAT64 only",
            vec![route("::/0", nat_target(NAT_A))],
            |v| matches!(v, Verdict::Unknown(w) if w.contains("NAT64")),
        ),
        (
            "transit gateway",
            vec![route("::/0", RouteTarget::TransitGateway("tgw-1".into()))],
            |v| matches!(v, Verdict::Unknown(w) if w.contains("tgw-1")),
        ),
        (
            "detached egress-only gateway",
            vec![route(
                "::/0",
                RouteTarget::EgressOnlyInternetGateway("eigw-gone".into()),
            )],
            |v| {
                *v == Verdict::Blocked(Block::EgressOnlyGatewayGone {
                    egress_only_gateway_id: "eigw-gone".into(),
                })
            },
        ),
        (
            "IPv6 transit gateway route for part of the space, nothing else",
            vec![route(
                "2600::/12",
                RouteTarget::TransitGateway("tgw-1".into()),
            )],
            |v| matches!(v, Verdict::Unknown(_)),
        ),
    ];
    for (name, routes, want) in cases {
        let s = dual_stack_with(routes);
        let v = ipv6_leg(&s);
        assert!(want(&v), "{name}: {v:?}");
    }
}

#[test]
fn ipv6_longest_prefix_match_over_overlapping_routes() {
    // A more specific blackhole inside a live ::/0: some addresses blocked, others pass → unknown.
    let s = dual_stack_with(vec![
        eigw_default(),
        blackhole(
            "2600::/12",
            RouteTarget::EgressOnlyInternetGateway(EIGW.into()),
        ),
    ]);
    assert!(
        matches!(ipv6_leg(&s), Verdict::Unknown(_)),
        "{:?}",
        ipv6_leg(&s)
    );
    // Split IPv6 defaults cover global unicast space between them.
    let s = dual_stack_with(vec![
        route("::/1", RouteTarget::EgressOnlyInternetGateway(EIGW.into())),
        route(
            "8000::/1",
            RouteTarget::EgressOnlyInternetGateway(EIGW.into()),
        ),
    ]);
    assert_eq!(ipv6_leg(&s), Verdict::Pass);
    // Only 2000::/3 is the internet: a route for fc00::/7 alone does not reach it.
    let s = dual_stack_with(vec![route(
        "fc00::/7",
        RouteTarget::EgressOnlyInternetGateway(EIGW.into()),
    )]);
    assert!(ipv6_leg(&s).is_blocked(), "{:?}", ipv6_leg(&s));
    // IPv4 routes never decide for IPv6, and IPv6 routes never for IPv4.
    let s = dual_stack_with(vec![eigw_default()]);
    assert_eq!(path(&s, Service::Sts).verdict(), no_route());
}

#[test]
fn ipv6_filters_use_only_ipv6_rules() {
    // A NACL with IPv4 entries only: IPv6 meets the implicit deny.
    let s = dual_stack_with(vec![
        route(DEFAULT_ROUTE, nat_target(NAT_A)),
        eigw_default(),
    ])
    .with_nacl_entries(default_nacl_entries());
    assert_eq!(
        path(&s, Service::ClusterApi)
            .ipv6
            .expect("IPv6 path")
            .hop(HopKind::NetworkAcl)
            .map(|h| h.verdict.clone()),
        Some(Verdict::Blocked(Block::NaclDeniesEgress {
            network_acl_id: ACL.into(),
            rule: None
        }))
    );
    assert_eq!(
        path(&s, Service::ClusterApi).verdict(),
        Verdict::Pass,
        "IPv4 still passes"
    );
    // A node group whose egress allows IPv4 only.
    let s = dual_stack_with(vec![eigw_default()]).with_security_group(sg(
        NODE_SG,
        vec![],
        vec![sg_rule("-1", None, &["0.0.0.0/0"])],
    ));
    assert_eq!(
        ipv6_leg(&s),
        Verdict::Blocked(Block::SgDeniesEgress {
            security_group_ids: vec![NODE_SG.into()]
        })
    );
    // An IPv6 NACL deny before the allow, first match wins.
    let mut entries = dual_stack_nacl_entries();
    entries.push(nacl_entry(90, true, "6", Some((443, 443)), "::/0", "deny"));
    let s = dual_stack_with(vec![eigw_default()]).with_nacl_entries(entries);
    assert_eq!(
        ipv6_leg(&s),
        Verdict::Blocked(Block::NaclDeniesEgress {
            network_acl_id: ACL.into(),
            rule: Some(90)
        })
    );
}

#[test]
fn ipv6_public_access_cidrs_are_checked_against_the_instance_ipv6_address() {
    let mut s = dual_stack_with(vec![
        route(DEFAULT_ROUTE, nat_target(NAT_A)),
        eigw_default(),
    ]);
    s.cluster.public_access_cidrs = vec!["198.51.100.0/24".into(), "2001:db8::/32".into()];
    assert_eq!(
        ipv6_leg(&s),
        Verdict::Blocked(Block::SourceOutsidePublicAccessCidrs {
            sources: vec![INSTANCE_IP_V6.into()],
            public_access_cidrs: vec!["198.51.100.0/24".into(), "2001:db8::/32".into()],
        })
    );
    // Both families refused: blocked, as the IPv4 path says.
    assert!(matches!(
        path(&s, Service::ClusterApi).verdict(),
        Verdict::Blocked(Block::SourceOutsidePublicAccessCidrs { ref sources, .. }) if sources == &vec![NAT_A_IP.to_string()]
    ));
    s.cluster
        .public_access_cidrs
        .push("2600:1f14:abc::/48".into());
    assert_eq!(ipv6_leg(&s), Verdict::Pass);
}
