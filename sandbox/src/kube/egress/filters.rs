//! Hop 3 (the subnet's network ACL, both directions) and hop 4 (security groups: the instance's egress and,
//! for targets inside the VPC, the target's ingress from the instance). Both judge one address family: an
//! IPv4 path sees only `CidrBlock` entries and `IpRanges`, an IPv6 path only `Ipv6CidrBlock` entries and
//! `Ipv6Ranges` (prefix lists: the entries of the path's family).

use super::cidr::{coverage, describe, elementary, show_ip, Coverage, Family, Span};
use super::model::{Nacl, NaclEntry, Network, Node, SgRule};
use super::Verdict;

const HTTPS: (u16, u16) = (443, 443);
/// The Linux ephemeral port range the return traffic comes back to.
const EPHEMERAL: (u16, u16) = (32768, 60999);

/// Outbound TCP 443 to `set` (addresses of `family`), then the return traffic to the ephemeral ports.
pub fn nacl_hop(net: &Network, node: &Node, set: &[Span], family: Family) -> Verdict {
    let Some(nacl) = net.nacl_of(&node.subnet_id, &node.vpc_id) else {
        return Verdict::Unknown(format!("no network ACL found for {}", node.subnet_id));
    };
    let what = describe(set, family);
    let outbound = match nacl_decision(nacl, true, set, HTTPS, family) {
        Coverage::All => Verdict::Pass,
        Coverage::None => {
            Verdict::Blocked(format!("{} denies outbound TCP 443 to {what}", nacl.id))
        }
        Coverage::Part => Verdict::Unknown(format!(
            "{} allows outbound TCP 443 to part of {what} only",
            nacl.id
        )),
    };
    let inbound = match nacl_decision(nacl, false, set, EPHEMERAL, family) {
        Coverage::All => Verdict::Pass,
        Coverage::None => Verdict::Blocked(format!(
            "{} denies the return traffic (TCP 32768-60999) from {what}",
            nacl.id
        )),
        Coverage::Part => Verdict::Unknown(format!(
            "{} allows the return traffic from {what} only in part",
            nacl.id
        )),
    };
    Verdict::all_of(vec![outbound, inbound])
}

/// How much of (`set` × `ports`) the ACL allows, first matching rule of `family` by number deciding each
/// piece (an empty list: the implicit deny).
fn nacl_decision(
    nacl: &Nacl,
    egress: bool,
    set: &[Span],
    ports: (u16, u16),
    family: Family,
) -> Coverage {
    let mut rules: Vec<&NaclEntry> = nacl
        .entries
        .iter()
        .filter(|e| e.egress == egress && matches!(e.protocol.as_str(), "-1" | "6" | "tcp"))
        .filter(|e| e.cidr.family() == family)
        .collect();
    rules.sort_by_key(|e| e.number);
    let bounds: Vec<Span> = rules.iter().map(|e| e.cidr.span()).collect();
    let port_bounds: Vec<Span> = rules
        .iter()
        .filter_map(|e| e.ports)
        .map(|(lo, hi)| Span::ports(lo, hi))
        .collect();
    let all_ports = [Span::ports(ports.0, ports.1)];
    let mut decisions = Vec::new();
    for piece in elementary(set, &bounds) {
        for port in elementary(&all_ports, &port_bounds) {
            let first = rules.iter().find(|e| {
                piece.within(e.cidr.span())
                    && e.ports
                        .is_none_or(|(lo, hi)| port.within(Span::ports(lo, hi)))
            });
            decisions.push(first.is_some_and(|e| e.allow));
        }
    }
    match (decisions.iter().all(|d| *d), decisions.iter().any(|d| *d)) {
        (true, _) => Coverage::All,
        (false, true) => Coverage::Part,
        (false, false) => Coverage::None,
    }
}

/// The target of a path inside the VPC: the security groups it carries.
pub struct Peer<'a> {
    pub what: &'a str,
    pub groups: &'a [String],
}

/// The instance's egress to `set` (and, for `peer`, the peer's ingress from the instance).
pub fn sg_hop(
    net: &Network,
    node: &Node,
    set: &[Span],
    peer: Option<Peer<'_>>,
    family: Family,
) -> Verdict {
    let egress = instance_egress(net, node, set, peer.as_ref(), family);
    match peer {
        Some(peer) => Verdict::all_of(vec![egress, peer_ingress(net, node, &peer)]),
        None => egress,
    }
}

fn instance_egress(
    net: &Network,
    node: &Node,
    set: &[Span],
    peer: Option<&Peer<'_>>,
    family: Family,
) -> Verdict {
    let rules: Vec<&SgRule> = node
        .security_groups
        .iter()
        .filter_map(|g| net.groups.get(g))
        .flat_map(|g| g.egress.iter())
        .filter(|r| allows_https(r))
        .collect();
    let to_peer_group = peer.is_some_and(|p| {
        rules
            .iter()
            .any(|r| r.groups.iter().any(|g| p.groups.contains(g)))
    });
    let cover: Vec<Span> = rules
        .iter()
        .flat_map(|r| rule_spans(net, r, family))
        .collect();
    let what = describe(set, family);
    match (to_peer_group, coverage(set, &cover)) {
        (true, _) | (_, Coverage::All) => Verdict::Pass,
        (_, Coverage::Part) => Verdict::Unknown(format!(
            "the instance's security groups allow egress TCP 443 to part of {what} only"
        )),
        (_, Coverage::None) => Verdict::Blocked(format!(
            "no security group of the instance ({}) allows egress TCP 443 to {what}",
            node.security_groups.join(", ")
        )),
    }
}

fn peer_ingress(net: &Network, node: &Node, peer: &Peer<'_>) -> Verdict {
    let allowed = peer
        .groups
        .iter()
        .filter_map(|g| net.groups.get(g))
        .flat_map(|g| g.ingress.iter())
        .filter(|r| allows_https(r))
        .any(|r| {
            r.groups.iter().any(|g| node.security_groups.contains(g))
                || rule_spans(net, r, Family::V4)
                    .iter()
                    .any(|s| s.contains(u128::from(node.private_ip)))
        });
    if allowed {
        Verdict::Pass
    } else {
        Verdict::Blocked(format!(
            "the security groups of {} ({}) allow no ingress TCP 443 from the instance ({})",
            peer.what,
            peer.groups.join(", "),
            show_ip(node.private_ip)
        ))
    }
}

/// The rule covers TCP 443.
fn allows_https(rule: &SgRule) -> bool {
    match rule.protocol.as_str() {
        "-1" | "all" => true,
        "tcp" | "6" => rule.from_port.unwrap_or(0) <= 443 && 443 <= rule.to_port.unwrap_or(65535),
        _ => false,
    }
}

/// The rule's CIDRs and prefix-list entries of `family`.
fn rule_spans(net: &Network, rule: &SgRule, family: Family) -> Vec<Span> {
    let cidrs = rule.cidrs.iter().filter_map(|c| c.span_in(family));
    let lists = rule
        .prefix_lists
        .iter()
        .flat_map(|p| net.prefix_list_spans(p, family));
    cidrs.chain(lists).collect()
}
