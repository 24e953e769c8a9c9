//! The egress model on hand-built networks shaped like the sandbox's worlds.

use std::collections::HashMap;

use super::cidr::{ip, Cidr};
use super::model::*;
use super::*;

fn c(text: &str) -> Cidr {
    Cidr::parse(text).expect("test CIDR")
}

fn route(dest: &str, target: &str) -> Route {
    let dest = match Cidr::parse(dest) {
        Some(cidr) => RouteDest::Cidr(cidr),
        None => RouteDest::PrefixList(dest.to_owned()),
    };
    Route {
        dest,
        target: target.into(),
        blackhole: false,
    }
}

fn table(id: &str, subnet: &str, routes: &[(&str, &str)]) -> RouteTable {
    let mut all = vec![route("10.42.0.0/16", "local")];
    all.extend(routes.iter().map(|(d, t)| route(d, t)));
    RouteTable {
        id: id.into(),
        vpc_id: "vpc-1".into(),
        main: subnet.is_empty(),
        subnets: vec![subnet.into()],
        routes: all,
    }
}

fn allow_all() -> SgRule {
    SgRule {
        protocol: "-1".into(),
        cidrs: vec![c("0.0.0.0/0")],
        ..SgRule::default()
    }
}

fn nat(state: &str, subnet: &str, public_ip: &str) -> Nat {
    Nat {
        state: state.into(),
        public: true,
        subnet_id: subnet.into(),
        vpc_id: "vpc-1".into(),
        public_ips: ip(public_ip).into_iter().collect(),
    }
}

fn nacl_entry(
    number: i32,
    egress: bool,
    protocol: &str,
    ports: Option<(u16, u16)>,
    allow: bool,
) -> NaclEntry {
    NaclEntry {
        number,
        egress,
        protocol: protocol.into(),
        ports,
        cidr: c("0.0.0.0/0"),
        allow,
    }
}

/// The seed: public subnets → IGW, private → `nat-ok`, the new subnet local-only; a firewall subnet
/// (→ IGW) fronting `nat-fw`'s subnet, and `nat-orphan` in a subnet with no way out.
fn seed() -> Network {
    Network {
        vpcs: HashMap::from([(
            "vpc-1".into(),
            Vpc {
                cidrs: vec![c("10.42.0.0/16")],
                dns_support: true,
                dns_hostnames: true,
            },
        )]),
        subnets: subnets(),
        tables: tables(),
        nacls: vec![Nacl {
            id: "acl-default".into(),
            vpc_id: "vpc-1".into(),
            default: true,
            subnets: vec![],
            entries: vec![
                nacl_entry(100, true, "-1", None, true),
                nacl_entry(100, false, "-1", None, true),
            ],
        }],
        groups: groups(),
        endpoints: vec![endpoint(
            "vpce-fw",
            "vpce-svc-firewall",
            EndpointKind::GatewayLoadBalancer,
            &["subnet-fw"],
        )],
        prefix_lists: HashMap::from([("pl-s3".into(), vec![c("52.216.0.0/15"), c("3.5.0.0/19")])]),
        nats: HashMap::from([
            ("nat-ok".into(), nat("available", "subnet-pub", "52.10.0.1")),
            ("nat-gone".into(), nat("deleted", "subnet-pub", "52.10.0.2")),
            (
                "nat-pending".into(),
                nat("pending", "subnet-pub", "52.10.0.3"),
            ),
            (
                "nat-fw".into(),
                nat("available", "subnet-natfw", "52.10.0.4"),
            ),
            (
                "nat-orphan".into(),
                nat("available", "subnet-orphan", "52.10.0.5"),
            ),
        ]),
        igws: HashMap::from([("igw-1".into(), vec!["vpc-1".into()])]),
    }
}

fn subnets() -> HashMap<String, Subnet> {
    [
        ("subnet-pub", "10.42.0.0/19"),
        ("subnet-priv", "10.42.96.0/19"),
        ("subnet-new", "10.42.192.0/19"),
        ("subnet-fw", "10.42.224.0/24"),
        ("subnet-natfw", "10.42.225.0/24"),
        ("subnet-orphan", "10.42.226.0/24"),
    ]
    .iter()
    .map(|(id, cidr)| {
        (
            id.to_string(),
            Subnet {
                vpc_id: "vpc-1".into(),
                cidr: c(cidr),
            },
        )
    })
    .collect()
}

fn tables() -> Vec<RouteTable> {
    vec![
        table("rtb-main", "", &[]),
        table("rtb-pub", "subnet-pub", &[("0.0.0.0/0", "igw-1")]),
        table("rtb-priv", "subnet-priv", &[("0.0.0.0/0", "nat-ok")]),
        table("rtb-new", "subnet-new", &[]),
        table("rtb-fw", "subnet-fw", &[("0.0.0.0/0", "igw-1")]),
        table("rtb-natfw", "subnet-natfw", &[("0.0.0.0/0", "vpce-fw")]),
        table("rtb-orphan", "subnet-orphan", &[]),
    ]
}

/// The cluster SG (all from itself, all out) and the endpoints' SG (TCP 443 from the VPC).
fn groups() -> HashMap<String, SecurityGroup> {
    let cluster_sg = SecurityGroup {
        ingress: vec![SgRule {
            protocol: "-1".into(),
            groups: vec!["sg-cluster".into()],
            ..SgRule::default()
        }],
        egress: vec![allow_all()],
    };
    let from_vpc = SgRule {
        protocol: "tcp".into(),
        from_port: Some(443),
        to_port: Some(443),
        cidrs: vec![c("10.42.0.0/16")],
        ..SgRule::default()
    };
    let endpoint_sg = SecurityGroup {
        ingress: vec![from_vpc],
        egress: vec![allow_all()],
    };
    HashMap::from([
        ("sg-cluster".into(), cluster_sg),
        ("sg-endpoints".into(), endpoint_sg),
    ])
}

fn endpoint(id: &str, service: &str, kind: EndpointKind, subnets: &[&str]) -> Endpoint {
    Endpoint {
        id: id.into(),
        vpc_id: "vpc-1".into(),
        service: service.into(),
        kind,
        available: true,
        private_dns: kind == EndpointKind::Interface,
        subnets: subnets.iter().map(|s| s.to_string()).collect(),
        groups: if kind == EndpointKind::Interface {
            vec!["sg-endpoints".into()]
        } else {
            vec![]
        },
        route_tables: vec![],
    }
}

fn cluster() -> Cluster {
    Cluster {
        private_access: true,
        public_access: true,
        public_access_cidrs: vec![c("0.0.0.0/0")],
        security_groups: vec!["sg-cluster".into()],
        subnets: vec!["subnet-priv".into()],
    }
}

fn node() -> Node {
    Node {
        subnet_id: "subnet-new".into(),
        vpc_id: "vpc-1".into(),
        private_ip: ip("10.42.200.5").unwrap_or_default(),
        public_ip: None,
        security_groups: vec!["sg-cluster".into()],
    }
}

fn new_routes(net: &mut Network, routes: &[(&str, &str)]) {
    let t = net
        .tables
        .iter_mut()
        .find(|t| t.id == "rtb-new")
        .expect("rtb-new");
    *t = table("rtb-new", "subnet-new", routes);
}

fn paths(net: &Network, cluster: &Cluster, node: &Node) -> HashMap<&'static str, Verdict> {
    evaluate(net, cluster, node, "us-west-2")
        .into_iter()
        .map(|p| (p.destination, p.verdict()))
        .collect()
}

fn verdict_of(net: &Network, destination: &str) -> Verdict {
    paths(net, &cluster(), &node())
        .remove(destination)
        .expect("destination evaluated")
}

fn blocked_with(v: &Verdict, needle: &str) -> bool {
    matches!(v, Verdict::Blocked(why) if why.contains(needle))
}

fn joins_with(net: &Network, cluster: &Cluster, node: &Node) -> bool {
    joins(&evaluate(net, cluster, node, "us-west-2"))
}

#[test]
fn local_only_subnet_reaches_the_private_api_but_no_service() {
    let net = seed();
    let p = paths(&net, &cluster(), &node());
    assert_eq!(p["cluster-api"], Verdict::Pass);
    for s in SERVICES {
        assert!(blocked_with(&p[s], "no route"), "{s}: {:?}", p[s]);
    }
    assert!(!joins_with(&net, &cluster(), &node()));
}

#[test]
fn a_working_nat_and_split_defaults_both_join() {
    let mut net = seed();
    new_routes(&mut net, &[("0.0.0.0/0", "nat-ok")]);
    assert!(joins_with(&net, &cluster(), &node()));
    new_routes(
        &mut net,
        &[("0.0.0.0/1", "nat-ok"), ("128.0.0.0/1", "nat-ok")],
    );
    assert!(joins_with(&net, &cluster(), &node()));
    new_routes(&mut net, &[("0.0.0.0/1", "nat-ok")]);
    assert!(
        matches!(verdict_of(&net, "sts"), Verdict::Unknown(_)),
        "half the internet is not enough to say"
    );
}

#[test]
fn transit_gateway_designs_are_unknown_not_blocked() {
    let mut net = seed();
    new_routes(&mut net, &[("10.0.0.0/8", "tgw-1")]);
    assert!(matches!(verdict_of(&net, "ecr.api"), Verdict::Unknown(_)));
    assert_eq!(
        verdict_of(&net, "cluster-api"),
        Verdict::Pass,
        "the VPC's own addresses stay local"
    );
    assert!(!joins_with(&net, &cluster(), &node()));
    new_routes(&mut net, &[("0.0.0.0/0", "tgw-1")]);
    assert!(matches!(verdict_of(&net, "sts"), Verdict::Unknown(_)));
}

#[test]
fn nat_gateways_need_their_own_way_out() {
    let mut net = seed();
    new_routes(&mut net, &[("0.0.0.0/0", "nat-fw")]);
    assert!(
        joins_with(&net, &cluster(), &node()),
        "through the firewall endpoint"
    );
    new_routes(&mut net, &[("0.0.0.0/0", "nat-orphan")]);
    assert!(blocked_with(
        &verdict_of(&net, "sts"),
        "nat-without-internet"
    ));
    new_routes(&mut net, &[("0.0.0.0/0", "nat-gone")]);
    assert!(blocked_with(&verdict_of(&net, "sts"), "dead"));
    new_routes(&mut net, &[("0.0.0.0/0", "nat-missing")]);
    assert!(blocked_with(&verdict_of(&net, "sts"), "no longer exists"));
    new_routes(&mut net, &[("0.0.0.0/0", "nat-pending")]);
    assert!(matches!(verdict_of(&net, "sts"), Verdict::Unknown(_)));
}

#[test]
fn a_nat_other_subnets_rely_on_is_known_good_when_its_own_path_is_unknown() {
    let mut net = seed();
    let t = net
        .tables
        .iter_mut()
        .find(|t| t.id == "rtb-orphan")
        .expect("table");
    t.routes.push(route("0.0.0.0/0", "tgw-1"));
    new_routes(&mut net, &[("0.0.0.0/0", "nat-orphan")]);
    assert!(matches!(verdict_of(&net, "sts"), Verdict::Unknown(_)));
    let priv_table = net
        .tables
        .iter_mut()
        .find(|t| t.id == "rtb-priv")
        .expect("table");
    priv_table.routes[1].target = "nat-orphan".into();
    assert_eq!(verdict_of(&net, "sts"), Verdict::Pass);
}

#[test]
fn blackholes_and_internet_gateways() {
    let mut net = seed();
    new_routes(&mut net, &[("0.0.0.0/0", "nat-ok")]);
    net.tables
        .iter_mut()
        .find(|t| t.id == "rtb-new")
        .expect("table")
        .routes[1]
        .blackhole = true;
    assert!(blocked_with(&verdict_of(&net, "ec2"), "blackhole"));
    new_routes(&mut net, &[("0.0.0.0/0", "igw-1")]);
    assert!(blocked_with(
        &verdict_of(&net, "ec2"),
        "igw-without-public-ip"
    ));
    let mut public = node();
    public.public_ip = ip("54.1.2.3");
    assert!(joins_with(&net, &cluster(), &public));
    new_routes(&mut net, &[("0.0.0.0/0", "igw-detached")]);
    assert!(blocked_with(
        &paths(&net, &cluster(), &public)["ec2"],
        "not attached"
    ));
    new_routes(&mut net, &[("0.0.0.0/0", "eigw-1")]);
    assert!(blocked_with(&verdict_of(&net, "ec2"), "IPv6 only"));
}

#[test]
fn network_acls_are_first_match_in_both_directions() {
    let mut net = seed();
    new_routes(&mut net, &[("0.0.0.0/0", "nat-ok")]);
    let deny_443 = Nacl {
        id: "acl-new".into(),
        vpc_id: "vpc-1".into(),
        default: false,
        subnets: vec!["subnet-new".into()],
        entries: vec![
            nacl_entry(100, true, "6", Some((443, 443)), false),
            nacl_entry(200, true, "-1", None, true),
            nacl_entry(200, false, "-1", None, true),
        ],
    };
    net.nacls.push(deny_443);
    let p = paths(&net, &cluster(), &node());
    assert!(blocked_with(&p["sts"], "acl-new denies outbound TCP 443"));
    assert!(
        blocked_with(&p["cluster-api"], "acl-new"),
        "private targets too"
    );
    // Return traffic allowed for part of the ephemeral range only: unknown.
    net.nacls[1].entries = vec![
        nacl_entry(100, true, "-1", None, true),
        nacl_entry(100, false, "6", Some((32768, 40000)), true),
    ];
    assert!(matches!(verdict_of(&net, "sts"), Verdict::Unknown(_)));
    net.nacls[1].entries.clear();
    assert!(
        blocked_with(&verdict_of(&net, "sts"), "denies"),
        "implicit deny"
    );
}

#[test]
fn security_groups_must_allow_https_out_and_peers_must_let_it_in() {
    let mut net = seed();
    new_routes(&mut net, &[("0.0.0.0/0", "nat-ok")]);
    net.groups.insert(
        "sg-web-only".into(),
        SecurityGroup {
            egress: vec![SgRule {
                protocol: "tcp".into(),
                from_port: Some(80),
                to_port: Some(80),
                cidrs: vec![c("0.0.0.0/0")],
                ..SgRule::default()
            }],
            ..SecurityGroup::default()
        },
    );
    let mut n = node();
    n.security_groups = vec!["sg-web-only".into()];
    let p = paths(&net, &cluster(), &n);
    assert!(blocked_with(&p["sts"], "allows egress TCP 443"));
    assert!(blocked_with(&p["cluster-api"], "egress"));
    // Egress to a part of the internet only: unknown.
    net.groups.get_mut("sg-web-only").expect("group").egress[0] = SgRule {
        protocol: "-1".into(),
        cidrs: vec![c("52.0.0.0/8")],
        ..SgRule::default()
    };
    assert!(matches!(
        paths(&net, &cluster(), &n)["sts"],
        Verdict::Unknown(_)
    ));
    // Egress fine but the cluster SG does not let a foreign group in.
    net.groups.get_mut("sg-web-only").expect("group").egress[0] = allow_all();
    assert!(blocked_with(
        &paths(&net, &cluster(), &n)["cluster-api"],
        "allow no ingress"
    ));
    assert_eq!(paths(&net, &cluster(), &n)["sts"], Verdict::Pass);
}

#[test]
fn dns_support_and_hostnames() {
    let mut net = seed();
    new_routes(&mut net, &[("0.0.0.0/0", "nat-ok")]);
    net.vpcs.get_mut("vpc-1").expect("vpc").dns_hostnames = false;
    let p = paths(&net, &cluster(), &node());
    assert!(blocked_with(&p["cluster-api"], "enableDnsHostnames"));
    assert_eq!(
        p["sts"],
        Verdict::Pass,
        "public names resolve without hostnames"
    );
    net.vpcs.get_mut("vpc-1").expect("vpc").dns_support = false;
    assert!(blocked_with(&verdict_of(&net, "sts"), "enableDnsSupport"));
}

fn private_cluster_with_endpoints(services: &[&str]) -> (Network, Cluster) {
    let mut net = seed();
    net.tables
        .iter_mut()
        .find(|t| t.id == "rtb-new")
        .expect("table")
        .routes
        .push(route("pl-s3", "vpce-s3"));
    let mut s3 = endpoint(
        "vpce-s3",
        "com.amazonaws.us-west-2.s3",
        EndpointKind::Gateway,
        &[],
    );
    s3.route_tables = vec!["rtb-new".into()];
    net.endpoints.push(s3);
    for s in services {
        let id = format!("vpce-{s}");
        net.endpoints.push(endpoint(
            &id,
            &format!("com.amazonaws.us-west-2.{s}"),
            EndpointKind::Interface,
            &["subnet-priv"],
        ));
    }
    let mut cluster = cluster();
    cluster.public_access = false;
    (net, cluster)
}

#[test]
fn private_clusters_join_through_endpoints_alone() {
    let (net, cluster) = private_cluster_with_endpoints(&["ec2", "ecr.api", "ecr.dkr"]);
    let p = paths(&net, &cluster, &node());
    assert!(blocked_with(&p["sts"], "no route"), "{:?}", p["sts"]);
    for d in ["cluster-api", "ec2", "ecr.api", "ecr.dkr", "s3"] {
        assert_eq!(p[d], Verdict::Pass, "{d}");
    }
    let (net, cluster) = private_cluster_with_endpoints(&["ec2", "ecr.api", "ecr.dkr", "sts"]);
    assert!(joins_with(&net, &cluster, &node()));
    let report = evaluate(&net, &cluster, &node(), "us-west-2");
    assert!(report
        .iter()
        .any(|p| p.destination == "s3" && p.via.contains("gateway endpoint")));
}

#[test]
fn public_only_endpoint_checks_the_egress_address() {
    let mut net = seed();
    new_routes(&mut net, &[("0.0.0.0/0", "nat-ok")]);
    let mut cluster = cluster();
    cluster.private_access = false;
    cluster.public_access_cidrs = vec![c("203.0.113.0/24")];
    let p = paths(&net, &cluster, &node());
    assert!(
        blocked_with(&p["cluster-api"], "public-access-cidrs"),
        "{:?}",
        p["cluster-api"]
    );
    cluster.public_access_cidrs.push(c("52.10.0.1/32"));
    assert!(joins_with(&net, &cluster, &node()));
}

#[test]
fn verdicts_combine_in_series_and_in_parallel() {
    let b = || Verdict::Blocked("b".into());
    let u = || Verdict::Unknown("u".into());
    assert_eq!(Verdict::all_of(vec![Verdict::Pass, u(), b()]), b());
    assert_eq!(Verdict::all_of(vec![Verdict::Pass, u()]), u());
    assert_eq!(Verdict::any_of(vec![b(), u()]), b());
    assert!(matches!(
        Verdict::any_of(vec![Verdict::Pass, b()]),
        Verdict::Unknown(_)
    ));
    assert_eq!(
        Verdict::any_of(vec![Verdict::Pass, Verdict::Pass]),
        Verdict::Pass
    );
}
