//! Address arithmetic for the egress model: IPv4 and IPv6 CIDRs, half-open address spans, the public
//! address space of each family, and splitting a set of spans into the elementary intervals bounded by a
//! set of prefixes.
//!
//! A span is `lo..hi` in one family's own number space (IPv4 addresses as 32-bit numbers, IPv6 as 128-bit
//! ones); spans of the two families are never mixed. `hi` saturates at `u128::MAX`, so the very last IPv6
//! address (`ffff:…:ffff`) lies in no span: it is far outside `2000::/3`, where every IPv6 set the model
//! judges lies, so no verdict depends on it, and nothing overflows.

use std::net::{Ipv4Addr, Ipv6Addr};

/// One past the last IPv4 address.
const END: u128 = 1 << 32;

/// Non-public IPv4 space: RFC 1918, shared (CGNAT), loopback, link-local, "this network", multicast, reserved.
const NOT_PUBLIC: [&str; 9] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "0.0.0.0/8",
    "224.0.0.0/4",
    "240.0.0.0/4",
];

/// Global unicast IPv6: the public IPv6 internet.
const GLOBAL_UNICAST: &str = "2000::/3";

/// The address family a span, a prefix or a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// An IPv4 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub base: u32,
    pub len: u8,
}

/// An IPv6 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr6 {
    pub base: u128,
    pub len: u8,
}

/// A prefix of either family, as publicAccessCidrs, NACL entries, security group rules, routes and prefix
/// lists hold them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    V4(Cidr),
    V6(Cidr6),
}

/// Addresses `lo..hi` of one family (half-open, so `hi` may be 2^32 for IPv4; saturated for IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub lo: u128,
    pub hi: u128,
}

impl Cidr {
    /// `a.b.c.d/n`; `None` for anything else (IPv6 included).
    pub fn parse(text: &str) -> Option<Cidr> {
        let (ip, len) = text.trim().split_once('/')?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        Some(Cidr {
            base: u32::from(ip) & mask,
            len,
        })
    }

    pub fn span(self) -> Span {
        let lo = u128::from(self.base);
        Span {
            lo,
            hi: lo + (1u128 << (32 - u32::from(self.len))),
        }
    }

    pub fn contains(self, ip: u32) -> bool {
        self.span().contains(u128::from(ip))
    }

    /// The address `offset` past the base (e.g. `.10` of a subnet).
    pub fn nth(self, offset: u32) -> u32 {
        self.base.wrapping_add(offset)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.len)
    }
}

impl Cidr6 {
    /// `x:y::z/n` (host bits cleared); `None` for anything else (IPv4 included).
    pub fn parse(text: &str) -> Option<Cidr6> {
        let (ip, len) = text.trim().split_once('/')?;
        let ip: Ipv6Addr = ip.parse().ok()?;
        let len: u8 = len.parse().ok().filter(|l| *l <= 128)?;
        Some(Cidr6 {
            base: u128::from(ip) & mask6(len),
            len,
        })
    }

    /// Its addresses; `hi` saturates at the top of the space (see the module doc).
    pub fn span(self) -> Span {
        let size = 1u128.checked_shl(128 - u32::from(self.len));
        Span {
            lo: self.base,
            hi: size.map_or(u128::MAX, |s| self.base.saturating_add(s)),
        }
    }

    /// Exact, by mask (the last address of the space included).
    pub fn contains(self, ip: u128) -> bool {
        ip & mask6(self.len) == self.base
    }
}

fn mask6(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len))
        .unwrap_or_default()
}

impl std::fmt::Display for Cidr6 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv6Addr::from(self.base), self.len)
    }
}

impl Prefix {
    /// An IPv4 or an IPv6 CIDR.
    pub fn parse(text: &str) -> Option<Prefix> {
        Cidr::parse(text)
            .map(Prefix::V4)
            .or_else(|| Cidr6::parse(text).map(Prefix::V6))
    }

    pub fn family(self) -> Family {
        match self {
            Prefix::V4(_) => Family::V4,
            Prefix::V6(_) => Family::V6,
        }
    }

    pub fn span(self) -> Span {
        match self {
            Prefix::V4(c) => c.span(),
            Prefix::V6(c) => c.span(),
        }
    }

    /// `ip` (a number of `family`) lies in this prefix; never across families.
    pub fn contains(self, family: Family, ip: u128) -> bool {
        match (self, family) {
            (Prefix::V4(c), Family::V4) => u32::try_from(ip).is_ok_and(|ip| c.contains(ip)),
            (Prefix::V6(c), Family::V6) => c.contains(ip),
            _ => false,
        }
    }

    /// Its span if it is of `family`.
    pub fn span_in(self, family: Family) -> Option<Span> {
        (self.family() == family).then(|| self.span())
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Prefix::V4(c) => c.fmt(f),
            Prefix::V6(c) => c.fmt(f),
        }
    }
}

impl Span {
    pub fn single(ip: u32) -> Span {
        Span {
            lo: u128::from(ip),
            hi: u128::from(ip) + 1,
        }
    }

    /// Inclusive port range `lo..=hi` as a span.
    pub fn ports(lo: u16, hi: u16) -> Span {
        Span {
            lo: u128::from(lo),
            hi: u128::from(hi) + 1,
        }
    }

    pub fn contains(self, ip: u128) -> bool {
        (self.lo..self.hi).contains(&ip)
    }

    /// `self` lies wholly inside `outer`.
    pub fn within(self, outer: Span) -> bool {
        outer.lo <= self.lo && self.hi <= outer.hi
    }

    pub fn size(self) -> u128 {
        self.hi - self.lo
    }
}

/// Parses a dotted IPv4 address into its number.
pub fn ip(text: &str) -> Option<u32> {
    text.trim().parse::<Ipv4Addr>().ok().map(u32::from)
}

/// Parses an IPv6 address into its number.
#[cfg(test)]
pub fn ip6(text: &str) -> Option<u128> {
    text.trim().parse::<Ipv6Addr>().ok().map(u128::from)
}

pub fn show_ip(ip: u32) -> String {
    Ipv4Addr::from(ip).to_string()
}

/// An address of `family` as text.
pub fn show_addr(family: Family, ip: u128) -> String {
    match (family, u32::try_from(ip)) {
        (Family::V4, Ok(v4)) => show_ip(v4),
        _ => Ipv6Addr::from(ip).to_string(),
    }
}

/// Every public IPv4 address: everything outside [`NOT_PUBLIC`] and outside `vpc_cidrs`.
pub fn public_space(vpc_cidrs: &[Cidr]) -> Vec<Span> {
    let reserved = NOT_PUBLIC.iter().filter_map(|c| Cidr::parse(c));
    let cuts: Vec<Span> = reserved
        .chain(vpc_cidrs.iter().copied())
        .map(Cidr::span)
        .collect();
    subtract_all(vec![Span { lo: 0, hi: END }], &cuts)
}

/// Every public IPv6 address: `2000::/3` outside `vpc_cidrs`.
pub fn public_space6(vpc_cidrs: &[Cidr6]) -> Vec<Span> {
    let global = Cidr6::parse(GLOBAL_UNICAST).map(Cidr6::span);
    let cuts: Vec<Span> = vpc_cidrs.iter().map(|c| c.span()).collect();
    subtract_all(global.into_iter().collect(), &cuts)
}

/// `spans` less every one of `cuts`.
pub fn subtract_all(spans: Vec<Span>, cuts: &[Span]) -> Vec<Span> {
    cuts.iter().fold(spans, |left, cut| subtract(&left, *cut))
}

pub fn subtract(spans: &[Span], cut: Span) -> Vec<Span> {
    let mut out = Vec::new();
    for s in spans {
        if cut.hi <= s.lo || s.hi <= cut.lo {
            out.push(*s);
            continue;
        }
        if s.lo < cut.lo {
            out.push(Span {
                lo: s.lo,
                hi: cut.lo,
            });
        }
        if cut.hi < s.hi {
            out.push(Span {
                lo: cut.hi,
                hi: s.hi,
            });
        }
    }
    out
}

/// Splits `set` at every edge of `bounds`: each piece lies wholly inside or wholly outside every bound.
pub fn elementary(set: &[Span], bounds: &[Span]) -> Vec<Span> {
    let mut edges: Vec<u128> = bounds.iter().flat_map(|b| [b.lo, b.hi]).collect();
    edges.sort_unstable();
    edges.dedup();
    let mut out = Vec::new();
    for s in set {
        let mut lo = s.lo;
        for &e in edges.iter().filter(|e| s.lo < **e && **e < s.hi) {
            out.push(Span { lo, hi: e });
            lo = e;
        }
        out.push(Span { lo, hi: s.hi });
    }
    out
}

/// How much of `set` the union of `cover` contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    All,
    Part,
    None,
}

pub fn coverage(set: &[Span], cover: &[Span]) -> Coverage {
    let pieces = elementary(set, cover);
    let inside = |p: &Span| cover.iter().any(|c| p.within(*c));
    match (pieces.iter().all(inside), pieces.iter().any(inside)) {
        (true, _) => Coverage::All,
        (false, true) => Coverage::Part,
        (false, false) => Coverage::None,
    }
}

/// One address, else `first-last` ranges; "the public internet" for the whole public IPv4 space (more than
/// three pieces), "the public IPv6 internet" for more than one IPv6 piece.
pub fn describe(set: &[Span], family: Family) -> String {
    let show = |ip: u128| show_addr(family, ip);
    match set {
        [one] if one.size() == 1 => show(one.lo),
        _ if family == Family::V6 && set.len() > 1 => {
            format!("the public IPv6 internet ({GLOBAL_UNICAST})")
        }
        _ if set.len() > 3 => "the public internet".to_owned(),
        _ => set
            .iter()
            .map(|s| format!("{}-{}", show(s.lo), show(s.hi.saturating_sub(1))))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(text: &str) -> Cidr {
        Cidr::parse(text).expect("test CIDR")
    }

    #[test]
    fn cidrs_parse_normalise_and_contain() {
        assert_eq!(c("10.42.192.7/19").to_string(), "10.42.192.0/19");
        assert_eq!(c("0.0.0.0/0").span(), Span { lo: 0, hi: END });
        assert!(c("10.42.0.0/16").contains(ip("10.42.255.255").unwrap_or_default()));
        assert!(!c("10.42.0.0/16").contains(ip("10.43.0.0").unwrap_or_default()));
        assert_eq!(Cidr::parse("::/0"), None);
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
    }

    #[test]
    fn public_space_leaves_out_private_ranges_and_the_vpc() {
        let public = public_space(&[c("10.42.0.0/16")]);
        let has = |a: &str| {
            let addr = u128::from(ip(a).unwrap_or_default());
            public.iter().any(|s| s.contains(addr))
        };
        assert!(has("8.8.8.8"));
        assert!(has("52.216.1.1"));
        assert!(!has("10.42.1.1"));
        assert!(!has("192.168.1.1"));
        assert!(!has("127.0.0.1"));
        assert!(!has("239.1.1.1"));
        // A VPC outside RFC 1918 space is cut out too.
        let odd = public_space(&[c("52.0.0.0/16")]);
        let inside = u128::from(ip("52.0.1.1").unwrap_or_default());
        assert!(!odd.iter().any(|s| s.contains(inside)));
    }

    fn c6(text: &str) -> Cidr6 {
        Cidr6::parse(text).expect("test IPv6 CIDR")
    }

    fn a6(text: &str) -> u128 {
        ip6(text).expect("test IPv6 address")
    }

    #[test]
    fn ipv6_cidrs_parse_normalise_and_contain() {
        assert_eq!(
            c6("2600:1f14:abcd:12ff::1/56").to_string(),
            "2600:1f14:abcd:1200::/56"
        );
        assert!(c6("2600:1f14:abcd:1200::/56").contains(a6("2600:1f14:abcd:12c0::5")));
        assert!(!c6("2600:1f14:abcd:1200::/56").contains(a6("2600:1f14:abcd:1300::")));
        assert_eq!(Cidr6::parse("10.0.0.0/8"), None);
        assert_eq!(Cidr6::parse("::/129"), None);
        assert_eq!(Prefix::parse("::/0").map(Prefix::family), Some(Family::V6));
        assert_eq!(
            Prefix::parse("0.0.0.0/0").map(Prefix::family),
            Some(Family::V4)
        );
        // Never across families: ::/0 holds no IPv4 address, 0.0.0.0/0 no IPv6 one.
        let any6 = Prefix::V6(c6("::/0"));
        assert!(!any6.contains(Family::V4, 1));
        assert!(!Prefix::V4(c("0.0.0.0/0")).contains(Family::V6, 1));
    }

    #[test]
    fn the_top_of_ipv6_space_does_not_overflow() {
        let top = c6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
        assert_eq!(top.span().size(), 0, "saturated, empty");
        assert!(top.contains(u128::MAX), "containment is exact");
        assert_eq!(
            c6("::/0").span(),
            Span {
                lo: 0,
                hi: u128::MAX
            }
        );
        assert_eq!(c6("ffff::/16").span().hi, u128::MAX);
        let pieces = elementary(&public_space6(&[]), &[c6("::/0").span(), top.span()]);
        assert_eq!(pieces, public_space6(&[]));
    }

    #[test]
    fn public_ipv6_space_is_global_unicast_less_the_vpc() {
        let vpc = c6("2600:1f14:abcd:1200::/56");
        let public = public_space6(&[vpc]);
        let has = |a: &str| public.iter().any(|s| s.contains(a6(a)));
        assert_eq!(public.len(), 2);
        assert!(has("2606:4700::1111"));
        assert!(has("3fff:ffff::1"));
        assert!(!has("2600:1f14:abcd:12c0::5"), "the VPC's own");
        assert!(!has("fd00::1"), "unique local");
        assert!(!has("::1"));
        assert!(!has("4000::1"));
        let split = [c6("2000::/4").span(), c6("2600::/12").span()];
        assert_eq!(elementary(&public, &split).len(), 5);
    }

    #[test]
    fn elementary_intervals_respect_every_bound() {
        let set = [c("0.0.0.0/0").span()];
        let pieces = elementary(&set, &[c("0.0.0.0/1").span(), c("128.0.0.0/1").span()]);
        assert_eq!(pieces.len(), 2);
        let pieces = elementary(&set, &[c("10.0.0.0/8").span()]);
        assert_eq!(pieces.len(), 3);
    }

    #[test]
    fn coverage_is_all_part_or_none() {
        let public6 = public_space6(&[]);
        assert_eq!(coverage(&public6, &[c6("::/0").span()]), Coverage::All);
        assert_eq!(
            coverage(&public6, &[c6("2600::/12").span()]),
            Coverage::Part
        );
        let public = public_space(&[]);
        assert_eq!(coverage(&public, &[c("0.0.0.0/0").span()]), Coverage::All);
        assert_eq!(
            coverage(&public, &[c("0.0.0.0/1").span(), c("128.0.0.0/1").span()]),
            Coverage::All
        );
        assert_eq!(coverage(&public, &[c("52.0.0.0/8").span()]), Coverage::Part);
        assert_eq!(coverage(&public, &[c("10.0.0.0/8").span()]), Coverage::None);
    }
}
