//! Where a destination may be: the set of IPv4 addresses it can have, and the security groups it carries.
//!
//! When the exact addresses are not known the set is a superset that surely holds them (all public
//! addresses, the VPC's CIDRs): a check that passes or blocks for every address of a superset is right
//! for the real one, and a mix is reported as unknown.

use std::net::Ipv4Addr;

use crate::cidr::{complement_v4, Ipv4Prefix, Range4};
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
    /// Where the destination may be.
    pub addrs: Vec<Range4>,
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

pub(super) fn parse_all(cidrs: &[String]) -> Vec<Ipv4Prefix> {
    cidrs.iter().filter_map(|c| Ipv4Prefix::parse(c)).collect()
}

/// Every public IPv4 address outside the VPC's CIDRs.
pub(super) fn public_space(s: &Snapshot) -> Vec<Range4> {
    let mut excluded: Vec<Ipv4Prefix> = NON_PUBLIC
        .iter()
        .filter_map(|c| Ipv4Prefix::parse(c))
        .collect();
    excluded.extend(parse_all(&s.vpc.cidrs_v4));
    complement_v4(&excluded)
}

fn vpc_space(s: &Snapshot) -> Vec<Range4> {
    parse_all(&s.vpc.cidrs_v4)
        .iter()
        .map(Ipv4Prefix::range)
        .collect()
}

/// The CIDRs of a prefix list, or why they are not known.
pub(super) fn prefix_list_cidrs(s: &Snapshot, id: &str) -> Result<Vec<Ipv4Prefix>, String> {
    let lists = s
        .prefix_lists
        .get()
        .map_err(|why| format!("prefix lists not read: {why}"))?;
    let list = lists
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(|| format!("prefix list {id} is not in the snapshot"))?;
    let v4: Vec<&String> = list.cidrs.iter().filter(|c| !c.contains(':')).collect();
    let parsed: Vec<Ipv4Prefix> = v4.iter().filter_map(|c| Ipv4Prefix::parse(c)).collect();
    if parsed.len() != v4.len() {
        return Err(format!("prefix list {id} has an entry that is not a CIDR"));
    }
    Ok(parsed)
}

/// The S3 address ranges (the AWS-managed prefix list named after the service), if known.
fn s3_ranges(s: &Snapshot) -> Option<Vec<Range4>> {
    let name = s.service_name("s3");
    let Readable::Read(lists) = &s.prefix_lists else {
        return None;
    };
    let list = lists.iter().find(|p| p.name == name)?;
    let cidrs = prefix_list_cidrs(s, &list.id).ok()?;
    (!cidrs.is_empty()).then(|| cidrs.iter().map(Ipv4Prefix::range).collect())
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
            .filter(|c| !c.is_empty());
        match known {
            Some(cidrs) => self.addrs = cidrs.iter().map(Ipv4Prefix::range).collect(),
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
        let cidrs: Option<Vec<Ipv4Prefix>> = ep
            .subnet_ids
            .iter()
            .map(|sub| s.subnet_by_id(sub).and_then(|x| Ipv4Prefix::parse(&x.cidr)))
            .collect();
        match cidrs.filter(|c| !c.is_empty()) {
            Some(c) => self.addrs = c.iter().map(Ipv4Prefix::range).collect(),
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
        let ips: Option<Vec<Ipv4Addr>> = enis.iter().map(|e| e.private_ip.parse().ok()).collect();
        match ips {
            Some(ips) => {
                self.addrs = ips
                    .into_iter()
                    .map(|ip| Ipv4Prefix::host(ip).range())
                    .collect()
            }
            None => self.stand_in_vpc(s, "a cluster network interface has no readable IP"),
        }
    }

    fn stand_in_vpc(&mut self, s: &Snapshot, why: &str) {
        self.addrs = vpc_space(s);
        self.addrs_note = Some(format!("{why}; any address of the VPC"));
    }
}
