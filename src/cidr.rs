//! IPv4 and IPv6 prefixes as EC2 writes them (`10.0.0.0/16`, `2600:1f14::/56`), with the arithmetic the
//! egress evaluator needs: containment and the split of an address space into elementary intervals.
//!
//! Both families share one representation (the address as a `u128`, tagged with its family), so the
//! longest-prefix match, the network ACL and the security-group checks are written once. A prefix never
//! contains an address of the other family, and intervals are only ever cut by prefixes of their own
//! family.
//!
//! Parsing never panics: garbage gives `None`. A prefix with host bits set (`10.0.0.7/16`) is accepted and
//! normalised to its network (`10.0.0.0/16`), as EC2 itself does for route and rule CIDRs.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// The highest address of the family.
    fn max(self) -> u128 {
        match self {
            Family::V4 => u128::from(u32::MAX),
            Family::V6 => u128::MAX,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

fn to_bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_bits(family: Family, bits: u128) -> Option<IpAddr> {
    match family {
        Family::V4 => u32::try_from(bits)
            .ok()
            .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        Family::V6 => Some(IpAddr::V6(Ipv6Addr::from(bits))),
    }
}

/// An IPv4 or IPv6 prefix, normalised (host bits cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    family: Family,
    network: u128,
    len: u8,
}

/// An inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Range {
    pub family: Family,
    pub first: u128,
    pub last: u128,
}

/// The host-part mask of a prefix of `len` bits in `family`: the bits a network address must not have.
fn host_mask(family: Family, len: u8) -> u128 {
    let host_bits = u32::from(family.bits().saturating_sub(len));
    u128::MAX.checked_shr(128 - host_bits).unwrap_or(0) & family.max()
}

fn split_prefix(s: &str) -> Option<(&str, u8)> {
    let (addr, len) = s.trim().split_once('/')?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) || len.len() > 3 {
        return None;
    }
    Some((addr, len.parse().ok()?))
}

impl Prefix {
    /// Parses `a.b.c.d/n` (0 ≤ n ≤ 32) or `x:y::/n` (0 ≤ n ≤ 128). A bare address is rejected: EC2 always
    /// writes the length.
    pub fn parse(s: &str) -> Option<Self> {
        let (addr, len) = split_prefix(s)?;
        let addr: IpAddr = addr.parse().ok()?;
        (len <= Family::of(addr).bits()).then(|| Self::new(addr, len))
    }

    /// Parses an IPv4 prefix only.
    pub fn parse_v4(s: &str) -> Option<Self> {
        Self::parse(s).filter(|p| p.family == Family::V4)
    }

    fn new(addr: IpAddr, len: u8) -> Self {
        let family = Family::of(addr);
        Prefix {
            family,
            network: to_bits(addr) & !host_mask(family, len),
            len,
        }
    }

    /// The `/32` or `/128` holding one address.
    pub fn host(addr: IpAddr) -> Self {
        Self::new(addr, Family::of(addr).bits())
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    pub fn network(&self) -> IpAddr {
        // The network is always within its family's space.
        from_bits(self.family, self.network).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    pub fn range(&self) -> Range {
        Range {
            family: self.family,
            first: self.network,
            last: self.network | host_mask(self.family, self.len),
        }
    }

    /// Whether `addr` is inside; an address of the other family never is.
    pub fn contains(&self, addr: IpAddr) -> bool {
        Family::of(addr) == self.family
            && to_bits(addr) & !host_mask(self.family, self.len) == self.network
    }

    /// Whether every address of `other` is inside `self`.
    pub fn contains_prefix(&self, other: &Prefix) -> bool {
        other.len >= self.len && self.contains(other.network())
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.len)
    }
}

/// Every address of the family outside `excluded` (prefixes of the other family are ignored), as sorted
/// disjoint ranges.
pub fn complement(family: Family, excluded: &[Prefix]) -> Vec<Range> {
    let mut ex: Vec<Range> = excluded
        .iter()
        .filter(|p| p.family == family)
        .map(Prefix::range)
        .collect();
    ex.sort();
    let mut out = Vec::new();
    // `next` is the first address not yet covered; `None` once the top of the space is covered.
    let mut next: Option<u128> = Some(0);
    for r in ex {
        let Some(n) = next else { break };
        if r.first > n {
            out.push(Range {
                family,
                first: n,
                last: r.first - 1,
            });
        }
        if r.last >= n {
            next = r.last.checked_add(1).filter(|v| *v <= family.max());
        }
    }
    if let Some(n) = next {
        out.push(Range {
            family,
            first: n,
            last: family.max(),
        });
    }
    out
}

/// One representative address per elementary interval: the ranges in `consider` are cut at every boundary
/// of every prefix of the same family in `bounds`, so that within each piece every prefix either contains
/// all addresses or none. The first address of each piece is returned, in ascending order (IPv4 first),
/// without duplicates.
pub fn representatives(bounds: &[Prefix], consider: &[Range]) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for family in [Family::V4, Family::V6] {
        let cuts: Vec<u128> = bounds
            .iter()
            .filter(|p| p.family == family)
            .flat_map(|p| {
                let r = p.range();
                [Some(r.first), r.last.checked_add(1)]
            })
            .flatten()
            .collect();
        let ranges: Vec<(u128, u128)> = consider
            .iter()
            .filter(|r| r.family == family)
            .map(|r| (r.first, r.last))
            .collect();
        out.extend(
            cut(cuts, &ranges)
                .into_iter()
                .filter_map(|v| from_bits(family, v)),
        );
    }
    out
}

/// `cuts` are addresses where a new interval starts; `ranges` are inclusive.
fn cut(mut cuts: Vec<u128>, ranges: &[(u128, u128)]) -> Vec<u128> {
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<u128> = Vec::new();
    for &(first, last) in ranges.iter().filter(|(f, l)| f <= l) {
        out.push(first);
        let from = cuts.partition_point(|&c| c <= first);
        out.extend(cuts[from..].iter().take_while(|&&c| c <= last));
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        Prefix::parse(s).expect("test prefix")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn r4(first: &str, last: &str) -> Range {
        Range {
            family: Family::V4,
            first: to_bits(ip(first)),
            last: to_bits(ip(last)),
        }
    }

    #[test]
    fn parse_rejects_garbage_without_panicking() {
        for bad in [
            "",
            "/",
            "10.0.0.0",
            "10.0.0.0/",
            "10.0.0.0/33",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "10.0.0.0/0008",
            "10.0.0/8",
            "300.0.0.0/8",
            "pl-1234",
            "local",
            "0.0.0.0/99999999999999999999",
            "::/129",
            "2600:1f14::",
            "2600:1f14::/",
            "2600:1f14:::/56",
            "fe80::1%eth0/64",
        ] {
            assert_eq!(Prefix::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Prefix::parse_v4("::/0"), None);
        let all6 = Prefix::parse("::/0").expect("::/0 parses");
        assert_eq!((all6.family(), all6.prefix_len()), (Family::V6, 0));
    }

    #[test]
    fn host_bits_are_accepted_and_normalised() {
        assert_eq!(p("10.42.200.17/19").to_string(), "10.42.192.0/19");
        assert_eq!(p(" 10.0.0.7/8 ").to_string(), "10.0.0.0/8");
        assert_eq!(
            p("2600:1f14:abcd:1234::1/56").to_string(),
            "2600:1f14:abcd:1200::/56"
        );
    }

    #[test]
    fn zero_length_contains_its_whole_family_and_host_prefix_only_itself() {
        let all = p("0.0.0.0/0");
        for a in ["0.0.0.0", "10.1.2.3", "255.255.255.255"] {
            assert!(all.contains(ip(a)));
        }
        assert!(
            !all.contains(ip("2600::1")),
            "an IPv4 prefix never holds an IPv6 address"
        );
        assert_eq!(all.range(), r4("0.0.0.0", "255.255.255.255"));
        let host = p("54.1.2.3/32");
        assert!(host.contains(ip("54.1.2.3")));
        assert!(!host.contains(ip("54.1.2.4")));
        assert!(!host.contains(ip("54.1.2.2")));
        assert_eq!(host, Prefix::host(ip("54.1.2.3")));

        let all6 = p("::/0");
        assert!(all6.contains(ip("2600:1f14::1")));
        assert!(all6.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(!all6.contains(ip("10.0.0.1")));
        assert_eq!(all6.range().last, u128::MAX);
        let host6 = Prefix::host(ip("2600:1f14::7"));
        assert_eq!(host6.to_string(), "2600:1f14::7/128");
        assert!(host6.contains(ip("2600:1f14::7")));
        assert!(!host6.contains(ip("2600:1f14::8")));
    }

    #[test]
    fn prefix_containment() {
        let cases = [
            ("0.0.0.0/0", "10.0.0.0/8", true),
            ("10.0.0.0/8", "10.42.0.0/16", true),
            ("10.42.0.0/16", "10.0.0.0/8", false),
            ("10.42.0.0/16", "10.42.0.0/16", true),
            ("10.42.0.0/16", "10.43.0.0/16", false),
            ("1.2.3.4/32", "1.2.3.4/32", true),
            ("0.0.0.0/1", "128.0.0.0/1", false),
            ("::/0", "2600:1f14::/56", true),
            ("2600:1f14::/56", "2600:1f14:0:ff::/64", true),
            ("2600:1f14::/56", "2600:1f14:0:100::/64", false),
            ("::/0", "0.0.0.0/0", false),
            ("0.0.0.0/0", "::/0", false),
        ];
        for (outer, inner, want) in cases {
            assert_eq!(
                p(outer).contains_prefix(&p(inner)),
                want,
                "{outer} ⊇ {inner}"
            );
        }
    }

    #[test]
    fn complement_skips_excluded_space_and_handles_the_edges() {
        assert_eq!(
            complement(Family::V4, &[]),
            vec![r4("0.0.0.0", "255.255.255.255")]
        );
        assert!(complement(Family::V4, &[p("0.0.0.0/0")]).is_empty());
        let c = complement(
            Family::V4,
            &[p("0.0.0.0/8"), p("240.0.0.0/4"), p("10.0.0.0/8"), p("::/0")],
        );
        assert_eq!(
            c,
            vec![
                r4("1.0.0.0", "9.255.255.255"),
                r4("11.0.0.0", "239.255.255.255")
            ]
        );
        let overlapping = complement(Family::V4, &[p("10.0.0.0/8"), p("10.42.0.0/16")]);
        assert_eq!(overlapping.len(), 2);
        // The top of the IPv6 space excluded: nothing wraps, nothing overflows.
        let top = complement(Family::V6, &[p("8000::/1")]);
        assert_eq!(top, vec![p("::/1").range()]);
        assert!(complement(Family::V6, &[p("::/0"), p("ffff::/16")]).is_empty());
        let global = complement(Family::V6, &[p("::/3"), p("4000::/2"), p("8000::/1")]);
        assert_eq!(global, vec![p("2000::/3").range()]);
    }

    #[test]
    fn representatives_cut_at_every_prefix_boundary_of_their_own_family() {
        let all = [p("0.0.0.0/0").range()];
        assert_eq!(representatives(&[], &all), vec![ip("0.0.0.0")]);
        assert_eq!(
            representatives(&[p("0.0.0.0/1"), p("128.0.0.0/1")], &all),
            vec![ip("0.0.0.0"), ip("128.0.0.0")]
        );
        assert_eq!(
            representatives(&[p("0.0.0.0/0"), p("52.0.0.0/8")], &all),
            vec![ip("0.0.0.0"), ip("52.0.0.0"), ip("53.0.0.0")]
        );
        // A /32 at the very top has no successor inside the space; nothing wraps.
        assert_eq!(
            representatives(&[p("255.255.255.255/32")], &all),
            vec![ip("0.0.0.0"), ip("255.255.255.255")]
        );
        // Only cuts inside the considered ranges count.
        let one = [p("10.42.0.0/16").range()];
        assert_eq!(
            representatives(&[p("0.0.0.0/1"), p("10.42.5.0/24")], &one),
            vec![ip("10.42.0.0"), ip("10.42.5.0"), ip("10.42.6.0")]
        );
        assert!(representatives(&[p("0.0.0.0/1")], &[]).is_empty());
        // IPv6 prefixes never cut IPv4 space, and the reverse.
        assert_eq!(
            representatives(&[p("::/1"), p("2600::/16")], &all),
            vec![ip("0.0.0.0")]
        );
        let global = [p("2000::/3").range()];
        assert_eq!(
            representatives(&[p("10.0.0.0/8"), p("2600:1f14::/56"), p("::/0")], &global),
            vec![ip("2000::"), ip("2600:1f14::"), ip("2600:1f14:0:100::")]
        );
        let top = [p("ffff::/16").range()];
        assert_eq!(
            representatives(&[p("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128")], &top),
            vec![ip("ffff::"), ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]
        );
    }
}
