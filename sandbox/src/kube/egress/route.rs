//! Hop 2 (route, longest-prefix match over elementary intervals of one address family) and hop 5 (what lies
//! behind the deciding route: NAT gateway, internet gateway, egress-only internet gateway, firewall
//! endpoint, or something the sandbox cannot see beyond).

use super::cidr::{elementary, subtract_all, Family, Prefix, Span};
use super::model::{EndpointKind, Nat, Network, Node, Route, RouteDest, RouteTable};
use super::Verdict;

/// Targets that carry traffic somewhere the model cannot follow (never a blocker, never a pass).
const OPAQUE: [&str; 8] = [
    "tgw-", "vgw-", "pcx-", "eni-", "i-", "lgw-", "cagw-", "arn:",
];

/// Route and next hop for `set` (addresses of `family`) from `node`'s subnet. Also returns the public
/// addresses the traffic leaves from (NAT public IPs, the instance's public IPv4 behind an IGW, its IPv6
/// addresses behind an IGW or egress-only IGW) for the `publicAccessCidrs` check.
pub fn route_hop(
    net: &Network,
    table: &RouteTable,
    set: &[Span],
    node: &Node,
    family: Family,
) -> (Verdict, Vec<u128>) {
    let deciding = deciding_routes(net, table, set, family);
    let mut verdicts = Vec::new();
    let mut sources = Vec::new();
    if deciding.iter().any(Option::is_none) {
        verdicts.push(unrouted(net, table, set, family));
    }
    let mut seen: Vec<&Route> = Vec::new();
    for route in deciding.into_iter().flatten() {
        if seen.contains(&route) {
            continue;
        }
        seen.push(route);
        let (verdict, from) = next_hop(net, route, node, family);
        verdicts.push(verdict);
        sources.extend(from);
    }
    (Verdict::any_of(verdicts), sources)
}

/// For each elementary interval of `set`, the most specific route of `family` containing it (if any).
fn deciding_routes<'a>(
    net: &Network,
    table: &'a RouteTable,
    set: &[Span],
    family: Family,
) -> Vec<Option<&'a Route>> {
    let routes: Vec<(Span, &Route)> = table
        .routes
        .iter()
        .flat_map(|r| net.route_spans(r, family).into_iter().map(move |s| (s, r)))
        .collect();
    let bounds: Vec<Span> = routes.iter().map(|(s, _)| *s).collect();
    elementary(set, &bounds)
        .into_iter()
        .map(|piece| {
            routes
                .iter()
                .filter(|(s, _)| piece.within(*s))
                .min_by_key(|(s, _)| s.size())
                .map(|(_, r)| *r)
        })
        .collect()
}

/// No route for (part of) the destination: blocked, unless the table sends traffic of the family somewhere
/// opaque (for IPv6: some space outside the VPC's own IPv6 CIDRs).
fn unrouted(net: &Network, table: &RouteTable, set: &[Span], family: Family) -> Verdict {
    let elsewhere = table
        .routes
        .iter()
        .find(|r| OPAQUE.iter().any(|p| r.target.starts_with(p)) && carries(net, table, r, family));
    let what = super::cidr::describe(set, family);
    match elsewhere {
        Some(r) => Verdict::Unknown(format!(
            "{} has no route for {what}, but routes traffic to {} (a path the sandbox cannot follow)",
            table.id, r.target
        )),
        None => Verdict::Blocked(format!("no route: {} has no route for {what}", table.id)),
    }
}

/// The route carries traffic of `family` that can leave the VPC: for IPv4 any route but an IPv6 one (as
/// before IPv6 routes were read), for IPv6 one covering space outside the VPC's own IPv6 CIDRs.
fn carries(net: &Network, table: &RouteTable, route: &Route, family: Family) -> bool {
    match family {
        Family::V4 => !matches!(route.dest, RouteDest::Cidr(Prefix::V6(_))),
        Family::V6 => {
            let own: Vec<Span> = net
                .vpc_ipv6_cidrs(&table.vpc_id)
                .iter()
                .map(|c| c.span())
                .collect();
            !subtract_all(net.route_spans(route, family), &own).is_empty()
        }
    }
}

fn next_hop(net: &Network, route: &Route, node: &Node, family: Family) -> (Verdict, Vec<u128>) {
    let t = route.target.as_str();
    if route.blackhole {
        return (
            Verdict::Blocked(format!("dead: the route to {t} is a blackhole")),
            vec![],
        );
    }
    if t == "local" {
        return (Verdict::Pass, vec![]);
    }
    match family {
        Family::V4 => ipv4_next_hop(net, t, node),
        Family::V6 => ipv6_next_hop(net, t, node),
    }
}

fn ipv4_next_hop(net: &Network, t: &str, node: &Node) -> (Verdict, Vec<u128>) {
    if t.starts_with("igw-") {
        return igw_hop(net, t, node);
    }
    if t.starts_with("nat-") {
        return nat_hop(net, t, node);
    }
    if t.starts_with("eigw-") {
        return (
            Verdict::Blocked(format!(
                "{t} is an egress-only internet gateway: IPv6 only, no IPv4 egress"
            )),
            vec![],
        );
    }
    if t.starts_with("vpce-") {
        return (endpoint_hop(net, t), vec![]);
    }
    (
        Verdict::Unknown(format!("the sandbox cannot see beyond {t}")),
        vec![],
    )
}

/// IPv6 leaves from the instance's own global addresses: an attached internet gateway or egress-only
/// internet gateway passes (no public IPv4 needed); a NAT gateway carries IPv6 only as NAT64.
fn ipv6_next_hop(net: &Network, t: &str, node: &Node) -> (Verdict, Vec<u128>) {
    let attached = if t.starts_with("igw-") {
        Some(net.igw_attached(t, &node.vpc_id))
    } else if t.starts_with("eigw-") {
        Some(net.eigw_attached(t, &node.vpc_id))
    } else {
        None
    };
    let verdict = match attached {
        Some(true) => return (Verdict::Pass, node.ipv6_addresses.clone()),
        Some(false) => Verdict::Blocked(format!(
            "dead: {t} is not attached to {} (or does not exist)",
            node.vpc_id
        )),
        None if t.starts_with("nat-") => Verdict::Unknown(format!(
            "{t} is a NAT gateway: it carries IPv6 only as NAT64 (64:ff9b::/96 with DNS64), which the sandbox does not follow"
        )),
        None => Verdict::Unknown(format!("the sandbox cannot see beyond {t} for IPv6")),
    };
    (verdict, vec![])
}

fn igw_hop(net: &Network, igw: &str, node: &Node) -> (Verdict, Vec<u128>) {
    match (net.igw_attached(igw, &node.vpc_id), node.public_ip) {
        (true, Some(ip)) => (Verdict::Pass, vec![u128::from(ip)]),
        (true, None) => (
            Verdict::Blocked(format!(
                "igw-without-public-ip: {igw} needs a public IPv4 on the instance"
            )),
            vec![],
        ),
        (false, _) => (
            Verdict::Blocked(format!("dead: {igw} is not attached to {}", node.vpc_id)),
            vec![],
        ),
    }
}

/// A gateway endpoint (S3, DynamoDB) delivers to its service; other endpoints in front of the instance's
/// own subnet (Network Firewall / GWLB) hide what is behind them.
fn endpoint_hop(net: &Network, id: &str) -> Verdict {
    match net.endpoint(id) {
        Some(e) if e.kind == EndpointKind::Gateway && e.available => Verdict::Pass,
        Some(e) if e.kind == EndpointKind::Gateway => {
            Verdict::Blocked(format!("dead: gateway endpoint {id} is not available"))
        }
        _ => Verdict::Unknown(format!(
            "the sandbox cannot see beyond endpoint {id} in front of the subnet"
        )),
    }
}

fn nat_hop(net: &Network, nat_id: &str, node: &Node) -> (Verdict, Vec<u128>) {
    let Some(nat) = net.nats.get(nat_id) else {
        return (
            Verdict::Blocked(format!("dead: NAT gateway {nat_id} no longer exists")),
            vec![],
        );
    };
    let verdict = match nat.state.as_str() {
        "available" if !nat.public => {
            Verdict::Unknown(format!("{nat_id} is a private NAT gateway"))
        }
        "available" => match nat_egress(net, nat_id, nat) {
            Verdict::Unknown(_) if net.nat_serves_others(nat_id, &nat.vpc_id, &node.subnet_id) => {
                Verdict::Pass
            }
            other => other,
        },
        "pending" => Verdict::Unknown(format!("{nat_id} is still pending")),
        state => Verdict::Blocked(format!("dead: NAT gateway {nat_id} is {state}")),
    };
    (
        verdict,
        nat.public_ips.iter().copied().map(u128::from).collect(),
    )
}

/// The NAT's own way out: its subnet's table for the public internet.
fn nat_egress(net: &Network, nat_id: &str, nat: &Nat) -> Verdict {
    let Some(table) = net.table_of(&nat.subnet_id, &nat.vpc_id) else {
        return Verdict::Unknown(format!("no route table found for {}", nat.subnet_id));
    };
    let set = public_set(net, &nat.vpc_id, Family::V4);
    let verdicts = deciding_routes(net, table, &set, Family::V4).into_iter().map(|route| match route {
        None => Verdict::Blocked(format!(
            "nat-without-internet: {nat_id}'s subnet {} uses {}, which has no route to the internet",
            nat.subnet_id, table.id
        )),
        Some(r) if r.blackhole => Verdict::Blocked(format!("dead: {}'s route to {} is a blackhole", table.id, r.target)),
        Some(r) if r.target.starts_with("igw-") => attached(net, &r.target, &nat.vpc_id),
        Some(r) if r.target.starts_with("vpce-") => firewall_egress(net, &r.target, &nat.vpc_id),
        Some(r) => Verdict::Unknown(format!("{nat_id}'s subnet routes to {}", r.target)),
    });
    Verdict::any_of(verdicts.collect())
}

/// Through a firewall / GWLB endpoint: its subnet's table must reach an attached IGW.
fn firewall_egress(net: &Network, id: &str, vpc_id: &str) -> Verdict {
    let Some(endpoint) = net.endpoint(id) else {
        return Verdict::Unknown(format!(
            "{id} is not a VPC endpoint of this account (a Network Firewall endpoint?)"
        ));
    };
    let Some(table) = endpoint
        .subnets
        .first()
        .and_then(|s| net.table_of(s, vpc_id))
    else {
        return Verdict::Unknown(format!("no route table found for the subnet of {id}"));
    };
    let set = public_set(net, vpc_id, Family::V4);
    let verdicts = deciding_routes(net, table, &set, Family::V4)
        .into_iter()
        .map(|route| match route {
            None => Verdict::Blocked(format!(
                "firewall endpoint {id}: its subnet's table {} has no route to the internet",
                table.id
            )),
            Some(r) if r.target.starts_with("igw-") && !r.blackhole => {
                attached(net, &r.target, vpc_id)
            }
            Some(r) => Verdict::Unknown(format!(
                "firewall endpoint {id}'s subnet routes to {}",
                r.target
            )),
        });
    Verdict::any_of(verdicts.collect())
}

fn attached(net: &Network, igw: &str, vpc_id: &str) -> Verdict {
    if net.igw_attached(igw, vpc_id) {
        Verdict::Pass
    } else {
        Verdict::Blocked(format!("dead: {igw} is not attached to {vpc_id}"))
    }
}

/// The public internet of `family` as seen from `vpc_id`.
pub fn public_set(net: &Network, vpc_id: &str, family: Family) -> Vec<Span> {
    match family {
        Family::V4 => {
            let cidrs = net.vpcs.get(vpc_id).map(|v| v.cidrs.as_slice());
            super::cidr::public_space(cidrs.unwrap_or_default())
        }
        Family::V6 => super::cidr::public_space6(&net.vpc_ipv6_cidrs(vpc_id)),
    }
}
