//! Address capacity: whether the instance's subnet has the free IPv4 addresses the node's pods take from
//! it (the VPC CNI gives every pod an address of the node's subnet).

use crate::commands;
use crate::finding::{Code, Finding, Remedy, Severity};
use crate::snapshot::{InstanceTypeNetwork, IpFamily, Readable, Snapshot};

/// The most pods a node of this type runs with the VPC CNI's defaults: one address per pod on every
/// interface but each interface's primary, plus the two host-network pods (aws-node, kube-proxy).
pub(crate) fn max_pods(network: &InstanceTypeNetwork) -> i32 {
    let enis = network.max_network_interfaces.max(0);
    let per_eni = network.ipv4_addresses_per_interface.max(1);
    enis * (per_eni - 1) + 2
}

pub(super) fn subnet_addresses(s: &Snapshot) -> Option<Finding> {
    if s.cluster.ip_family == Some(IpFamily::Ipv6) {
        return None;
    }
    let free = s.subnet.available_ip_addresses;
    let network = match &s.instance_type_network {
        Readable::Read(Some(n)) => Some(n),
        _ => None,
    };
    let pods = network.map(max_pods);
    let severity = match pods {
        _ if free <= 0 => Severity::Blocker,
        Some(pods) if free < pods => Severity::Warning,
        _ => return None,
    };
    let mut evidence = vec![format!(
        "ec2 DescribeSubnets: {} ({}) has {free} free IPv4 address(es)",
        s.subnet.id, s.subnet.cidr
    )];
    if let (Some(n), Some(pods)) = (network, pods) {
        evidence.push(format!(
            "a {} node runs up to {pods} pods ({} network interfaces of {} addresses each)",
            n.instance_type, n.max_network_interfaces, n.ipv4_addresses_per_interface
        ));
    }
    let summary = match severity {
        Severity::Blocker => format!(
            "subnet {} has no free IPv4 address left for the node's pods",
            s.subnet.id
        ),
        _ => format!(
            "subnet {} has {free} free IPv4 address(es), fewer than one node's pod capacity ({})",
            s.subnet.id,
            pods.unwrap_or_default()
        ),
    };
    Some(Finding {
        code: Code::SubnetOutOfAddresses,
        severity,
        summary,
        evidence,
        remedy: Remedy::manual(
            vec![
                commands::subnet_free_addresses(&s.region, &s.subnet.id),
                commands::detached_interfaces(&s.region, &s.subnet.id),
            ],
            "give the nodegroup a subnet with room (or add a secondary CIDR to the VPC), delete detached network interfaces that hold addresses, or turn on prefix delegation in the VPC CNI; with CNI custom networking pods take addresses from other subnets and this does not apply",
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_capacity_follows_the_vpc_cni_formula() {
        let n = |enis, per| InstanceTypeNetwork {
            instance_type: "x".into(),
            max_network_interfaces: enis,
            ipv4_addresses_per_interface: per,
        };
        assert_eq!(max_pods(&n(3, 10)), 29, "m5.large");
        assert_eq!(max_pods(&n(4, 15)), 58, "m5.xlarge");
        assert_eq!(max_pods(&n(2, 2)), 4, "t3.nano");
        assert_eq!(max_pods(&n(0, 0)), 2);
    }
}
