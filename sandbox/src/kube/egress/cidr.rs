//! IPv4 address arithmetic for the egress model: CIDRs, half-open address spans, the public address space,
//! and splitting a set of spans into the elementary intervals bounded by a set of prefixes.

use std::net::Ipv4Addr;

/// One past the last IPv4 address.
const END: u64 = 1 << 32;

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

/// An IPv4 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub base: u32,
    pub len: u8,
}

/// Addresses `lo..hi` (half-open, so `hi` may be 2^32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub lo: u64,
    pub hi: u64,
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
        let lo = u64::from(self.base);
        Span {
            lo,
            hi: lo + (1u64 << (32 - u32::from(self.len))),
        }
    }

    pub fn contains(self, ip: u32) -> bool {
        self.span().contains(ip)
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

impl Span {
    pub fn single(ip: u32) -> Span {
        Span {
            lo: u64::from(ip),
            hi: u64::from(ip) + 1,
        }
    }

    pub fn contains(self, ip: u32) -> bool {
        (self.lo..self.hi).contains(&u64::from(ip))
    }

    /// `self` lies wholly inside `outer`.
    pub fn within(self, outer: Span) -> bool {
        outer.lo <= self.lo && self.hi <= outer.hi
    }

    pub fn size(self) -> u64 {
        self.hi - self.lo
    }
}

/// Parses a dotted IPv4 address into its number.
pub fn ip(text: &str) -> Option<u32> {
    text.trim().parse::<Ipv4Addr>().ok().map(u32::from)
}

pub fn show_ip(ip: u32) -> String {
    Ipv4Addr::from(ip).to_string()
}

/// Every public IPv4 address: everything outside [`NOT_PUBLIC`] and outside `vpc_cidrs`.
pub fn public_space(vpc_cidrs: &[Cidr]) -> Vec<Span> {
    let mut spans = vec![Span { lo: 0, hi: END }];
    let reserved = NOT_PUBLIC.iter().filter_map(|c| Cidr::parse(c));
    for cut in reserved.chain(vpc_cidrs.iter().copied()) {
        spans = subtract(&spans, cut.span());
    }
    spans
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
    let mut edges: Vec<u64> = bounds.iter().flat_map(|b| [b.lo, b.hi]).collect();
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

/// `a.b.c.d/n` for a CIDR span, else `a.b.c.d-e.f.g.h`; "the public internet" for the whole public space.
pub fn describe(set: &[Span]) -> String {
    match set {
        [one] if one.size() == 1 => show_ip(one.lo as u32),
        _ if set.len() > 3 => "the public internet".to_owned(),
        _ => set
            .iter()
            .map(|s| format!("{}-{}", show_ip(s.lo as u32), show_ip((s.hi - 1) as u32)))
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
        let has = |a: &str| public.iter().any(|s| s.contains(ip(a).unwrap_or_default()));
        assert!(has("8.8.8.8"));
        assert!(has("52.216.1.1"));
        assert!(!has("10.42.1.1"));
        assert!(!has("192.168.1.1"));
        assert!(!has("127.0.0.1"));
        assert!(!has("239.1.1.1"));
        // A VPC outside RFC 1918 space is cut out too.
        let odd = public_space(&[c("52.0.0.0/16")]);
        assert!(!odd
            .iter()
            .any(|s| s.contains(ip("52.0.1.1").unwrap_or_default())));
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
