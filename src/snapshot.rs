//! Plain data of everything the rules look at (DESIGN.md section 5). No SDK types: the rules and the plan
//! are pure functions of this, and tests build it by hand.

use serde::Serialize;

pub const DEFAULT_ROUTE: &str = "0.0.0.0/0";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub region: String,
    pub instance: Instance,
    pub subnet: Subnet,
    /// The table that routes the instance's subnet.
    pub route_table: RouteTable,
    /// Every route table of the VPC (to follow NAT gateways to their own subnet's table).
    pub vpc_route_tables: Vec<RouteTable>,
    pub nat_gateways: Vec<NatGateway>,
    /// Internet gateways attached to the instance's VPC.
    pub attached_internet_gateways: Vec<String>,
    pub vpc_endpoints: Vec<VpcEndpoint>,
    pub cluster: Cluster,
    pub nodegroup: Option<Nodegroup>,
    /// Subnets the Auto Scaling group launches into (for the shared-route-table guard).
    pub group_subnets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    pub id: String,
    pub state: String,
    pub subnet_id: String,
    pub vpc_id: String,
    pub availability_zone: String,
    pub private_dns_name: Option<String>,
    pub private_ip: Option<String>,
    pub public_ip: Option<String>,
    pub instance_profile_arn: Option<String>,
    pub security_groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subnet {
    pub id: String,
    pub cidr: String,
    pub availability_zone: String,
    pub available_ip_addresses: i32,
    pub map_public_ip_on_launch: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteTable {
    pub id: String,
    /// The VPC's main table (serves every subnet without an explicit association).
    pub main: bool,
    /// Subnets explicitly associated with this table.
    pub subnets: Vec<String>,
    pub routes: Vec<Route>,
}

impl RouteTable {
    pub fn default_route(&self) -> Option<&Route> {
        self.routes.iter().find(|r| r.destination == DEFAULT_ROUTE)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub destination: String,
    pub target: RouteTarget,
    /// `active` or `blackhole` as EC2 reports it.
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum RouteTarget {
    Local,
    NatGateway(String),
    InternetGateway(String),
    EgressOnlyInternetGateway(String),
    TransitGateway(String),
    VpcPeering(String),
    NetworkInterface(String),
    Instance(String),
    /// Gateway Load Balancer / Network Firewall endpoint.
    VpcEndpoint(String),
    Other(String),
}

impl RouteTarget {
    /// The id as the console and CLI show it (`local`, `nat-…`, `igw-…`).
    pub fn id(&self) -> &str {
        match self {
            RouteTarget::Local => "local",
            RouteTarget::NatGateway(id)
            | RouteTarget::InternetGateway(id)
            | RouteTarget::EgressOnlyInternetGateway(id)
            | RouteTarget::TransitGateway(id)
            | RouteTarget::VpcPeering(id)
            | RouteTarget::NetworkInterface(id)
            | RouteTarget::Instance(id)
            | RouteTarget::VpcEndpoint(id)
            | RouteTarget::Other(id) => id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NatGateway {
    pub id: String,
    /// `pending`, `available`, `deleting`, `deleted`, `failed`.
    pub state: String,
    pub subnet_id: String,
    pub availability_zone: Option<String>,
    /// `public` or `private`.
    pub connectivity: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VpcEndpoint {
    pub id: String,
    pub service_name: String,
    /// `Interface` or `Gateway`.
    pub endpoint_type: String,
    pub state: String,
    pub route_table_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cluster {
    pub name: String,
    pub endpoint: Option<String>,
    /// Base64 PEM bundle as EKS returns it.
    #[serde(skip)]
    pub certificate_authority: Option<String>,
    pub endpoint_public_access: bool,
    pub endpoint_private_access: bool,
    pub public_access_cidrs: Vec<String>,
    pub cluster_security_group_id: Option<String>,
    pub vpc_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nodegroup {
    pub name: String,
    pub status: String,
    pub subnets: Vec<String>,
    pub desired_size: Option<i32>,
    pub min_size: Option<i32>,
    pub max_size: Option<i32>,
    pub health_issues: Vec<HealthIssue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthIssue {
    pub code: String,
    pub message: String,
}

impl Snapshot {
    pub fn route_table_for_subnet(&self, subnet_id: &str) -> Option<&RouteTable> {
        self.vpc_route_tables
            .iter()
            .find(|t| t.subnets.iter().any(|s| s == subnet_id))
            .or_else(|| self.vpc_route_tables.iter().find(|t| t.main))
    }

    pub fn nat_gateway(&self, id: &str) -> Option<&NatGateway> {
        self.nat_gateways.iter().find(|n| n.id == id)
    }

    pub fn igw_attached(&self, id: &str) -> bool {
        self.attached_internet_gateways.iter().any(|g| g == id)
    }

    /// Whether the route table is explicitly associated with the instance's subnet (else it is the main table
    /// serving it implicitly).
    pub fn route_table_is_explicit(&self) -> bool {
        self.route_table.subnets.contains(&self.subnet.id)
    }
}
