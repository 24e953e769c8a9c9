//! Dual-stack (IPv6) worlds: [`WorldOptions::dual_stack_without_ipv4_default`] and
//! [`WorldOptions::dual_stack_ipv4_endpoint_restricted`] ([`WorldOptions::dual_stack`]).
//!
//! On top of the seed, before the cluster security group exists: an Amazon-provided IPv6 `/56` on the VPC
//! (moto adds its local route to every table of the VPC), a `/64` on the new subnet with
//! `AssignIpv6AddressOnCreation`, an egress-only internet gateway with `::/0 → eigw-…` on the new subnet's
//! table, and rule 101 allowing all `::/0` traffic both ways on the VPC's default NACL (what AWS adds to a
//! default NACL when an IPv6 CIDR is associated; moto adds nothing). moto then gives the cluster security
//! group its `::/0` egress rule, as AWS does for groups of a dual-stack VPC. The cluster is created with
//! `kubernetesNetworkConfig.ipFamily = ipv6`, a public-only endpoint and `publicAccessCidrs` holding an
//! IPv6 entry.
//!
//! Stand-ins for what moto (5.2.5) lacks:
//! * Its endpoint name stays `….eks.amazonaws.com` (never the dual-stack `….api.aws`): the IPv6 entry of
//!   `publicAccessCidrs` is what marks the endpoint dual-stack to the egress model, as on EKS, which accepts
//!   IPv6 CIDRs there only on dual-stack endpoints.
//! * Auto Scaling launches ignore a launch template's network interfaces and the subnet's
//!   `AssignIpv6AddressOnCreation`: each nodegroup instance gets its IPv6 address through
//!   `ec2:AssignIpv6Addresses` once launched ([`World::assign_ipv6_address`]). An instance launched later
//!   (a replacement) has none until given one the same way.
//! * The cluster's own (private) subnets keep IPv4 only; moto does not check what EKS would.

use std::net::Ipv6Addr;

use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, RuleAction};
use aws_sdk_eks::types::{IpFamily, KubernetesNetworkConfigRequest, VpcConfigRequest};

use super::ec2::{describe_instance, filter, tags};
use super::{ClusterEndpoint, NewSubnetRouting, World, WorldOptions, DEFAULT_ROUTE};
use crate::util::Context;
use crate::Error;

/// What the IPv4 side of the endpoint admits in [`WorldOptions::dual_stack_ipv4_endpoint_restricted`]
/// (TEST-NET-2: never a NAT's address).
pub const RESTRICTED_IPV4_CIDR: &str = "198.51.100.0/24";
/// The IPv6 default route and "every IPv6 address".
pub const IPV6_ANYWHERE: &str = "::/0";
/// The new subnet's `/64` within the VPC's `/56` (`…c0::/64`, like `10.42.192.0/19`).
const NEW_SUBNET_IPV6_INDEX: u128 = 0xc0;

impl WorldOptions {
    /// IPv6 cluster, public-only dual-stack endpoint admitting `0.0.0.0/0` and `::/0`; the new subnet's
    /// table has the local routes and `::/0 → eigw-…` but no IPv4 default route; the NAT gateway exists
    /// elsewhere as in the seed. Does not join: the endpoint is reachable over IPv6, but ECR, STS, EC2 and S3
    /// are reached over IPv4 only (no route). Joins once `0.0.0.0/0 → the NAT` is added
    /// ([`World::set_new_subnet_default_route`]).
    pub fn dual_stack_without_ipv4_default() -> WorldOptions {
        WorldOptions {
            dual_stack: true,
            cluster_endpoint: ClusterEndpoint::PublicOnly {
                public_access_cidrs: vec![DEFAULT_ROUTE.to_owned(), IPV6_ANYWHERE.to_owned()],
            },
            ..WorldOptions::routed(NewSubnetRouting::LocalOnly)
        }
    }

    /// [`WorldOptions::dual_stack_without_ipv4_default`] with `0.0.0.0/0 → the NAT` on the new subnet and
    /// `publicAccessCidrs` [[`RESTRICTED_IPV4_CIDR`], `::/0`]: the endpoint refuses the NAT's IPv4 address
    /// but admits the node's IPv6 address through the egress-only gateway. Joins.
    pub fn dual_stack_ipv4_endpoint_restricted() -> WorldOptions {
        WorldOptions {
            dual_stack: true,
            cluster_endpoint: ClusterEndpoint::PublicOnly {
                public_access_cidrs: vec![
                    RESTRICTED_IPV4_CIDR.to_owned(),
                    IPV6_ANYWHERE.to_owned(),
                ],
            },
            ..WorldOptions::routed(NewSubnetRouting::ViaNat)
        }
    }
}

impl World {
    /// For [`WorldOptions::dual_stack`]: the VPC's and the new subnet's IPv6 CIDRs, the egress-only gateway
    /// and its `::/0` route on the new subnet's table, the default NACL's IPv6 rules. Nothing otherwise.
    pub(super) async fn build_ipv6_network(&self, opts: &WorldOptions) -> Result<(), Error> {
        if !opts.dual_stack {
            return Ok(());
        }
        let ec2 = self.ec2();
        let subnet_block = new_subnet_block(&self.associate_vpc_ipv6().await?)?;
        ec2.associate_subnet_cidr_block()
            .subnet_id(&self.new_subnet_id)
            .ipv6_cidr_block(&subnet_block)
            .send()
            .await
            .context(format!("ec2:AssociateSubnetCidrBlock {subnet_block}"))?;
        let on = AttributeBooleanValue::builder().value(true).build();
        ec2.modify_subnet_attribute()
            .subnet_id(&self.new_subnet_id)
            .assign_ipv6_address_on_creation(on)
            .send()
            .await
            .context("ec2:ModifySubnetAttribute AssignIpv6AddressOnCreation")?;
        let table = self
            .new_route_table_id
            .as_deref()
            .ok_or("a dual-stack world's new subnet has its own route table")?;
        let eigw = self.create_egress_only_gateway().await?;
        ec2.create_route()
            .route_table_id(table)
            .destination_ipv6_cidr_block(IPV6_ANYWHERE)
            .egress_only_internet_gateway_id(&eigw)
            .send()
            .await
            .context(format!("ec2:CreateRoute {table} ::/0 -> {eigw}"))?;
        self.allow_ipv6_on_default_nacl().await
    }

    /// An Amazon-provided IPv6 `/56` on the VPC. Returns it.
    async fn associate_vpc_ipv6(&self) -> Result<String, Error> {
        Ok(self
            .ec2()
            .associate_vpc_cidr_block()
            .vpc_id(&self.vpc_id)
            .amazon_provided_ipv6_cidr_block(true)
            .send()
            .await
            .context("ec2:AssociateVpcCidrBlock AmazonProvidedIpv6CidrBlock")?
            .ipv6_cidr_block_association()
            .and_then(|a| a.ipv6_cidr_block())
            .ok_or("ec2:AssociateVpcCidrBlock returned no IPv6 CIDR")?
            .to_owned())
    }

    async fn create_egress_only_gateway(&self) -> Result<String, Error> {
        let name = [("Name", "eks-workshop-eigw")];
        Ok(self
            .ec2()
            .create_egress_only_internet_gateway()
            .vpc_id(&self.vpc_id)
            .tag_specifications(tags(ResourceType::EgressOnlyInternetGateway, &name))
            .send()
            .await
            .context("ec2:CreateEgressOnlyInternetGateway")?
            .egress_only_internet_gateway()
            .and_then(|g| g.egress_only_internet_gateway_id())
            .ok_or("ec2:CreateEgressOnlyInternetGateway returned no id")?
            .to_owned())
    }

    /// Rule 101, allow all `::/0`, inbound and outbound, on the VPC's default NACL.
    async fn allow_ipv6_on_default_nacl(&self) -> Result<(), Error> {
        let ec2 = self.ec2();
        let acls = ec2
            .describe_network_acls()
            .filters(filter("vpc-id", &self.vpc_id))
            .send()
            .await
            .context("ec2:DescribeNetworkAcls")?;
        let defaults = acls
            .network_acls()
            .iter()
            .filter(|a| a.is_default() == Some(true));
        for acl in defaults.filter_map(|a| a.network_acl_id()) {
            for outbound in [true, false] {
                ec2.create_network_acl_entry()
                    .network_acl_id(acl)
                    .egress(outbound)
                    .ipv6_cidr_block(IPV6_ANYWHERE)
                    .rule_number(101)
                    .protocol("-1")
                    .rule_action(RuleAction::Allow)
                    .send()
                    .await
                    .context(format!("ec2:CreateNetworkAclEntry {acl} 101 ::/0"))?;
            }
        }
        Ok(())
    }

    /// The cluster: for [`WorldOptions::dual_stack`] an IPv6 one with a public-only endpoint, else the
    /// seed's way.
    pub(super) async fn create_cluster_for(&self, opts: &WorldOptions) -> Result<(), Error> {
        if !opts.dual_stack {
            return self.create_cluster(&opts.cluster_endpoint).await;
        }
        let ClusterEndpoint::PublicOnly {
            public_access_cidrs,
        } = &opts.cluster_endpoint
        else {
            return Err("a dual-stack world's cluster endpoint is public only".into());
        };
        let mut vpc = VpcConfigRequest::builder()
            .endpoint_public_access(true)
            .endpoint_private_access(false)
            .security_group_ids(&self.cluster_security_group_id);
        for cidr in public_access_cidrs {
            vpc = vpc.public_access_cidrs(cidr);
        }
        for subnet in &self.private_subnet_ids {
            vpc = vpc.subnet_ids(subnet);
        }
        let ipv6 = KubernetesNetworkConfigRequest::builder()
            .ip_family(IpFamily::Ipv6)
            .build();
        let role = format!(
            "arn:aws:iam::{}:role/eks-workshop-cluster-role",
            self.account_id
        );
        self.eks()
            .create_cluster()
            .name(&self.cluster_name)
            .kubernetes_network_config(ipv6)
            .resources_vpc_config(vpc.build())
            .role_arn(role)
            .version("1.30")
            .send()
            .await
            .context("eks:CreateCluster ipFamily=ipv6")?;
        Ok(())
    }

    /// For [`WorldOptions::dual_stack`]: an IPv6 address on every nodegroup instance.
    pub(super) async fn assign_nodes_ipv6(&self, opts: &WorldOptions) -> Result<(), Error> {
        if opts.dual_stack {
            for instance_id in self.nodegroup_instance_ids().await? {
                self.assign_ipv6_address(&instance_id).await?;
            }
        }
        Ok(())
    }

    /// One more IPv6 address on the instance's primary network interface (its subnet must have an IPv6
    /// CIDR). Returns the interface's IPv6 addresses.
    pub async fn assign_ipv6_address(&self, instance_id: &str) -> Result<Vec<String>, Error> {
        let ec2 = self.ec2();
        let instance = describe_instance(&ec2, instance_id).await?;
        let interfaces = instance.network_interfaces();
        let primary = interfaces
            .iter()
            .find(|n| n.attachment().and_then(|a| a.device_index()) == Some(0))
            .or(interfaces.first())
            .and_then(|n| n.network_interface_id())
            .ok_or_else(|| format!("instance {instance_id} has no network interface"))?;
        let out = ec2
            .assign_ipv6_addresses()
            .network_interface_id(primary)
            .ipv6_address_count(1)
            .send()
            .await
            .context(format!("ec2:AssignIpv6Addresses {primary}"))?;
        Ok(out.assigned_ipv6_addresses().to_vec())
    }

    /// The egress-only internet gateway attached to the world's VPC, if any.
    pub async fn egress_only_gateway_id(&self) -> Result<Option<String>, Error> {
        let out = self
            .ec2()
            .describe_egress_only_internet_gateways()
            .send()
            .await
            .context("ec2:DescribeEgressOnlyInternetGateways")?;
        let in_vpc = |g: &&aws_sdk_ec2::types::EgressOnlyInternetGateway| {
            g.attachments()
                .iter()
                .any(|a| a.vpc_id() == Some(self.vpc_id.as_str()))
        };
        Ok(out
            .egress_only_internet_gateways()
            .iter()
            .find(in_vpc)
            .and_then(|g| g.egress_only_internet_gateway_id())
            .map(str::to_owned))
    }
}

/// The new subnet's `/64` inside the VPC's IPv6 `/56`.
fn new_subnet_block(vpc_block: &str) -> Result<String, Error> {
    let (base, len) = vpc_block
        .split_once('/')
        .ok_or_else(|| format!("not an IPv6 CIDR: {vpc_block}"))?;
    let base: Ipv6Addr = base
        .parse()
        .map_err(|e| format!("not an IPv6 CIDR: {vpc_block}: {e}"))?;
    if len != "56" {
        return Err(format!("expected an IPv6 /56 for the VPC, got {vpc_block}").into());
    }
    let subnet = u128::from(base) | (NEW_SUBNET_IPV6_INDEX << 64);
    Ok(format!("{}/64", Ipv6Addr::from(subnet)))
}

#[cfg(test)]
mod tests {
    use super::new_subnet_block;

    #[test]
    fn the_new_subnet_gets_the_c0_block_of_the_vpc() {
        let block = new_subnet_block("2400:6500:4840:a700::/56").expect("a /56");
        assert_eq!(block, "2400:6500:4840:a7c0::/64");
        assert!(new_subnet_block("2400:6500:4840:a700::/48").is_err());
        assert!(new_subnet_block("10.42.0.0/16").is_err());
    }
}
