//! Where a destination may be: the set of addresses it can have (of one family: a path is evaluated per
//! address family), and the security groups it carries.
//!
//! When the exact addresses are not known the set is a superset that surely holds them (all public
//! addresses, the VPC's CIDRs): a check that passes or blocks for every address of a superset is right
//! for the real one, and a mix is reported as unknown.

use std::net::IpAddr;

use crate::cidr::{complement, Family, Prefix, Range};
use crate::snapshot::{Readable, Snapshot};

use super::{Destination, Reach, Service};

/// Never public: RFC 1918, shared (100.64/10), loopback, link-local, "this network", multicast, reserved.
pub const NON_PUBLIC: [&str; 9] = [
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

pub(super) struct Target {
    pub service: Service,
    /// The address family this path is evaluated for.
    pub family: Family,
    /// Where the destination may be (addresses of `family` only).
    pub addrs: Vec<Range>,
    /// Set when `addrs` is a stand-in superset, saying why.
    pub addrs_note: Option<String>,
    /// Whether the destination is inside the VPC (`local` routes decide, no next hop).
    pub in_vpc: bool,
    /// Whether the name resolves through private DNS (needs `enableDnsHostnames`).
    pub private_dns: bool,
    /// What the instance talks to, for details (`vpce-…`, `cluster ENIs`, `the internet`).
    pub name: String,
    /// Security groups the target carries (for rules that reference a group), and whose ingress must
    /// let the instance in. Empty for internet targets.
    pub groups: Vec<String>,
    /// The prefix list that stands for the target (S3 through its gateway endpoint).
    pub prefix_list: Option<String>,
}

pub(super) fn parse_all(cidrs: &[String]) -> Vec<Prefix> {
    cidrs.iter().filter_map(|c| Prefix::parse(c)).collect()
}

/// The ranges of the prefixes of one family.
fn ranges_of(prefixes: &[Prefix], family: Family) -> Vec<Range> {
    prefixes
        .iter()
        .filter(|p| p.family() == family)
        .map(Prefix::range)
        .collect()
}

/// Every public IPv4 address outside the VPC's CIDRs.
pub(super) fn public_space(s: &Snapshot) -> Vec<Range> {
    let mut excluded: Vec<Prefix> = NON_PUBLIC.iter().filter_map(|c| Prefix::parse(c)).collect();
    excluded.extend(parse_all(&s.vpc.cidrs_v4));
    complement(Family::V4, &excluded)
}

/// Not global unicast IPv6 (everything outside `2000::/3`): the internet's IPv6 addresses are inside it.
const NON_GLOBAL_V6: [&str; 3] = ["::/3", "4000::/2", "8000::/1"];

/// Every global unicast IPv6 address (`2000::/3`) outside the VPC's IPv6 CIDRs.
pub(super) fn public_space_v6(s: &Snapshot) -> Vec<Range> {
    let mut excluded: Vec<Prefix> = NON_GLOBAL_V6
        .iter()
        .filter_map(|c| Prefix::parse(c))
        .collect();
    excluded.extend(parse_all(&s.vpc.cidrs_v6));
    complement(Family::V6, &excluded)
}

fn vpc_space(s: &Snapshot) -> Vec<Range> {
    ranges_of(&parse_all(&s.vpc.cidrs_v4), Family::V4)
}

/// The CIDRs of a prefix list (both families), or why they are not known.
pub(super) fn prefix_list_cidrs(s: &Snapshot, id: &str) -> Result<Vec<Prefix>, String> {
    let lists = s
        .prefix_lists
        .get()
        .map_err(|why| format!("prefix lists not read: {why}"))?;
    let list = lists
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(|| format!("prefix list {id} is not in the snapshot"))?;
    let parsed: Vec<Prefix> = list.cidrs.iter().filter_map(|c| Prefix::parse(c)).collect();
    if parsed.len() != list.cidrs.len() {
        return Err(format!("prefix list {id} has an entry that is not a CIDR"));
    }
    Ok(parsed)
}

/// The S3 IPv4 address ranges (the AWS-managed prefix list named after the service), if known.
fn s3_ranges(s: &Snapshot) -> Option<Vec<Range>> {
    let name = s.service_name("s3");
    let Readable::Read(lists) = &s.prefix_lists else {
        return None;
    };
    let list = lists.iter().find(|p| p.name == name)?;
    let cidrs = prefix_list_cidrs(s, &list.id).ok()?;
    let ranges = ranges_of(&cidrs, Family::V4);
    (!ranges.is_empty()).then_some(ranges)
}

/// The cluster security group and the additional control-plane groups (what its ENIs carry).
fn cluster_groups(s: &Snapshot) -> Vec<String> {
    let mut g: Vec<String> = s
        .cluster
        .cluster_security_group_id
        .iter()
        .cloned()
        .collect();
    g.extend(s.cluster.additional_security_group_ids.iter().cloned());
    g
}

impl Target {
    pub fn of(s: &Snapshot, d: &Destination) -> Target {
        let mut t = Target {
            service: d.service,
            family: Family::V4,
            addrs: vec![],
            addrs_note: None,
            in_vpc: false,
            private_dns: false,
            name: String::new(),
            groups: vec![],
            prefix_list: None,
        };
        match &d.reach {
            Reach::Internet => t.internet(s),
            Reach::GatewayEndpoint(id) => t.gateway_endpoint(s, id),
            Reach::InterfaceEndpoint(id) => t.interface_endpoint(s, id),
            Reach::ClusterEnis => t.cluster_enis(s),
        }
        t
    }

    /// The IPv6 leg of a dual-stack destination reached over the internet: any global unicast address.
    pub fn internet_v6(s: &Snapshot, service: Service) -> Target {
        Target {
            service,
            family: Family::V6,
            addrs: public_space_v6(s),
            addrs_note: None,
            in_vpc: false,
            private_dns: false,
            name: format!("{} over the internet (IPv6)", service.as_str()),
            groups: vec![],
            prefix_list: None,
        }
    }

    fn internet(&mut self, s: &Snapshot) {
        self.name = format!("{} over the internet", self.service.as_str());
        let s3 = (self.service == Service::S3)
            .then(|| s3_ranges(s))
            .flatten();
        self.addrs = s3.unwrap_or_else(|| public_space(s));
    }

    fn gateway_endpoint(&mut self, s: &Snapshot, id: &str) {
        self.name = id.to_string();
        self.prefix_list =
            super::route::gateway_endpoint_route(s, id).and_then(|r| match &r.destination {
                crate::snapshot::RouteDestination::PrefixList(pl) => Some(pl.clone()),
                _ => None,
            });
        let known = self
            .prefix_list
            .as_deref()
            .and_then(|pl| prefix_list_cidrs(s, pl).ok())
            .map(|c| ranges_of(&c, Family::V4))
            .filter(|c| !c.is_empty());
        match known {
            Some(ranges) => self.addrs = ranges,
            None => {
                self.addrs = public_space(s);
                self.addrs_note =
                    Some("the endpoint's prefix list is not known; any public address".into());
            }
        }
    }

    fn interface_endpoint(&mut self, s: &Snapshot, id: &str) {
        self.name = id.to_string();
        self.in_vpc = true;
        self.private_dns = true;
        let Some(ep) = s.vpc_endpoint(id) else {
            self.stand_in_vpc(s, "endpoint not in the snapshot");
            return;
        };
        self.groups = ep.security_group_ids.clone();
        let cidrs: Option<Vec<Prefix>> = ep
            .subnet_ids
            .iter()
            .map(|sub| s.subnet_by_id(sub).and_then(|x| Prefix::parse_v4(&x.cidr)))
            .collect();
        match cidrs.filter(|c| !c.is_empty()) {
            Some(c) => self.addrs = ranges_of(&c, Family::V4),
            None => self.stand_in_vpc(s, "the endpoint's subnets are not known"),
        }
    }

    fn cluster_enis(&mut self, s: &Snapshot) {
        self.name = format!("cluster {} private endpoint", s.cluster.name);
        self.in_vpc = true;
        self.private_dns = true;
        let enis = match &s.cluster_enis {
            Readable::Read(enis) if !enis.is_empty() => enis,
            Readable::Read(_) => {
                self.groups = cluster_groups(s);
                return self.stand_in_vpc(s, "no cluster network interface found");
            }
            Readable::NotRead(why) => {
                self.groups = cluster_groups(s);
                let why = format!("cluster network interfaces not read: {why}");
                return self.stand_in_vpc(s, &why);
            }
        };
        let mut groups: Vec<String> = enis
            .iter()
            .flat_map(|e| e.security_group_ids.iter().cloned())
            .collect();
        groups.sort();
        groups.dedup();
        self.groups = if groups.is_empty() {
            cluster_groups(s)
        } else {
            groups
        };
        let ips: Option<Vec<IpAddr>> = enis
            .iter()
            .map(|e| e.private_ip.parse().ok().filter(IpAddr::is_ipv4))
            .collect();
        match ips {
            Some(ips) => self.addrs = ips.into_iter().map(|ip| Prefix::host(ip).range()).collect(),
            None => self.stand_in_vpc(s, "a cluster network interface has no readable IP"),
        }
    }

    fn stand_in_vpc(&mut self, s: &Snapshot, why: &str) {
        self.addrs = vpc_space(s);
        self.addrs_note = Some(format!("{why}; any address of the VPC"));
    }
}
