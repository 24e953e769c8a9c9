//! The egress path model: for every destination a node needs to join its cluster, the hops its TCP 443
//! traffic takes, each judged `pass`, `blocked` (with a typed reason) or `unknown` (with why).
//!
//! Pure functions of a [`Snapshot`]. The evaluator never turns something it cannot see into a blocker: a
//! denied read, a transit gateway, a prefix list it could not resolve or a mix of outcomes over the
//! addresses a destination may have are all `unknown`.
//!
//! Paths are evaluated per address family. Every destination has an IPv4 path: the AWS service
//! endpoints a node's agents use by default are IPv4 ones. The cluster API of a dual-stack (IPv6)
//! cluster, reached over the internet by an instance with an IPv6 address, also has an IPv6 path
//! ([`dual_stack`]); it is reachable when either path passes.

mod design;
mod dual_stack;
mod nacl;
mod next_hop;
mod route;
mod security_group;
mod target;

#[cfg(test)]
mod tests;

use std::fmt;

use serde::Serialize;

use crate::names::public_names;

use crate::snapshot::{EndpointState, EndpointType, NatState, RouteTarget, Snapshot, VpcEndpoint};

pub use design::{default_route_state, design, DefaultRoute};
pub use next_hop::{nat_path, usable_nat_gateways};

public_names! {
    /// What the node talks to while joining.
    pub enum Service {
        /// The cluster's Kubernetes API endpoint.
        ClusterApi => "cluster-api",
        EcrApi => "ecr.api",
        EcrDkr => "ecr.dkr",
        Sts => "sts",
        Ec2 => "ec2",
        S3 => "s3",
    }
}

impl Service {
    /// The short AWS service name (`com.amazonaws.<region>.<this>`), `None` for the cluster API.
    pub fn aws_service(self) -> Option<&'static str> {
        (self != Service::ClusterApi).then(|| self.as_str())
    }
}

/// How a destination is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum Reach {
    /// Through the subnet's route to the internet (NAT gateway, internet gateway, …).
    Internet,
    /// Through an interface VPC endpoint (`vpce-…`) whose private DNS name answers for the service.
    InterfaceEndpoint(String),
    /// Through a gateway VPC endpoint (`vpce-…`) associated with the subnet's route table.
    GatewayEndpoint(String),
    /// Through the cluster's private endpoint: its network interfaces inside the VPC.
    ClusterEnis,
}

impl fmt::Display for Reach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reach::Internet => f.write_str("internet"),
            Reach::InterfaceEndpoint(id) => write!(f, "interface endpoint {id}"),
            Reach::GatewayEndpoint(id) => write!(f, "gateway endpoint {id}"),
            Reach::ClusterEnis => f.write_str("cluster ENIs (private endpoint)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destination {
    pub service: Service,
    pub reach: Reach,
}

/// Why a hop stops the traffic. Each maps onto one finding code of the rules layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Block {
    /// No route covers the destination (`no-default-route`).
    NoRoute { route_table_id: String },
    /// The deciding route is a blackhole (`dead-default-route`).
    BlackholeRoute {
        route_table_id: String,
        destination: String,
        target: String,
    },
    /// The route's NAT gateway is `deleting`, `deleted` or `failed` (`dead-default-route`).
    NatNotAvailable {
        nat_gateway_id: String,
        state: NatState,
    },
    /// The route's NAT gateway no longer exists (`dead-default-route`).
    NatGone { nat_gateway_id: String },
    /// The route's internet gateway is not attached to the VPC (`dead-default-route`).
    IgwNotAttached { internet_gateway_id: String },
    /// Routed to an attached internet gateway, but the instance has no public IPv4
    /// (`igw-route-without-public-ip`).
    IgwWithoutPublicIp {
        internet_gateway_id: String,
        instance_id: String,
    },
    /// The NAT gateway's own subnet has no way to the internet (`nat-gateway-without-internet`).
    NatWithoutInternet {
        nat_gateway_id: String,
        route_table_id: String,
        missing: String,
    },
    /// Routed to an egress-only internet gateway, which carries IPv6 only (`no-default-route`).
    NoIpv4Egress { egress_only_gateway_id: String },
    /// IPv6 routed to an egress-only internet gateway that is not attached to the VPC
    /// (`dead-default-route`).
    EgressOnlyGatewayGone { egress_only_gateway_id: String },
    /// The subnet's network ACL denies TCP 443 out (`nacl-blocks-traffic`). `rule` `None` = implicit deny.
    NaclDeniesEgress {
        network_acl_id: String,
        rule: Option<i32>,
    },
    /// The subnet's network ACL denies the return traffic in (`nacl-blocks-traffic`).
    NaclDeniesReturn {
        network_acl_id: String,
        rule: Option<i32>,
    },
    /// No security group of the instance allows TCP 443 out (`security-group-blocks-egress`).
    SgDeniesEgress { security_group_ids: Vec<String> },
    /// No security group of the endpoint (or the cluster's interfaces) lets the instance in on 443
    /// (`endpoint-not-reachable`).
    EndpointSgDeniesIngress {
        target: String,
        security_group_ids: Vec<String>,
    },
    /// `enableDnsSupport` is off: nothing resolves (`vpc-dns-disabled`).
    DnsSupportDisabled { vpc_id: String },
    /// `enableDnsHostnames` is off: private DNS names do not resolve (`vpc-dns-disabled`).
    DnsHostnamesDisabled { vpc_id: String },
    /// The endpoint that traffic is routed to is not `available` (`endpoint-not-reachable`).
    EndpointNotAvailable {
        vpc_endpoint_id: String,
        state: EndpointState,
    },
    /// The addresses the traffic leaves from are outside the cluster's `publicAccessCidrs`.
    SourceOutsidePublicAccessCidrs {
        sources: Vec<String>,
        public_access_cidrs: Vec<String>,
    },
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Block::NoRoute { route_table_id } => write!(f, "no route in {route_table_id}"),
            Block::BlackholeRoute { route_table_id, destination, target } => {
                write!(f, "route {destination} -> {target} in {route_table_id} is a blackhole")
            }
            Block::NatNotAvailable { nat_gateway_id, state } => {
                write!(f, "NAT gateway {nat_gateway_id} is {state}")
            }
            Block::NatGone { nat_gateway_id } => {
                write!(f, "NAT gateway {nat_gateway_id} no longer exists")
            }
            Block::IgwNotAttached { internet_gateway_id } => {
                write!(f, "internet gateway {internet_gateway_id} is not attached to the VPC")
            }
            Block::IgwWithoutPublicIp { internet_gateway_id, instance_id } => write!(
                f,
                "routed to internet gateway {internet_gateway_id} but {instance_id} has no public IPv4"
            ),
            Block::NatWithoutInternet { nat_gateway_id, route_table_id, missing } => write!(
                f,
                "NAT gateway {nat_gateway_id} has no way to the internet: {missing} in {route_table_id}"
            ),
            Block::NoIpv4Egress { egress_only_gateway_id } => write!(
                f,
                "egress-only internet gateway {egress_only_gateway_id} carries IPv6 only"
            ),
            Block::EgressOnlyGatewayGone { egress_only_gateway_id } => write!(
                f,
                "egress-only internet gateway {egress_only_gateway_id} is not attached to the VPC"
            ),
            Block::NaclDeniesEgress { network_acl_id, rule } => {
                write!(f, "{network_acl_id} denies TCP 443 out ({})", rule_name(*rule))
            }
            Block::NaclDeniesReturn { network_acl_id, rule } => write!(
                f,
                "{network_acl_id} denies the return traffic on TCP 32768-60999 in ({})",
                rule_name(*rule)
            ),
            Block::SgDeniesEgress { security_group_ids } => write!(
                f,
                "no rule of {} allows TCP 443 out",
                security_group_ids.join(", ")
            ),
            Block::EndpointSgDeniesIngress { target, security_group_ids } => write!(
                f,
                "no rule of {} lets the instance reach {target} on TCP 443",
                security_group_ids.join(", ")
            ),
            Block::DnsSupportDisabled { vpc_id } => write!(f, "{vpc_id} has DNS support off"),
            Block::DnsHostnamesDisabled { vpc_id } => {
                write!(f, "{vpc_id} has DNS hostnames off: private DNS names do not resolve")
            }
            Block::EndpointNotAvailable { vpc_endpoint_id, state } => {
                write!(f, "VPC endpoint {vpc_endpoint_id} is {state}")
            }
            Block::SourceOutsidePublicAccessCidrs { sources, public_access_cidrs } => write!(
                f,
                "{} outside publicAccessCidrs {}",
                sources.join(", "),
                public_access_cidrs.join(", ")
            ),
        }
    }
}

fn rule_name(rule: Option<i32>) -> String {
    rule.map_or_else(|| "implicit deny".to_string(), |n| format!("rule {n}"))
}

/// A hop's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "why", rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Blocked(Block),
    /// Cannot be told from the snapshot (a denied read, a transit gateway, a mix of outcomes, …).
    Unknown(String),
}

impl Verdict {
    pub fn is_pass(&self) -> bool {
        matches!(self, Verdict::Pass)
    }

    pub fn is_blocked(&self) -> bool {
        matches!(self, Verdict::Blocked(_))
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Pass => f.write_str("pass"),
            Verdict::Blocked(b) => write!(f, "blocked: {b}"),
            Verdict::Unknown(why) => write!(f, "unknown: {why}"),
        }
    }
}

/// One verdict over many cases (address intervals, routes, ports): all pass → pass, all blocked → the first
/// block, else unknown. Empty → unknown. A mix is never a blocker: the destination may be where it passes.
pub fn combine(verdicts: Vec<Verdict>) -> Verdict {
    if verdicts.is_empty() {
        return Verdict::Unknown("nothing to evaluate".to_string());
    }
    if verdicts.iter().all(Verdict::is_pass) {
        return Verdict::Pass;
    }
    if verdicts.iter().all(Verdict::is_blocked) {
        return verdicts.into_iter().next().unwrap_or(Verdict::Pass);
    }
    let unknowns: Vec<String> = verdicts
        .iter()
        .filter_map(|v| match v {
            Verdict::Unknown(why) => Some(why.clone()),
            _ => None,
        })
        .collect();
    let mut why = if unknowns.is_empty() {
        "some addresses pass and others are blocked".to_string()
    } else {
        unknowns.join("; ")
    };
    if verdicts.iter().any(Verdict::is_blocked) && !unknowns.is_empty() {
        why.push_str(" (other addresses are blocked)");
    }
    Verdict::Unknown(why)
}

/// Which check a hop is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HopKind {
    /// VPC `enableDnsSupport` (and `enableDnsHostnames` for private DNS names).
    Dns,
    /// The subnet's route table.
    Route,
    /// The subnet's network ACL, both directions.
    NetworkAcl,
    /// The instance's security groups, outbound.
    SecurityGroupEgress,
    /// The target's security groups, inbound from the instance (endpoints, cluster interfaces).
    TargetIngress,
    /// Beyond the route: NAT gateway, internet gateway, transit gateway, …
    NextHop,
    /// The cluster's `publicAccessCidrs` against the addresses the traffic leaves from.
    PublicAccessCidrs,
}

impl fmt::Display for HopKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HopKind::Dns => "DNS",
            HopKind::Route => "route",
            HopKind::NetworkAcl => "network ACL",
            HopKind::SecurityGroupEgress => "security group egress",
            HopKind::TargetIngress => "target ingress",
            HopKind::NextHop => "next hop",
            HopKind::PublicAccessCidrs => "publicAccessCidrs",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    pub kind: HopKind,
    pub verdict: Verdict,
    /// For a human: `route 0.0.0.0/0 -> nat-123 (active) in rtb-9`.
    pub detail: String,
    /// The resource the hop concerns (`rtb-…`, `acl-…`, `sg-…`, `nat-…`, `vpc-…`).
    pub resource: String,
}

impl Hop {
    fn new(kind: HopKind, verdict: Verdict, detail: String, resource: impl Into<String>) -> Hop {
        Hop {
            kind,
            verdict,
            detail,
            resource: resource.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathReport {
    pub destination: Destination,
    /// The IPv4 path.
    pub hops: Vec<Hop>,
    /// The IPv6 path, for a destination the node can also reach over IPv6 (see [`dual_stack`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Box<PathReport>>,
}

/// One row of the path table: destination, how it is reached, the verdict and the hop that decides it.
/// Displayed as `ecr.api via internet: blocked: no route in rtb-… at route (…)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathSummary {
    pub destination: Service,
    pub via: Reach,
    /// The destination's verdict (over either family when it has two paths).
    pub verdict: Verdict,
    /// The first hop of the IPv4 path that is blocked (else the first that is unknown); `None` when the
    /// destination is reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hop: Option<HopKind>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Each family's path, when the destination has an IPv6 path too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub families: Vec<Leg>,
}

/// One address family's path to a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leg {
    /// `IPv4` or `IPv6`.
    pub family: String,
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hop: Option<HopKind>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

fn write_verdict(
    f: &mut fmt::Formatter<'_>,
    verdict: &Verdict,
    hop: Option<HopKind>,
    detail: &str,
) -> fmt::Result {
    let at = hop.map(|h| format!(" at {h}")).unwrap_or_default();
    match verdict {
        Verdict::Pass => f.write_str("pass"),
        Verdict::Blocked(block) if detail.is_empty() => write!(f, "blocked{at}: {block}"),
        Verdict::Blocked(_) => write!(f, "blocked{at}: {detail}"),
        Verdict::Unknown(why) => write!(f, "unknown{at}: {why}"),
    }
}

impl fmt::Display for Leg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.family)?;
        write_verdict(f, &self.verdict, self.hop, &self.detail)
    }
}

impl fmt::Display for PathSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} via {}: ", self.destination, self.via)?;
        if self.families.is_empty() {
            return write_verdict(f, &self.verdict, self.hop, &self.detail);
        }
        write_verdict(f, &self.verdict, None, "")?;
        let legs: Vec<String> = self.families.iter().map(Leg::to_string).collect();
        write!(f, " [{}]", legs.join("; "))
    }
}

impl PathReport {
    /// The destination's verdict. One path: blocked if any hop is, else unknown if any hop is, else
    /// pass. Two paths (IPv4 and IPv6): reached if either passes ([`dual_stack::either`]).
    pub fn verdict(&self) -> Verdict {
        let v4 = path_verdict(&self.hops);
        match &self.ipv6 {
            Some(v6) => dual_stack::either(v4, path_verdict(&v6.hops)),
            None => v4,
        }
    }

    /// The hop that decides the verdict: the first blocked one, else the first unknown one.
    pub fn deciding_hop(&self) -> Option<&Hop> {
        let hops = &self.hops;
        hops.iter().find(|h| h.verdict.is_blocked()).or_else(|| {
            hops.iter()
                .find(|h| matches!(h.verdict, Verdict::Unknown(_)))
        })
    }

    pub fn summary(&self) -> PathSummary {
        let verdict = self.verdict();
        let hop = self.deciding_hop().filter(|_| !verdict.is_pass());
        let families = match &self.ipv6 {
            Some(v6) => vec![self.leg("IPv4"), v6.leg("IPv6")],
            None => vec![],
        };
        PathSummary {
            destination: self.destination.service,
            via: self.destination.reach.clone(),
            verdict,
            hop: hop.map(|h| h.kind),
            detail: hop.map(|h| h.detail.clone()).unwrap_or_default(),
            families,
        }
    }

    /// This path alone (its own hops, not the other family's).
    fn leg(&self, family: &str) -> Leg {
        let hop = self.deciding_hop();
        Leg {
            family: family.to_string(),
            verdict: path_verdict(&self.hops),
            hop: hop.map(|h| h.kind),
            detail: hop.map(|h| h.detail.clone()).unwrap_or_default(),
        }
    }

    /// The first hop of the given kind.
    #[cfg(test)]
    pub fn hop(&self, kind: HopKind) -> Option<&Hop> {
        self.hops.iter().find(|h| h.kind == kind)
    }
}

/// Blocked if any hop is blocked (the first such), else unknown if any is (the first such), else pass.
pub fn path_verdict(hops: &[Hop]) -> Verdict {
    let first = |f: fn(&Verdict) -> bool| hops.iter().map(|h| &h.verdict).find(|v| f(v)).cloned();
    first(Verdict::is_blocked)
        .or_else(|| first(|v| matches!(v, Verdict::Unknown(_))))
        .unwrap_or(Verdict::Pass)
}

fn usable_interface_endpoint<'a>(s: &'a Snapshot, service: &str) -> Option<&'a VpcEndpoint> {
    let name = s.service_name(service);
    let mut candidates: Vec<&VpcEndpoint> = s
        .vpc_endpoints
        .iter()
        .filter(|e| {
            e.service_name == name
                && e.endpoint_type == EndpointType::Interface
                && e.state == EndpointState::Available
                && e.private_dns_enabled
        })
        .collect();
    candidates.sort_by(|a, b| a.id.cmp(&b.id));
    candidates.first().copied()
}

fn usable_s3_gateway_endpoint(s: &Snapshot) -> Option<&VpcEndpoint> {
    let name = s.service_name("s3");
    s.vpc_endpoints.iter().find(|e| {
        e.service_name == name
            && e.endpoint_type == EndpointType::Gateway
            && e.state == EndpointState::Available
            && e.route_table_ids.contains(&s.route_table.id)
    })
}

fn reach_for(s: &Snapshot, service: Service) -> Reach {
    match service.aws_service() {
        None if s.cluster.endpoint_private_access => Reach::ClusterEnis,
        None => Reach::Internet,
        Some(svc) => {
            let gateway = (service == Service::S3)
                .then(|| usable_s3_gateway_endpoint(s))
                .flatten();
            if let Some(ep) = gateway {
                Reach::GatewayEndpoint(ep.id.clone())
            } else if let Some(ep) = usable_interface_endpoint(s, svc) {
                Reach::InterfaceEndpoint(ep.id.clone())
            } else {
                Reach::Internet
            }
        }
    }
}

/// The destinations the node needs, and how each is reached.
pub fn destinations(s: &Snapshot) -> Vec<Destination> {
    Service::ALL
        .iter()
        .map(|&service| Destination {
            service,
            reach: reach_for(s, service),
        })
        .collect()
}

/// Every destination's path, hop by hop.
pub fn evaluate(s: &Snapshot) -> Vec<PathReport> {
    destinations(s)
        .into_iter()
        .map(|d| evaluate_destination(s, d))
        .collect()
}

fn evaluate_destination(s: &Snapshot, destination: Destination) -> PathReport {
    let t = target::Target::of(s, &destination);
    let mut hops = vec![dns_hop(s, t.private_dns)];
    match &destination.reach {
        Reach::Internet => hops.extend(internet_hops(s, &t)),
        Reach::GatewayEndpoint(id) => {
            hops.push(route::gateway_endpoint(s, id));
            hops.push(nacl::hop(s, &t));
            hops.push(security_group::egress_hop(s, &t));
        }
        Reach::InterfaceEndpoint(_) | Reach::ClusterEnis => {
            hops.push(route::in_vpc(s, &t));
            hops.push(nacl::hop(s, &t));
            hops.push(security_group::egress_hop(s, &t));
            hops.push(security_group::ingress_hop(s, &t));
        }
    }
    let ipv6 = dual_stack::ipv6_path(s, &destination).map(Box::new);
    PathReport {
        destination,
        hops,
        ipv6,
    }
}

/// Route, network ACL, security group and next hop of a path over the internet, and for the cluster API
/// its `publicAccessCidrs` against the addresses the traffic leaves from.
fn internet_hops(s: &Snapshot, t: &target::Target) -> Vec<Hop> {
    let internet = route::internet(s, t);
    let mut hops = vec![
        internet.route,
        nacl::hop(s, t),
        security_group::egress_hop(s, t),
    ];
    hops.extend(internet.next_hop);
    if t.service == Service::ClusterApi {
        hops.push(next_hop::public_access_hop(s, &internet.sources));
    }
    hops
}

/// `enableDnsSupport` always; `enableDnsHostnames` too for private DNS names.
fn dns_verdict(s: &Snapshot, private_dns: bool) -> Verdict {
    let vpc_id = s.vpc.id.clone();
    if s.vpc.dns_support == Some(false) {
        return Verdict::Blocked(Block::DnsSupportDisabled { vpc_id });
    }
    if private_dns && s.vpc.dns_hostnames == Some(false) {
        return Verdict::Blocked(Block::DnsHostnamesDisabled { vpc_id });
    }
    let unread = s.vpc.dns_support.is_none() || (private_dns && s.vpc.dns_hostnames.is_none());
    if unread {
        let why = s.vpc.dns_not_read.as_deref().unwrap_or("no reason given");
        return Verdict::Unknown(format!("VPC DNS attributes not read: {why}"));
    }
    Verdict::Pass
}

fn dns_hop(s: &Snapshot, private_dns: bool) -> Hop {
    let verdict = dns_verdict(s, private_dns);
    let show = |v: Option<bool>| v.map_or("?".to_string(), |b| b.to_string());
    let mut detail = format!("enableDnsSupport={}", show(s.vpc.dns_support));
    if private_dns {
        detail.push_str(&format!(
            ", enableDnsHostnames={} (private DNS name)",
            show(s.vpc.dns_hostnames)
        ));
    }
    Hop::new(HopKind::Dns, verdict, detail, s.vpc.id.clone())
}

/// How the console names a route target's kind, for details.
pub fn target_kind(t: &RouteTarget) -> &'static str {
    match t {
        RouteTarget::Local => "local",
        RouteTarget::NatGateway(_) => "NAT gateway",
        RouteTarget::InternetGateway(_) => "internet gateway",
        RouteTarget::EgressOnlyInternetGateway(_) => "egress-only internet gateway",
        RouteTarget::TransitGateway(_) => "transit gateway",
        RouteTarget::VirtualPrivateGateway(_) => "virtual private gateway",
        RouteTarget::VpcPeering(_) => "VPC peering connection",
        RouteTarget::NetworkInterface(_) => "network interface",
        RouteTarget::Instance(_) => "instance",
        RouteTarget::VpcEndpoint(_) => "VPC endpoint",
        RouteTarget::CarrierGateway(_) => "carrier gateway",
        RouteTarget::LocalGateway(_) => "local gateway",
        RouteTarget::Other(_) => "other target",
    }
}
