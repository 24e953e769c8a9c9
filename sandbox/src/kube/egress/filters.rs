//! Hop 3 (the subnet's network ACL, both directions) and hop 4 (security groups: the instance's egress and,
//! for targets inside the VPC, the target's ingress from the instance).

use super::cidr::{coverage, describe, elementary, show_ip, Coverage, Span};
use super::model::{Nacl, NaclEntry, Network, Node, SgRule};
use super::Verdict;

const HTTPS: (u16, u16) = (443, 443);
/// The Linux ephemeral port range the return traffic comes back to.
const EPHEMERAL: (u16, u16) = (32768, 60999);

/// Outbound TCP 443 to `set`, then the return traffic to the ephemeral ports from `set`.
pub fn nacl_hop(net: &Network, node: &Node, set: &[Span]) -> Verdict {
    let Some(nacl) = net.nacl_of(&node.subnet_id, &node.vpc_id) else {
        return Verdict::Unknown(format!("no network ACL found for {}", node.subnet_id));
    };
    let what = describe(set);
    let outbound = match nacl_decision(nacl, true, set, HTTPS) {
        Coverage::All => Verdict::Pass,
        Coverage::None => {
            Verdict::Blocked(format!("{} denies outbound TCP 443 to {what}", nacl.id))
        }
        Coverage::Part => Verdict::Unknown(format!(
            "{} allows outbound TCP 443 to part of {what} only",
            nacl.id
        )),
    };
    let inbound = match nacl_decision(nacl, false, set, EPHEMERAL) {
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

/// How much of (`set` × `ports`) the ACL allows, first matching rule by number deciding each piece.
fn nacl_decision(nacl: &Nacl, egress: bool, set: &[Span], ports: (u16, u16)) -> Coverage {
    let mut rules: Vec<&NaclEntry> = nacl
        .entries
        .iter()
        .filter(|e| e.egress == egress && matches!(e.protocol.as_str(), "-1" | "6" | "tcp"))
        .collect();
    rules.sort_by_key(|e| e.number);
    let bounds: Vec<Span> = rules.iter().map(|e| e.cidr.span()).collect();
    let port_bounds: Vec<Span> = rules
        .iter()
        .filter_map(|e| e.ports)
        .map(|(lo, hi)| Span {
            lo: u64::from(lo),
            hi: u64::from(hi) + 1,
        })
        .collect();
    let all_ports = [Span {
        lo: u64::from(ports.0),
        hi: u64::from(ports.1) + 1,
    }];
    let mut decisions = Vec::new();
    for piece in elementary(set, &bounds) {
        for port in elementary(&all_ports, &port_bounds) {
            let first = rules.iter().find(|e| {
                piece.within(e.cidr.span())
                    && e.ports.is_none_or(|(lo, hi)| {
                        port.within(Span {
                            lo: u64::from(lo),
                            hi: u64::from(hi) + 1,
                        })
                    })
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
pub fn sg_hop(net: &Network, node: &Node, set: &[Span], peer: Option<Peer<'_>>) -> Verdict {
    let egress = instance_egress(net, node, set, peer.as_ref());
    match peer {
        Some(peer) => Verdict::all_of(vec![egress, peer_ingress(net, node, &peer)]),
        None => egress,
    }
}

fn instance_egress(net: &Network, node: &Node, set: &[Span], peer: Option<&Peer<'_>>) -> Verdict {
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
    let cover: Vec<Span> = rules.iter().flat_map(|r| rule_spans(net, r)).collect();
    let what = describe(set);
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
                || rule_spans(net, r)
                    .iter()
                    .any(|s| s.contains(node.private_ip))
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

fn rule_spans(net: &Network, rule: &SgRule) -> Vec<Span> {
    let cidrs = rule.cidrs.iter().map(|c| c.span());
    let lists = rule
        .prefix_lists
        .iter()
        .flat_map(|p| net.prefix_list_spans(p));
    cidrs.chain(lists).collect()
}
