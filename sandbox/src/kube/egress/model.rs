//! Plain data the egress model reasons about: what EC2 and EKS say about the network, with nothing but
//! the fields the evaluation needs. Built by `load` from moto, or by hand in unit tests.

use std::collections::HashMap;

use super::cidr::{Cidr, Cidr6, Family, Prefix, Span};

/// Everything about an account's VPC networking that decides egress.
#[derive(Debug, Clone, Default)]
pub struct Network {
    pub vpcs: HashMap<String, Vpc>,
    pub subnets: HashMap<String, Subnet>,
    pub tables: Vec<RouteTable>,
    pub nacls: Vec<Nacl>,
    pub groups: HashMap<String, SecurityGroup>,
    pub endpoints: Vec<Endpoint>,
    /// Prefix list id → its CIDRs (IPv4 and IPv6 entries).
    pub prefix_lists: HashMap<String, Vec<Prefix>>,
    pub nats: HashMap<String, Nat>,
    /// Internet gateway id → VPCs it is attached to.
    pub igws: HashMap<String, Vec<String>>,
    /// Egress-only internet gateway id → VPCs it is attached to.
    pub eigws: HashMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct Vpc {
    pub cidrs: Vec<Cidr>,
    /// Associated IPv6 CIDRs (none for an IPv4-only VPC).
    pub ipv6_cidrs: Vec<Cidr6>,
    pub dns_support: bool,
    pub dns_hostnames: bool,
}

#[derive(Debug, Clone)]
pub struct Subnet {
    pub vpc_id: String,
    pub cidr: Cidr,
    /// Associated IPv6 CIDRs (inside the VPC's).
    pub ipv6_cidrs: Vec<Cidr6>,
}

#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    pub id: String,
    pub vpc_id: String,
    pub main: bool,
    pub subnets: Vec<String>,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteDest {
    /// `DestinationCidrBlock` or `DestinationIpv6CidrBlock`.
    Cidr(Prefix),
    PrefixList(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub dest: RouteDest,
    /// `local`, `igw-…`, `nat-…`, `vpce-…`, `tgw-…`, ….
    pub target: String,
    pub blackhole: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Nacl {
    pub id: String,
    pub vpc_id: String,
    pub default: bool,
    pub subnets: Vec<String>,
    pub entries: Vec<NaclEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaclEntry {
    pub number: i32,
    pub egress: bool,
    /// `-1` (all), `6` (TCP), `17`, ….
    pub protocol: String,
    /// Inclusive TCP/UDP port range; `None` means every port.
    pub ports: Option<(u16, u16)>,
    /// `CidrBlock` or `Ipv6CidrBlock`: an entry judges traffic of its own family only.
    pub cidr: Prefix,
    pub allow: bool,
}

#[derive(Debug, Clone, Default)]
pub struct SecurityGroup {
    pub ingress: Vec<SgRule>,
    pub egress: Vec<SgRule>,
}

/// One `IpPermission`: a protocol and port range towards (or from) CIDRs, prefix lists and groups.
#[derive(Debug, Clone, Default)]
pub struct SgRule {
    /// `-1`, `tcp`, `udp`, `icmp` or a number.
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    /// `IpRanges` and `Ipv6Ranges`.
    pub cidrs: Vec<Prefix>,
    pub prefix_lists: Vec<String>,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    Interface,
    Gateway,
    GatewayLoadBalancer,
    Other,
}

#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: String,
    pub vpc_id: String,
    pub service: String,
    pub kind: EndpointKind,
    pub available: bool,
    pub private_dns: bool,
    pub subnets: Vec<String>,
    pub groups: Vec<String>,
    pub route_tables: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Nat {
    /// `pending`, `available`, `deleting`, `deleted`, `failed`.
    pub state: String,
    /// Connectivity type `public` (the default) rather than `private`.
    pub public: bool,
    pub subnet_id: String,
    pub vpc_id: String,
    pub public_ips: Vec<u32>,
}

/// What `eks:DescribeCluster` says about reaching the API server.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub private_access: bool,
    pub public_access: bool,
    /// IPv4 and IPv6 entries.
    pub public_access_cidrs: Vec<Prefix>,
    /// `kubernetesNetworkConfig.ipFamily` is `ipv6`.
    pub ipv6: bool,
    /// The API server endpoint URL (`https://….eks.amazonaws.com`, `https://….api.aws` when dual-stack).
    pub endpoint: String,
    /// The cluster security group and the additional ones.
    pub security_groups: Vec<String>,
    pub subnets: Vec<String>,
}

/// The instance whose egress is judged.
#[derive(Debug, Clone)]
pub struct Node {
    pub subnet_id: String,
    pub vpc_id: String,
    pub private_ip: u32,
    pub public_ip: Option<u32>,
    /// The instance's IPv6 addresses (global unicast when its subnet is dual-stack).
    pub ipv6_addresses: Vec<u128>,
    pub security_groups: Vec<String>,
}

impl Network {
    /// The subnet's explicitly associated route table, else its VPC's main table.
    pub fn table_of(&self, subnet_id: &str, vpc_id: &str) -> Option<&RouteTable> {
        self.tables
            .iter()
            .find(|t| t.subnets.iter().any(|s| s == subnet_id))
            .or_else(|| self.tables.iter().find(|t| t.main && t.vpc_id == vpc_id))
    }

    pub fn table(&self, id: &str) -> Option<&RouteTable> {
        self.tables.iter().find(|t| t.id == id)
    }

    /// The subnet's network ACL (explicit association, else the VPC's default ACL).
    pub fn nacl_of(&self, subnet_id: &str, vpc_id: &str) -> Option<&Nacl> {
        self.nacls
            .iter()
            .find(|n| n.subnets.iter().any(|s| s == subnet_id))
            .or_else(|| self.nacls.iter().find(|n| n.default && n.vpc_id == vpc_id))
    }

    pub fn endpoint(&self, id: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.id == id)
    }

    pub fn igw_attached(&self, igw_id: &str, vpc_id: &str) -> bool {
        attached(&self.igws, igw_id, vpc_id)
    }

    pub fn eigw_attached(&self, eigw_id: &str, vpc_id: &str) -> bool {
        attached(&self.eigws, eigw_id, vpc_id)
    }

    /// The address spans of `family` a route's destination covers (a prefix list resolves to its CIDRs).
    pub fn route_spans(&self, route: &Route, family: Family) -> Vec<Span> {
        match &route.dest {
            RouteDest::Cidr(c) => c.span_in(family).into_iter().collect(),
            RouteDest::PrefixList(id) => self.prefix_list_spans(id, family),
        }
    }

    pub fn prefix_list_spans(&self, id: &str, family: Family) -> Vec<Span> {
        self.prefix_lists
            .get(id)
            .map(|cidrs| cidrs.iter().filter_map(|c| c.span_in(family)).collect())
            .unwrap_or_default()
    }

    /// The VPC's own IPv6 CIDRs, with those of its subnets.
    pub fn vpc_ipv6_cidrs(&self, vpc_id: &str) -> Vec<Cidr6> {
        let subnets = self.subnets.values().filter(|s| s.vpc_id == vpc_id);
        let vpc = self.vpcs.get(vpc_id).map(|v| v.ipv6_cidrs.as_slice());
        vpc.unwrap_or_default()
            .iter()
            .chain(subnets.flat_map(|s| s.ipv6_cidrs.iter()))
            .copied()
            .collect()
    }

    /// Subnets of `vpc_id` other than `except` whose table sends `0.0.0.0/0` to `nat_id`.
    pub fn nat_serves_others(&self, nat_id: &str, vpc_id: &str, except: &str) -> bool {
        let default = Prefix::parse("0.0.0.0/0").map(RouteDest::Cidr);
        self.tables.iter().filter(|t| t.vpc_id == vpc_id).any(|t| {
            t.subnets.iter().any(|s| s != except)
                && t.routes
                    .iter()
                    .any(|r| Some(&r.dest) == default.as_ref() && r.target == nat_id)
        })
    }
}

fn attached(gateways: &HashMap<String, Vec<String>>, id: &str, vpc_id: &str) -> bool {
    gateways
        .get(id)
        .is_some_and(|vpcs| vpcs.iter().any(|v| v == vpc_id))
}
