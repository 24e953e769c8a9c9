//! Test-only builders: the seed's world as a [`Snapshot`], to be bent into each scenario.
//!
//! The seed: a VPC 10.42.0.0/16 whose new subnet 10.42.192.0/19 has an explicit table holding only the
//! local route; a working NAT gateway in the public subnet of us-west-2a (its table routes 0.0.0.0/0 to the
//! attached internet gateway); the existing private subnet routed through that NAT; the default network
//! ACL allowing everything; the node's security group allowing all egress and all traffic from itself
//! (it is also the cluster security group); VPC DNS support and hostnames on; a cluster with public and
//! private endpoint access.

use crate::snapshot::*;

pub const REGION: &str = "us-west-2";
pub const VPC: &str = "vpc-1234abcd1234abcd1";
pub const VPC_CIDR: &str = "10.42.0.0/16";
pub const INSTANCE: &str = "i-1234abcd1234abcd1";
pub const INSTANCE_IP: &str = "10.42.200.17";
pub const NEW_SUBNET: &str = "subnet-1234abcd1234abcd1";
pub const NEW_TABLE: &str = "rtb-1234abcd1234abcd1";
pub const MAIN_TABLE: &str = "rtb-0000main00000000";
pub const PUBLIC_SUBNET_A: &str = "subnet-public0a";
pub const PUBLIC_SUBNET_B: &str = "subnet-public0b";
pub const PUBLIC_TABLE: &str = "rtb-public0000000000";
pub const PRIVATE_SUBNET_A: &str = "subnet-private0a";
pub const PRIVATE_TABLE: &str = "rtb-private000000000";
pub const NAT_A: &str = "nat-1234abcd1234abcd1";
pub const NAT_A_IP: &str = "34.216.0.10";
pub const IGW: &str = "igw-1234abcd1234abcd1";
pub const NODE_SG: &str = "sg-1234abcd1234abcd1";
pub const ENDPOINT_SG: &str = "sg-endpoint000000000";
pub const ACL: &str = "acl-1234abcd1234abcd1";
pub const S3_PL: &str = "pl-68a54001";
pub const CLUSTER_ENI_IP: &str = "10.42.64.10";
pub const NODE_ROLE: &str = "arn:aws:iam::123456789012:role/eks-workshop-node-role";
pub const NODE_ROLE_NAME: &str = "eks-workshop-node-role";
/// The AWS-managed policies a node role carries in the seed.
pub const NODE_POLICIES: [&str; 3] = [
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
];

/// `aws-auth` `mapRoles` with one node role entry, as eksctl and EKS write it.
pub fn map_roles_for(role_arn: &str) -> String {
    format!(
        "- rolearn: {role_arn}\n  username: system:node:{{{{EC2PrivateDNSName}}}}\n  groups:\n    - system:bootstrappers\n    - system:nodes\n"
    )
}

/// The node role with these attached policy ARNs and inline policy names.
pub fn node_role(attached: &[&str], inline: &[&str]) -> NodeRole {
    NodeRole {
        arn: NODE_ROLE.to_string(),
        name: NODE_ROLE_NAME.to_string(),
        attached_policies: Readable::Read(attached.iter().map(|p| p.to_string()).collect()),
        inline_policies: Readable::Read(inline.iter().map(|p| p.to_string()).collect()),
    }
}

/// An `EC2_LINUX` access entry for `principal_arn`.
pub fn node_access_entry(principal_arn: &str) -> AccessEntry {
    AccessEntry {
        principal_arn: principal_arn.to_string(),
        kind: "EC2_LINUX".to_string(),
        kubernetes_groups: vec![],
    }
}

/// The seed's identity: a node role with the three policies, an `EC2_LINUX` access entry for it, and the
/// same role in `aws-auth` (the cluster runs `API_AND_CONFIG_MAP`).
fn identity() -> Identity {
    Identity {
        node_role: Readable::Read(Some(node_role(&NODE_POLICIES, &[]))),
        access_entries: Readable::Read(vec![node_access_entry(NODE_ROLE)]),
        aws_auth_map_roles: Readable::Read(Some(map_roles_for(NODE_ROLE))),
    }
}

/// A route; the destination kind follows the text (`pl-…`, IPv6 with `:`, else IPv4).
pub fn route(destination: &str, target: RouteTarget) -> Route {
    let destination = if destination.starts_with("pl-") {
        RouteDestination::PrefixList(destination.to_string())
    } else if destination.contains(':') {
        RouteDestination::Ipv6(destination.to_string())
    } else {
        RouteDestination::Ipv4(destination.to_string())
    };
    Route {
        destination,
        target,
        state: RouteState::Active,
    }
}

pub fn blackhole(destination: &str, target: RouteTarget) -> Route {
    Route {
        state: RouteState::Blackhole,
        ..route(destination, target)
    }
}

pub fn nat_target(id: &str) -> RouteTarget {
    RouteTarget::NatGateway(id.to_string())
}

pub fn local() -> Route {
    route(VPC_CIDR, RouteTarget::Local)
}

pub fn table(id: &str, main: bool, subnets: &[&str], routes: Vec<Route>) -> RouteTable {
    RouteTable {
        id: id.to_string(),
        main,
        subnets: subnets.iter().map(|s| s.to_string()).collect(),
        routes,
    }
}

pub fn nat(id: &str, subnet: &str, az: &str, state: &str) -> NatGateway {
    NatGateway {
        id: id.to_string(),
        state: NatState::parse(state),
        subnet_id: subnet.to_string(),
        availability_zone: Some(az.to_string()),
        connectivity: NatConnectivity::Public,
        public_ips: vec![NAT_A_IP.to_string()],
    }
}

pub fn subnet(id: &str, cidr: &str, az: &str) -> Subnet {
    Subnet {
        id: id.to_string(),
        cidr: cidr.to_string(),
        ipv6_cidrs: vec![],
        availability_zone: az.to_string(),
        available_ip_addresses: 4000,
        map_public_ip_on_launch: false,
    }
}

/// A rule for `protocol` (`-1`, `tcp`) and an optional port range, to the given CIDRs.
pub fn sg_rule(protocol: &str, ports: Option<(u16, u16)>, cidrs: &[&str]) -> SgRule {
    SgRule {
        protocol: Protocol::parse(protocol),
        ports: ports.map(|(from, to)| PortRange { from, to }),
        cidrs_v4: cidrs
            .iter()
            .filter(|c| !c.contains(':'))
            .map(|c| c.to_string())
            .collect(),
        cidrs_v6: cidrs
            .iter()
            .filter(|c| c.contains(':'))
            .map(|c| c.to_string())
            .collect(),
        prefix_list_ids: vec![],
        referenced_group_ids: vec![],
    }
}

/// All traffic to or from members of `group`.
pub fn sg_rule_group(group: &str) -> SgRule {
    SgRule {
        referenced_group_ids: vec![group.to_string()],
        ..sg_rule("-1", None, &[])
    }
}

pub fn sg(id: &str, ingress: Vec<SgRule>, egress: Vec<SgRule>) -> SecurityGroup {
    SecurityGroup {
        id: id.to_string(),
        ingress,
        egress,
    }
}

/// A NACL entry; `protocol` is `-1` or `6`, `action` is `allow` or `deny`.
pub fn nacl_entry(
    rule_number: i32,
    egress: bool,
    protocol: &str,
    ports: Option<(u16, u16)>,
    cidr: &str,
    action: &str,
) -> NaclEntry {
    NaclEntry {
        rule_number,
        egress,
        protocol: Protocol::parse(protocol),
        ports: ports.map(|(from, to)| PortRange { from, to }),
        cidr_v4: (!cidr.contains(':')).then(|| cidr.to_string()),
        cidr_v6: cidr.contains(':').then(|| cidr.to_string()),
        action: RuleAction::parse(action),
    }
}

/// The default network ACL: rule 100 allows everything both ways, `*` (32767) denies.
pub fn default_nacl_entries() -> Vec<NaclEntry> {
    vec![
        nacl_entry(100, true, "-1", None, "0.0.0.0/0", "allow"),
        nacl_entry(32767, true, "-1", None, "0.0.0.0/0", "deny"),
        nacl_entry(100, false, "-1", None, "0.0.0.0/0", "allow"),
        nacl_entry(32767, false, "-1", None, "0.0.0.0/0", "deny"),
    ]
}

/// An `available` endpoint for `com.amazonaws.us-west-2.<service>`. Interface endpoints sit in the private
/// subnet with [`ENDPOINT_SG`] and private DNS; gateway endpoints are associated with `tables`.
pub fn endpoint(service: &str, kind: EndpointType, tables: &[&str]) -> VpcEndpoint {
    let interface = kind == EndpointType::Interface;
    VpcEndpoint {
        id: format!("vpce-{}", service.replace('.', "")),
        service_name: format!("com.amazonaws.{REGION}.{service}"),
        endpoint_type: kind,
        state: EndpointState::Available,
        private_dns_enabled: interface,
        subnet_ids: if interface {
            vec![PRIVATE_SUBNET_A.to_string()]
        } else {
            vec![]
        },
        security_group_ids: if interface {
            vec![ENDPOINT_SG.to_string()]
        } else {
            vec![]
        },
        route_table_ids: tables.iter().map(|t| t.to_string()).collect(),
    }
}

fn instance() -> Instance {
    Instance {
        id: INSTANCE.to_string(),
        state: InstanceState::Running,
        subnet_id: NEW_SUBNET.to_string(),
        vpc_id: VPC.to_string(),
        availability_zone: "us-west-2a".to_string(),
        private_dns_name: Some("ip-10-42-200-17.us-west-2.compute.internal".to_string()),
        private_ip: Some(INSTANCE_IP.to_string()),
        public_ip: None,
        ipv6_addresses: vec![],
        instance_profile_arn: Some(
            "arn:aws:iam::123456789012:instance-profile/eks-abcd1234".to_string(),
        ),
        security_groups: vec![NODE_SG.to_string()],
        instance_type: Some("m5.large".to_string()),
    }
}

fn cluster() -> Cluster {
    Cluster {
        name: "eks-workshop".to_string(),
        endpoint: Some("https://ABCD.gr7.us-west-2.eks.amazonaws.com".to_string()),
        certificate_authority: None,
        endpoint_public_access: true,
        endpoint_private_access: true,
        public_access_cidrs: vec!["0.0.0.0/0".to_string()],
        cluster_security_group_id: Some(NODE_SG.to_string()),
        additional_security_group_ids: vec![],
        vpc_id: Some(VPC.to_string()),
        ip_family: Some(IpFamily::Ipv4),
        authentication_mode: Some(AuthenticationMode::ApiAndConfigMap),
    }
}

fn route_tables(new_table: RouteTable) -> Vec<RouteTable> {
    vec![
        table(MAIN_TABLE, true, &[], vec![local()]),
        table(
            PUBLIC_TABLE,
            false,
            &[PUBLIC_SUBNET_A, PUBLIC_SUBNET_B],
            vec![
                local(),
                route(DEFAULT_ROUTE, RouteTarget::InternetGateway(IGW.to_string())),
            ],
        ),
        table(
            PRIVATE_TABLE,
            false,
            &[PRIVATE_SUBNET_A],
            vec![local(), route(DEFAULT_ROUTE, nat_target(NAT_A))],
        ),
        new_table,
    ]
}

fn vpc() -> Vpc {
    Vpc {
        id: VPC.to_string(),
        cidrs_v4: vec![VPC_CIDR.to_string()],
        cidrs_v6: vec![],
        dns_support: Some(true),
        dns_hostnames: Some(true),
        dns_not_read: None,
    }
}

fn s3_prefix_list() -> PrefixList {
    PrefixList {
        id: S3_PL.to_string(),
        name: format!("com.amazonaws.{REGION}.s3"),
        cidrs: vec![
            "52.92.16.0/20".to_string(),
            "3.5.76.0/22".to_string(),
            "18.34.0.0/19".to_string(),
        ],
    }
}

/// The node's group (all egress, everything from itself; also the cluster group) and the endpoints'
/// group (443 from the VPC).
fn security_groups() -> Vec<SecurityGroup> {
    vec![
        sg(
            NODE_SG,
            vec![sg_rule_group(NODE_SG)],
            vec![sg_rule("-1", None, &["0.0.0.0/0"])],
        ),
        sg(
            ENDPOINT_SG,
            vec![sg_rule("tcp", Some((443, 443)), &[VPC_CIDR])],
            vec![sg_rule("-1", None, &["0.0.0.0/0"])],
        ),
    ]
}

/// The seed (see the module documentation).
pub fn seed() -> Snapshot {
    let new_table = table(NEW_TABLE, false, &[NEW_SUBNET], vec![local()]);
    let new_subnet = subnet(NEW_SUBNET, "10.42.192.0/19", "us-west-2a");
    Snapshot {
        region: REGION.to_string(),
        taken_at_ms: 1_700_000_000_000,
        instance: instance(),
        subnet: new_subnet.clone(),
        vpc_subnets: vec![
            subnet(PUBLIC_SUBNET_A, "10.42.0.0/20", "us-west-2a"),
            subnet(PUBLIC_SUBNET_B, "10.42.16.0/20", "us-west-2b"),
            subnet(PRIVATE_SUBNET_A, "10.42.64.0/19", "us-west-2a"),
            new_subnet,
        ],
        vpc: vpc(),
        route_table: new_table.clone(),
        vpc_route_tables: route_tables(new_table),
        prefix_lists: Readable::Read(vec![s3_prefix_list()]),
        nat_gateways: vec![nat(NAT_A, PUBLIC_SUBNET_A, "us-west-2a", "available")],
        attached_internet_gateways: vec![IGW.to_string()],
        egress_only_internet_gateways: vec![],
        vpc_endpoints: vec![],
        network_acl: Readable::Read(NetworkAcl {
            id: ACL.to_string(),
            entries: default_nacl_entries(),
        }),
        security_groups: Readable::Read(security_groups()),
        cluster: cluster(),
        cluster_enis: Readable::Read(vec![ClusterEni {
            id: "eni-cluster0000000001".to_string(),
            private_ip: CLUSTER_ENI_IP.to_string(),
            security_group_ids: vec![NODE_SG.to_string()],
        }]),
        nodegroup: Some(Nodegroup {
            name: "new_nodegroup_2".to_string(),
            status: "ACTIVE".to_string(),
            subnets: vec![NEW_SUBNET.to_string()],
            desired_size: Some(1),
            min_size: Some(0),
            max_size: Some(1),
            health_issues: vec![],
        }),
        group_subnets: vec![NEW_SUBNET.to_string()],
        identity: identity(),
        instance_type_network: Readable::Read(Some(InstanceTypeNetwork {
            instance_type: "m5.large".to_string(),
            max_network_interfaces: 3,
            ipv4_addresses_per_interface: 10,
        })),
        console_output: None,
    }
}

pub const VPC_CIDR_V6: &str = "2600:1f14:abc:5500::/56";
pub const NEW_SUBNET_CIDR_V6: &str = "2600:1f14:abc:5507::/64";
pub const INSTANCE_IP_V6: &str = "2600:1f14:abc:5507::17";
pub const EIGW: &str = "eigw-1234abcd1234abcd1";

/// The default network ACL of a VPC with IPv6: the IPv4 entries and their IPv6 twins (rule 101).
/// The VPC reads a snapshot was made of.
pub fn vpc_reads(s: Snapshot) -> VpcReads {
    VpcReads {
        taken_at_ms: s.taken_at_ms,
        vpc: s.vpc,
        subnets: s.vpc_subnets,
        route_tables: s.vpc_route_tables,
        prefix_lists: s.prefix_lists,
        nat_gateways: s.nat_gateways,
        internet_gateways: s.attached_internet_gateways,
        egress_only_gateways: s.egress_only_internet_gateways,
        endpoints: s.vpc_endpoints,
        network_acl: s.network_acl,
        security_groups: s.security_groups,
        cluster_enis: s.cluster_enis,
    }
}

pub fn dual_stack_nacl_entries() -> Vec<NaclEntry> {
    let mut entries = default_nacl_entries();
    entries.extend([
        nacl_entry(101, true, "-1", None, "::/0", "allow"),
        nacl_entry(32768, true, "-1", None, "::/0", "deny"),
        nacl_entry(101, false, "-1", None, "::/0", "allow"),
        nacl_entry(32768, false, "-1", None, "::/0", "deny"),
    ]);
    entries
}

/// The seed made dual-stack: an IPv6 cluster with a dual-stack public endpoint only (publicAccessCidrs
/// `0.0.0.0/0` and `::/0`), IPv6 CIDRs on the VPC and the new subnet, an instance with an IPv6 address,
/// an attached egress-only internet gateway (not yet routed), and IPv6 twins of the default NACL entries
/// and of the node group's egress rule.
pub fn dual_stack() -> Snapshot {
    let mut s = seed().with_nacl_entries(dual_stack_nacl_entries());
    s.cluster.ip_family = Some(IpFamily::Ipv6);
    s.cluster.endpoint_private_access = false;
    s.cluster.endpoint = Some("https://0123456789ABCDEF.eks-cluster.us-west-2.api.aws".into());
    s.cluster.public_access_cidrs = vec![DEFAULT_ROUTE.into(), "::/0".into()];
    s.vpc.cidrs_v6 = vec![VPC_CIDR_V6.into()];
    s.subnet.ipv6_cidrs = vec![NEW_SUBNET_CIDR_V6.into()];
    s.instance.ipv6_addresses = vec![INSTANCE_IP_V6.into()];
    s.egress_only_internet_gateways = vec![EIGW.into()];
    s.with_security_group(sg(
        NODE_SG,
        vec![sg_rule_group(NODE_SG)],
        vec![sg_rule("-1", None, &["0.0.0.0/0", "::/0"])],
    ))
}

impl Snapshot {
    /// Replaces the instance subnet's route table everywhere it appears.
    pub fn with_route_table(mut self, t: RouteTable) -> Snapshot {
        self.vpc_route_tables.retain(|x| x.id != t.id);
        self.vpc_route_tables.push(t.clone());
        self.route_table = t;
        self
    }

    /// The new subnet's table with the local route plus `routes`.
    pub fn with_new_subnet_routes(self, routes: Vec<Route>) -> Snapshot {
        let mut all = vec![local()];
        all.extend(routes);
        self.with_route_table(table(NEW_TABLE, false, &[NEW_SUBNET], all))
    }

    pub fn with_new_subnet_default(self, target: RouteTarget) -> Snapshot {
        self.with_new_subnet_routes(vec![route(DEFAULT_ROUTE, target)])
    }

    /// Replaces the routes of another table of the VPC.
    pub fn with_table_routes(mut self, id: &str, routes: Vec<Route>) -> Snapshot {
        for t in self.vpc_route_tables.iter_mut().filter(|t| t.id == id) {
            t.routes = routes.clone();
        }
        if self.route_table.id == id {
            self.route_table.routes = routes;
        }
        self
    }

    /// Adds an `available` S3 gateway endpoint on the new subnet's table, with its prefix-list route.
    pub fn with_s3_gateway_endpoint(mut self) -> Snapshot {
        let ep = endpoint("s3", EndpointType::Gateway, &[NEW_TABLE]);
        let r = route(S3_PL, RouteTarget::VpcEndpoint(ep.id.clone()));
        self.vpc_endpoints.push(ep);
        let mut t = self.route_table.clone();
        t.routes.push(r);
        self.with_route_table(t)
    }

    /// Adds `available` interface endpoints with private DNS for the given services.
    pub fn with_interface_endpoints(mut self, services: &[&str]) -> Snapshot {
        self.vpc_endpoints.extend(
            services
                .iter()
                .map(|s| endpoint(s, EndpointType::Interface, &[])),
        );
        self
    }

    pub fn with_nacl_entries(mut self, entries: Vec<NaclEntry>) -> Snapshot {
        self.network_acl = Readable::Read(NetworkAcl {
            id: ACL.to_string(),
            entries,
        });
        self
    }

    /// Replaces (or adds) a security group.
    pub fn with_security_group(mut self, group: SecurityGroup) -> Snapshot {
        if let Readable::Read(groups) = &mut self.security_groups {
            groups.retain(|g| g.id != group.id);
            groups.push(group);
        }
        self
    }
}
