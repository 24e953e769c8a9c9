//! The instances of a cluster as the kubelet simulator sees them: every EC2 instance tagged
//! `eks:cluster-name=<cluster>` or `kubernetes.io/cluster/<cluster>=owned`.

use aws_sdk_ec2::types::{Instance, InstanceStateName};

use super::egress::Node;
use crate::util::Context;
use crate::Error;

#[derive(Debug, Clone)]
pub(super) struct ClusterInstance {
    pub(super) instance_id: String,
    pub(super) running: bool,
    pub(super) subnet_id: String,
    pub(super) vpc_id: String,
    pub(super) public_ip: Option<String>,
    /// Every IPv6 address of its network interfaces.
    pub(super) ipv6_addresses: Vec<String>,
    pub(super) security_groups: Vec<String>,
    pub(super) private_dns_name: String,
    pub(super) private_ip: String,
    pub(super) az: String,
    pub(super) instance_type: String,
    pub(super) nodegroup: Option<String>,
    /// The Karpenter (or EKS Auto Mode) NodePool that launched it (`karpenter.sh/nodepool`,
    /// `eks:kubernetes-node-pool-name`): its node carries the label `karpenter.sh/nodepool`.
    pub(super) nodepool: Option<String>,
    /// `IamInstanceProfile.Arn`.
    pub(super) instance_profile_arn: Option<String>,
}

impl ClusterInstance {
    /// The instance as the egress model needs it (`None` without a private IPv4).
    pub(super) fn egress_node(&self) -> Option<Node> {
        Some(Node {
            subnet_id: self.subnet_id.clone(),
            vpc_id: self.vpc_id.clone(),
            private_ip: self.private_ip.parse::<std::net::Ipv4Addr>().ok()?.into(),
            public_ip: self
                .public_ip
                .as_deref()
                .and_then(|ip| ip.parse::<std::net::Ipv4Addr>().ok())
                .map(u32::from),
            ipv6_addresses: self
                .ipv6_addresses
                .iter()
                .filter_map(|ip| ip.parse::<std::net::Ipv6Addr>().ok())
                .map(u128::from)
                .collect(),
            security_groups: self.security_groups.clone(),
        })
    }
}

/// Every instance of `cluster`, whatever its state (pages through `ec2:DescribeInstances`).
pub(super) async fn cluster_instances(
    ec2: &aws_sdk_ec2::Client,
    cluster: &str,
) -> Result<Vec<ClusterInstance>, Error> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = ec2
            .describe_instances()
            .set_next_token(next.take())
            .send()
            .await
            .context("ec2:DescribeInstances")?;
        let instances = page.reservations().iter().flat_map(|r| r.instances());
        out.extend(instances.filter_map(|i| member(i, cluster)));
        next = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if next.is_none() {
            return Ok(out);
        }
    }
}

/// The instance, if it belongs to `cluster`.
fn member(instance: &Instance, cluster: &str) -> Option<ClusterInstance> {
    let tag = |k: &str| {
        instance
            .tags()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
    };
    let owned_key = format!("kubernetes.io/cluster/{cluster}");
    if tag("eks:cluster-name") != Some(cluster) && tag(&owned_key) != Some("owned") {
        return None;
    }
    let text = |v: Option<&str>| v.unwrap_or_default().to_owned();
    Some(ClusterInstance {
        instance_id: instance.instance_id()?.to_owned(),
        running: instance.state().and_then(|s| s.name()) == Some(&InstanceStateName::Running),
        subnet_id: text(instance.subnet_id()),
        vpc_id: text(instance.vpc_id()),
        public_ip: instance
            .public_ip_address()
            .filter(|ip| !ip.is_empty())
            .map(str::to_owned),
        ipv6_addresses: ipv6_addresses(instance),
        security_groups: instance
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_owned))
            .collect(),
        private_dns_name: text(instance.private_dns_name()),
        private_ip: text(instance.private_ip_address()),
        az: text(instance.placement().and_then(|p| p.availability_zone())),
        instance_type: text(instance.instance_type().map(|t| t.as_str())),
        nodegroup: tag("eks:nodegroup-name").map(str::to_owned),
        nodepool: tag("karpenter.sh/nodepool")
            .or(tag("eks:kubernetes-node-pool-name"))
            .map(str::to_owned),
        instance_profile_arn: instance
            .iam_instance_profile()
            .and_then(|p| p.arn())
            .filter(|a| !a.is_empty())
            .map(str::to_owned),
    })
}

/// The instance's IPv6 addresses: its primary one and those of every network interface, each once.
fn ipv6_addresses(instance: &Instance) -> Vec<String> {
    let mut addresses: Vec<String> = instance
        .ipv6_address()
        .into_iter()
        .chain(
            instance
                .network_interfaces()
                .iter()
                .flat_map(|n| n.ipv6_addresses())
                .filter_map(|a| a.ipv6_address()),
        )
        .filter(|ip| !ip.is_empty())
        .map(str::to_owned)
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses
}
