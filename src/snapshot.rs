//! Plain data of everything the rules and the egress evaluator look at. No SDK types: the rules, the
//! evaluator and the plan are pure functions of this, and tests build it by hand.
//!
//! Each field names the AWS API field it is read from. Reads that IAM may deny (network ACLs, security
//! groups, VPC attributes, prefix lists, cluster ENIs) are held as [`Readable`], so that a denied read makes
//! the hop that needs it `unknown` instead of failing the whole diagnosis.

use std::fmt;

use serde::{Deserialize, Serialize};

pub const DEFAULT_ROUTE: &str = "0.0.0.0/0";

/// Data from a read that may have been refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Readable<T> {
    Read(T),
    /// Why it could not be read, e.g. `ec2:DescribeNetworkAcls: UnauthorizedOperation`.
    NotRead(String),
}

impl<T> Readable<T> {
    pub fn get(&self) -> Result<&T, &str> {
        match self {
            Readable::Read(t) => Ok(t),
            Readable::NotRead(why) => Err(why),
        }
    }
}

/// Small EC2/EKS string enums: a known set plus `Other` for anything new, parsed case-insensitively.
macro_rules! aws_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $var:ident => $s:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum $name {
            $($(#[$vdoc])* $var,)+
            /// A value this version does not know, as AWS returned it.
            Other(String),
        }

        impl $name {
            pub fn parse(s: &str) -> Self {
                $(if s.eq_ignore_ascii_case($s) { return $name::$var; })+
                $name::Other(s.to_string())
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$var => $s,)+
                    $name::Other(s) => s,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

aws_enum! {
    /// `Route.State`.
    RouteState { Active => "active", Blackhole => "blackhole" }
}

aws_enum! {
    /// `NatGateway.State`.
    NatState {
        Pending => "pending",
        Available => "available",
        Deleting => "deleting",
        Deleted => "deleted",
        Failed => "failed",
    }
}

aws_enum! {
    /// `NatGateway.ConnectivityType`.
    NatConnectivity { Public => "public", Private => "private" }
}

aws_enum! {
    /// `VpcEndpoint.State`.
    EndpointState {
        PendingAcceptance => "pendingAcceptance",
        Pending => "pending",
        Available => "available",
        Deleting => "deleting",
        Deleted => "deleted",
        Rejected => "rejected",
        Failed => "failed",
        Expired => "expired",
    }
}

aws_enum! {
    /// `VpcEndpoint.VpcEndpointType`.
    EndpointType {
        Interface => "Interface",
        Gateway => "Gateway",
        GatewayLoadBalancer => "GatewayLoadBalancer",
    }
}

aws_enum! {
    /// `Instance.State.Name`.
    InstanceState {
        Pending => "pending",
        Running => "running",
        ShuttingDown => "shutting-down",
        Terminated => "terminated",
        Stopping => "stopping",
        Stopped => "stopped",
    }
}

aws_enum! {
    /// `NetworkAclEntry.RuleAction`.
    RuleAction { Allow => "allow", Deny => "deny" }
}

aws_enum! {
    /// eks `Cluster.KubernetesNetworkConfig.IpFamily`.
    IpFamily { Ipv4 => "ipv4", Ipv6 => "ipv6" }
}

aws_enum! {
    /// eks `Cluster.AccessConfig.AuthenticationMode`: where the cluster looks up an IAM principal.
    AuthenticationMode {
        /// Access entries only.
        Api => "API",
        /// Access entries, then the `aws-auth` ConfigMap.
        ApiAndConfigMap => "API_AND_CONFIG_MAP",
        /// The `aws-auth` ConfigMap only.
        ConfigMap => "CONFIG_MAP",
    }
}

impl AuthenticationMode {
    /// Whether access entries count; `None` (mode unknown): they may.
    pub fn uses_access_entries(mode: Option<&AuthenticationMode>) -> bool {
        !matches!(mode, Some(AuthenticationMode::ConfigMap))
    }

    /// Whether `aws-auth` counts; `None` (mode unknown): it may.
    pub fn uses_config_map(mode: Option<&AuthenticationMode>) -> bool {
        !matches!(mode, Some(AuthenticationMode::Api))
    }
}

/// An IP protocol of a network ACL entry (`NetworkAclEntry.Protocol`: `-1`, `6`, `17`, …) or a security
/// group rule (`IpPermission.IpProtocol`: `-1`, `tcp`, `6`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// `-1`: every protocol and every port.
    All,
    /// `6` / `tcp`.
    Tcp,
    /// Any other protocol (UDP, ICMP, …); never matches TCP 443.
    Other(String),
}

impl Protocol {
    pub fn parse(s: &str) -> Self {
        let s = s.trim();
        if s == "-1" || s.eq_ignore_ascii_case("all") {
            Protocol::All
        } else if s == "6" || s.eq_ignore_ascii_case("tcp") {
            Protocol::Tcp
        } else {
            Protocol::Other(s.to_string())
        }
    }
}

/// An inclusive port range (`PortRange.From`/`To`, `IpPermission.FromPort`/`ToPort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    pub from: u16,
    pub to: u16,
}

impl PortRange {
    pub fn contains(&self, port: u16) -> bool {
        self.from <= port && port <= self.to
    }
}

/// What the VPC reads of one snapshot gave (one concurrent wave; see `gather::network`), shared by the
/// events of a warm container that need the same ones at the same time, and (stored in the state table)
/// by the containers of a burst (`gather::shared`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcReads {
    /// When the reads started (Unix milliseconds).
    pub taken_at_ms: i64,
    pub vpc: Vpc,
    pub subnets: Vec<Subnet>,
    pub route_tables: Vec<RouteTable>,
    pub prefix_lists: Readable<Vec<PrefixList>>,
    pub nat_gateways: Vec<NatGateway>,
    pub internet_gateways: Vec<String>,
    pub egress_only_gateways: Vec<String>,
    pub endpoints: Vec<VpcEndpoint>,
    pub network_acl: Readable<NetworkAcl>,
    pub security_groups: Readable<Vec<SecurityGroup>>,
    pub cluster_enis: Readable<Vec<ClusterEni>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub region: String,
    /// When the VPC reads started (Unix milliseconds): a route written after it is not something this
    /// snapshot could have seen.
    #[serde(skip)]
    pub taken_at_ms: i64,
    pub instance: Instance,
    /// The instance's subnet (ec2 DescribeSubnets).
    pub subnet: Subnet,
    /// Every subnet of the VPC (ec2 DescribeSubnets, filter `vpc-id`): where endpoints and NATs live.
    pub vpc_subnets: Vec<Subnet>,
    pub vpc: Vpc,
    /// The table that routes the instance's subnet (explicit association, else the main table).
    pub route_table: RouteTable,
    /// Every route table of the VPC (to follow NAT gateways to their own subnet's table).
    pub vpc_route_tables: Vec<RouteTable>,
    /// Managed prefix lists referenced by routes and rules (ec2 DescribeManagedPrefixLists +
    /// GetManagedPrefixListEntries).
    pub prefix_lists: Readable<Vec<PrefixList>>,
    pub nat_gateways: Vec<NatGateway>,
    /// Internet gateways attached to the instance's VPC (ec2 DescribeInternetGateways,
    /// `InternetGateway.InternetGatewayId` where `Attachments[].State` is `available`/`attached`).
    pub attached_internet_gateways: Vec<String>,
    /// Egress-only internet gateways attached to the VPC (ec2 DescribeEgressOnlyInternetGateways,
    /// `EgressOnlyInternetGatewayId`).
    pub egress_only_internet_gateways: Vec<String>,
    pub vpc_endpoints: Vec<VpcEndpoint>,
    /// The network ACL associated with the instance's subnet (ec2 DescribeNetworkAcls, filter
    /// `association.subnet-id`).
    pub network_acl: Readable<NetworkAcl>,
    /// The security groups of the instance, of the VPC endpoints and of the cluster (ec2
    /// DescribeSecurityGroups).
    pub security_groups: Readable<Vec<SecurityGroup>>,
    pub cluster: Cluster,
    /// The cluster's control-plane network interfaces in the VPC (ec2 DescribeNetworkInterfaces, filter
    /// `description=Amazon EKS <cluster>`).
    pub cluster_enis: Readable<Vec<ClusterEni>>,
    pub nodegroup: Option<Nodegroup>,
    /// Subnets the Auto Scaling group launches into (for the shared-route-table guard).
    pub group_subnets: Vec<String>,
    /// The node's IAM role and how the cluster maps it.
    pub identity: Identity,
    /// Network limits of the instance's type (ec2 DescribeInstanceTypes `InstanceTypeInfo.NetworkInfo`);
    /// `Read(None)` when the type is not known.
    pub instance_type_network: Readable<Option<InstanceTypeNetwork>>,
    /// What the node printed (ec2 GetConsoleOutput with `Latest=true`, base64-decoded, the last 64 KiB),
    /// read only once the pipeline acts (after the grace period); `None` before. Never serialized: it may
    /// hold secrets.
    #[serde(skip)]
    pub console_output: Option<Readable<String>>,
}

/// What one snapshot read about the cluster side of a node: the cluster (again, when the admission's copy
/// was old), its nodegroup and the node's identity. The same for every node of a nodegroup, so the events
/// of a warm container that need it at the same time share one read (`gather::snapshot`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterReads {
    pub cluster: Cluster,
    pub nodegroup: Option<Nodegroup>,
    pub identity: Identity,
}

/// The node's IAM identity and the two places a cluster may map it: access entries and `aws-auth`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The role of the instance's profile (iam GetInstanceProfile `InstanceProfile.Roles[0]`); `Read(None)`
    /// when the instance has no profile or the profile holds no role.
    pub node_role: Readable<Option<NodeRole>>,
    /// The cluster's access entries whose principal is the node role (eks ListAccessEntries, then
    /// DescribeAccessEntry for each). Not read when the authentication mode is `CONFIG_MAP`.
    pub access_entries: Readable<Vec<AccessEntry>>,
    /// `data.mapRoles` of the ConfigMap `kube-system/aws-auth` (Kubernetes API), as stored: YAML in a
    /// string. `Read(None)`: the ConfigMap (or its `mapRoles`) does not exist. Not read in `API` mode.
    pub aws_auth_map_roles: Readable<Option<String>>,
}

/// The role behind an instance profile (iam GetInstanceProfile `InstanceProfile.Roles[0]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileRole {
    /// `Role.Arn`.
    pub arn: String,
    /// `Role.RoleName`.
    pub name: String,
}

/// An IAM role and its policies (iam ListAttachedRolePolicies, ListRolePolicies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeRole {
    /// `Role.Arn` (with its path, if any).
    pub arn: String,
    /// `Role.RoleName`.
    pub name: String,
    /// `AttachedPolicies[].PolicyArn`.
    pub attached_policies: Readable<Vec<String>>,
    /// `PolicyNames`: inline policies, whose documents are not read.
    pub inline_policies: Readable<Vec<String>>,
}

/// An EKS access entry (eks DescribeAccessEntry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessEntry {
    /// `AccessEntry.PrincipalArn`.
    pub principal_arn: String,
    /// `AccessEntry.Type`: `EC2_LINUX`, `EC2_WINDOWS`, `STANDARD`, `FARGATE_LINUX`, ….
    pub kind: String,
    /// `AccessEntry.KubernetesGroups`.
    pub kubernetes_groups: Vec<String>,
}

impl AccessEntry {
    /// The types EKS gives the node permissions (`system:nodes`) to.
    pub fn is_for_nodes(&self) -> bool {
        matches!(self.kind.as_str(), "EC2_LINUX" | "EC2_WINDOWS")
    }
}

/// `InstanceTypeInfo.NetworkInfo` of the instance's type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceTypeNetwork {
    /// `InstanceTypeInfo.InstanceType`.
    pub instance_type: String,
    /// `NetworkInfo.MaximumNetworkInterfaces`.
    pub max_network_interfaces: i32,
    /// `NetworkInfo.Ipv4AddressesPerInterface`.
    pub ipv4_addresses_per_interface: i32,
}

/// An IAM role as the cluster matches it: account and role name. Paths and role sessions are not part
/// of it (`arn:aws:iam::123:role/path/name` and `arn:aws:sts::123:assumed-role/name/session` are one role).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleKey {
    pub partition: String,
    pub account: String,
    pub name: String,
}

impl RoleKey {
    /// The role an IAM role ARN or an STS assumed-role ARN names; `None` for anything else.
    pub fn from_arn(arn: &str) -> Option<RoleKey> {
        let mut parts = arn.trim().splitn(6, ':');
        let (prefix, partition, service) = (parts.next()?, parts.next()?, parts.next()?);
        let (_region, account, resource) = (parts.next()?, parts.next()?, parts.next()?);
        if prefix != "arn" || partition.is_empty() || account.is_empty() {
            return None;
        }
        let name = match (service, resource.split_once('/')) {
            ("iam", Some(("role", path_and_name))) => path_and_name.rsplit('/').next()?,
            ("sts", Some(("assumed-role", name_and_session))) => {
                name_and_session.split('/').next()?
            }
            _ => return None,
        };
        (!name.is_empty()).then(|| RoleKey {
            partition: partition.to_string(),
            account: account.to_string(),
            name: name.to_string(),
        })
    }

    /// Same account and role name (IAM role names are unique regardless of case).
    pub fn same_role(&self, other: &RoleKey) -> bool {
        self.account == other.account && self.name.eq_ignore_ascii_case(&other.name)
    }

    /// Whether `arn` names this role.
    pub fn is(&self, arn: &str) -> bool {
        RoleKey::from_arn(arn).is_some_and(|k| self.same_role(&k))
    }

    /// `arn:<partition>:iam::<account>:role/<name>`, without a path: the form `aws-auth` matches.
    pub fn arn_without_path(&self) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            self.partition, self.account, self.name
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    /// `Instance.InstanceId`.
    pub id: String,
    /// `Instance.State.Name`.
    pub state: InstanceState,
    /// `Instance.SubnetId`.
    pub subnet_id: String,
    /// `Instance.VpcId`.
    pub vpc_id: String,
    /// `Instance.Placement.AvailabilityZone`.
    pub availability_zone: String,
    /// `Instance.PrivateDnsName`.
    pub private_dns_name: Option<String>,
    /// `Instance.PrivateIpAddress`.
    pub private_ip: Option<String>,
    /// `Instance.PublicIpAddress`.
    pub public_ip: Option<String>,
    /// `Instance.NetworkInterfaces[].Ipv6Addresses[].Ipv6Address`.
    pub ipv6_addresses: Vec<String>,
    /// `Instance.IamInstanceProfile.Arn`.
    pub instance_profile_arn: Option<String>,
    /// `Instance.InstanceType`.
    pub instance_type: Option<String>,
    /// `Instance.SecurityGroups[].GroupId`.
    pub security_groups: Vec<String>,
}

/// An instance of the Auto Scaling group (autoscaling `AutoScalingGroup.Instances[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupMember {
    /// `InstanceId`.
    pub id: String,
    /// `LifecycleState` is `InService`.
    pub in_service: bool,
    /// `HealthStatus` is `Healthy`.
    pub healthy: bool,
}

impl Instance {
    /// Stopping, stopped or terminated: nothing will register.
    pub fn is_gone(&self) -> bool {
        matches!(
            self.state,
            InstanceState::ShuttingDown
                | InstanceState::Terminated
                | InstanceState::Stopping
                | InstanceState::Stopped
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// `Subnet.SubnetId`.
    pub id: String,
    /// `Subnet.CidrBlock`.
    pub cidr: String,
    /// `Subnet.Ipv6CidrBlockAssociationSet[].Ipv6CidrBlock` (associated ones).
    pub ipv6_cidrs: Vec<String>,
    /// `Subnet.AvailabilityZone`.
    pub availability_zone: String,
    /// `Subnet.AvailableIpAddressCount`.
    pub available_ip_addresses: i32,
    /// `Subnet.MapPublicIpOnLaunch`.
    pub map_public_ip_on_launch: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vpc {
    /// `Vpc.VpcId`.
    pub id: String,
    /// `Vpc.CidrBlockAssociationSet[].CidrBlock` (associated ones; the primary `Vpc.CidrBlock` included).
    pub cidrs_v4: Vec<String>,
    /// `Vpc.Ipv6CidrBlockAssociationSet[].Ipv6CidrBlock` (associated ones).
    pub cidrs_v6: Vec<String>,
    /// ec2 DescribeVpcAttribute `enableDnsSupport`; `None` when it could not be read.
    pub dns_support: Option<bool>,
    /// ec2 DescribeVpcAttribute `enableDnsHostnames`; `None` when it could not be read.
    pub dns_hostnames: Option<bool>,
    /// Why either attribute is `None` (e.g. the read was denied).
    pub dns_not_read: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTable {
    /// `RouteTable.RouteTableId`.
    pub id: String,
    /// The VPC's main table (`Associations[].Main`): serves every subnet without an explicit association.
    pub main: bool,
    /// Subnets explicitly associated with this table (`Associations[].SubnetId`).
    pub subnets: Vec<String>,
    /// `RouteTable.Routes`.
    pub routes: Vec<Route>,
}

impl RouteTable {
    /// The literal `0.0.0.0/0` route, if any.
    pub fn default_route(&self) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| r.destination == RouteDestination::Ipv4(DEFAULT_ROUTE.to_string()))
    }
}

/// Where a route sends traffic to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum RouteDestination {
    /// `Route.DestinationCidrBlock`.
    Ipv4(String),
    /// `Route.DestinationIpv6CidrBlock`.
    Ipv6(String),
    /// `Route.DestinationPrefixListId` (`pl-…`).
    PrefixList(String),
}

impl fmt::Display for RouteDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteDestination::Ipv4(s)
            | RouteDestination::Ipv6(s)
            | RouteDestination::PrefixList(s) => f.write_str(s),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub destination: RouteDestination,
    pub target: RouteTarget,
    /// `Route.State`.
    pub state: RouteState,
}

/// The route's target: the first non-empty of `NatGatewayId`, `TransitGatewayId`,
/// `VpcPeeringConnectionId`, `EgressOnlyInternetGatewayId`, `GatewayId` (`local`, `igw-`, `vgw-`,
/// `vpce-`), `InstanceId`, `NetworkInterfaceId`, `CarrierGatewayId`, `LocalGatewayId`, `CoreNetworkArn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum RouteTarget {
    Local,
    NatGateway(String),
    InternetGateway(String),
    EgressOnlyInternetGateway(String),
    TransitGateway(String),
    /// `vgw-…` (site-to-site VPN / Direct Connect).
    VirtualPrivateGateway(String),
    VpcPeering(String),
    NetworkInterface(String),
    Instance(String),
    /// Gateway endpoint (S3, DynamoDB) or Gateway Load Balancer / Network Firewall endpoint.
    VpcEndpoint(String),
    CarrierGateway(String),
    LocalGateway(String),
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
            | RouteTarget::VirtualPrivateGateway(id)
            | RouteTarget::VpcPeering(id)
            | RouteTarget::NetworkInterface(id)
            | RouteTarget::Instance(id)
            | RouteTarget::VpcEndpoint(id)
            | RouteTarget::CarrierGateway(id)
            | RouteTarget::LocalGateway(id)
            | RouteTarget::Other(id) => id,
        }
    }
}

/// A managed prefix list (ec2 DescribeManagedPrefixLists + GetManagedPrefixListEntries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixList {
    /// `ManagedPrefixList.PrefixListId`.
    pub id: String,
    /// `ManagedPrefixList.PrefixListName` (`com.amazonaws.<region>.s3` for AWS-managed lists).
    pub name: String,
    /// `PrefixListEntry.Cidr` of every entry.
    pub cidrs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatGateway {
    /// `NatGateway.NatGatewayId`.
    pub id: String,
    /// `NatGateway.State`.
    pub state: NatState,
    /// `NatGateway.SubnetId`.
    pub subnet_id: String,
    /// The NAT's subnet's `Subnet.AvailabilityZone`.
    pub availability_zone: Option<String>,
    /// `NatGateway.ConnectivityType`.
    pub connectivity: NatConnectivity,
    /// `NatGateway.NatGatewayAddresses[].PublicIp`: where its traffic leaves from.
    pub public_ips: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcEndpoint {
    /// `VpcEndpoint.VpcEndpointId`.
    pub id: String,
    /// `VpcEndpoint.ServiceName` (`com.amazonaws.<region>.<service>`).
    pub service_name: String,
    /// `VpcEndpoint.VpcEndpointType`.
    pub endpoint_type: EndpointType,
    /// `VpcEndpoint.State`.
    pub state: EndpointState,
    /// `VpcEndpoint.PrivateDnsEnabled`.
    pub private_dns_enabled: bool,
    /// `VpcEndpoint.SubnetIds` (interface and load-balancer endpoints).
    pub subnet_ids: Vec<String>,
    /// `VpcEndpoint.Groups[].GroupId` (interface endpoints).
    pub security_group_ids: Vec<String>,
    /// `VpcEndpoint.RouteTableIds` (gateway endpoints).
    pub route_table_ids: Vec<String>,
}

/// The network ACL of a subnet (ec2 DescribeNetworkAcls).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAcl {
    /// `NetworkAcl.NetworkAclId`.
    pub id: String,
    /// `NetworkAcl.Entries`, in any order (the evaluator sorts by rule number).
    pub entries: Vec<NaclEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NaclEntry {
    /// `NetworkAclEntry.RuleNumber` (32767 is the catch-all `*` deny).
    pub rule_number: i32,
    /// `NetworkAclEntry.Egress`: outbound when true.
    pub egress: bool,
    /// `NetworkAclEntry.Protocol`.
    pub protocol: Protocol,
    /// `NetworkAclEntry.PortRange` (TCP/UDP only; `None` = every port).
    pub ports: Option<PortRange>,
    /// `NetworkAclEntry.CidrBlock`.
    pub cidr_v4: Option<String>,
    /// `NetworkAclEntry.Ipv6CidrBlock`.
    pub cidr_v6: Option<String>,
    /// `NetworkAclEntry.RuleAction`.
    pub action: RuleAction,
}

/// A security group (ec2 DescribeSecurityGroups).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    /// `SecurityGroup.GroupId`.
    pub id: String,
    /// `SecurityGroup.IpPermissions`.
    pub ingress: Vec<SgRule>,
    /// `SecurityGroup.IpPermissionsEgress`.
    pub egress: Vec<SgRule>,
}

/// One `IpPermission`: traffic of `protocol`/`ports` is allowed to (egress) or from (ingress) any of the
/// listed peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SgRule {
    /// `IpPermission.IpProtocol`.
    pub protocol: Protocol,
    /// `IpPermission.FromPort`/`ToPort` (`None` for protocol `-1`, or when absent = every port).
    pub ports: Option<PortRange>,
    /// `IpPermission.IpRanges[].CidrIp`.
    pub cidrs_v4: Vec<String>,
    /// `IpPermission.Ipv6Ranges[].CidrIpv6`.
    pub cidrs_v6: Vec<String>,
    /// `IpPermission.PrefixListIds[].PrefixListId`.
    pub prefix_list_ids: Vec<String>,
    /// `IpPermission.UserIdGroupPairs[].GroupId`.
    pub referenced_group_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cluster {
    /// eks `Cluster.Name`.
    pub name: String,
    /// eks `Cluster.Endpoint`.
    pub endpoint: Option<String>,
    /// Base64 PEM bundle as EKS returns it (`Cluster.CertificateAuthority.Data`).
    #[serde(skip)]
    pub certificate_authority: Option<String>,
    /// `Cluster.ResourcesVpcConfig.EndpointPublicAccess`.
    pub endpoint_public_access: bool,
    /// `Cluster.ResourcesVpcConfig.EndpointPrivateAccess`.
    pub endpoint_private_access: bool,
    /// `Cluster.ResourcesVpcConfig.PublicAccessCidrs` (empty = EKS's default `0.0.0.0/0`).
    pub public_access_cidrs: Vec<String>,
    /// `Cluster.ResourcesVpcConfig.ClusterSecurityGroupId`.
    pub cluster_security_group_id: Option<String>,
    /// `Cluster.ResourcesVpcConfig.SecurityGroupIds`: extra groups on the control-plane ENIs.
    pub additional_security_group_ids: Vec<String>,
    /// `Cluster.ResourcesVpcConfig.VpcId`.
    pub vpc_id: Option<String>,
    /// `Cluster.KubernetesNetworkConfig.IpFamily`.
    pub ip_family: Option<IpFamily>,
    /// `Cluster.AccessConfig.AuthenticationMode`; `None` when EKS did not say.
    pub authentication_mode: Option<AuthenticationMode>,
}

/// A control-plane network interface of the cluster (ec2 DescribeNetworkInterfaces).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterEni {
    /// `NetworkInterface.NetworkInterfaceId`.
    pub id: String,
    /// `NetworkInterface.PrivateIpAddress`.
    pub private_ip: String,
    /// `NetworkInterface.Groups[].GroupId`.
    pub security_group_ids: Vec<String>,
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
    /// The table serving a subnet: its explicit association, else the VPC main table.
    pub fn route_table_for_subnet(&self, subnet_id: &str) -> Option<&RouteTable> {
        self.vpc_route_tables
            .iter()
            .find(|t| t.subnets.iter().any(|s| s == subnet_id))
            .or_else(|| self.vpc_route_tables.iter().find(|t| t.main))
    }

    pub fn nat_gateway(&self, id: &str) -> Option<&NatGateway> {
        self.nat_gateways.iter().find(|n| n.id == id)
    }

    pub fn vpc_endpoint(&self, id: &str) -> Option<&VpcEndpoint> {
        self.vpc_endpoints.iter().find(|e| e.id == id)
    }

    pub fn subnet_by_id(&self, id: &str) -> Option<&Subnet> {
        self.vpc_subnets
            .iter()
            .chain(std::iter::once(&self.subnet))
            .find(|s| s.id == id)
    }

    pub fn igw_attached(&self, id: &str) -> bool {
        self.attached_internet_gateways.iter().any(|g| g == id)
    }

    /// Whether the route table is explicitly associated with the instance's subnet (else it is the main table
    /// serving it implicitly).
    pub fn route_table_is_explicit(&self) -> bool {
        self.route_table.subnets.contains(&self.subnet.id)
    }

    /// The service name of a regional AWS service in this region (`com.amazonaws.us-west-2.sts`).
    pub fn service_name(&self, short: &str) -> String {
        format!("com.amazonaws.{}.{short}", self.region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_enums_parse_known_values_case_insensitively_and_keep_the_rest() {
        assert_eq!(NatState::parse("available"), NatState::Available);
        assert_eq!(NatState::parse("Deleted"), NatState::Deleted);
        assert_eq!(NatState::parse("weird"), NatState::Other("weird".into()));
        assert_eq!(RouteState::parse("blackhole"), RouteState::Blackhole);
        assert_eq!(EndpointType::parse("gateway"), EndpointType::Gateway);
        assert_eq!(
            EndpointState::parse("pendingAcceptance"),
            EndpointState::PendingAcceptance
        );
        assert_eq!(
            InstanceState::parse("shutting-down"),
            InstanceState::ShuttingDown
        );
        assert_eq!(NatConnectivity::Private.as_str(), "private");
        assert_eq!(Protocol::parse("-1"), Protocol::All);
        assert_eq!(Protocol::parse("tcp"), Protocol::Tcp);
        assert_eq!(Protocol::parse("6"), Protocol::Tcp);
        assert_eq!(Protocol::parse("17"), Protocol::Other("17".into()));
    }

    #[test]
    fn role_arns_with_paths_and_assumed_role_sessions_name_the_same_role() {
        let plain = RoleKey::from_arn("arn:aws:iam::123456789012:role/eks-node").expect("role");
        assert_eq!(plain.name, "eks-node");
        assert_eq!(plain.account, "123456789012");
        for same in [
            "arn:aws:iam::123456789012:role/platform/nodes/eks-node",
            "arn:aws:sts::123456789012:assumed-role/eks-node/i-0abc",
            "arn:aws:iam::123456789012:role/EKS-Node",
        ] {
            assert!(plain.is(same), "{same}");
        }
        for other in [
            "arn:aws:iam::210987654321:role/eks-node",
            "arn:aws:iam::123456789012:role/eks-node-2",
            "arn:aws:iam::123456789012:user/eks-node",
            "arn:aws:iam::123456789012:instance-profile/eks-node",
            "eks-node",
            "arn:aws:iam::123456789012:role/",
        ] {
            assert!(!plain.is(other), "{other}");
        }
        let china = RoleKey::from_arn("arn:aws-cn:iam::123456789012:role/a/b/n").expect("role");
        assert_eq!(
            china.arn_without_path(),
            "arn:aws-cn:iam::123456789012:role/n"
        );
    }

    #[test]
    fn an_unknown_authentication_mode_keeps_both_places_in_play() {
        use AuthenticationMode as M;
        assert!(M::uses_access_entries(None) && M::uses_config_map(None));
        assert!(!M::uses_config_map(Some(&M::Api)));
        assert!(!M::uses_access_entries(Some(&M::ConfigMap)));
        assert!(M::uses_access_entries(Some(&M::ApiAndConfigMap)));
        assert_eq!(M::parse("api_and_config_map"), M::ApiAndConfigMap);
    }

    #[test]
    fn readable_serialises_the_reason_it_was_not_read() {
        let r: Readable<Vec<String>> = Readable::NotRead("denied".into());
        assert_eq!(
            serde_json::to_string(&r).expect("json"),
            r#"{"not-read":"denied"}"#
        );
        assert_eq!(r.get(), Err("denied"));
    }
}
