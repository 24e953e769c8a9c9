//! The kubelet simulator's egress model: does an instance reach, over TCP 443, everything a node needs to
//! join its cluster? Written for the sandbox on its own (the Lambda has its own evaluator of the same rules);
//! the simulator registers a node only when every path below passes.
//!
//! Destinations: `cluster-api` (privately through the VPC when the cluster has private endpoint access,
//! else over the internet subject to `publicAccessCidrs`), `ecr.api`, `ecr.dkr`, `sts`, `ec2` (an available
//! interface endpoint with private DNS, else the internet) and `s3` (a gateway endpoint on the subnet's
//! table, else an interface endpoint, else the internet).
//!
//! Hops, each `pass` / `blocked(reason)` / `unknown(why)`, in order: DNS (VPC DNS support; hostnames too for
//! private DNS), route (longest-prefix match; prefix lists resolved; for the internet every elementary
//! interval of public IPv4 space, so split defaults work; a table with no route but one to a transit
//! gateway, VGW, peering, ENI or instance is `unknown`), network ACL (outbound 443, return traffic to
//! 32768-60999, first matching rule wins, implicit deny), security groups (instance egress; the target's
//! ingress for endpoints and the private cluster endpoint), next hop (NAT: state, connectivity, its own
//! subnet's route to an attached IGW, possibly through a firewall / GWLB endpoint; a NAT other subnets use
//! for their default route is known-good, turning an `unknown` own path into `pass`; IGW: attached and a
//! public IP; TGW and the like: `unknown`), and `publicAccessCidrs` for the public cluster endpoint. A path
//! is blocked if any hop is, else unknown if any hop is, else it passes; `unknown` never registers a node.
//! The addresses of a gateway endpoint's prefix list belong to its service: they are left out of the
//! internet of every other destination (an S3 gateway does not make `sts` half-reachable).
//!
//! IPv6 (dual-stack). Every path above is IPv4: the AWS services are reached over IPv4 only (the node's
//! agents use the IPv4 service endpoints) and the private cluster endpoint stays as it is. Only
//! `cluster-api` over the internet (no private endpoint access) gets an IPv6 alternative, and only when the
//! cluster's `ipFamily` is `ipv6`, its endpoint is dual-stack (its host ends in `.api.aws` or
//! `.api.amazonwebservices.com.cn`, or `publicAccessCidrs` holds an IPv6 CIDR, which EKS accepts only on
//! dual-stack endpoints) and the instance has an IPv6 address. The node reaches the endpoint if either
//! family passes (Go's dialer falls back between them); both blocked is blocked; anything else is
//! `unknown`. The IPv6 path's hops: DNS as for IPv4; route, longest-prefix match over the table's IPv6
//! routes (and the IPv6 entries of prefix lists) for every elementary interval of `2000::/3` less the
//! VPC's IPv6 CIDRs, no route `blocked` unless the table sends some non-VPC IPv6 space to a transit
//! gateway, VGW, peering, ENI or instance (then `unknown`), a blackhole `blocked`; network ACL, only
//! `Ipv6CidrBlock` entries (first match by rule number, TCP 443 out, 32768-60999 back in, implicit deny);
//! security groups, the instance's egress TCP 443 through `Ipv6Ranges` (or prefix-list IPv6 entries); next
//! hop, an internet gateway or egress-only internet gateway attached to the VPC passes (no public IPv4
//! needed: the IPv6 address is global), either one detached or unknown is `blocked`, a NAT gateway is
//! `unknown` (NAT64 only), a transit gateway, VGW, peering, ENI, instance or firewall endpoint `unknown`;
//! `publicAccessCidrs`, some IPv6 address of the instance must lie in an IPv6 entry. The IPv4 checks look
//! at IPv4 rules and entries only, as before. IPv6 spans are 128-bit numbers (see `cidr`).
//!
//! What moto (5.2.5) gives and what stands in for what it lacks:
//! * Default NACL entries (allow all / deny all, both ways) and the default `0.0.0.0/0` SG egress rule are
//!   returned; a new NACL has no entries, and the implicit deny applies.
//! * A gateway endpoint adds a `pl-… → vpce-…` route (as `GatewayId`); the S3 prefix list has entries.
//! * Routes to a GWLB endpoint (`VpcEndpointId`) are returned with the `vpce-` id in `GatewayId`.
//! * moto gives EKS clusters no ENIs: the private API endpoint stands at `.10` of the first cluster subnet
//!   other than the node's. Interface endpoint ENIs get random addresses outside their subnet: the endpoint
//!   stands at `.10` of its first subnet, and its security groups come from the endpoint, not the ENI.
//! * NAT gateways have no `ConnectivityType` (taken as `public`); their public IPs lie in 127/8, which only
//!   matters to the `publicAccessCidrs` check (a plain CIDR containment test).
//! * IPv6: VPC and subnet IPv6 associations, IPv6 routes with `EgressOnlyInternetGatewayId`, egress-only
//!   gateways and their attachments, `Ipv6CidrBlock` NACL entries, `Ipv6Ranges`, instance IPv6 addresses
//!   and the cluster's `kubernetesNetworkConfig.ipFamily` all come back as set. A subnet's IPv6
//!   association state reads as a nested text (`"{'State': 'associated'}"`): any state but a
//!   disassociating, disassociated or failed one counts. moto's endpoint name is never the dual-stack
//!   `….api.aws`, so in the sandbox's worlds an IPv6 entry of `publicAccessCidrs` marks it dual-stack.
//!   moto adds no IPv6 rules to a default NACL and gives Auto Scaling instances no IPv6 address (it
//!   ignores the launch template's interfaces and `AssignIpv6AddressOnCreation`): the dual-stack worlds add
//!   the rules AWS adds and assign each node its address (see `world::dual_stack`).

mod cidr;
mod filters;
mod load;
mod model;
mod route;
#[cfg(test)]
mod tests;

use cidr::{Family, Prefix, Span};
use filters::{nacl_hop, sg_hop, Peer};
use route::{public_set, route_hop};

pub use load::{load_cluster, load_network};
pub use model::{Cluster, Network, Node};

/// What one hop, or one whole path, concludes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Blocked(String),
    Unknown(String),
}

impl Verdict {
    /// Hops in series: blocked if any is, else unknown if any is, else pass.
    pub fn all_of(verdicts: Vec<Verdict>) -> Verdict {
        let blocked = verdicts.iter().find(|v| matches!(v, Verdict::Blocked(_)));
        let unknown = verdicts.iter().find(|v| matches!(v, Verdict::Unknown(_)));
        blocked.or(unknown).cloned().unwrap_or(Verdict::Pass)
    }

    /// Alternatives in parallel (intervals of address space): all pass → pass; some blocked and none
    /// passes → blocked; otherwise unknown.
    pub fn any_of(verdicts: Vec<Verdict>) -> Verdict {
        if verdicts.iter().all(|v| *v == Verdict::Pass) {
            return Verdict::Pass;
        }
        let passes = verdicts.contains(&Verdict::Pass);
        let blocked = verdicts.iter().find(|v| matches!(v, Verdict::Blocked(_)));
        match (passes, blocked) {
            (false, Some(b)) => b.clone(),
            _ => match verdicts.iter().find(|v| !matches!(v, Verdict::Pass)) {
                Some(Verdict::Unknown(why)) => Verdict::Unknown(why.clone()),
                Some(Verdict::Blocked(why)) => {
                    Verdict::Unknown(format!("only part of the traffic gets through: {why}"))
                }
                _ => Verdict::Pass,
            },
        }
    }

    /// The two address families a client falls back between (Go's dialer tries IPv4 and IPv6): pass if
    /// either passes, blocked if both are, otherwise unknown.
    pub fn either_family(ipv4: Verdict, ipv6: Verdict) -> Verdict {
        match (ipv4, ipv6) {
            (Verdict::Pass, _) | (_, Verdict::Pass) => Verdict::Pass,
            (Verdict::Blocked(v4), Verdict::Blocked(v6)) => {
                Verdict::Blocked(format!("{v4}; and over IPv6: {v6}"))
            }
            (Verdict::Unknown(why), _) | (_, Verdict::Unknown(why)) => Verdict::Unknown(why),
        }
    }

    pub fn passes(&self) -> bool {
        *self == Verdict::Pass
    }
}

/// One destination's path: how it is reached and what each hop concluded.
#[derive(Debug, Clone)]
pub struct PathReport {
    /// `cluster-api`, `ecr.api`, `ecr.dkr`, `sts`, `ec2`, `s3`.
    pub destination: &'static str,
    /// e.g. `internet`, `interface endpoint vpce-…`, `private cluster endpoint 10.42.96.10`.
    pub via: String,
    /// `(hop name, verdict)` in evaluation order.
    pub hops: Vec<(&'static str, Verdict)>,
    /// The same destination over IPv6, which the node falls back to (or from): only for `cluster-api` over
    /// the internet when the cluster is IPv6, its endpoint dual-stack and the instance has an IPv6 address.
    pub ipv6: Option<Box<PathReport>>,
}

impl PathReport {
    /// Its hops in series; with an IPv6 alternative, [`Verdict::either_family`] of the two paths.
    pub fn verdict(&self) -> Verdict {
        let own = Verdict::all_of(self.hops.iter().map(|(_, v)| v.clone()).collect());
        match &self.ipv6 {
            Some(ipv6) => Verdict::either_family(own, ipv6.verdict()),
            None => own,
        }
    }
}

/// The regional services a node needs besides the API server.
pub const SERVICES: [&str; 5] = ["ecr.api", "ecr.dkr", "sts", "ec2", "s3"];

/// How a destination is reached.
struct Target<'a> {
    destination: &'static str,
    via: String,
    /// The address family of `set` (and of the whole path).
    family: Family,
    set: Vec<Span>,
    /// Reached by a private DNS name (interface endpoint, private cluster endpoint).
    private_dns: bool,
    /// Security groups of the target, for targets inside the VPC.
    peer_groups: Option<&'a [String]>,
    /// Subject to `publicAccessCidrs` (entries of both families; the path's family counts).
    cidrs: Option<&'a [Prefix]>,
}

/// Every path the node needs, evaluated. AWS services are reached over IPv4 only (the node's agents use
/// the IPv4 service endpoints); only the cluster endpoint may have an IPv6 alternative.
pub fn evaluate(net: &Network, cluster: &Cluster, node: &Node, region: &str) -> Vec<PathReport> {
    let mut paths = vec![cluster_path(net, cluster, node)];
    paths.extend(
        SERVICES
            .iter()
            .map(|s| evaluate_path(net, node, service_target(net, node, region, s))),
    );
    paths
}

/// The node joins: every path passes.
pub fn joins(paths: &[PathReport]) -> bool {
    paths.iter().all(|p| p.verdict().passes())
}

/// `cluster-api` over IPv4 and, when [`uses_ipv6`], over IPv6 as the alternative.
fn cluster_path(net: &Network, cluster: &Cluster, node: &Node) -> PathReport {
    let mut path = evaluate_path(net, node, cluster_target(net, cluster, node, Family::V4));
    if uses_ipv6(cluster, node) {
        let over_ipv6 = cluster_target(net, cluster, node, Family::V6);
        path.ipv6 = Some(Box::new(evaluate_path(net, node, over_ipv6)));
    }
    path
}

/// The node may reach the cluster endpoint over IPv6: over the internet (no private endpoint access), the
/// cluster's ipFamily is `ipv6`, its endpoint is dual-stack, and the instance has an IPv6 address.
fn uses_ipv6(cluster: &Cluster, node: &Node) -> bool {
    !cluster.private_access
        && cluster.ipv6
        && dual_stack_endpoint(cluster)
        && !node.ipv6_addresses.is_empty()
}

/// A dual-stack endpoint is named under `api.aws` (`api.amazonwebservices.com.cn` in China); EKS also
/// accepts IPv6 `publicAccessCidrs` only on dual-stack endpoints.
fn dual_stack_endpoint(cluster: &Cluster) -> bool {
    let url = cluster.endpoint.to_ascii_lowercase();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.split(':').next().unwrap_or_default();
    host.ends_with(".api.aws")
        || host.ends_with(".api.amazonwebservices.com.cn")
        || cluster
            .public_access_cidrs
            .iter()
            .any(|c| c.family() == Family::V6)
}

fn evaluate_path(net: &Network, node: &Node, target: Target<'_>) -> PathReport {
    let family = target.family;
    let mut hops = vec![("dns", dns_hop(net, node, target.private_dns))];
    let (route, sources) = match net.table_of(&node.subnet_id, &node.vpc_id) {
        Some(table) => route_hop(net, table, &target.set, node, family),
        None => (
            Verdict::Unknown(format!("no route table found for {}", node.subnet_id)),
            vec![],
        ),
    };
    hops.push(("route", route));
    hops.push(("nacl", nacl_hop(net, node, &target.set, family)));
    let peer = target.peer_groups.map(|groups| Peer {
        what: &target.via,
        groups,
    });
    hops.push((
        "security-groups",
        sg_hop(net, node, &target.set, peer, family),
    ));
    if let Some(cidrs) = target.cidrs {
        let verdict = public_access_hop(cidrs, &sources, family);
        hops.push(("public-access-cidrs", verdict));
    }
    PathReport {
        destination: target.destination,
        via: target.via,
        hops,
        ipv6: None,
    }
}

fn dns_hop(net: &Network, node: &Node, private_dns: bool) -> Verdict {
    let vpc = net.vpcs.get(&node.vpc_id).cloned().unwrap_or_default();
    if !vpc.dns_support {
        Verdict::Blocked(format!(
            "{}: enableDnsSupport is false, nothing resolves",
            node.vpc_id
        ))
    } else if private_dns && !vpc.dns_hostnames {
        Verdict::Blocked(format!(
            "{}: enableDnsHostnames is false, private DNS names do not resolve",
            node.vpc_id
        ))
    } else {
        Verdict::Pass
    }
}

/// The addresses the traffic leaves from against the `publicAccessCidrs` entries of their family: over
/// IPv4 every one (NAT public IPs, the instance's public IP) must lie in one; over IPv6 some instance
/// address must (it picks one of its own). No source known (the route did not pass): nothing to judge.
fn public_access_hop(cidrs: &[Prefix], sources: &[u128], family: Family) -> Verdict {
    let admitted = |ip: &u128| cidrs.iter().any(|c| c.contains(family, *ip));
    let passes = match family {
        Family::V4 => sources.iter().all(admitted),
        Family::V6 => sources.is_empty() || sources.iter().any(admitted),
    };
    if passes {
        return Verdict::Pass;
    }
    let outside: Vec<String> = sources
        .iter()
        .filter(|ip| !admitted(ip))
        .map(|ip| cidr::show_addr(family, *ip))
        .collect();
    let allowed: Vec<String> = cidrs.iter().map(Prefix::to_string).collect();
    Verdict::Blocked(format!(
        "public-access-cidrs: egress address {} is not in the cluster's publicAccessCidrs [{}]",
        outside.join(", "),
        allowed.join(", ")
    ))
}

fn cluster_target<'a>(
    net: &Network,
    cluster: &'a Cluster,
    node: &Node,
    family: Family,
) -> Target<'a> {
    if cluster.private_access {
        let address = cluster
            .subnets
            .iter()
            .filter(|s| **s != node.subnet_id)
            .find_map(|s| net.subnets.get(s))
            .map(|s| s.cidr.nth(10))
            .or_else(|| {
                net.vpcs
                    .get(&node.vpc_id)
                    .and_then(|v| v.cidrs.first())
                    .map(|c| c.nth(10))
            })
            .unwrap_or_default();
        return Target {
            destination: "cluster-api",
            via: format!("private cluster endpoint {}", cidr::show_ip(address)),
            family: Family::V4,
            set: vec![Span::single(address)],
            private_dns: true,
            peer_groups: Some(&cluster.security_groups),
            cidrs: None,
        };
    }
    let mut target = internet("cluster-api", net, node, family);
    // No endpoint access at all (EKS refuses that): no egress address can be allowed.
    target.cidrs = Some(if cluster.public_access {
        &cluster.public_access_cidrs
    } else {
        &[]
    });
    target
}

fn service_target<'a>(
    net: &'a Network,
    node: &Node,
    region: &str,
    service: &'static str,
) -> Target<'a> {
    let name = format!("com.amazonaws.{region}.{service}");
    let mine = |e: &&model::Endpoint| e.vpc_id == node.vpc_id && e.service == name && e.available;
    if service == "s3" {
        if let Some(target) = gateway_target(net, node, service, &name) {
            return target;
        }
    }
    let interface = net
        .endpoints
        .iter()
        .filter(mine)
        .find(|e| e.kind == model::EndpointKind::Interface && e.private_dns);
    match interface {
        Some(e) => {
            let address = e
                .subnets
                .iter()
                .find_map(|s| net.subnets.get(s))
                .map(|s| s.cidr.nth(10))
                .unwrap_or_default();
            Target {
                destination: service,
                via: format!("interface endpoint {} at {}", e.id, cidr::show_ip(address)),
                family: Family::V4,
                set: vec![Span::single(address)],
                private_dns: true,
                peer_groups: Some(&e.groups),
                cidrs: None,
            }
        }
        None => internet(service, net, node, Family::V4),
    }
}

/// An S3 gateway endpoint on the subnet's table: the addresses of its prefix-list route.
fn gateway_target(
    net: &Network,
    node: &Node,
    service: &'static str,
    name: &str,
) -> Option<Target<'static>> {
    let table = net.table_of(&node.subnet_id, &node.vpc_id)?;
    let endpoint = net.endpoints.iter().find(|e| {
        e.vpc_id == node.vpc_id
            && e.service == name
            && e.available
            && e.kind == model::EndpointKind::Gateway
            && e.route_tables.contains(&table.id)
    })?;
    let set: Vec<Span> = table
        .routes
        .iter()
        .filter(|r| r.target == endpoint.id)
        .flat_map(|r| net.route_spans(r, Family::V4))
        .collect();
    (!set.is_empty()).then(|| Target {
        destination: service,
        via: format!("gateway endpoint {}", endpoint.id),
        family: Family::V4,
        set,
        private_dns: false,
        peer_groups: None,
        cidrs: None,
    })
}

/// The public internet of `family`, less the addresses of gateway endpoints routed from the node's table:
/// those belong to the endpoint's service (S3, DynamoDB), never to another destination.
fn internet<'a>(
    destination: &'static str,
    net: &Network,
    node: &Node,
    family: Family,
) -> Target<'a> {
    let mut set = public_set(net, &node.vpc_id, family);
    let gateway_routes = net
        .table_of(&node.subnet_id, &node.vpc_id)
        .map(|t| {
            t.routes.iter().filter(|r| {
                net.endpoint(&r.target)
                    .is_some_and(|e| e.kind == model::EndpointKind::Gateway)
            })
        })
        .into_iter()
        .flatten();
    for span in gateway_routes.flat_map(|r| net.route_spans(r, family)) {
        set = cidr::subtract(&set, span);
    }
    Target {
        destination,
        via: match family {
            Family::V4 => "internet".into(),
            Family::V6 => "internet over IPv6".into(),
        },
        family,
        set,
        private_dns: false,
        peer_groups: None,
        cidrs: None,
    }
}
