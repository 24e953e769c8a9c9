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

mod cidr;
mod filters;
mod load;
mod model;
mod route;
#[cfg(test)]
mod tests;

use cidr::{public_space, Cidr, Span};
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
}

impl PathReport {
    pub fn verdict(&self) -> Verdict {
        Verdict::all_of(self.hops.iter().map(|(_, v)| v.clone()).collect())
    }
}

/// The regional services a node needs besides the API server.
pub const SERVICES: [&str; 5] = ["ecr.api", "ecr.dkr", "sts", "ec2", "s3"];

/// How a destination is reached.
struct Target<'a> {
    destination: &'static str,
    via: String,
    set: Vec<Span>,
    /// Reached by a private DNS name (interface endpoint, private cluster endpoint).
    private_dns: bool,
    /// Security groups of the target, for targets inside the VPC.
    peer_groups: Option<&'a [String]>,
    /// Subject to `publicAccessCidrs`.
    cidrs: Option<&'a [Cidr]>,
}

/// Every path the node needs, evaluated.
pub fn evaluate(net: &Network, cluster: &Cluster, node: &Node, region: &str) -> Vec<PathReport> {
    let mut targets = vec![cluster_target(net, cluster, node)];
    targets.extend(
        SERVICES
            .iter()
            .map(|s| service_target(net, node, region, s)),
    );
    targets
        .into_iter()
        .map(|t| evaluate_path(net, node, t))
        .collect()
}

/// The node joins: every path passes.
pub fn joins(paths: &[PathReport]) -> bool {
    paths.iter().all(|p| p.verdict().passes())
}

fn evaluate_path(net: &Network, node: &Node, target: Target<'_>) -> PathReport {
    let mut hops = vec![("dns", dns_hop(net, node, target.private_dns))];
    let (route, sources) = match net.table_of(&node.subnet_id, &node.vpc_id) {
        Some(table) => route_hop(net, table, &target.set, node),
        None => (
            Verdict::Unknown(format!("no route table found for {}", node.subnet_id)),
            vec![],
        ),
    };
    hops.push(("route", route));
    hops.push(("nacl", nacl_hop(net, node, &target.set)));
    let peer = target.peer_groups.map(|groups| Peer {
        what: &target.via,
        groups,
    });
    hops.push(("security-groups", sg_hop(net, node, &target.set, peer)));
    if let Some(cidrs) = target.cidrs {
        hops.push(("public-access-cidrs", public_access_hop(cidrs, &sources)));
    }
    PathReport {
        destination: target.destination,
        via: target.via,
        hops,
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

/// Every address the traffic leaves from lies in one of the cluster's `publicAccessCidrs`.
fn public_access_hop(cidrs: &[Cidr], sources: &[u32]) -> Verdict {
    let outside: Vec<String> = sources
        .iter()
        .filter(|ip| !cidrs.iter().any(|c| c.contains(**ip)))
        .map(|ip| cidr::show_ip(*ip))
        .collect();
    if outside.is_empty() {
        return Verdict::Pass;
    }
    let allowed: Vec<String> = cidrs.iter().map(Cidr::to_string).collect();
    Verdict::Blocked(format!(
        "public-access-cidrs: egress address {} is not in the cluster's publicAccessCidrs [{}]",
        outside.join(", "),
        allowed.join(", ")
    ))
}

fn cluster_target<'a>(net: &Network, cluster: &'a Cluster, node: &Node) -> Target<'a> {
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
            set: vec![Span::single(address)],
            private_dns: true,
            peer_groups: Some(&cluster.security_groups),
            cidrs: None,
        };
    }
    let mut target = internet("cluster-api", net, node);
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
                set: vec![Span::single(address)],
                private_dns: true,
                peer_groups: Some(&e.groups),
                cidrs: None,
            }
        }
        None => internet(service, net, node),
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
        .flat_map(|r| net.route_spans(r))
        .collect();
    (!set.is_empty()).then(|| Target {
        destination: service,
        via: format!("gateway endpoint {}", endpoint.id),
        set,
        private_dns: false,
        peer_groups: None,
        cidrs: None,
    })
}

/// The public internet, less the addresses of gateway endpoints routed from the node's table: those belong
/// to the endpoint's service (S3, DynamoDB), never to another destination.
fn internet<'a>(destination: &'static str, net: &Network, node: &Node) -> Target<'a> {
    let mut set = if net.vpcs.contains_key(&node.vpc_id) {
        public_set(net, &node.vpc_id)
    } else {
        public_space(&[])
    };
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
    for span in gateway_routes.flat_map(|r| net.route_spans(r)) {
        set = cidr::subtract(&set, span);
    }
    Target {
        destination,
        via: "internet".into(),
        set,
        private_dns: false,
        peer_groups: None,
        cidrs: None,
    }
}
