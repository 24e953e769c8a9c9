//! The security-group hops: some group of the instance allows TCP 443 out to the target, and (for
//! endpoints and the cluster's interfaces) some group of the target lets the instance in. Groups are
//! unions: one allowing rule suffices. A rule allows a peer by CIDR, by prefix list, or by referencing a
//! group the peer carries (a group referencing itself included).

use std::net::IpAddr;

use crate::cidr::{representatives, Prefix};
use crate::snapshot::{Protocol, SecurityGroup, SgRule, Snapshot};

use super::target::{prefix_list_cidrs, Target};
use super::{Block, Hop, HopKind, Verdict};

const HTTPS: u16 = 443;

fn allows_https(r: &SgRule) -> bool {
    match &r.protocol {
        Protocol::All => true,
        Protocol::Tcp => r.ports.is_none_or(|p| p.contains(HTTPS)),
        Protocol::Other(_) => false,
    }
}

/// The groups found, and the ids that are not in the snapshot.
fn lookup<'a>(
    groups: &'a [SecurityGroup],
    ids: &[String],
) -> (Vec<&'a SecurityGroup>, Vec<String>) {
    let found: Vec<&SecurityGroup> = groups.iter().filter(|g| ids.contains(&g.id)).collect();
    let missing = ids
        .iter()
        .filter(|id| !found.iter().any(|g| &g.id == *id))
        .cloned()
        .collect();
    (found, missing)
}

/// The prefixes a rule names (IPv4 and IPv6 CIDRs and resolved prefix lists), and whether some could not
/// be known.
fn rule_prefixes(s: &Snapshot, r: &SgRule) -> (Vec<Prefix>, bool) {
    let mut out = Vec::new();
    let mut unresolved = false;
    for c in r.cidrs_v4.iter().chain(&r.cidrs_v6) {
        match Prefix::parse(c) {
            Some(p) => out.push(p),
            None => unresolved = true,
        }
    }
    for pl in &r.prefix_list_ids {
        match prefix_list_cidrs(s, pl) {
            Ok(p) => out.extend(p),
            Err(_) => unresolved = true,
        }
    }
    (out, unresolved)
}

/// Coverage of the target's addresses by the rules' prefixes: every address, some, or none.
fn coverage(prefixes: &[Prefix], t: &Target) -> (usize, usize) {
    let reps = representatives(prefixes, &t.addrs);
    let covered = reps
        .iter()
        .filter(|a| prefixes.iter().any(|p| p.contains(**a)))
        .count();
    (covered, reps.len())
}

fn egress_verdict(s: &Snapshot, groups: &[SecurityGroup], t: &Target) -> Verdict {
    let ids = &s.instance.security_groups;
    if ids.is_empty() {
        return Verdict::Unknown("the instance lists no security group".to_string());
    }
    let (found, missing) = lookup(groups, ids);
    let rules: Vec<&SgRule> = found
        .iter()
        .flat_map(|g| g.egress.iter())
        .filter(|r| allows_https(r))
        .collect();
    let by_group = rules
        .iter()
        .any(|r| r.referenced_group_ids.iter().any(|g| t.groups.contains(g)));
    let by_list = rules.iter().any(|r| {
        t.prefix_list
            .as_ref()
            .is_some_and(|pl| r.prefix_list_ids.contains(pl))
    });
    if by_group || by_list {
        return Verdict::Pass;
    }
    let mut prefixes = Vec::new();
    let mut unresolved = false;
    for r in &rules {
        let (p, u) = rule_prefixes(s, r);
        prefixes.extend(p);
        unresolved |= u;
    }
    coverage_verdict(&prefixes, t, unresolved, &missing, ids)
}

/// Allowed by CIDR or prefix list: for every address of the target → pass, for some → unknown, for
/// none → blocked unless something could not be resolved.
fn coverage_verdict(
    prefixes: &[Prefix],
    t: &Target,
    unresolved: bool,
    missing: &[String],
    ids: &[String],
) -> Verdict {
    let (covered, total) = coverage(prefixes, t);
    if total > 0 && covered == total {
        return Verdict::Pass;
    }
    if covered > 0 {
        return Verdict::Unknown(format!(
            "the rules allow TCP 443 to some of {}'s possible addresses only",
            t.name
        ));
    }
    if unresolved || !missing.is_empty() || total == 0 {
        return Verdict::Unknown(unknown_why(missing, unresolved));
    }
    Verdict::Blocked(Block::SgDeniesEgress {
        security_group_ids: ids.to_vec(),
    })
}

fn unknown_why(missing: &[String], unresolved: bool) -> String {
    let mut why = Vec::new();
    if !missing.is_empty() {
        why.push(format!(
            "security groups not in the snapshot: {}",
            missing.join(", ")
        ));
    }
    if unresolved {
        why.push("a rule names a prefix list or CIDR that could not be resolved".to_string());
    }
    if why.is_empty() {
        why.push("no destination address is known".to_string());
    }
    why.join("; ")
}

/// Some group of the instance allows TCP 443 out to the target.
pub(super) fn egress_hop(s: &Snapshot, t: &Target) -> Hop {
    let resource = s.instance.security_groups.join(",");
    let verdict = match s.security_groups.get() {
        Ok(groups) => egress_verdict(s, groups, t),
        Err(why) => Verdict::Unknown(format!("security groups not read: {why}")),
    };
    let detail = format!("{resource} egress TCP 443 to {}", t.name);
    Hop::new(HopKind::SecurityGroupEgress, verdict, detail, resource)
}

/// Whether an ingress rule lets the instance in: `Some(true)` yes, `Some(false)` no, `None` cannot tell.
fn ingress_rule_allows(s: &Snapshot, r: &SgRule, ip: Option<IpAddr>) -> Option<bool> {
    if !allows_https(r) {
        return Some(false);
    }
    if r.referenced_group_ids
        .iter()
        .any(|g| s.instance.security_groups.contains(g))
    {
        return Some(true);
    }
    let (prefixes, unresolved) = rule_prefixes(s, r);
    match ip {
        Some(a) if prefixes.iter().any(|p| p.contains(a)) => Some(true),
        Some(_) if !unresolved => Some(false),
        None if prefixes.is_empty() && !unresolved => Some(false),
        _ => None,
    }
}

fn ingress_verdict(s: &Snapshot, groups: &[SecurityGroup], t: &Target) -> Verdict {
    if t.groups.is_empty() {
        return Verdict::Unknown(format!("no security group known for {}", t.name));
    }
    let (found, missing) = lookup(groups, &t.groups);
    let ip = s
        .instance
        .private_ip
        .as_deref()
        .and_then(|ip| ip.parse::<IpAddr>().ok());
    let answers: Vec<Option<bool>> = found
        .iter()
        .flat_map(|g| g.ingress.iter())
        .map(|r| ingress_rule_allows(s, r, ip))
        .collect();
    if answers.contains(&Some(true)) {
        return Verdict::Pass;
    }
    if answers.contains(&None) || !missing.is_empty() {
        let unresolved = answers.contains(&None);
        return Verdict::Unknown(unknown_why(&missing, unresolved));
    }
    Verdict::Blocked(Block::EndpointSgDeniesIngress {
        target: t.name.clone(),
        security_group_ids: t.groups.clone(),
    })
}

/// Some group of the target lets the instance in on TCP 443.
pub(super) fn ingress_hop(s: &Snapshot, t: &Target) -> Hop {
    let resource = t.groups.join(",");
    let verdict = match s.security_groups.get() {
        Ok(groups) => ingress_verdict(s, groups, t),
        Err(why) => Verdict::Unknown(format!("security groups not read: {why}")),
    };
    let detail = format!(
        "{} ingress TCP 443 from {} ({})",
        if resource.is_empty() { "?" } else { &resource },
        s.instance.id,
        s.instance.security_groups.join(",")
    );
    Hop::new(HopKind::TargetIngress, verdict, detail, resource)
}
