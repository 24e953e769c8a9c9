//! Resources of the world variants ([`super::WorldOptions`]) and the `World` helpers that fix or probe them.
//!
//! * NAT subnets `10.42.224.0/20` and up: a firewall subnet `10.42.224.0/24` (`0.0.0.0/0 → IGW`) holding a
//!   Gateway Load Balancer endpoint, the firewalled NAT's subnet `10.42.225.0/24` (`0.0.0.0/0 → vpce-…`),
//!   and the isolated NAT's subnet `10.42.226.0/24` (local route only). moto cannot create a GWLB endpoint
//!   *service* without an ELBv2 load balancer, so the endpoint names a made-up `vpce-svc-…` service (moto
//!   accepts it); the IGW edge route table that would send return traffic back through the firewall is
//!   not modelled.
//! * VPC endpoints: interface endpoints with private DNS in private-a behind a security group that admits
//!   TCP 443 from the VPC, and an S3 gateway endpoint on the new subnet's and the private subnets' tables.
//! * Filters: the new subnet's own NACL (rule 100 denies outbound TCP 443, rule 200 allows all, both ways);
//!   a node security group with egress TCP 80 only (the cluster SG admits TCP 443 from it, so egress is
//!   the only fault); `enableDnsSupport` false.

use aws_sdk_ec2::types::{
    IpPermission, IpRange, PortRange, ResourceType, RuleAction, UserIdGroupPair, VpcEndpointType,
};

use super::ec2::{
    add_nat_gateway, associate, create_route, create_route_table, create_subnet, filter, tags,
};
use super::steps::set_dns;
use super::{
    DefaultTarget, Firewall, NatSubnet, NewSubnetRouting, World, WorldOptions, DEFAULT_ROUTE,
    VPC_CIDR,
};
use crate::kube::{self, egress::PathReport, NodeView};
use crate::util::{random_u64, Context};
use crate::Error;

const AZ: &str = "us-west-2a";

impl World {
    pub(super) async fn build_nat_subnets(&mut self, opts: &WorldOptions) -> Result<(), Error> {
        if opts.firewalled_nat || opts.routing == NewSubnetRouting::ViaFirewalledNat {
            self.firewall = Some(self.firewall().await?);
        }
        if opts.routing == NewSubnetRouting::ViaNatWithoutInternet {
            self.isolated_nat = Some(self.nat_subnet("10.42.226.0/24", "isolated", None).await?);
        }
        Ok(())
    }

    /// A firewall subnet routing to the IGW, its GWLB endpoint, and a NAT subnet routing through it.
    async fn firewall(&self) -> Result<Firewall, Error> {
        let ec2 = self.ec2();
        let subnet_id = create_subnet(
            &ec2,
            &self.vpc_id,
            "10.42.224.0/24",
            AZ,
            &[("Name", "eks-workshop-firewall-a")],
        )
        .await?;
        let route_table_id =
            create_route_table(&ec2, &self.vpc_id, "eks-workshop-firewall").await?;
        associate(&ec2, &route_table_id, &subnet_id).await?;
        create_route(
            &ec2,
            &route_table_id,
            DEFAULT_ROUTE,
            &DefaultTarget::InternetGateway(self.igw_id.clone()),
        )
        .await?;
        let service = format!(
            "com.amazonaws.vpce.{}.vpce-svc-{:017x}",
            self.region,
            random_u64() >> 4
        );
        let endpoint_id = ec2
            .create_vpc_endpoint()
            .vpc_id(&self.vpc_id)
            .vpc_endpoint_type(VpcEndpointType::GatewayLoadBalancer)
            .service_name(&service)
            .subnet_ids(&subnet_id)
            .send()
            .await
            .context(format!(
                "ec2:CreateVpcEndpoint GatewayLoadBalancer {service}"
            ))?
            .vpc_endpoint()
            .and_then(|e| e.vpc_endpoint_id())
            .ok_or("ec2:CreateVpcEndpoint returned no id")?
            .to_owned();
        let through = DefaultTarget::VpcEndpoint(endpoint_id.clone());
        let nat = self
            .nat_subnet("10.42.225.0/24", "firewalled", Some(through))
            .await?;
        Ok(Firewall {
            subnet_id,
            route_table_id,
            endpoint_id,
            nat,
        })
    }

    /// A subnet with its own table (`0.0.0.0/0 → default`, if any) and a NAT gateway in it.
    async fn nat_subnet(
        &self,
        cidr: &str,
        name: &str,
        default: Option<DefaultTarget>,
    ) -> Result<NatSubnet, Error> {
        let ec2 = self.ec2();
        let label = format!("eks-workshop-{name}-nat");
        let subnet_id = create_subnet(&ec2, &self.vpc_id, cidr, AZ, &[("Name", &label)]).await?;
        let route_table_id = create_route_table(&ec2, &self.vpc_id, &label).await?;
        associate(&ec2, &route_table_id, &subnet_id).await?;
        if let Some(target) = default {
            create_route(&ec2, &route_table_id, DEFAULT_ROUTE, &target).await?;
        }
        let nat_gateway_id = add_nat_gateway(&ec2, &subnet_id, &label).await?;
        Ok(NatSubnet {
            subnet_id,
            route_table_id,
            nat_gateway_id,
        })
    }

    pub(super) async fn build_endpoints(&mut self, opts: &WorldOptions) -> Result<(), Error> {
        for service in &opts.interface_endpoints {
            self.add_interface_endpoint(service).await?;
        }
        if opts.s3_gateway_endpoint {
            let tables = [
                self.new_subnet_table().to_owned(),
                self.private_route_table_id.clone(),
            ];
            let id = self
                .ec2()
                .create_vpc_endpoint()
                .vpc_id(&self.vpc_id)
                .vpc_endpoint_type(VpcEndpointType::Gateway)
                .service_name(format!("com.amazonaws.{}.s3", self.region))
                .set_route_table_ids(Some(tables.to_vec()))
                .send()
                .await
                .context("ec2:CreateVpcEndpoint Gateway s3")?
                .vpc_endpoint()
                .and_then(|e| e.vpc_endpoint_id())
                .ok_or("ec2:CreateVpcEndpoint returned no id")?
                .to_owned();
            self.vpc_endpoints.insert("s3".into(), id);
        }
        Ok(())
    }

    /// An interface endpoint with private DNS for `service` (`sts`, `ecr.api`, …) in private-a, behind the
    /// endpoints' security group (created on first use). Returns its id.
    pub async fn add_interface_endpoint(&mut self, service: &str) -> Result<String, Error> {
        let group = match &self.endpoint_security_group_id {
            Some(g) => g.clone(),
            None => self.endpoint_security_group().await?,
        };
        self.endpoint_security_group_id = Some(group.clone());
        let id = self
            .ec2()
            .create_vpc_endpoint()
            .vpc_id(&self.vpc_id)
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .service_name(format!("com.amazonaws.{}.{service}", self.region))
            .subnet_ids(&self.private_subnet_ids[0])
            .security_group_ids(&group)
            .private_dns_enabled(true)
            .send()
            .await
            .context(format!("ec2:CreateVpcEndpoint Interface {service}"))?
            .vpc_endpoint()
            .and_then(|e| e.vpc_endpoint_id())
            .ok_or("ec2:CreateVpcEndpoint returned no id")?
            .to_owned();
        self.vpc_endpoints.insert(service.to_owned(), id.clone());
        Ok(id)
    }

    async fn endpoint_security_group(&self) -> Result<String, Error> {
        let id = self
            .security_group(
                "eks-workshop-vpc-endpoints",
                "TCP 443 from the VPC to the interface endpoints",
            )
            .await?;
        self.ec2()
            .authorize_security_group_ingress()
            .group_id(&id)
            .ip_permissions(https(IpRange::builder().cidr_ip(VPC_CIDR).build()))
            .send()
            .await
            .context("ec2:AuthorizeSecurityGroupIngress endpoints")?;
        Ok(id)
    }

    async fn security_group(&self, name: &str, description: &str) -> Result<String, Error> {
        Ok(self
            .ec2()
            .create_security_group()
            .group_name(name)
            .description(description)
            .vpc_id(&self.vpc_id)
            .tag_specifications(tags(ResourceType::SecurityGroup, &[("Name", name)]))
            .send()
            .await
            .context(format!("ec2:CreateSecurityGroup {name}"))?
            .group_id()
            .ok_or("ec2:CreateSecurityGroup returned no GroupId")?
            .to_owned())
    }

    pub(super) async fn build_filters(&mut self, opts: &WorldOptions) -> Result<(), Error> {
        if opts.nacl_denies_https_out {
            self.new_subnet_nacl_id = Some(self.deny_https_nacl().await?);
        }
        if opts.node_sg_without_https_egress {
            self.node_security_group_id = Some(self.node_group_without_https().await?);
        }
        if !opts.dns_support {
            set_dns(&self.ec2(), &self.vpc_id, false).await?;
        }
        Ok(())
    }

    /// A NACL for the new subnet: outbound 100 deny TCP 443, 200 allow all; inbound 200 allow all.
    async fn deny_https_nacl(&self) -> Result<String, Error> {
        let ec2 = self.ec2();
        let acl = ec2
            .create_network_acl()
            .vpc_id(&self.vpc_id)
            .tag_specifications(tags(
                ResourceType::NetworkAcl,
                &[("Name", "new-nodegroup-2-acl")],
            ))
            .send()
            .await
            .context("ec2:CreateNetworkAcl")?
            .network_acl()
            .and_then(|a| a.network_acl_id())
            .ok_or("ec2:CreateNetworkAcl returned no id")?
            .to_owned();
        let https = PortRange::builder().from(443).to(443).build();
        let entries = [
            (100, true, "6", Some(https), RuleAction::Deny),
            (200, true, "-1", None, RuleAction::Allow),
            (200, false, "-1", None, RuleAction::Allow),
        ];
        for (number, egress, protocol, ports, action) in entries {
            ec2.create_network_acl_entry()
                .network_acl_id(&acl)
                .rule_number(number)
                .egress(egress)
                .protocol(protocol)
                .set_port_range(ports)
                .rule_action(action)
                .cidr_block("0.0.0.0/0")
                .send()
                .await
                .context(format!("ec2:CreateNetworkAclEntry {acl} {number}"))?;
        }
        self.associate_nacl(&acl).await?;
        Ok(acl)
    }

    /// Moves the new subnet to `acl` (ReplaceNetworkAclAssociation).
    async fn associate_nacl(&self, acl: &str) -> Result<(), Error> {
        let ec2 = self.ec2();
        let current = ec2
            .describe_network_acls()
            .filters(filter("association.subnet-id", &self.new_subnet_id))
            .send()
            .await
            .context("ec2:DescribeNetworkAcls")?;
        let association = current
            .network_acls()
            .iter()
            .flat_map(|a| a.associations())
            .find(|a| a.subnet_id() == Some(self.new_subnet_id.as_str()))
            .and_then(|a| a.network_acl_association_id())
            .ok_or("the new subnet has no NACL association")?
            .to_owned();
        ec2.replace_network_acl_association()
            .association_id(&association)
            .network_acl_id(acl)
            .send()
            .await
            .context(format!(
                "ec2:ReplaceNetworkAclAssociation {association} {acl}"
            ))?;
        Ok(())
    }

    /// The nodes' security group: egress TCP 80 only; the cluster SG admits TCP 443 from it.
    async fn node_group_without_https(&self) -> Result<String, Error> {
        let ec2 = self.ec2();
        let id = self
            .security_group("new-nodegroup-2-nodes", "nodes of new_nodegroup_2")
            .await?;
        let everywhere = || IpRange::builder().cidr_ip("0.0.0.0/0").build();
        let all = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(everywhere())
            .build();
        ec2.revoke_security_group_egress()
            .group_id(&id)
            .ip_permissions(all)
            .send()
            .await
            .context("ec2:RevokeSecurityGroupEgress")?;
        let http = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(80)
            .to_port(80)
            .ip_ranges(everywhere())
            .build();
        ec2.authorize_security_group_egress()
            .group_id(&id)
            .ip_permissions(http)
            .send()
            .await
            .context("ec2:AuthorizeSecurityGroupEgress tcp 80")?;
        let from_nodes = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(&id).build())
            .build();
        ec2.authorize_security_group_ingress()
            .group_id(&self.cluster_security_group_id)
            .ip_permissions(from_nodes)
            .send()
            .await
            .context("ec2:AuthorizeSecurityGroupIngress cluster SG from nodes")?;
        Ok(id)
    }

    /// Fix for [`WorldOptions::firewall_fronted_nat`]: `0.0.0.0/0 → the firewalled NAT`.
    pub async fn route_new_subnet_to_firewalled_nat(&self) -> Result<(), Error> {
        let nat = self
            .firewall
            .as_ref()
            .ok_or("this world has no firewalled NAT")?
            .nat
            .nat_gateway_id
            .clone();
        self.set_new_subnet_default_route(DefaultTarget::Nat(nat))
            .await
    }

    /// Fix for [`WorldOptions::nacl_denies_https`]: the new subnet back on the VPC's default NACL.
    pub async fn restore_default_nacl(&self) -> Result<(), Error> {
        let out = self
            .ec2()
            .describe_network_acls()
            .filters(filter("vpc-id", &self.vpc_id))
            .filters(filter("default", "true"))
            .send()
            .await
            .context("ec2:DescribeNetworkAcls default")?;
        let default = out
            .network_acls()
            .first()
            .and_then(|a| a.network_acl_id())
            .ok_or("the VPC has no default NACL")?
            .to_owned();
        self.associate_nacl(&default).await
    }

    /// Fix for [`WorldOptions::node_sg_without_https`]: egress TCP 443 to `0.0.0.0/0` on the node SG.
    pub async fn allow_node_https_egress(&self) -> Result<(), Error> {
        let group = self
            .node_security_group_id
            .as_deref()
            .ok_or("this world has no node security group")?;
        self.ec2()
            .authorize_security_group_egress()
            .group_id(group)
            .ip_permissions(https(IpRange::builder().cidr_ip("0.0.0.0/0").build()))
            .send()
            .await
            .context("ec2:AuthorizeSecurityGroupEgress tcp 443")?;
        Ok(())
    }

    /// `enableDnsSupport` of the VPC (fix for [`WorldOptions::dns_support_disabled`]: `true`).
    pub async fn set_dns_support(&self, on: bool) -> Result<(), Error> {
        set_dns(&self.ec2(), &self.vpc_id, on).await
    }

    /// The nodes the kubelet simulator would register right now (no HTTP server needed).
    pub async fn simulated_nodes(&self) -> Result<Vec<NodeView>, Error> {
        kube::simulate_nodes(&self.sdk, &self.cluster_name).await
    }

    /// Why the simulator does or does not register each running instance: instance id → its paths.
    pub async fn egress_report(&self) -> Result<Vec<(String, Vec<PathReport>)>, Error> {
        kube::explain_egress(&self.sdk, &self.cluster_name).await
    }
}

/// TCP 443 from/to `range`.
fn https(range: IpRange) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .ip_ranges(range)
        .build()
}
