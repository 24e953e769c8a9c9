//! What the subnet's egress is meant to be (internet through NAT/IGW, routed elsewhere, private
//! endpoints), and the one decision about its default egress route: missing, alive or dead.

use serde::Serialize;

use crate::cidr::Family;
use crate::snapshot::{
    EndpointState, EndpointType, NatState, Route, RouteDestination, RouteState, RouteTarget,
    Snapshot, DEFAULT_ROUTE,
};

use super::next_hop;
use super::route::{self, routes_elsewhere};
use super::target::{public_space, Target};
use super::{combine, Block, Service, Verdict};

/// An interface endpoint for a service the node needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrivateEndpoint {
    pub service: Service,
    pub vpc_endpoint_id: String,
    pub state: EndpointState,
}

/// Evidence of how the subnet's egress is designed, for the guard "never add internet egress to a subnet
/// whose design routes elsewhere".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EgressDesign {
    /// Routes of the subnet's table sending non-local IPv4 space to a transit gateway, VPN gateway,
    /// peering connection, network interface, instance, firewall endpoint, …
    pub routes_elsewhere: Vec<Route>,
    /// Interface endpoints (available or being created) for services the node needs.
    pub private_endpoints: Vec<PrivateEndpoint>,
}

impl EgressDesign {
    pub fn routes_elsewhere(&self) -> bool {
        !self.routes_elsewhere.is_empty()
    }

    pub fn is_private_endpoint_design(&self) -> bool {
        !self.private_endpoints.is_empty()
    }

    /// Either: internet egress must not be added without a human.
    pub fn is_deliberate(&self) -> bool {
        self.routes_elsewhere() || self.is_private_endpoint_design()
    }
}

fn private_endpoints(s: &Snapshot) -> Vec<PrivateEndpoint> {
    let live = |st: &EndpointState| {
        matches!(
            st,
            EndpointState::Available | EndpointState::Pending | EndpointState::PendingAcceptance
        )
    };
    let mut out = Vec::new();
    for service in Service::ALL {
        let Some(short) = service.aws_service() else {
            continue;
        };
        let name = s.service_name(short);
        out.extend(
            s.vpc_endpoints
                .iter()
                .filter(|e| {
                    e.service_name == name
                        && e.endpoint_type == EndpointType::Interface
                        && live(&e.state)
                })
                .map(|e| PrivateEndpoint {
                    service: *service,
                    vpc_endpoint_id: e.id.clone(),
                    state: e.state.clone(),
                }),
        );
    }
    out
}

/// How the instance's subnet is meant to reach the outside.
pub fn design(s: &Snapshot) -> EgressDesign {
    EgressDesign {
        routes_elsewhere: routes_elsewhere(s, &s.route_table, Family::V4)
            .into_iter()
            .cloned()
            .collect(),
        private_endpoints: private_endpoints(s),
    }
}

/// The subnet's default egress route: the route(s) deciding for public IPv4 space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum DefaultRoute {
    /// No route covers any public address (see [`design`] before adding one).
    Missing { route_table_id: String },
    /// The deciding routes are alive; `next_hop` says whether traffic gets further (an IGW route without
    /// a public IP, or a NAT without internet, is alive but blocked; a pending NAT is unknown).
    Alive {
        routes: Vec<Route>,
        next_hop: Verdict,
    },
    /// Every deciding route is dead. Only a NAT or internet gateway target is `replaceable`: a dead route
    /// to a transit gateway or appliance is a design a human must restore.
    Dead {
        route: Route,
        why: Block,
        replaceable: bool,
    },
    /// Cannot tell (only part of public space is routed, live and dead routes mixed, an unresolved
    /// prefix list, …).
    Unknown { why: String },
}

/// Why a route is dead, or `None` when it is alive.
fn dead_reason(s: &Snapshot, route_table_id: &str, r: &Route) -> Option<Block> {
    if r.state == RouteState::Blackhole {
        return Some(Block::BlackholeRoute {
            route_table_id: route_table_id.to_string(),
            destination: r.destination.to_string(),
            target: r.target.id().to_string(),
        });
    }
    match &r.target {
        RouteTarget::NatGateway(id) => match s.nat_gateway(id) {
            None => Some(Block::NatGone {
                nat_gateway_id: id.clone(),
            }),
            Some(n)
                if matches!(
                    n.state,
                    NatState::Deleting | NatState::Deleted | NatState::Failed
                ) =>
            {
                Some(Block::NatNotAvailable {
                    nat_gateway_id: id.clone(),
                    state: n.state.clone(),
                })
            }
            Some(_) => None,
        },
        RouteTarget::InternetGateway(id) if !s.igw_attached(id) => Some(Block::IgwNotAttached {
            internet_gateway_id: id.clone(),
        }),
        _ => None,
    }
}

fn is_literal_default(r: &Route) -> bool {
    r.destination == RouteDestination::Ipv4(DEFAULT_ROUTE.to_string())
}

fn alive(s: &Snapshot, routes: Vec<&Route>) -> DefaultRoute {
    let t = Target::of(
        s,
        &super::Destination {
            service: Service::ClusterApi,
            reach: super::Reach::Internet,
        },
    );
    let next = combine(
        routes
            .iter()
            .map(|r| next_hop::evaluate(s, &r.target, &t).verdict)
            .collect(),
    );
    DefaultRoute::Alive {
        routes: routes.into_iter().cloned().collect(),
        next_hop: next,
    }
}

/// Is the subnet's default egress route missing, alive or dead, and why. Derived from the same
/// longest-prefix match as [`super::evaluate`], over all public IPv4 space.
pub fn default_route_state(s: &Snapshot) -> DefaultRoute {
    let table = &s.route_table;
    let scan = route::scan(s, table, &public_space(s), None);
    if let Some(problem) = scan.problem {
        return DefaultRoute::Unknown { why: problem };
    }
    if scan.decided.is_empty() {
        return DefaultRoute::Missing {
            route_table_id: table.id.clone(),
        };
    }
    if scan.unrouted > 0 {
        return DefaultRoute::Unknown {
            why: format!(
                "{} routes only part of the public address space ({} of {} ranges unrouted)",
                table.id, scan.unrouted, scan.intervals
            ),
        };
    }
    judge(s, &table.id, scan.decided)
}

/// Alive, dead or mixed, over the routes that decide for public space.
fn judge(s: &Snapshot, route_table_id: &str, decided: Vec<&Route>) -> DefaultRoute {
    let dead: Vec<(&Route, Block)> = decided
        .iter()
        .filter_map(|r| dead_reason(s, route_table_id, r).map(|b| (*r, b)))
        .collect();
    let literal_alive = decided
        .iter()
        .any(|r| is_literal_default(r) && !dead.iter().any(|(d, _)| std::ptr::eq(*d, *r)));
    if dead.is_empty() || literal_alive {
        return alive(s, decided);
    }
    if dead.len() < decided.len() {
        return DefaultRoute::Unknown {
            why: format!("{route_table_id} has both live and dead routes for public addresses"),
        };
    }
    // Every deciding route is dead; name the literal default if it is one of them.
    let Some((route, why)) = dead
        .iter()
        .find(|(r, _)| is_literal_default(r))
        .or_else(|| dead.first())
        .map(|(r, b)| ((*r).clone(), b.clone()))
    else {
        return DefaultRoute::Unknown {
            why: "no deciding route".to_string(),
        };
    };
    let replaceable = matches!(
        route.target,
        RouteTarget::NatGateway(_) | RouteTarget::InternetGateway(_)
    );
    DefaultRoute::Dead {
        route,
        why,
        replaceable,
    }
}
