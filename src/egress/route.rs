//! The route hop: longest-prefix match in a route table over every address a destination may have.
//!
//! The addresses are split into elementary intervals bounded by the routes' prefixes (prefix-list routes
//! resolved to their CIDRs); in each interval the most specific route decides. At equal length a CIDR
//! route wins over a prefix-list route. Routes to a gateway endpoint of another service (the S3 prefix
//! list for an STS destination) are ignored: those addresses are that service's, not the destination's.

use crate::cidr::{representatives, Family, Prefix, Range};
use crate::snapshot::{
    EndpointType, Route, RouteDestination, RouteState, RouteTable, RouteTarget, Snapshot,
};

use super::next_hop::{self, Source};
use super::target::{prefix_list_cidrs, Target};
use super::{combine, Block, Hop, HopKind, Service, Verdict};

/// Which route decides where, over a set of addresses.
pub(super) struct Scan<'a> {
    /// The family of the addresses scanned.
    pub family: Family,
    /// The distinct deciding routes, in address order of their first interval.
    pub decided: Vec<&'a Route>,
    /// Intervals no route covers.
    pub unrouted: usize,
    pub intervals: usize,
    /// Why the match cannot be trusted (an unresolved prefix list, a garbage CIDR).
    pub problem: Option<String>,
}

struct Candidate<'a> {
    prefix: Prefix,
    is_cidr: bool,
    route: &'a Route,
}

/// The short service name of a gateway endpoint route target (`s3`), if it is one.
fn gateway_service<'a>(s: &'a Snapshot, target: &RouteTarget) -> Option<&'a str> {
    let RouteTarget::VpcEndpoint(id) = target else {
        return None;
    };
    let ep = s.vpc_endpoint(id)?;
    if ep.endpoint_type != EndpointType::Gateway {
        return None;
    }
    let prefix = format!("com.amazonaws.{}.", s.region);
    Some(
        ep.service_name
            .strip_prefix(&prefix)
            .unwrap_or(&ep.service_name),
    )
}

fn candidates<'a>(
    s: &Snapshot,
    table: &'a RouteTable,
    service: Option<Service>,
) -> (Vec<Candidate<'a>>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for route in &table.routes {
        let other_service = gateway_service(s, &route.target)
            .is_some_and(|g| Some(g) != service.and_then(Service::aws_service));
        let (prefixes, is_cidr) = match &route.destination {
            _ if other_service => continue,
            RouteDestination::Ipv4(c) | RouteDestination::Ipv6(c) => match Prefix::parse(c) {
                Some(p) => (vec![p], true),
                None => {
                    problems.push(format!(
                        "route destination {c:?} in {} is not a CIDR",
                        table.id
                    ));
                    continue;
                }
            },
            RouteDestination::PrefixList(pl) => match prefix_list_cidrs(s, pl) {
                Ok(p) => (p, false),
                Err(why) => {
                    problems.push(format!("route {pl} -> {}: {why}", route.target.id()));
                    continue;
                }
            },
        };
        out.extend(prefixes.into_iter().map(|prefix| Candidate {
            prefix,
            is_cidr,
            route,
        }));
    }
    (out, problems)
}

/// Longest-prefix match of `addrs` (of one family) in `table`. `service` names the destination (for
/// gateway endpoints); `None` ignores every gateway-endpoint route. Routes of the other family never match.
pub(super) fn scan<'a>(
    s: &Snapshot,
    table: &'a RouteTable,
    addrs: &[Range],
    service: Option<Service>,
) -> Scan<'a> {
    let (cands, problems) = candidates(s, table, service);
    let bounds: Vec<Prefix> = cands.iter().map(|c| c.prefix).collect();
    let reps = representatives(&bounds, addrs);
    let mut result = Scan {
        family: addrs.first().map_or(Family::V4, |r| r.family),
        decided: Vec::new(),
        unrouted: 0,
        intervals: reps.len(),
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
    };
    for addr in reps {
        let best = cands
            .iter()
            .filter(|c| c.prefix.contains(addr))
            .max_by_key(|c| (c.prefix.prefix_len(), c.is_cidr));
        match best {
            None => result.unrouted += 1,
            Some(c) if !result.decided.iter().any(|r| std::ptr::eq(*r, c.route)) => {
                result.decided.push(c.route)
            }
            Some(_) => {}
        }
    }
    result
}

fn is_elsewhere_target(s: &Snapshot, target: &RouteTarget) -> bool {
    match target {
        RouteTarget::Local
        | RouteTarget::NatGateway(_)
        | RouteTarget::InternetGateway(_)
        | RouteTarget::EgressOnlyInternetGateway(_) => false,
        RouteTarget::VpcEndpoint(id) => {
            !matches!(s.vpc_endpoint(id), Some(e) if e.endpoint_type == EndpointType::Gateway)
        }
        _ => true,
    }
}

/// Whether a route of `family` sends space outside the VPC's CIDRs of that family somewhere.
fn is_outside_vpc(s: &Snapshot, dest: &RouteDestination, family: Family) -> bool {
    let (cidr, vpc) = match (dest, family) {
        (RouteDestination::PrefixList(_), _) => return true,
        (RouteDestination::Ipv4(c), Family::V4) => (c, &s.vpc.cidrs_v4),
        (RouteDestination::Ipv6(c), Family::V6) => (c, &s.vpc.cidrs_v6),
        _ => return false,
    };
    match Prefix::parse(cidr) {
        None => true,
        Some(p) => !vpc
            .iter()
            .filter_map(|v| Prefix::parse(v))
            .any(|v| v.contains_prefix(&p)),
    }
}

/// Routes of `table` that send non-local space of `family` to something other than a NAT, internet or
/// egress-only gateway (transit gateway, VPN gateway, peering, network interface, instance, firewall
/// endpoint, …): the table's design routes elsewhere. Blackholed ones count: they still say where traffic
/// was meant to go.
pub(super) fn routes_elsewhere<'a>(
    s: &Snapshot,
    table: &'a RouteTable,
    family: Family,
) -> Vec<&'a Route> {
    table
        .routes
        .iter()
        .filter(|r| is_elsewhere_target(s, &r.target) && is_outside_vpc(s, &r.destination, family))
        .collect()
}

pub(super) fn describe(route: &Route, table: &RouteTable) -> String {
    format!(
        "route {} -> {} ({}) in {}",
        route.destination,
        route.target.id(),
        route.state,
        table.id
    )
}

fn state_verdict(route: &Route, table: &RouteTable) -> Verdict {
    match &route.state {
        RouteState::Active => Verdict::Pass,
        RouteState::Blackhole => Verdict::Blocked(Block::BlackholeRoute {
            route_table_id: table.id.clone(),
            destination: route.destination.to_string(),
            target: route.target.id().to_string(),
        }),
        RouteState::Other(state) => Verdict::Unknown(format!(
            "route {} -> {} is {state}",
            route.destination,
            route.target.id()
        )),
    }
}

/// The verdict for the intervals no route covers.
pub(super) fn unrouted_verdict(s: &Snapshot, table: &RouteTable, scan: &Scan) -> Verdict {
    let elsewhere = routes_elsewhere(s, table, scan.family);
    if elsewhere.is_empty() {
        return Verdict::Blocked(Block::NoRoute {
            route_table_id: table.id.clone(),
        });
    }
    let list: Vec<String> = elsewhere
        .iter()
        .map(|r| format!("{} -> {}", r.destination, r.target.id()))
        .collect();
    Verdict::Unknown(format!(
        "no route for {} of {} address ranges, but {} routes elsewhere ({}); traffic may leave through a proxy there",
        scan.unrouted,
        scan.intervals,
        table.id,
        list.join(", ")
    ))
}

pub(super) fn scan_verdict(
    s: &Snapshot,
    table: &RouteTable,
    scan: &Scan,
    per_route: impl Fn(&Route) -> Verdict,
) -> Verdict {
    if let Some(problem) = &scan.problem {
        return Verdict::Unknown(problem.clone());
    }
    let mut verdicts: Vec<Verdict> = scan.decided.iter().map(|r| per_route(r)).collect();
    if scan.unrouted > 0 {
        verdicts.push(unrouted_verdict(s, table, scan));
    }
    if verdicts.is_empty() {
        return Verdict::Unknown("no destination address is known".to_string());
    }
    combine(verdicts)
}

pub(super) fn scan_detail(table: &RouteTable, scan: &Scan) -> String {
    let mut parts: Vec<String> = scan.decided.iter().map(|r| describe(r, table)).collect();
    if scan.unrouted > 0 {
        let routes: Vec<String> = table
            .routes
            .iter()
            .map(|r| format!("{} -> {}", r.destination, r.target.id()))
            .collect();
        parts.push(format!(
            "no route in {} for {} of {} address ranges (routes: {})",
            table.id,
            scan.unrouted,
            scan.intervals,
            routes.join(", ")
        ));
    }
    parts.join("; ")
}

/// The route and next-hop hops of an internet path, and the addresses its traffic leaves from.
pub(super) struct Internet {
    pub route: Hop,
    pub next_hop: Option<Hop>,
    pub sources: Vec<Source>,
}

pub(super) fn internet(s: &Snapshot, t: &Target) -> Internet {
    let table = &s.route_table;
    let scan = scan(s, table, &t.addrs, Some(t.service));
    let verdict = scan_verdict(s, table, &scan, |r| state_verdict(r, table));
    let route = Hop::new(
        HopKind::Route,
        verdict,
        scan_detail(table, &scan),
        table.id.clone(),
    );
    let live: Vec<&Route> = scan
        .decided
        .iter()
        .copied()
        .filter(|r| r.state == RouteState::Active)
        .collect();
    if scan.problem.is_some() || live.is_empty() {
        return Internet {
            route,
            next_hop: None,
            sources: vec![],
        };
    }
    let outcomes: Vec<next_hop::Outcome> = live
        .iter()
        .map(|r| next_hop::evaluate(s, &r.target, t))
        .collect();
    Internet {
        route,
        next_hop: Some(next_hop::hop(&outcomes, &live)),
        sources: outcomes.into_iter().flat_map(|o| o.sources).collect(),
    }
}

fn in_vpc_route_verdict(route: &Route, table: &RouteTable) -> Verdict {
    match (&route.state, &route.target) {
        (RouteState::Active, RouteTarget::Local) => Verdict::Pass,
        (RouteState::Active, other) => Verdict::Unknown(format!(
            "traffic inside the VPC is routed through {} by {}",
            other.id(),
            describe(route, table)
        )),
        _ => state_verdict(route, table),
    }
}

/// The route hop to a target inside the VPC: the `local` route should decide.
pub(super) fn in_vpc(s: &Snapshot, t: &Target) -> Hop {
    let table = &s.route_table;
    let scan = scan(s, table, &t.addrs, Some(t.service));
    let verdict = if scan.unrouted > 0 && scan.problem.is_none() {
        Verdict::Unknown(format!(
            "no local route in {} covers the target's addresses",
            table.id
        ))
    } else {
        scan_verdict(s, table, &scan, |r| in_vpc_route_verdict(r, table))
    };
    let mut detail = scan_detail(table, &scan);
    if let Some(note) = &t.addrs_note {
        detail.push_str(&format!(" [{note}]"));
    }
    Hop::new(HopKind::Route, verdict, detail, table.id.clone())
}

/// The prefix-list route of the instance's table to a gateway endpoint.
pub(super) fn gateway_endpoint_route<'a>(s: &'a Snapshot, endpoint_id: &str) -> Option<&'a Route> {
    s.route_table.routes.iter().find(|r| {
        r.target == RouteTarget::VpcEndpoint(endpoint_id.to_string())
            && matches!(r.destination, RouteDestination::PrefixList(_))
    })
}

/// The route hop through a gateway endpoint: its prefix-list route, matched by id.
pub(super) fn gateway_endpoint(s: &Snapshot, endpoint_id: &str) -> Hop {
    let table = &s.route_table;
    let (verdict, detail) = match gateway_endpoint_route(s, endpoint_id) {
        Some(r) => (state_verdict(r, table), describe(r, table)),
        None => (
            Verdict::Unknown(format!(
                "{endpoint_id} lists {} but the table has no prefix-list route to it",
                table.id
            )),
            format!("no route -> {endpoint_id} in {}", table.id),
        ),
    };
    Hop::new(HopKind::Route, verdict, detail, table.id.clone())
}
