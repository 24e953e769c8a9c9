//! The network ACL hop: TCP 443 out to the destination, and the return traffic in on every port of the
//! Linux ephemeral range. Rules apply in ascending rule number, first match wins, nothing matched is the
//! implicit deny. Traffic to an address inside the instance's own subnet never crosses the ACL. An entry
//! holds either an IPv4 or an IPv6 CIDR; it only ever matches traffic of its own family.

use std::net::IpAddr;

use crate::cidr::{representatives, Prefix};
use crate::snapshot::{NaclEntry, NetworkAcl, Protocol, RuleAction, Snapshot};

use super::target::Target;
use super::{combine, Block, Hop, HopKind, Verdict};

const HTTPS: u16 = 443;
/// The Linux ephemeral port range (`net.ipv4.ip_local_port_range`) the return traffic comes back to.
const EPHEMERAL: (u16, u16) = (32768, 60999);

/// What the first matching rule says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Allow(i32),
    /// `None`: no rule matched (implicit deny).
    Deny(Option<i32>),
    Unknown(String),
}

fn matches_tcp(e: &NaclEntry, port: u16) -> bool {
    match &e.protocol {
        Protocol::All => true,
        Protocol::Tcp => e.ports.is_none_or(|p| p.contains(port)),
        Protocol::Other(_) => false,
    }
}

fn sorted(acl: &NetworkAcl, egress: bool) -> Vec<&NaclEntry> {
    let mut entries: Vec<&NaclEntry> = acl.entries.iter().filter(|e| e.egress == egress).collect();
    entries.sort_by_key(|e| e.rule_number);
    entries
}

/// The entry's CIDR, whichever family it is.
fn entry_cidr(e: &NaclEntry) -> Option<&str> {
    e.cidr_v4.as_deref().or(e.cidr_v6.as_deref())
}

fn first_match(entries: &[&NaclEntry], addr: IpAddr, port: u16) -> Decision {
    for e in entries.iter().filter(|e| matches_tcp(e, port)) {
        let Some(cidr) = entry_cidr(e) else { continue };
        let Some(prefix) = Prefix::parse(cidr) else {
            return Decision::Unknown(format!("rule {} has CIDR {cidr:?}", e.rule_number));
        };
        if !prefix.contains(addr) {
            continue;
        }
        return match &e.action {
            RuleAction::Allow => Decision::Allow(e.rule_number),
            RuleAction::Deny => Decision::Deny(Some(e.rule_number)),
            RuleAction::Other(a) => {
                Decision::Unknown(format!("rule {} has action {a:?}", e.rule_number))
            }
        };
    }
    Decision::Deny(None)
}

/// The inbound check over the ephemeral ports, cut at every rule's port-range boundary: all allowed, all
/// denied (the first denying rule), or unknown (some ports only: connections would fail at random).
fn return_traffic(inbound: &[&NaclEntry], addr: IpAddr) -> Decision {
    let mut ports = vec![EPHEMERAL.0];
    for p in inbound.iter().filter_map(|e| e.ports) {
        ports.push(p.from);
        ports.extend(p.to.checked_add(1));
    }
    ports.retain(|p| (EPHEMERAL.0..=EPHEMERAL.1).contains(p));
    ports.sort_unstable();
    ports.dedup();
    let decisions: Vec<Decision> = ports
        .iter()
        .map(|&p| first_match(inbound, addr, p))
        .collect();
    if let Some(u) = decisions.iter().find(|d| matches!(d, Decision::Unknown(_))) {
        return u.clone();
    }
    if decisions.iter().all(|d| matches!(d, Decision::Allow(_))) {
        return decisions.into_iter().next().unwrap_or(Decision::Deny(None));
    }
    if decisions.iter().all(|d| matches!(d, Decision::Deny(_))) {
        return decisions.into_iter().next().unwrap_or(Decision::Deny(None));
    }
    Decision::Unknown("only part of the ephemeral ports 32768-60999 is allowed back in".into())
}

fn address_verdict(
    acl: &NetworkAcl,
    out: &[&NaclEntry],
    inbound: &[&NaclEntry],
    addr: IpAddr,
) -> Verdict {
    let network_acl_id = acl.id.clone();
    match first_match(out, addr, HTTPS) {
        Decision::Deny(rule) => Verdict::Blocked(Block::NaclDeniesEgress {
            network_acl_id,
            rule,
        }),
        Decision::Unknown(why) => Verdict::Unknown(format!("{}: {why}", acl.id)),
        Decision::Allow(_) => match return_traffic(inbound, addr) {
            Decision::Allow(_) => Verdict::Pass,
            Decision::Deny(rule) => Verdict::Blocked(Block::NaclDeniesReturn {
                network_acl_id,
                rule,
            }),
            Decision::Unknown(why) => Verdict::Unknown(format!("{}: {why}", acl.id)),
        },
    }
}

fn verdict(s: &Snapshot, acl: &NetworkAcl, t: &Target) -> Verdict {
    let out = sorted(acl, true);
    let inbound = sorted(acl, false);
    let mut bounds: Vec<Prefix> = acl
        .entries
        .iter()
        .filter_map(|e| entry_cidr(e).and_then(Prefix::parse))
        .collect();
    let own: Vec<Prefix> = std::iter::once(&s.subnet.cidr)
        .chain(&s.subnet.ipv6_cidrs)
        .filter_map(|c| Prefix::parse(c))
        .collect();
    bounds.extend(own.iter().copied());
    let reps = representatives(&bounds, &t.addrs);
    let verdicts: Vec<Verdict> = reps
        .into_iter()
        .map(|a| {
            if own.iter().any(|p| p.contains(a)) {
                Verdict::Pass
            } else {
                address_verdict(acl, &out, &inbound, a)
            }
        })
        .collect();
    let mixed_only = verdicts.iter().any(Verdict::is_pass)
        && verdicts.iter().all(|v| v.is_pass() || v.is_blocked());
    if mixed_only && verdicts.iter().any(Verdict::is_blocked) {
        return Verdict::Unknown(format!(
            "{} allows some of {}'s possible addresses and denies others",
            acl.id, t.name
        ));
    }
    combine(verdicts)
}

/// The network ACL hop for a target.
pub(super) fn hop(s: &Snapshot, t: &Target) -> Hop {
    let acl = match s.network_acl.get() {
        Ok(acl) => acl,
        Err(why) => {
            return Hop::new(
                HopKind::NetworkAcl,
                Verdict::Unknown(format!("network ACL not read: {why}")),
                format!("network ACL of {} not read", s.subnet.id),
                s.subnet.id.clone(),
            )
        }
    };
    let verdict = verdict(s, acl, t);
    let detail = format!(
        "{} of {}: TCP 443 out to {}, TCP {}-{} back in",
        acl.id, s.subnet.id, t.name, EPHEMERAL.0, EPHEMERAL.1
    );
    Hop::new(HopKind::NetworkAcl, verdict, detail, acl.id.clone())
}
