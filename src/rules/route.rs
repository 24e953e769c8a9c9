//! Findings about where the subnet's traffic is routed: no route, a dead route, an internet gateway
//! without a public IP, a NAT gateway without internet, VPC endpoints missing from a private design.

use crate::action::RouteFix;
use crate::commands::{self, CommandLine, RouteTargetFlag};
use crate::egress::{self, Block, DefaultRoute};
use crate::finding::{Code, Finding, Remedy, Severity};
use crate::snapshot::{NatConnectivity, NatGateway, NatState, RouteTable, RouteTarget, Snapshot};

use super::{destinations, path_evidence, Blocked};

fn describe_table(s: &Snapshot) -> String {
    let (t, subnet) = (&s.route_table, &s.subnet.id);
    if s.route_table_is_explicit() {
        format!("route table {} (explicitly associated with {subnet})", t.id)
    } else {
        format!(
            "route table {} (the VPC main table, serving {subnet} implicitly)",
            t.id
        )
    }
}

/// The table and its routes, as the incident's own investigation showed them.
pub(super) fn table_evidence(s: &Snapshot) -> Vec<String> {
    let mut evidence = vec![describe_table(s)];
    evidence.extend(
        s.route_table
            .routes
            .iter()
            .map(|r| format!("  {} -> {} ({})", r.destination, r.target.id(), r.state)),
    );
    evidence
}

fn evidence(s: &Snapshot, blocked: &[&Blocked]) -> Vec<String> {
    let mut lines = table_evidence(s);
    lines.extend(path_evidence(blocked));
    lines
}

fn nat_evidence(s: &Snapshot, nat: &NatGateway) -> String {
    let (_, detail) = egress::nat_path(s, nat);
    let az = nat.availability_zone.as_deref().unwrap_or("?");
    format!("{detail} — in {} ({az})", nat.subnet_id)
}

/// A subnet of the VPC whose table routes to an attached internet gateway (where a new NAT could live).
fn public_subnet(s: &Snapshot) -> Option<String> {
    s.vpc_route_tables
        .iter()
        .find(|t| {
            t.default_route().is_some_and(
                |r| matches!(&r.target, RouteTarget::InternetGateway(g) if s.igw_attached(g)),
            )
        })
        .and_then(|t| t.subnets.first().cloned())
}

/// An `available` public NAT gateway whose only problem is its own subnet's route.
fn nat_lacking_its_route(s: &Snapshot) -> Option<(&NatGateway, &RouteTable)> {
    s.nat_gateways.iter().find_map(|nat| {
        let ready = nat.state == NatState::Available && nat.connectivity == NatConnectivity::Public;
        match egress::nat_path(s, nat).0 {
            egress::Verdict::Blocked(Block::NatWithoutInternet { route_table_id, .. }) if ready => {
                s.vpc_route_tables
                    .iter()
                    .find(|t| t.id == route_table_id)
                    .map(|t| (nat, t))
            }
            _ => None,
        }
    })
}

/// A default route to the VPC's internet gateway in `table` (create, or replace the one there).
fn route_to_igw(s: &Snapshot, table: &RouteTable) -> Option<CommandLine> {
    let igw = RouteTargetFlag::InternetGateway(s.attached_internet_gateways.first()?);
    Some(match table.default_route() {
        None => commands::create_default_route(&s.region, &table.id, igw),
        Some(_) => commands::replace_default_route(&s.region, &table.id, igw),
    })
}

/// What to do when no NAT gateway can carry the traffic: fix the one that only lacks its route, else
/// create one.
fn no_usable_nat_remedy(s: &Snapshot) -> Remedy {
    let table = &s.route_table.id;
    if let Some((nat, nat_table)) = nat_lacking_its_route(s) {
        let mut cmds: Vec<CommandLine> = route_to_igw(s, nat_table).into_iter().collect();
        cmds.push(commands::create_default_route(
            &s.region,
            table,
            RouteTargetFlag::NatGateway(&nat.id),
        ));
        let note = format!(
            "NAT gateway {} exists but its subnet's table {} has no way to the internet: fix that table first (shared infrastructure, so left to a human), then route this subnet through it",
            nat.id, nat_table.id
        );
        return Remedy::manual(cmds, note);
    }
    let public = public_subnet(s).unwrap_or_else(|| "<public-subnet-id>".to_string());
    let cmds = vec![
        commands::allocate_address(&s.region),
        commands::create_nat_gateway(&s.region, &public),
        commands::create_default_route(
            &s.region,
            table,
            RouteTargetFlag::NatGateway("<nat-gateway-id>"),
        ),
    ];
    let note = format!(
        "no NAT gateway in {} can reach the internet, so there is nothing safe to point the route at",
        s.instance.vpc_id
    );
    Remedy::manual(cmds, note)
}

/// The remedy for a missing or dead default route: to the best usable NAT gateway, when there is one.
fn nat_remedy(
    s: &Snapshot,
    fix: impl FnOnce(&NatGateway) -> RouteFix,
    evidence: &mut Vec<String>,
) -> Remedy {
    match egress::usable_nat_gateways(s).first() {
        Some(nat) => {
            evidence.push(nat_evidence(s, nat));
            let fix = fix(nat);
            Remedy {
                commands: vec![commands::route_fix(&s.region, &fix)],
                fix: Some(fix),
                note: None,
            }
        }
        None => no_usable_nat_remedy(s),
    }
}

pub(super) fn no_default_route(s: &Snapshot, blocked: &[&Blocked]) -> Finding {
    let table = &s.route_table;
    let mut evidence = evidence(s, blocked);
    let mut remedy = nat_remedy(
        s,
        |nat| RouteFix::CreateDefaultRoute {
            route_table_id: table.id.clone(),
            nat_gateway_id: nat.id.clone(),
        },
        &mut evidence,
    );
    if !matches!(egress::default_route_state(s), DefaultRoute::Missing { .. }) {
        // Some public space is routed: adding a default route is not the obvious fix.
        remedy.fix = None;
        remedy.note = Some("part of the public address space is routed; add the default route only after checking what the other routes are for".into());
    }
    Finding {
        code: Code::NoDefaultRoute,
        severity: Severity::Blocker,
        summary: format!(
            "{} has no 0.0.0.0/0 route, so the node in {} cannot reach {}",
            table.id,
            s.subnet.id,
            destinations(blocked)
        ),
        evidence,
        remedy,
    }
}

/// A dead default route is replaced automatically only when it pointed at a NAT or internet gateway of
/// a private subnet: a public subnet is never turned private, and a dead transit gateway or appliance
/// route may be a deliberate inspection path.
pub(super) fn dead_default_route(s: &Snapshot, blocked: &[&Blocked]) -> Finding {
    let table = &s.route_table;
    let mut evidence = evidence(s, blocked);
    let why = blocked
        .first()
        .map(|b| b.block.to_string())
        .unwrap_or_default();
    let remedy = match egress::default_route_state(s) {
        DefaultRoute::Dead {
            route,
            replaceable: true,
            ..
        } if !is_public_subnet(s) => nat_remedy(
            s,
            |nat| RouteFix::ReplaceDefaultRoute {
                route_table_id: table.id.clone(),
                nat_gateway_id: nat.id.clone(),
                previous: route.clone(),
            },
            &mut evidence,
        ),
        state => dead_route_by_hand(s, &state),
    };
    Finding {
        code: Code::DeadDefaultRoute,
        severity: Severity::Blocker,
        summary: format!(
            "{}'s route for {} is dead ({why}), so the node in {} cannot reach them",
            table.id,
            destinations(blocked),
            s.subnet.id
        ),
        evidence,
        remedy,
    }
}

/// A subnet whose instances get public IPs and route to an internet gateway is public by design.
fn is_public_subnet(s: &Snapshot) -> bool {
    let igw_route = s
        .route_table
        .default_route()
        .is_some_and(|r| matches!(r.target, RouteTarget::InternetGateway(_)));
    igw_route && (s.subnet.map_public_ip_on_launch || s.instance.public_ip.is_some())
}

fn dead_route_by_hand(s: &Snapshot, state: &DefaultRoute) -> Remedy {
    let table = &s.route_table.id;
    let nat = egress::usable_nat_gateways(s).first().map(|n| n.id.clone());
    let cmds: Vec<CommandLine> = nat
        .iter()
        .map(|n| commands::replace_default_route(&s.region, table, RouteTargetFlag::NatGateway(n)))
        .collect();
    let note = match state {
        DefaultRoute::Dead { route, .. } if is_public_subnet(s) => format!(
            "{table} is a public subnet's table (its route -> {} is dead): restore that internet gateway; replacing it with a NAT route would turn the subnet private",
            route.target.id()
        ),
        DefaultRoute::Dead { route, .. } => format!(
            "the dead route pointed at {} ({}); egress through it may be a deliberate design (central inspection), so it is not replaced automatically — restore that path, or use a NAT gateway instead",
            route.target.id(),
            egress::target_kind(&route.target)
        ),
        _ => "only some of the routes for public addresses are dead; fix them by hand".to_string(),
    };
    Remedy::manual(cmds, note)
}

pub(super) fn igw_without_public_ip(s: &Snapshot, blocked: &[&Blocked]) -> Finding {
    let mut evidence = evidence(s, blocked);
    evidence.push(format!(
        "instance {} has no public IP (subnet {} MapPublicIpOnLaunch={})",
        s.instance.id, s.subnet.id, s.subnet.map_public_ip_on_launch
    ));
    let mut cmds = vec![commands::map_public_ip_on_launch(&s.region, &s.subnet.id)];
    if let Some(nat) = egress::usable_nat_gateways(s).first() {
        let nat = RouteTargetFlag::NatGateway(&nat.id);
        cmds.push(commands::replace_default_route(
            &s.region,
            &s.route_table.id,
            nat,
        ));
    }
    Finding {
        code: Code::IgwRouteWithoutPublicIp,
        severity: Severity::Blocker,
        summary: format!(
            "{} sends traffic to an internet gateway, but instance {} has no public IP, so it cannot reach {}",
            s.route_table.id,
            s.instance.id,
            destinations(blocked)
        ),
        evidence,
        remedy: Remedy::manual(cmds, "either give the subnet public IPs on launch (first command; new instances only) or, for a private subnet, route through a NAT gateway (second command); the route is alive, so it is never changed automatically"),
    }
}

pub(super) fn nat_without_internet(s: &Snapshot, blocked: &[&Blocked]) -> Finding {
    let mut evidence = evidence(s, blocked);
    let mut cmds = Vec::new();
    let mut nat_id = String::from("?");
    if let Some(Block::NatWithoutInternet {
        nat_gateway_id,
        route_table_id,
        missing,
    }) = blocked.iter().map(|b| &b.block).next()
    {
        evidence.push(format!(
            "NAT gateway {nat_gateway_id}: {missing} in {route_table_id}"
        ));
        nat_id = nat_gateway_id.clone();
        let table = s.vpc_route_tables.iter().find(|t| &t.id == route_table_id);
        cmds.extend(table.and_then(|t| route_to_igw(s, t)));
    }
    Finding {
        code: Code::NatGatewayWithoutInternet,
        severity: Severity::Blocker,
        summary: format!(
            "{} routes through NAT gateway {nat_id}, but that NAT gateway's own subnet has no way to the internet, so the node cannot reach {}",
            s.route_table.id,
            destinations(blocked)
        ),
        evidence,
        remedy: Remedy::manual(cmds, "fix the NAT gateway's own subnet table (a route to the VPC's internet gateway, or through its firewall endpoint); that table is shared infrastructure, so this is left to a human"),
    }
}

pub(super) fn missing_vpc_endpoints(s: &Snapshot, blocked: &[&Blocked]) -> Finding {
    let mut evidence = evidence(s, blocked);
    let design = egress::design(s);
    evidence.extend(design.private_endpoints.iter().map(|e| {
        format!(
            "{} is served by interface endpoint {} ({})",
            e.service.as_str(),
            e.vpc_endpoint_id,
            e.state
        )
    }));
    let cmds = blocked
        .iter()
        .map(|b| endpoint_command(s, b.path.destination.service))
        .collect();
    Finding {
        code: Code::MissingVpcEndpoints,
        severity: Severity::Blocker,
        summary: format!(
            "{} reaches AWS through VPC endpoints, but there is none for {}, and no route to the internet",
            s.subnet.id,
            destinations(blocked)
        ),
        evidence,
        remedy: Remedy::manual(cmds, "this subnet is designed without internet egress, so no NAT route is added automatically; create the missing endpoints (with a security group that allows TCP 443 from the nodes)"),
    }
}

fn endpoint_command(s: &Snapshot, service: egress::Service) -> CommandLine {
    let vpc = &s.instance.vpc_id;
    let name = s.service_name(service.as_str());
    match service {
        egress::Service::S3 => {
            commands::create_gateway_endpoint(&s.region, vpc, &name, &s.route_table.id)
        }
        egress::Service::ClusterApi => {
            commands::enable_private_endpoint(&s.region, &s.cluster.name)
        }
        _ => commands::create_interface_endpoint(&s.region, vpc, &name, &s.subnet.id),
    }
}
