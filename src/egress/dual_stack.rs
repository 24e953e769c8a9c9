//! The IPv6 path of a dual-stack destination.
//!
//! Only the cluster API of an IPv6 cluster has one, and only when all of these hold: the node reaches it
//! over the internet (no private endpoint access), the endpoint is dual-stack (the `eks-cluster.<region>.
//! api.aws` form EKS gives IPv6 clusters created since October 2024, or IPv6 ranges in
//! `publicAccessCidrs`, which EKS accepts only on such endpoints), and the instance has an IPv6 address.
//! The AWS service endpoints a node's agents use (ECR, STS, EC2, S3) are their IPv4 ones by default, so
//! those destinations are evaluated over IPv4 alone, and a private endpoint is reached inside the VPC.
//!
//! A client with both paths falls back from one family to the other (Go's dialer does), so the
//! destination is reached when either path passes, blocked only when both are, and unknown otherwise.

use crate::snapshot::{IpFamily, Snapshot};

use super::target::Target;
use super::{dns_hop, internet_hops, Destination, PathReport, Reach, Service, Verdict};

/// The host suffixes of the dual-stack cluster endpoints.
const DUAL_STACK_HOSTS: [&str; 2] = [".api.aws", ".api.amazonwebservices.com.cn"];

fn endpoint_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority.split(':').next().unwrap_or(authority)
}

/// Whether the cluster's endpoint answers over IPv6 as well as IPv4.
pub fn endpoint_is_dual_stack(s: &Snapshot) -> bool {
    let c = &s.cluster;
    if c.ip_family != Some(IpFamily::Ipv6) {
        return false;
    }
    let host_says = c.endpoint.as_deref().is_some_and(|url| {
        let host = endpoint_host(url).to_ascii_lowercase();
        DUAL_STACK_HOSTS.iter().any(|suffix| host.ends_with(suffix))
    });
    host_says || c.public_access_cidrs.iter().any(|cidr| cidr.contains(':'))
}

/// Whether the node can also reach this destination over IPv6.
fn applies(s: &Snapshot, d: &Destination) -> bool {
    d.service == Service::ClusterApi
        && d.reach == Reach::Internet
        && !s.instance.ipv6_addresses.is_empty()
        && endpoint_is_dual_stack(s)
}

/// The destination's IPv6 path, when it has one.
pub(super) fn ipv6_path(s: &Snapshot, d: &Destination) -> Option<PathReport> {
    if !applies(s, d) {
        return None;
    }
    let t = Target::internet_v6(s, d.service);
    let mut hops = vec![dns_hop(s, t.private_dns)];
    hops.extend(internet_hops(s, &t));
    Some(PathReport {
        destination: d.clone(),
        hops,
        ipv6: None,
    })
}

/// Two paths to one destination: reached if either passes; blocked (as the IPv4 path says: that is the one
/// every other destination needs too) only if both are; otherwise unknown.
pub(super) fn either(v4: Verdict, v6: Verdict) -> Verdict {
    match (&v4, &v6) {
        (Verdict::Pass, _) | (_, Verdict::Pass) => Verdict::Pass,
        (Verdict::Blocked(_), Verdict::Blocked(_)) => v4,
        _ => Verdict::Unknown(format!("over IPv4 {v4}; over IPv6 {v6}")),
    }
}
