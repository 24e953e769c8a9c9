//! IPv4 and IPv6 prefixes as EC2 writes them (`10.0.0.0/16`, `2600:1f14::/56`), with the arithmetic the
//! egress evaluator needs: containment and the split of an address space into elementary intervals.
//!
//! Parsing never panics: garbage gives `None`. A prefix with host bits set (`10.0.0.7/16`) is accepted and
//! normalised to its network (`10.0.0.0/16`), as EC2 itself does for route and rule CIDRs.

use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 prefix, normalised (host bits cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Prefix {
    network: u32,
    len: u8,
}

/// An inclusive range of IPv4 addresses, as `u32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Range4 {
    pub first: u32,
    pub last: u32,
}

fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn split_prefix(s: &str) -> Option<(&str, u8)> {
    let (addr, len) = s.trim().split_once('/')?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) || len.len() > 3 {
        return None;
    }
    Some((addr, len.parse().ok()?))
}

impl Ipv4Prefix {
    /// Parses `a.b.c.d/n` (0 ≤ n ≤ 32). A bare address is rejected: EC2 always writes the length.
    pub fn parse(s: &str) -> Option<Self> {
        let (addr, len) = split_prefix(s)?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        (len <= 32).then(|| Self::new(addr, len))
    }

    fn new(addr: Ipv4Addr, len: u8) -> Self {
        Ipv4Prefix {
            network: u32::from(addr) & mask32(len),
            len,
        }
    }

    /// The `/32` holding one address.
    pub fn host(addr: Ipv4Addr) -> Self {
        Self::new(addr, 32)
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network)
    }

    pub fn range(&self) -> Range4 {
        Range4 {
            first: self.network,
            last: self.network | !mask32(self.len),
        }
    }

    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & mask32(self.len) == self.network
    }

    /// Whether every address of `other` is inside `self`.
    pub fn contains_prefix(&self, other: &Ipv4Prefix) -> bool {
        other.len >= self.len && self.contains(other.network())
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.len)
    }
}

/// Every address of `0.0.0.0/0` outside `excluded`, as sorted disjoint ranges.
pub fn complement_v4(excluded: &[Ipv4Prefix]) -> Vec<Range4> {
    let mut ex: Vec<Range4> = excluded.iter().map(Ipv4Prefix::range).collect();
    ex.sort();
    let mut out = Vec::new();
    let mut next: u64 = 0;
    for r in ex {
        if u64::from(r.first) > next {
            out.push(range4(next, u64::from(r.first) - 1));
        }
        next = next.max(u64::from(r.last) + 1);
    }
    if next <= u64::from(u32::MAX) {
        out.push(range4(next, u64::from(u32::MAX)));
    }
    out
}

fn range4(first: u64, last: u64) -> Range4 {
    // Callers only pass values within u32; saturate rather than panic all the same.
    Range4 {
        first: u32::try_from(first).unwrap_or(u32::MAX),
        last: u32::try_from(last).unwrap_or(u32::MAX),
    }
}

/// One representative address per elementary interval: the ranges in `consider` are cut at every boundary
/// of every prefix in `bounds`, so that within each piece every prefix either contains all addresses or
/// none. The first address of each piece is returned, in ascending order, without duplicates.
pub fn representatives_v4(bounds: &[Ipv4Prefix], consider: &[Range4]) -> Vec<Ipv4Addr> {
    let cuts: Vec<u128> = bounds
        .iter()
        .flat_map(|p| {
            let r = p.range();
            [u128::from(r.first), u128::from(r.last) + 1]
        })
        .collect();
    let ranges: Vec<(u128, u128)> = consider
        .iter()
        .map(|r| (u128::from(r.first), u128::from(r.last)))
        .collect();
    representatives(cuts, &ranges)
        .into_iter()
        .filter_map(|v| u32::try_from(v).ok().map(Ipv4Addr::from))
        .collect()
}

/// `cuts` are addresses where a new interval starts; `ranges` are inclusive.
fn representatives(mut cuts: Vec<u128>, ranges: &[(u128, u128)]) -> Vec<u128> {
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

    fn v4(s: &str) -> Ipv4Prefix {
        Ipv4Prefix::parse(s).expect("test prefix")
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("test address")
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
            "::/0",
        ] {
            assert_eq!(Ipv4Prefix::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn host_bits_are_accepted_and_normalised() {
        assert_eq!(v4("10.42.200.17/19").to_string(), "10.42.192.0/19");
        assert_eq!(v4(" 10.0.0.7/8 ").to_string(), "10.0.0.0/8");
    }

    #[test]
    fn zero_length_contains_everything_and_host_prefix_only_itself() {
        let all = v4("0.0.0.0/0");
        for a in ["0.0.0.0", "10.1.2.3", "255.255.255.255"] {
            assert!(all.contains(ip(a)));
        }
        assert_eq!(
            all.range(),
            Range4 {
                first: 0,
                last: u32::MAX
            }
        );
        let host = v4("54.1.2.3/32");
        assert!(host.contains(ip("54.1.2.3")));
        assert!(!host.contains(ip("54.1.2.4")));
        assert!(!host.contains(ip("54.1.2.2")));
        assert_eq!(host, Ipv4Prefix::host(ip("54.1.2.3")));
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
        ];
        for (outer, inner, want) in cases {
            assert_eq!(
                v4(outer).contains_prefix(&v4(inner)),
                want,
                "{outer} ⊇ {inner}"
            );
        }
    }

    #[test]
    fn complement_skips_excluded_space_and_handles_the_edges() {
        assert_eq!(
            complement_v4(&[]),
            vec![Range4 {
                first: 0,
                last: u32::MAX
            }]
        );
        assert!(complement_v4(&[v4("0.0.0.0/0")]).is_empty());
        let c = complement_v4(&[v4("0.0.0.0/8"), v4("240.0.0.0/4"), v4("10.0.0.0/8")]);
        assert_eq!(
            c,
            vec![
                Range4 {
                    first: u32::from(ip("1.0.0.0")),
                    last: u32::from(ip("9.255.255.255"))
                },
                Range4 {
                    first: u32::from(ip("11.0.0.0")),
                    last: u32::from(ip("239.255.255.255"))
                },
            ]
        );
        let overlapping = complement_v4(&[v4("10.0.0.0/8"), v4("10.42.0.0/16")]);
        assert_eq!(overlapping.len(), 2);
    }

    #[test]
    fn representatives_cut_at_every_prefix_boundary() {
        let all = [v4("0.0.0.0/0").range()];
        assert_eq!(representatives_v4(&[], &all), vec![ip("0.0.0.0")]);
        assert_eq!(
            representatives_v4(&[v4("0.0.0.0/1"), v4("128.0.0.0/1")], &all),
            vec![ip("0.0.0.0"), ip("128.0.0.0")]
        );
        assert_eq!(
            representatives_v4(&[v4("0.0.0.0/0"), v4("52.0.0.0/8")], &all),
            vec![ip("0.0.0.0"), ip("52.0.0.0"), ip("53.0.0.0")]
        );
        // A /32 at the very top has no successor inside the space; nothing wraps.
        assert_eq!(
            representatives_v4(&[v4("255.255.255.255/32")], &all),
            vec![ip("0.0.0.0"), ip("255.255.255.255")]
        );
        // Only cuts inside the considered ranges count.
        let one = [v4("10.42.0.0/16").range()];
        assert_eq!(
            representatives_v4(&[v4("0.0.0.0/1"), v4("10.42.5.0/24")], &one),
            vec![ip("10.42.0.0"), ip("10.42.5.0"), ip("10.42.6.0")]
        );
        assert!(representatives_v4(&[v4("0.0.0.0/1")], &[]).is_empty());
    }
}
