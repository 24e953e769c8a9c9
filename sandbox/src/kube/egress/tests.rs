//! The egress model on hand-built networks shaped like the sandbox's worlds.

use std::collections::HashMap;

use super::cidr::{ip, Cidr, Cidr6};
use super::model::*;
use super::*;

fn c(text: &str) -> Cidr {
    Cidr::parse(text).expect("test CIDR")
}

/// An IPv4 or IPv6 CIDR.
fn pfx(text: &str) -> Prefix {
    Prefix::parse(text).expect("test prefix")
}

fn route(dest: &str, target: &str) -> Route {
    let dest = match Prefix::parse(dest) {
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
        cidrs: vec![pfx("0.0.0.0/0")],
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
        cidr: pfx("0.0.0.0/0"),
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
                ..Vpc::default()
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
        prefix_lists: HashMap::from([(
            "pl-s3".into(),
            vec![pfx("52.216.0.0/15"), pfx("3.5.0.0/19")],
        )]),
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
        eigws: HashMap::new(),
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
                ipv6_cidrs: vec![],
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
        cidrs: vec![pfx("10.42.0.0/16")],
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
        public_access_cidrs: vec![pfx("0.0.0.0/0")],
        ipv6: false,
        endpoint: "https://0123456789ABCDEF.gr7.us-west-2.eks.amazonaws.com".into(),
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
        ipv6_addresses: vec![],
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
                cidrs: vec![pfx("0.0.0.0/0")],
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
        cidrs: vec![pfx("52.0.0.0/8")],
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
    cluster.public_access_cidrs = vec![pfx("203.0.113.0/24")];
    let p = paths(&net, &cluster, &node());
    assert!(
        blocked_with(&p["cluster-api"], "public-access-cidrs"),
        "{:?}",
        p["cluster-api"]
    );
    cluster.public_access_cidrs.push(pfx("52.10.0.1/32"));
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

// ---- IPv6 (dual-stack) ----

const VPC_V6: &str = "2600:1f14:abcd:1200::/56";
const NODE_V6: &str = "2600:1f14:abcd:12c0::5";
/// TEST-NET-2: never the NAT's address.
const OFFICE_V4: &str = "198.51.100.0/24";

fn addr6(text: &str) -> u128 {
    cidr::ip6(text).expect("test IPv6 address")
}

/// The seed made dual-stack the way AWS makes it: IPv6 CIDRs on the VPC and the new subnet, an attached
/// egress-only gateway, the default NACL's IPv6 rules 101 (allow all, both ways), and `::/0` egress on the
/// cluster SG. The new subnet's table still has the local route only.
fn dual_stack_seed() -> Network {
    let mut net = seed();
    net.vpcs.get_mut("vpc-1").expect("vpc").ipv6_cidrs = Cidr6::parse(VPC_V6).into_iter().collect();
    let new = net.subnets.get_mut("subnet-new").expect("subnet");
    new.ipv6_cidrs = Cidr6::parse("2600:1f14:abcd:12c0::/64")
        .into_iter()
        .collect();
    net.eigws.insert("eigw-1".into(), vec!["vpc-1".into()]);
    for egress in [true, false] {
        let mut all_v6 = nacl_entry(101, egress, "-1", None, true);
        all_v6.cidr = pfx("::/0");
        net.nacls[0].entries.push(all_v6);
    }
    let cluster_sg = net.groups.get_mut("sg-cluster").expect("sg");
    cluster_sg.egress[0].cidrs.push(pfx("::/0"));
    net
}

/// The dual-stack seed with `routes` on the new subnet's table, and [`ipv6_cluster`] admitting `cidrs`.
fn dual_stack_scene(routes: &[(&str, &str)], cidrs: &[&str]) -> (Network, Cluster) {
    let mut net = dual_stack_seed();
    new_routes(&mut net, routes);
    (net, ipv6_cluster(cidrs))
}

/// An IPv6 cluster with a public-only, dual-stack endpoint admitting `cidrs`.
fn ipv6_cluster(cidrs: &[&str]) -> Cluster {
    Cluster {
        private_access: false,
        ipv6: true,
        public_access_cidrs: cidrs.iter().map(|c| pfx(c)).collect(),
        ..cluster()
    }
}

fn dual_stack_node() -> Node {
    Node {
        ipv6_addresses: vec![addr6(NODE_V6)],
        ..node()
    }
}

fn api_path(net: &Network, cluster: &Cluster, node: &Node) -> PathReport {
    evaluate(net, cluster, node, "us-west-2")
        .into_iter()
        .find(|p| p.destination == "cluster-api")
        .expect("cluster-api evaluated")
}

fn hop(path: &PathReport, name: &str) -> Verdict {
    path.hops
        .iter()
        .find(|(h, _)| *h == name)
        .map(|(_, v)| v.clone())
        .expect("hop evaluated")
}

fn ipv6_path(path: &PathReport) -> &PathReport {
    path.ipv6.as_deref().expect("an IPv6 alternative")
}

#[test]
fn a_dual_stack_node_refused_over_ipv4_joins_through_an_egress_only_gateway() {
    let (mut net, cluster) = dual_stack_scene(
        &[("0.0.0.0/0", "nat-ok"), ("::/0", "eigw-1")],
        &[OFFICE_V4, "::/0"],
    );
    let path = api_path(&net, &cluster, &dual_stack_node());
    assert!(
        blocked_with(
            &Verdict::all_of(path.hops.iter().map(|(_, v)| v.clone()).collect()),
            "public-access-cidrs"
        ),
        "the NAT's address is refused over IPv4: {path:?}"
    );
    assert_eq!(ipv6_path(&path).verdict(), Verdict::Pass, "{path:?}");
    assert_eq!(ipv6_path(&path).via, "internet over IPv6");
    assert_eq!(path.verdict(), Verdict::Pass);
    assert!(joins_with(&net, &cluster, &dual_stack_node()));
    // Without the IPv6 route both families are blocked.
    new_routes(&mut net, &[("0.0.0.0/0", "nat-ok")]);
    let verdict = api_path(&net, &cluster, &dual_stack_node()).verdict();
    assert!(
        blocked_with(&verdict, "public-access-cidrs")
            && blocked_with(&verdict, "over IPv6: no route"),
        "{verdict:?}"
    );
    assert!(!joins_with(&net, &cluster, &dual_stack_node()));
}

#[test]
fn ipv4_carries_the_api_when_the_ipv6_path_is_blocked() {
    let (net, cluster) = dual_stack_scene(&[("0.0.0.0/0", "nat-ok")], &["0.0.0.0/0", "::/0"]);
    let path = api_path(&net, &cluster, &dual_stack_node());
    assert!(
        blocked_with(&hop(ipv6_path(&path), "route"), "no route"),
        "{path:?}"
    );
    assert_eq!(path.verdict(), Verdict::Pass);
    assert!(joins_with(&net, &cluster, &dual_stack_node()));
}

#[test]
fn services_stay_on_ipv4_even_when_only_ipv6_leaves_the_subnet() {
    let (mut net, cluster) = dual_stack_scene(&[("::/0", "eigw-1")], &["0.0.0.0/0", "::/0"]);
    let p = paths(&net, &cluster, &dual_stack_node());
    assert_eq!(p["cluster-api"], Verdict::Pass, "over IPv6");
    for s in SERVICES {
        assert!(blocked_with(&p[s], "no route"), "{s}: {:?}", p[s]);
    }
    assert!(!joins_with(&net, &cluster, &dual_stack_node()));
    new_routes(&mut net, &[("::/0", "eigw-1"), ("0.0.0.0/0", "nat-ok")]);
    assert!(joins_with(&net, &cluster, &dual_stack_node()));
}

#[test]
fn an_ipv4_cluster_or_an_ipv4_only_endpoint_never_uses_ipv6() {
    let mut net = dual_stack_seed();
    new_routes(&mut net, &[("0.0.0.0/0", "nat-ok"), ("::/0", "eigw-1")]);
    let ipv4_cluster = Cluster {
        ipv6: false,
        ..ipv6_cluster(&[OFFICE_V4, "::/0"])
    };
    let path = api_path(&net, &ipv4_cluster, &dual_stack_node());
    assert!(path.ipv6.is_none());
    assert!(blocked_with(&path.verdict(), "public-access-cidrs"));
    // An IPv6 cluster whose endpoint is IPv4-only (an `eks.amazonaws.com` name, no IPv6 CIDR).
    let ipv4_endpoint = ipv6_cluster(&[OFFICE_V4]);
    assert!(api_path(&net, &ipv4_endpoint, &dual_stack_node())
        .ipv6
        .is_none());
    // The same cluster behind a dual-stack name uses IPv6 (and `::/0` is not admitted: blocked).
    let dual_named = Cluster {
        endpoint: "https://0123456789ABCDEF.gr7.us-west-2.eks.api.aws:443/".into(),
        ..ipv4_endpoint.clone()
    };
    let path = api_path(&net, &dual_named, &dual_stack_node());
    assert!(blocked_with(
        &hop(ipv6_path(&path), "public-access-cidrs"),
        NODE_V6
    ));
    // Private endpoint access: the node uses the private endpoint, never IPv6.
    let private = Cluster {
        private_access: true,
        ..ipv6_cluster(&["0.0.0.0/0", "::/0"])
    };
    assert!(api_path(&net, &private, &dual_stack_node()).ipv6.is_none());
}

#[test]
fn an_instance_without_an_ipv6_address_is_judged_over_ipv4_alone() {
    let (net, cluster) = dual_stack_scene(
        &[("0.0.0.0/0", "nat-ok"), ("::/0", "eigw-1")],
        &[OFFICE_V4, "::/0"],
    );
    let path = api_path(&net, &cluster, &node());
    assert!(path.ipv6.is_none(), "{path:?}");
    assert!(blocked_with(&path.verdict(), "public-access-cidrs"));
    assert!(!joins_with(&net, &cluster, &node()));
}

#[test]
fn an_ipv6_route_to_a_nat_gateway_is_unknown() {
    let (net, cluster) = dual_stack_scene(
        &[("0.0.0.0/0", "nat-ok"), ("::/0", "nat-ok")],
        &[OFFICE_V4, "::/0"],
    );
    let path = api_path(&net, &cluster, &dual_stack_node());
    assert!(
        matches!(hop(ipv6_path(&path), "route"), Verdict::Unknown(ref why) if why.contains("NAT64"))
    );
    assert!(matches!(path.verdict(), Verdict::Unknown(_)), "{path:?}");
    assert!(
        !joins_with(&net, &cluster, &dual_stack_node()),
        "unknown never registers"
    );
}

#[test]
fn an_ipv6_path_through_a_nacl_with_only_ipv4_rules_meets_the_implicit_deny() {
    let mut net = dual_stack_seed();
    net.nacls[0]
        .entries
        .retain(|e| e.cidr.family() == cidr::Family::V4);
    new_routes(&mut net, &[("0.0.0.0/0", "nat-ok"), ("::/0", "eigw-1")]);
    let cluster = ipv6_cluster(&[OFFICE_V4, "::/0"]);
    let path = api_path(&net, &cluster, &dual_stack_node());
    let nacl = hop(ipv6_path(&path), "nacl");
    assert!(
        blocked_with(
            &nacl,
            "acl-default denies outbound TCP 443 to the public IPv6 internet"
        ),
        "{nacl:?}"
    );
    assert_eq!(
        hop(&path, "nacl"),
        Verdict::Pass,
        "IPv4 rules still allow IPv4"
    );
    assert!(!joins_with(&net, &cluster, &dual_stack_node()));
    // The mirror: IPv6 rules alone (::/0 spans the IPv4 numbers too) never admit IPv4.
    for entry in &mut net.nacls[0].entries {
        entry.cidr = pfx("::/0");
    }
    assert!(blocked_with(
        &verdict_of(&net, "sts"),
        "denies outbound TCP 443 to the public internet"
    ));
}

#[test]
fn ipv6_routes_are_matched_by_longest_prefix_over_overlapping_routes() {
    let mut net = dual_stack_seed();
    let cluster = ipv6_cluster(&["::/0"]);
    let route_of = |net: &Network| {
        hop(
            ipv6_path(&api_path(net, &cluster, &dual_stack_node())),
            "route",
        )
    };
    // The more specific 2000::/3 decides all of the internet: the NAT behind ::/0 never does.
    new_routes(&mut net, &[("::/0", "nat-ok"), ("2000::/3", "eigw-1")]);
    assert_eq!(route_of(&net), Verdict::Pass);
    // Reversed, the NAT decides everything.
    new_routes(&mut net, &[("::/0", "eigw-1"), ("2000::/3", "nat-ok")]);
    assert!(matches!(route_of(&net), Verdict::Unknown(_)));
    // A blackholed /12 inside the egress-only default: part passes, part is dead.
    new_routes(&mut net, &[("::/0", "eigw-1"), ("2600::/12", "eigw-1")]);
    net.tables
        .iter_mut()
        .find(|t| t.id == "rtb-new")
        .expect("table")
        .routes[2]
        .blackhole = true;
    assert!(matches!(route_of(&net), Verdict::Unknown(ref why) if why.contains("blackhole")));
    // Split routes: 2000::/4 and 3000::/4 together cover 2000::/3; one of them alone, half of it.
    new_routes(&mut net, &[("2000::/4", "eigw-1"), ("3000::/4", "eigw-1")]);
    assert_eq!(route_of(&net), Verdict::Pass);
    new_routes(&mut net, &[("2000::/4", "eigw-1")]);
    assert!(
        matches!(route_of(&net), Verdict::Unknown(ref why) if why.contains("only part")),
        "half of 2000::/3 only"
    );
    new_routes(&mut net, &[("::/0", "tgw-1")]);
    assert!(matches!(route_of(&net), Verdict::Unknown(ref why) if why.contains("tgw-1")));
    // A middlebox route for the VPC's own IPv6 space carries nothing to the internet: still no route.
    new_routes(&mut net, &[("2600:1f14:abcd:12c0::/64", "eni-1")]);
    assert!(blocked_with(&route_of(&net), "no route"));
}

#[test]
fn ipv6_needs_its_own_route_and_an_attached_gateway_but_no_public_ipv4() {
    let mut net = dual_stack_seed();
    let cluster = ipv6_cluster(&["::/0"]);
    let v6 = |net: &Network| ipv6_path(&api_path(net, &cluster, &dual_stack_node())).verdict();
    // IPv4 transit gateways say nothing about IPv6.
    new_routes(&mut net, &[("0.0.0.0/0", "tgw-1")]);
    assert!(blocked_with(&v6(&net), "no route"));
    new_routes(&mut net, &[("::/0", "eigw-detached")]);
    assert!(blocked_with(&v6(&net), "not attached"));
    new_routes(&mut net, &[("::/0", "igw-1")]);
    assert_eq!(v6(&net), Verdict::Pass, "the IPv6 address is global");
    new_routes(&mut net, &[("::/0", "pcx-1")]);
    assert!(matches!(v6(&net), Verdict::Unknown(_)));
}

#[test]
fn ipv6_public_access_cidrs_must_admit_an_instance_address() {
    let mut net = dual_stack_seed();
    new_routes(&mut net, &[("::/0", "eigw-1")]);
    let elsewhere = ipv6_cluster(&["0.0.0.0/0", "2600:1f14:ffff::/48"]);
    let path = api_path(&net, &elsewhere, &dual_stack_node());
    assert!(
        blocked_with(&hop(ipv6_path(&path), "public-access-cidrs"), NODE_V6),
        "{path:?}"
    );
    let the_vpc = ipv6_cluster(&["0.0.0.0/0", VPC_V6]);
    assert_eq!(
        ipv6_path(&api_path(&net, &the_vpc, &dual_stack_node())).verdict(),
        Verdict::Pass
    );
}

#[test]
fn ipv6_egress_needs_ipv6_ranges_in_the_security_groups() {
    let (mut net, cluster) = dual_stack_scene(&[("::/0", "eigw-1")], &["::/0"]);
    let v6 = |net: &Network| ipv6_path(&api_path(net, &cluster, &dual_stack_node())).verdict();
    net.groups.get_mut("sg-cluster").expect("sg").egress[0].cidrs = vec![pfx("0.0.0.0/0")];
    assert!(blocked_with(
        &v6(&net),
        "allows egress TCP 443 to the public IPv6 internet"
    ));
    net.prefix_lists
        .insert("pl-v6".into(), vec![pfx("2000::/3"), pfx("10.0.0.0/8")]);
    net.groups.get_mut("sg-cluster").expect("sg").egress[0].prefix_lists = vec!["pl-v6".into()];
    assert_eq!(v6(&net), Verdict::Pass, "the prefix list's IPv6 entry");
    // The mirror: `::/0` alone never allows IPv4.
    net.groups.get_mut("sg-cluster").expect("sg").egress[0] = SgRule {
        protocol: "-1".into(),
        cidrs: vec![pfx("::/0")],
        ..SgRule::default()
    };
    new_routes(&mut net, &[("0.0.0.0/0", "nat-ok")]);
    assert!(blocked_with(
        &verdict_of(&net, "sts"),
        "allows egress TCP 443"
    ));
}

#[test]
fn the_families_combine_as_fallbacks() {
    let b = |w: &str| Verdict::Blocked(w.into());
    let u = || Verdict::Unknown("u".into());
    assert_eq!(Verdict::either_family(b("4"), Verdict::Pass), Verdict::Pass);
    assert_eq!(Verdict::either_family(Verdict::Pass, u()), Verdict::Pass);
    assert_eq!(Verdict::either_family(b("4"), u()), u());
    assert_eq!(Verdict::either_family(u(), b("6")), u());
    assert_eq!(
        Verdict::either_family(b("4"), b("6")),
        Verdict::Blocked("4; and over IPv6: 6".into())
    );
}
