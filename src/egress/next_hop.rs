//! Beyond the route of an internet path: NAT gateways (followed to their own subnet's table, through a
//! firewall endpoint if need be), internet gateways, egress-only gateways, and everything the VPC cannot
//! see past (transit gateway, VPN, peering, appliances): unknown, never a blocker.

use std::net::IpAddr;

use crate::cidr::{Family, Prefix, Range};
use crate::snapshot::{
    EndpointState, EndpointType, NatConnectivity, NatGateway, NatState, Route, RouteDestination,
    RouteState, RouteTable, RouteTarget, Snapshot, DEFAULT_ROUTE,
};

use super::route::{self, describe};
use super::target::{public_space, Target};
use super::{combine, target_kind, Block, Hop, HopKind, Service, Verdict};

/// An address the traffic leaves the VPC from (for `publicAccessCidrs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    Known(String),
    /// Not known, and why (a transit gateway, a NAT without a recorded address).
    Unknown(String),
}

pub(super) struct Outcome {
    pub verdict: Verdict,
    pub detail: String,
    pub sources: Vec<Source>,
}

fn outcome(verdict: Verdict, detail: String, sources: Vec<Source>) -> Outcome {
    Outcome {
        verdict,
        detail,
        sources,
    }
}

/// The next hop of a live route that decides for an internet destination.
pub(super) fn evaluate(s: &Snapshot, target: &RouteTarget, t: &Target) -> Outcome {
    if t.family == Family::V6 {
        return evaluate_v6(s, target);
    }
    match target {
        RouteTarget::NatGateway(id) => nat_by_id(s, id, &t.addrs, Some(t.service)),
        RouteTarget::InternetGateway(id) => igw(s, id),
        RouteTarget::EgressOnlyInternetGateway(id) => outcome(
            Verdict::Blocked(Block::NoIpv4Egress {
                egress_only_gateway_id: id.clone(),
            }),
            format!("egress-only internet gateway {id}: IPv6 only"),
            vec![],
        ),
        RouteTarget::VpcEndpoint(id) => endpoint(s, id),
        other => beyond(other),
    }
}

fn beyond(other: &RouteTarget) -> Outcome {
    let why = format!(
        "through {} {}; cannot see beyond it",
        target_kind(other),
        other.id()
    );
    outcome(
        Verdict::Unknown(why.clone()),
        why.clone(),
        vec![Source::Unknown(why)],
    )
}

/// The next hop for IPv6 traffic to the internet: an attached internet gateway or egress-only internet
/// gateway carries it from the instance's own (global) IPv6 addresses; a NAT gateway translates IPv6 only
/// for `64:ff9b::/96` (NAT64), which is not where the destination is.
fn evaluate_v6(s: &Snapshot, target: &RouteTarget) -> Outcome {
    let sources = || {
        s.instance
            .ipv6_addresses
            .iter()
            .cloned()
            .map(Source::Known)
            .collect()
    };
    match target {
        RouteTarget::InternetGateway(id) if s.igw_attached(id) => outcome(
            Verdict::Pass,
            format!("internet gateway {id} (attached), from the instance's IPv6 address"),
            sources(),
        ),
        RouteTarget::InternetGateway(id) => outcome(
            Verdict::Blocked(Block::IgwNotAttached {
                internet_gateway_id: id.clone(),
            }),
            format!("internet gateway {id} is not attached to the VPC"),
            vec![],
        ),
        RouteTarget::EgressOnlyInternetGateway(id) => eigw(s, id, sources()),
        RouteTarget::NatGateway(id) => {
            let why = format!("NAT gateway {id} translates IPv6 only for 64:ff9b::/96 (NAT64)");
            outcome(Verdict::Unknown(why.clone()), why, vec![])
        }
        other => beyond(other),
    }
}

fn eigw(s: &Snapshot, id: &str, sources: Vec<Source>) -> Outcome {
    if s.egress_only_internet_gateways.iter().any(|g| g == id) {
        return outcome(
            Verdict::Pass,
            format!("egress-only internet gateway {id} (attached)"),
            sources,
        );
    }
    outcome(
        Verdict::Blocked(Block::EgressOnlyGatewayGone {
            egress_only_gateway_id: id.to_string(),
        }),
        format!("egress-only internet gateway {id} is not attached to the VPC"),
        vec![],
    )
}

fn igw(s: &Snapshot, id: &str) -> Outcome {
    let public_ip = s.instance.public_ip.clone().filter(|ip| !ip.is_empty());
    let verdict = match (s.igw_attached(id), &public_ip) {
        (false, _) => Verdict::Blocked(Block::IgwNotAttached {
            internet_gateway_id: id.to_string(),
        }),
        (true, None) => Verdict::Blocked(Block::IgwWithoutPublicIp {
            internet_gateway_id: id.to_string(),
            instance_id: s.instance.id.clone(),
        }),
        (true, Some(_)) => Verdict::Pass,
    };
    let detail = format!(
        "internet gateway {id} ({}), instance public IPv4 {}",
        if s.igw_attached(id) {
            "attached"
        } else {
            "not attached"
        },
        public_ip.as_deref().unwrap_or("none")
    );
    outcome(
        verdict,
        detail,
        public_ip.into_iter().map(Source::Known).collect(),
    )
}

/// A route from the node's table straight to a VPC endpoint: a gateway endpoint (its state decides) or a
/// firewall / load-balancer endpoint (cannot see beyond it).
fn endpoint(s: &Snapshot, id: &str) -> Outcome {
    let unknown = |why: String| {
        outcome(
            Verdict::Unknown(why.clone()),
            why.clone(),
            vec![Source::Unknown(why)],
        )
    };
    let Some(ep) = s.vpc_endpoint(id) else {
        return unknown(format!("through VPC endpoint {id}, not in the snapshot"));
    };
    if ep.endpoint_type != EndpointType::Gateway {
        return unknown(format!(
            "through {} endpoint {id} (firewall / appliance); cannot see beyond it",
            ep.endpoint_type
        ));
    }
    let verdict = match &ep.state {
        EndpointState::Available => Verdict::Pass,
        EndpointState::Deleting
        | EndpointState::Deleted
        | EndpointState::Rejected
        | EndpointState::Failed
        | EndpointState::Expired => Verdict::Blocked(Block::EndpointNotAvailable {
            vpc_endpoint_id: id.to_string(),
            state: ep.state.clone(),
        }),
        other => Verdict::Unknown(format!("gateway endpoint {id} is {other}")),
    };
    let detail = format!(
        "gateway endpoint {id} ({}) is {}",
        ep.service_name, ep.state
    );
    outcome(verdict, detail, vec![])
}

fn nat_by_id(s: &Snapshot, id: &str, addrs: &[Range], service: Option<Service>) -> Outcome {
    let Some(nat) = s.nat_gateway(id) else {
        return outcome(
            Verdict::Blocked(Block::NatGone {
                nat_gateway_id: id.to_string(),
            }),
            format!("NAT gateway {id} does not exist"),
            vec![],
        );
    };
    let (verdict, detail) = nat_verdict(s, nat, addrs, service);
    let sources = if nat.public_ips.is_empty() {
        vec![Source::Unknown(format!(
            "NAT gateway {id} has no public IP recorded"
        ))]
    } else {
        nat.public_ips.iter().cloned().map(Source::Known).collect()
    };
    outcome(verdict, detail, sources)
}

/// Whether a NAT gateway carries traffic to `addrs` on the internet, and the detail why.
pub(super) fn nat_verdict(
    s: &Snapshot,
    nat: &NatGateway,
    addrs: &[Range],
    service: Option<Service>,
) -> (Verdict, String) {
    let head = format!(
        "NAT gateway {} ({}, {})",
        nat.id, nat.state, nat.connectivity
    );
    let verdict = match (&nat.state, &nat.connectivity) {
        (NatState::Available, NatConnectivity::Public) => {
            let (v, detail) = own_path(s, nat, addrs, service);
            return (v, format!("{head}: {detail}"));
        }
        (NatState::Deleting | NatState::Deleted | NatState::Failed, _) => {
            Verdict::Blocked(Block::NatNotAvailable {
                nat_gateway_id: nat.id.clone(),
                state: nat.state.clone(),
            })
        }
        (NatState::Pending, _) => Verdict::Unknown(format!(
            "NAT gateway {} is pending: not dead, wait for it",
            nat.id
        )),
        (NatState::Available, c) => Verdict::Unknown(format!(
            "NAT gateway {} has {c} connectivity: no internet of its own",
            nat.id
        )),
        (other, _) => Verdict::Unknown(format!("NAT gateway {} is {other}", nat.id)),
    };
    (verdict, head)
}

fn nat_blocked(nat: &NatGateway, table: &RouteTable, missing: String) -> Verdict {
    Verdict::Blocked(Block::NatWithoutInternet {
        nat_gateway_id: nat.id.clone(),
        route_table_id: table.id.clone(),
        missing,
    })
}

fn nat_route_verdict(
    s: &Snapshot,
    nat: &NatGateway,
    table: &RouteTable,
    r: &Route,
    addrs: &[Range],
) -> Verdict {
    match (&r.state, &r.target) {
        (RouteState::Blackhole, _) => nat_blocked(
            nat,
            table,
            format!(
                "route {} -> {} is a blackhole",
                r.destination,
                r.target.id()
            ),
        ),
        (RouteState::Other(state), _) => {
            Verdict::Unknown(format!("{} is {state}", describe(r, table)))
        }
        (RouteState::Active, RouteTarget::InternetGateway(igw)) if s.igw_attached(igw) => {
            Verdict::Pass
        }
        (RouteState::Active, RouteTarget::InternetGateway(igw)) => nat_blocked(
            nat,
            table,
            format!("internet gateway {igw} is not attached to the VPC"),
        ),
        (RouteState::Active, RouteTarget::VpcEndpoint(id)) => firewall(s, id, addrs),
        (RouteState::Active, other) => Verdict::Unknown(format!(
            "NAT gateway {}'s subnet routes through {} {}; cannot see beyond it",
            nat.id,
            target_kind(other),
            other.id()
        )),
    }
}

/// The NAT's own subnet's table, for the same addresses. A known-good NAT (other subnets' default route
/// goes through it) turns an unknown into a pass; a blocked stays blocked.
fn own_path(
    s: &Snapshot,
    nat: &NatGateway,
    addrs: &[Range],
    service: Option<Service>,
) -> (Verdict, String) {
    let Some(table) = s.route_table_for_subnet(&nat.subnet_id) else {
        let why = format!("no route table found for its subnet {}", nat.subnet_id);
        return (Verdict::Unknown(why.clone()), why);
    };
    let scan = route::scan(s, table, addrs, service);
    let verdict = match route::scan_verdict(s, table, &scan, |r| {
        nat_route_verdict(s, nat, table, r, addrs)
    }) {
        Verdict::Blocked(Block::NoRoute { .. }) => {
            nat_blocked(nat, table, "no route to the internet".to_string())
        }
        v => v,
    };
    let mut detail = format!(
        "its subnet {}: {}",
        nat.subnet_id,
        route::scan_detail(table, &scan)
    );
    let users = known_good_users(s, nat);
    if matches!(verdict, Verdict::Unknown(_)) && !users.is_empty() {
        let ids: Vec<&str> = users.iter().map(|t| t.id.as_str()).collect();
        detail.push_str(&format!(
            "; known good: the default route of {} uses it",
            ids.join(", ")
        ));
        return (Verdict::Pass, detail);
    }
    (verdict, detail)
}

/// Tables other than the instance's, serving subnets, whose live `0.0.0.0/0` goes through this NAT.
fn known_good_users<'a>(s: &'a Snapshot, nat: &NatGateway) -> Vec<&'a RouteTable> {
    let default = RouteDestination::Ipv4(DEFAULT_ROUTE.to_string());
    s.vpc_route_tables
        .iter()
        .filter(|t| t.id != s.route_table.id && (t.main || !t.subnets.is_empty()))
        .filter(|t| {
            t.routes.iter().any(|r| {
                r.destination == default
                    && r.state == RouteState::Active
                    && r.target == RouteTarget::NatGateway(nat.id.clone())
            })
        })
        .collect()
}

/// A NAT's subnet routed to a firewall / load-balancer endpoint: passes when every subnet of that endpoint
/// routes the same addresses straight to an attached internet gateway.
fn firewall(s: &Snapshot, id: &str, addrs: &[Range]) -> Verdict {
    let Some(ep) = s.vpc_endpoint(id) else {
        return Verdict::Unknown(format!("through endpoint {id}, not in the snapshot"));
    };
    if ep.subnet_ids.is_empty() {
        return Verdict::Unknown(format!("endpoint {id} lists no subnet"));
    }
    let verdicts = ep.subnet_ids.iter().map(|sub| {
        let Some(table) = s.route_table_for_subnet(sub) else {
            return Verdict::Unknown(format!("no route table for {id}'s subnet {sub}"));
        };
        let scan = route::scan(s, table, addrs, None);
        let straight = scan.problem.is_none()
            && scan.unrouted == 0
            && !scan.decided.is_empty()
            && scan.decided.iter().all(|r| {
                r.state == RouteState::Active
                    && matches!(&r.target, RouteTarget::InternetGateway(g) if s.igw_attached(g))
            });
        if straight {
            Verdict::Pass
        } else {
            Verdict::Unknown(format!(
                "endpoint {id}'s subnet {sub} does not route straight to an attached internet gateway ({})",
                route::scan_detail(table, &scan)
            ))
        }
    });
    combine(verdicts.collect())
}

pub(super) fn hop(outcomes: &[Outcome], routes: &[&Route]) -> Hop {
    let verdict = combine(outcomes.iter().map(|o| o.verdict.clone()).collect());
    let detail: Vec<&str> = outcomes.iter().map(|o| o.detail.as_str()).collect();
    let resource: Vec<&str> = routes.iter().map(|r| r.target.id()).collect();
    Hop::new(
        HopKind::NextHop,
        verdict,
        detail.join("; "),
        resource.join(","),
    )
}

/// NAT gateways whose own way to the internet passes (through a firewall endpoint, or known good because
/// other subnets use them): same Availability Zone as the instance first, then by id.
/// Whether this NAT gateway carries traffic to the internet, with the detail why (its own subnet's path,
/// through a firewall endpoint, or known-good because other subnets route through it).
pub fn nat_path(s: &Snapshot, nat: &NatGateway) -> (Verdict, String) {
    nat_verdict(s, nat, &public_space(s), None)
}

pub fn usable_nat_gateways(s: &Snapshot) -> Vec<&NatGateway> {
    let addrs = public_space(s);
    let mut usable: Vec<&NatGateway> = s
        .nat_gateways
        .iter()
        .filter(|n| nat_verdict(s, n, &addrs, None).0.is_pass())
        .collect();
    usable.sort_by_key(|n| {
        (
            n.availability_zone.as_deref() != Some(s.instance.availability_zone.as_str()),
            n.id.clone(),
        )
    });
    usable
}

fn public_access_verdict(sources: &[Source], cidrs: &[String]) -> Verdict {
    if sources.is_empty() {
        return Verdict::Unknown(
            "the path does not reach the internet, so no egress address is known".into(),
        );
    }
    let parsed: Vec<Prefix> = cidrs.iter().filter_map(|c| Prefix::parse(c)).collect();
    let mut outside = Vec::new();
    let mut unknown = Vec::new();
    for source in sources {
        match source {
            Source::Known(ip) => match ip.parse::<IpAddr>() {
                Ok(a) if parsed.iter().any(|p| p.contains(a)) => {}
                Ok(_) => outside.push(ip.clone()),
                Err(_) => unknown.push(format!("egress address {ip:?} is not an IP address")),
            },
            Source::Unknown(why) => unknown.push(why.clone()),
        }
    }
    if parsed.len() != cidrs.len() {
        unknown.push("a publicAccessCidrs entry is not a CIDR".to_string());
    }
    match (outside.is_empty(), unknown.is_empty()) {
        (true, true) => Verdict::Pass,
        (false, true) => Verdict::Blocked(Block::SourceOutsidePublicAccessCidrs {
            sources: outside,
            public_access_cidrs: cidrs.to_vec(),
        }),
        _ => Verdict::Unknown(unknown.join("; ")),
    }
}

/// The cluster's `publicAccessCidrs` against the addresses traffic leaves from. An empty list is the
/// default: `0.0.0.0/0`, and `::/0` too on a dual-stack endpoint.
pub(super) fn public_access_hop(s: &Snapshot, sources: &[Source]) -> Hop {
    let cidrs = if s.cluster.public_access_cidrs.is_empty() {
        let mut default = vec![DEFAULT_ROUTE.to_string()];
        if super::dual_stack::endpoint_is_dual_stack(s) {
            default.push("::/0".to_string());
        }
        default
    } else {
        s.cluster.public_access_cidrs.clone()
    };
    let verdict = public_access_verdict(sources, &cidrs);
    let shown: Vec<String> = sources
        .iter()
        .map(|x| match x {
            Source::Known(ip) => ip.clone(),
            Source::Unknown(_) => "?".to_string(),
        })
        .collect();
    let detail = format!(
        "egress from [{}] against publicAccessCidrs [{}]",
        shown.join(", "),
        cidrs.join(", ")
    );
    Hop::new(
        HopKind::PublicAccessCidrs,
        verdict,
        detail,
        s.cluster.name.clone(),
    )
}
