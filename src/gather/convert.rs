//! SDK shapes into the snapshot's plain data. Missing fields become empty values, never a panic.

use aws_sdk_ec2::types as ec2;

use crate::gather::Group;
use crate::snapshot::*;

fn text(v: Option<&str>) -> String {
    v.unwrap_or_default().to_string()
}

fn some(v: Option<&str>) -> Option<String> {
    v.filter(|s| !s.is_empty()).map(String::from)
}

pub fn group(g: &aws_sdk_autoscaling::types::AutoScalingGroup, name: &str) -> Group {
    Group {
        name: g.auto_scaling_group_name().unwrap_or(name).to_string(),
        tags: g
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), text(t.value()))))
            .collect(),
        subnets: g
            .vpc_zone_identifier()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        members: g
            .instances()
            .iter()
            .map(|i| GroupMember {
                id: text(i.instance_id()),
                in_service: i.lifecycle_state().map(|l| l.as_str()) == Some("InService"),
                healthy: i.health_status() == Some("Healthy"),
            })
            .collect(),
    }
}

/// An instance's tags as a map.
pub fn instance_tags(i: &ec2::Instance) -> std::collections::BTreeMap<String, String> {
    i.tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), text(t.value()))))
        .collect()
}

/// A NodePool's instance as the blast-radius guard counts it: in service once running; pending and
/// terminating ones are replacements in flight.
pub fn pool_member(i: &ec2::Instance) -> GroupMember {
    let running = i.state().and_then(|s| s.name()).map(|n| n.as_str()) == Some("running");
    GroupMember {
        id: text(i.instance_id()),
        in_service: running,
        healthy: true,
    }
}

pub fn instance(i: &ec2::Instance, id: &str) -> Instance {
    Instance {
        id: id.to_string(),
        state: InstanceState::parse(
            i.state()
                .and_then(|s| s.name())
                .map_or("unknown", |n| n.as_str()),
        ),
        subnet_id: text(i.subnet_id()),
        vpc_id: text(i.vpc_id()),
        availability_zone: text(i.placement().and_then(|p| p.availability_zone())),
        private_dns_name: some(i.private_dns_name()),
        private_ip: some(i.private_ip_address()),
        public_ip: some(i.public_ip_address()),
        ipv6_addresses: i
            .network_interfaces()
            .iter()
            .flat_map(|n| n.ipv6_addresses())
            .filter_map(|a| some(a.ipv6_address()))
            .collect(),
        instance_profile_arn: some(i.iam_instance_profile().and_then(|p| p.arn())),
        instance_type: i.instance_type().map(|t| t.as_str().to_string()),
        security_groups: i
            .security_groups()
            .iter()
            .filter_map(|g| some(g.group_id()))
            .collect(),
    }
}

pub fn cluster(c: Option<&aws_sdk_eks::types::Cluster>, name: &str) -> Cluster {
    let vpc = c.and_then(|c| c.resources_vpc_config());
    Cluster {
        name: name.to_string(),
        endpoint: some(c.and_then(|c| c.endpoint())),
        certificate_authority: some(
            c.and_then(|c| c.certificate_authority())
                .and_then(|ca| ca.data()),
        ),
        endpoint_public_access: vpc.map(|v| v.endpoint_public_access()).unwrap_or(true),
        endpoint_private_access: vpc.map(|v| v.endpoint_private_access()).unwrap_or(false),
        public_access_cidrs: vpc
            .map(|v| v.public_access_cidrs().to_vec())
            .unwrap_or_default(),
        cluster_security_group_id: some(vpc.and_then(|v| v.cluster_security_group_id())),
        additional_security_group_ids: vpc
            .map(|v| v.security_group_ids().to_vec())
            .unwrap_or_default(),
        vpc_id: some(vpc.and_then(|v| v.vpc_id())),
        ip_family: c
            .and_then(|c| c.kubernetes_network_config())
            .and_then(|k| k.ip_family())
            .map(|f| IpFamily::parse(f.as_str())),
        authentication_mode: c
            .and_then(|c| c.access_config())
            .and_then(|a| a.authentication_mode())
            .map(|m| AuthenticationMode::parse(m.as_str())),
    }
}

pub fn nodegroup(ng: &aws_sdk_eks::types::Nodegroup, name: &str) -> Nodegroup {
    let scaling = ng.scaling_config();
    Nodegroup {
        name: name.to_string(),
        status: ng
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        subnets: ng.subnets().to_vec(),
        desired_size: scaling.and_then(|s| s.desired_size()),
        min_size: scaling.and_then(|s| s.min_size()),
        max_size: scaling.and_then(|s| s.max_size()),
        health_issues: ng
            .health()
            .map(|h| h.issues())
            .unwrap_or_default()
            .iter()
            .map(|i| HealthIssue {
                code: i.code().map(|c| c.as_str().to_string()).unwrap_or_default(),
                message: text(i.message()),
            })
            .collect(),
    }
}

pub fn vpc(v: Option<&ec2::Vpc>, id: &str) -> Vpc {
    let mut cidrs_v4: Vec<String> = v
        .map(|v| v.cidr_block_association_set())
        .unwrap_or_default()
        .iter()
        .filter_map(|a| some(a.cidr_block()))
        .collect();
    if let Some(primary) = v.and_then(|v| some(v.cidr_block())) {
        if !cidrs_v4.contains(&primary) {
            cidrs_v4.insert(0, primary);
        }
    }
    Vpc {
        id: id.to_string(),
        cidrs_v4,
        cidrs_v6: v
            .map(|v| v.ipv6_cidr_block_association_set())
            .unwrap_or_default()
            .iter()
            .filter_map(|a| some(a.ipv6_cidr_block()))
            .collect(),
        dns_support: None,
        dns_hostnames: None,
        dns_not_read: None,
    }
}

pub fn subnet(s: &ec2::Subnet) -> Subnet {
    Subnet {
        id: text(s.subnet_id()),
        cidr: text(s.cidr_block()),
        ipv6_cidrs: s
            .ipv6_cidr_block_association_set()
            .iter()
            .filter_map(|a| some(a.ipv6_cidr_block()))
            .collect(),
        availability_zone: text(s.availability_zone()),
        available_ip_addresses: s.available_ip_address_count().unwrap_or_default(),
        map_public_ip_on_launch: s.map_public_ip_on_launch().unwrap_or_default(),
    }
}

/// A route field and the target kind it names.
type TargetField<'a> = (Option<&'a str>, fn(String) -> RouteTarget);

pub fn route_target(r: &ec2::Route) -> RouteTarget {
    let candidates: [TargetField; 4] = [
        (r.nat_gateway_id(), RouteTarget::NatGateway),
        (r.transit_gateway_id(), RouteTarget::TransitGateway),
        (r.vpc_peering_connection_id(), RouteTarget::VpcPeering),
        (
            r.egress_only_internet_gateway_id(),
            RouteTarget::EgressOnlyInternetGateway,
        ),
    ];
    if let Some(target) = candidates
        .into_iter()
        .find_map(|(id, make)| some(id).map(make))
    {
        return target;
    }
    if let Some(id) = some(r.gateway_id()) {
        return gateway_target(id);
    }
    let rest: [TargetField; 5] = [
        (r.instance_id(), RouteTarget::Instance),
        (r.network_interface_id(), RouteTarget::NetworkInterface),
        (r.carrier_gateway_id(), RouteTarget::CarrierGateway),
        (r.local_gateway_id(), RouteTarget::LocalGateway),
        (r.core_network_arn(), RouteTarget::Other),
    ];
    rest.into_iter()
        .find_map(|(id, make)| some(id).map(make))
        .unwrap_or_else(|| RouteTarget::Other("unknown".to_string()))
}

/// `GatewayId` carries several kinds of target, told apart by prefix.
fn gateway_target(id: String) -> RouteTarget {
    match id.split('-').next().unwrap_or_default() {
        "local" => RouteTarget::Local,
        "igw" => RouteTarget::InternetGateway(id),
        "vgw" => RouteTarget::VirtualPrivateGateway(id),
        "vpce" => RouteTarget::VpcEndpoint(id),
        "nat" => RouteTarget::NatGateway(id),
        _ => RouteTarget::Other(id),
    }
}

fn route(r: &ec2::Route) -> Option<Route> {
    let destination = if let Some(c) = some(r.destination_cidr_block()) {
        RouteDestination::Ipv4(c)
    } else if let Some(c) = some(r.destination_ipv6_cidr_block()) {
        RouteDestination::Ipv6(c)
    } else {
        RouteDestination::PrefixList(some(r.destination_prefix_list_id())?)
    };
    Some(Route {
        destination,
        target: route_target(r),
        state: RouteState::parse(r.state().map_or("active", |s| s.as_str())),
    })
}

pub fn route_table(t: &ec2::RouteTable) -> RouteTable {
    RouteTable {
        id: text(t.route_table_id()),
        main: t.associations().iter().any(|a| a.main() == Some(true)),
        subnets: t
            .associations()
            .iter()
            .filter_map(|a| some(a.subnet_id()))
            .collect(),
        routes: t.routes().iter().filter_map(route).collect(),
    }
}

pub fn prefix_list(p: &ec2::PrefixList) -> PrefixList {
    PrefixList {
        id: text(p.prefix_list_id()),
        name: text(p.prefix_list_name()),
        cidrs: p.cidrs().to_vec(),
    }
}

pub fn nat_gateway(n: &ec2::NatGateway) -> NatGateway {
    NatGateway {
        id: text(n.nat_gateway_id()),
        state: NatState::parse(n.state().map_or("", |s| s.as_str())),
        subnet_id: text(n.subnet_id()),
        availability_zone: None,
        connectivity: NatConnectivity::parse(
            n.connectivity_type().map_or("public", |c| c.as_str()),
        ),
        public_ips: n
            .nat_gateway_addresses()
            .iter()
            .filter_map(|a| some(a.public_ip()))
            .collect(),
    }
}

pub fn attached_internet_gateways(gateways: &[ec2::InternetGateway], vpc_id: &str) -> Vec<String> {
    gateways
        .iter()
        .filter(|g| {
            g.attachments().iter().any(|a| {
                a.vpc_id() == Some(vpc_id)
                    && a.state()
                        .is_some_and(|s| matches!(s.as_str(), "available" | "attached"))
            })
        })
        .filter_map(|g| some(g.internet_gateway_id()))
        .collect()
}

pub fn attached_egress_only_gateways(
    gateways: &[ec2::EgressOnlyInternetGateway],
    vpc_id: &str,
) -> Vec<String> {
    gateways
        .iter()
        .filter(|g| g.attachments().iter().any(|a| a.vpc_id() == Some(vpc_id)))
        .filter_map(|g| some(g.egress_only_internet_gateway_id()))
        .collect()
}

pub fn vpc_endpoint(e: &ec2::VpcEndpoint) -> VpcEndpoint {
    VpcEndpoint {
        id: text(e.vpc_endpoint_id()),
        service_name: text(e.service_name()),
        endpoint_type: EndpointType::parse(e.vpc_endpoint_type().map_or("", |t| t.as_str())),
        state: EndpointState::parse(e.state().map_or("", |s| s.as_str())),
        private_dns_enabled: e.private_dns_enabled().unwrap_or_default(),
        subnet_ids: e.subnet_ids().to_vec(),
        security_group_ids: e
            .groups()
            .iter()
            .filter_map(|g| some(g.group_id()))
            .collect(),
        route_table_ids: e.route_table_ids().to_vec(),
    }
}

fn ports(from: Option<i32>, to: Option<i32>) -> Option<PortRange> {
    let port = |p: i32| u16::try_from(p).ok();
    match (from.and_then(port), to.and_then(port)) {
        (Some(from), Some(to)) => Some(PortRange { from, to }),
        _ => None,
    }
}

pub fn network_acl(a: &ec2::NetworkAcl) -> NetworkAcl {
    NetworkAcl {
        id: text(a.network_acl_id()),
        entries: a
            .entries()
            .iter()
            .map(|e| NaclEntry {
                rule_number: e.rule_number().unwrap_or(32767),
                egress: e.egress().unwrap_or_default(),
                protocol: Protocol::parse(e.protocol().unwrap_or("-1")),
                ports: e.port_range().and_then(|p| ports(p.from(), p.to())),
                cidr_v4: some(e.cidr_block()),
                cidr_v6: some(e.ipv6_cidr_block()),
                action: RuleAction::parse(e.rule_action().map_or("deny", |a| a.as_str())),
            })
            .collect(),
    }
}

fn sg_rule(p: &ec2::IpPermission) -> SgRule {
    let protocol = Protocol::parse(p.ip_protocol().unwrap_or("-1"));
    SgRule {
        ports: match protocol {
            Protocol::All => None,
            _ => ports(p.from_port(), p.to_port()),
        },
        protocol,
        cidrs_v4: p
            .ip_ranges()
            .iter()
            .filter_map(|r| some(r.cidr_ip()))
            .collect(),
        cidrs_v6: p
            .ipv6_ranges()
            .iter()
            .filter_map(|r| some(r.cidr_ipv6()))
            .collect(),
        prefix_list_ids: p
            .prefix_list_ids()
            .iter()
            .filter_map(|r| some(r.prefix_list_id()))
            .collect(),
        referenced_group_ids: p
            .user_id_group_pairs()
            .iter()
            .filter_map(|g| some(g.group_id()))
            .collect(),
    }
}

pub fn security_group(g: &ec2::SecurityGroup) -> SecurityGroup {
    SecurityGroup {
        id: text(g.group_id()),
        ingress: g.ip_permissions().iter().map(sg_rule).collect(),
        egress: g.ip_permissions_egress().iter().map(sg_rule).collect(),
    }
}

pub fn cluster_eni(n: &ec2::NetworkInterface) -> Option<ClusterEni> {
    Some(ClusterEni {
        id: text(n.network_interface_id()),
        private_ip: some(n.private_ip_address())?,
        security_group_ids: n
            .groups()
            .iter()
            .filter_map(|g| some(g.group_id()))
            .collect(),
    })
}
