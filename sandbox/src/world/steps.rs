//! The seed's resources, one step each: VPC, internet gateway, public subnets and their table, the NAT
//! gateway, private subnets and their table, the new subnet and its routing, the cluster security group,
//! the EKS cluster, and the nodegroup with the launch template and Auto Scaling group EKS would make.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_sdk_ec2::types::{AttributeBooleanValue, IpPermission, ResourceType, UserIdGroupPair};
use aws_sdk_eks::types::{AmiTypes, CapacityTypes, NodegroupScalingConfig, VpcConfigRequest};

use super::ec2::{
    add_nat_gateway, asg_tag, associate, create_launch_template, create_route, create_route_table,
    create_subnet, eks_image, main_route_table, tags,
};
use super::{
    ClusterEndpoint, DefaultTarget, NewSubnetRouting, World, WorldOptions, CLUSTER_NAME,
    CLUSTER_SECURITY_GROUP_NAME, DEFAULT_ROUTE, NODEGROUP_NAME, VPC_CIDR,
};
use crate::util::{random_uuid, Context};
use crate::Error;

type Ec2 = aws_sdk_ec2::Client;

const PUBLIC_SUBNETS: [(&str, &str); 3] = [
    ("10.42.0.0/19", "us-west-2a"),
    ("10.42.32.0/19", "us-west-2b"),
    ("10.42.64.0/19", "us-west-2c"),
];
const PRIVATE_SUBNETS: [(&str, &str); 3] = [
    ("10.42.96.0/19", "us-west-2a"),
    ("10.42.128.0/19", "us-west-2b"),
    ("10.42.160.0/19", "us-west-2c"),
];
const NEW_SUBNET_AZ: &str = "us-west-2a";

/// The network every world shares: VPC, IGW, public and private subnets with their tables, the NAT, the
/// new subnet (not yet routed). Cluster, nodegroup and the variants' resources come later.
/// Name of the function's state table in every world (the template names it after the stack).
pub const STATE_TABLE: &str = "eks-node-join-remediator-state";

/// The function's state table as the template creates it: one string key `pk`, pay per request, items
/// expiring through TTL on `expires_at`.
pub(super) async fn state_table(sdk: &SdkConfig) -> Result<String, Error> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TimeToLiveSpecification,
    };
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let attribute = AttributeDefinition::builder()
        .attribute_name("pk")
        .attribute_type(ScalarAttributeType::S)
        .build()
        .context("attribute definition")?;
    let key = KeySchemaElement::builder()
        .attribute_name("pk")
        .key_type(KeyType::Hash)
        .build()
        .context("key schema")?;
    ddb.create_table()
        .table_name(STATE_TABLE)
        .attribute_definitions(attribute)
        .key_schema(key)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .context("dynamodb:CreateTable")?;
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name("expires_at")
        .enabled(true)
        .build()
        .context("ttl")?;
    ddb.update_time_to_live()
        .table_name(STATE_TABLE)
        .time_to_live_specification(ttl)
        .send()
        .await
        .context("dynamodb:UpdateTimeToLive")?;
    Ok(STATE_TABLE.to_owned())
}

pub(super) async fn network(
    sdk: SdkConfig,
    account_id: &str,
    new_subnet_cidr: &str,
) -> Result<World, Error> {
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| crate::moto::REGION.to_owned());
    let ec2 = Ec2::new(&sdk);
    let vpc_id = vpc(&ec2).await?;
    let main_route_table_id = main_route_table(&ec2, &vpc_id).await?;
    let igw_id = internet_gateway(&ec2, &vpc_id).await?;
    let (public_subnet_ids, public_route_table_id) = public_subnets(&ec2, &vpc_id, &igw_id).await?;
    let nat_gateway_id = add_nat_gateway(&ec2, &public_subnet_ids[0], "eks-workshop-nat").await?;
    let (private_subnet_ids, private_route_table_id) =
        private_subnets(&ec2, &vpc_id, &nat_gateway_id).await?;
    let new_subnet_id = create_subnet(
        &ec2,
        &vpc_id,
        new_subnet_cidr,
        NEW_SUBNET_AZ,
        &[("Name", "eks-workshop-new-nodegroup-subnet")],
    )
    .await?;
    Ok(World {
        sdk,
        account_id: account_id.to_owned(),
        region,
        vpc_id,
        igw_id,
        main_route_table_id,
        public_subnet_ids,
        public_route_table_id,
        nat_gateway_id,
        private_subnet_ids,
        private_route_table_id,
        new_subnet_id,
        new_route_table_id: None,
        cluster_name: CLUSTER_NAME.to_owned(),
        nodegroup_name: NODEGROUP_NAME.to_owned(),
        asg_name: String::new(),
        cluster_security_group_id: String::new(),
        firewall: None,
        isolated_nat: None,
        state_table: String::new(),
        transit_gateway_id: None,
        vpc_endpoints: BTreeMap::new(),
        endpoint_security_group_id: None,
        new_subnet_nacl_id: None,
        node_security_group_id: None,
    })
}

/// VPC with DNS support and hostnames.
async fn vpc(ec2: &Ec2) -> Result<String, Error> {
    let vpc_id = ec2
        .create_vpc()
        .cidr_block(VPC_CIDR)
        .tag_specifications(tags(ResourceType::Vpc, &[("Name", "eks-workshop-vpc")]))
        .send()
        .await
        .context("ec2:CreateVpc")?
        .vpc()
        .and_then(|v| v.vpc_id())
        .ok_or("ec2:CreateVpc returned no VpcId")?
        .to_owned();
    set_dns(ec2, &vpc_id, true).await?;
    ec2.modify_vpc_attribute()
        .vpc_id(&vpc_id)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .context("ec2:ModifyVpcAttribute enableDnsHostnames")?;
    Ok(vpc_id)
}

/// `enableDnsSupport` of the VPC.
pub(super) async fn set_dns(ec2: &Ec2, vpc_id: &str, on: bool) -> Result<(), Error> {
    ec2.modify_vpc_attribute()
        .vpc_id(vpc_id)
        .enable_dns_support(AttributeBooleanValue::builder().value(on).build())
        .send()
        .await
        .context(format!("ec2:ModifyVpcAttribute enableDnsSupport={on}"))?;
    Ok(())
}

async fn internet_gateway(ec2: &Ec2, vpc_id: &str) -> Result<String, Error> {
    let igw_id = ec2
        .create_internet_gateway()
        .tag_specifications(tags(
            ResourceType::InternetGateway,
            &[("Name", "eks-workshop-igw")],
        ))
        .send()
        .await
        .context("ec2:CreateInternetGateway")?
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .ok_or("ec2:CreateInternetGateway returned no id")?
        .to_owned();
    ec2.attach_internet_gateway()
        .internet_gateway_id(&igw_id)
        .vpc_id(vpc_id)
        .send()
        .await
        .context("ec2:AttachInternetGateway")?;
    Ok(igw_id)
}

/// Three public subnets (public IPs on launch) on a table `0.0.0.0/0 → IGW`.
async fn public_subnets(
    ec2: &Ec2,
    vpc_id: &str,
    igw_id: &str,
) -> Result<(Vec<String>, String), Error> {
    let mut ids = Vec::new();
    for (cidr, az) in PUBLIC_SUBNETS {
        let name = format!("eks-workshop-public-{az}");
        let id = create_subnet(
            ec2,
            vpc_id,
            cidr,
            az,
            &[("Name", &name), ("kubernetes.io/role/elb", "1")],
        )
        .await?;
        ec2.modify_subnet_attribute()
            .subnet_id(&id)
            .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
            .send()
            .await
            .context("ec2:ModifySubnetAttribute MapPublicIpOnLaunch")?;
        ids.push(id);
    }
    let table = create_route_table(ec2, vpc_id, "eks-workshop-public").await?;
    create_route(
        ec2,
        &table,
        DEFAULT_ROUTE,
        &DefaultTarget::InternetGateway(igw_id.to_owned()),
    )
    .await?;
    for subnet in &ids {
        associate(ec2, &table, subnet).await?;
    }
    Ok((ids, table))
}

/// Three private subnets (the existing nodegroups) on a table `0.0.0.0/0 → NAT`.
async fn private_subnets(
    ec2: &Ec2,
    vpc_id: &str,
    nat_id: &str,
) -> Result<(Vec<String>, String), Error> {
    let mut ids = Vec::new();
    for (cidr, az) in PRIVATE_SUBNETS {
        let name = format!("eks-workshop-private-{az}");
        let tags = [
            ("Name", name.as_str()),
            ("kubernetes.io/role/internal-elb", "1"),
        ];
        ids.push(create_subnet(ec2, vpc_id, cidr, az, &tags).await?);
    }
    let table = create_route_table(ec2, vpc_id, "eks-workshop-private").await?;
    create_route(
        ec2,
        &table,
        DEFAULT_ROUTE,
        &DefaultTarget::Nat(nat_id.to_owned()),
    )
    .await?;
    for subnet in &ids {
        associate(ec2, &table, subnet).await?;
    }
    Ok((ids, table))
}

impl World {
    /// The new subnet's table and routes for `routing` (NAT subnets must exist already).
    pub(super) async fn route_new_subnet(
        &mut self,
        routing: NewSubnetRouting,
    ) -> Result<(), Error> {
        if routing == NewSubnetRouting::MainTable {
            return Ok(());
        }
        let ec2 = self.ec2();
        let rt = create_route_table(&ec2, &self.vpc_id, "new-nodegroup-2-rt").await?;
        associate(&ec2, &rt, &self.new_subnet_id).await?;
        self.new_route_table_id = Some(rt.clone());
        let nat = DefaultTarget::Nat(self.nat_gateway_id.clone());
        let routes: Vec<(&str, DefaultTarget)> = match routing {
            NewSubnetRouting::LocalOnly | NewSubnetRouting::MainTable => vec![],
            NewSubnetRouting::ViaNat => vec![(DEFAULT_ROUTE, nat)],
            NewSubnetRouting::SplitDefaultsViaNat => {
                vec![("0.0.0.0/1", nat.clone()), ("128.0.0.0/1", nat)]
            }
            NewSubnetRouting::ProxyViaTransitGateway => {
                let tgw = self.create_transit_gateway().await?;
                self.transit_gateway_id = Some(tgw.clone());
                vec![("10.0.0.0/8", DefaultTarget::TransitGateway(tgw))]
            }
            NewSubnetRouting::ViaFirewalledNat => vec![(
                DEFAULT_ROUTE,
                self.nat_target(&self.firewall.as_ref().map(|f| f.nat.clone()))?,
            )],
            NewSubnetRouting::ViaNatWithoutInternet => {
                vec![(DEFAULT_ROUTE, self.nat_target(&self.isolated_nat)?)]
            }
        };
        for (destination, target) in routes {
            create_route(&ec2, &rt, destination, &target).await?;
        }
        Ok(())
    }

    fn nat_target(&self, nat: &Option<super::NatSubnet>) -> Result<DefaultTarget, Error> {
        nat.as_ref()
            .map(|n| DefaultTarget::Nat(n.nat_gateway_id.clone()))
            .ok_or_else(|| "the NAT subnet of this routing was not built".into())
    }

    /// Cluster security group, as EKS creates it: all traffic from itself.
    pub(super) async fn cluster_security_group(&self) -> Result<String, Error> {
        let ec2 = self.ec2();
        let owned = format!("kubernetes.io/cluster/{CLUSTER_NAME}");
        let id = ec2
            .create_security_group()
            .group_name(CLUSTER_SECURITY_GROUP_NAME)
            .description("EKS created security group applied to ENI that is attached to EKS Control Plane master nodes, as well as any managed workloads.")
            .vpc_id(&self.vpc_id)
            .tag_specifications(tags(
                ResourceType::SecurityGroup,
                &[("Name", CLUSTER_SECURITY_GROUP_NAME), ("aws:eks:cluster-name", CLUSTER_NAME), (&owned, "owned")],
            ))
            .send()
            .await
            .context("ec2:CreateSecurityGroup")?
            .group_id()
            .ok_or("ec2:CreateSecurityGroup returned no GroupId")?
            .to_owned();
        let from_itself = IpPermission::builder()
            .ip_protocol("-1")
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(&id).build())
            .build();
        ec2.authorize_security_group_ingress()
            .group_id(&id)
            .ip_permissions(from_itself)
            .send()
            .await
            .context("ec2:AuthorizeSecurityGroupIngress (self)")?;
        Ok(id)
    }

    /// The EKS cluster on the private subnets. moto's UpdateClusterConfig replaces the whole VPC
    /// configuration, so endpoint access is set here, at creation.
    pub(super) async fn create_cluster(&self, endpoint: &ClusterEndpoint) -> Result<(), Error> {
        let (public, private, cidrs) = match endpoint {
            ClusterEndpoint::PublicAndPrivate => (true, true, vec!["0.0.0.0/0".to_owned()]),
            ClusterEndpoint::PrivateOnly => (false, true, vec!["0.0.0.0/0".to_owned()]),
            ClusterEndpoint::PublicOnly {
                public_access_cidrs,
            } => (true, false, public_access_cidrs.clone()),
        };
        let account_id = &self.account_id;
        self.eks()
            .create_cluster()
            .name(CLUSTER_NAME)
            .version("1.30")
            .role_arn(format!(
                "arn:aws:iam::{account_id}:role/eks-workshop-cluster-role"
            ))
            .resources_vpc_config(
                VpcConfigRequest::builder()
                    .set_subnet_ids(Some(self.private_subnet_ids.clone()))
                    .security_group_ids(&self.cluster_security_group_id)
                    .endpoint_public_access(public)
                    .endpoint_private_access(private)
                    .set_public_access_cidrs(Some(cidrs))
                    .build(),
            )
            .send()
            .await
            .context("eks:CreateCluster")?;
        Ok(())
    }

    /// The managed nodegroup, and (moto's CreateNodegroup creates none) its launch template and Auto
    /// Scaling group as EKS builds them. Returns the group's name, `eks-<nodegroup>-<uuid>`.
    pub(super) async fn create_nodegroup(&self, opts: &WorldOptions) -> Result<String, Error> {
        let account_id = &self.account_id;
        let scaling = NodegroupScalingConfig::builder()
            .min_size(0)
            .max_size(opts.desired_capacity.max(2))
            .desired_size(opts.desired_capacity)
            .build();
        let nodegroup = self
            .eks()
            .create_nodegroup()
            .cluster_name(CLUSTER_NAME)
            .nodegroup_name(NODEGROUP_NAME)
            .subnets(&self.new_subnet_id)
            .node_role(format!(
                "arn:aws:iam::{account_id}:role/eks-workshop-node-role"
            ))
            .scaling_config(scaling)
            .instance_types("m5.large")
            .ami_type(AmiTypes::Al2X8664)
            .capacity_type(CapacityTypes::OnDemand)
            .send()
            .await
            .context("eks:CreateNodegroup")?
            .nodegroup
            .ok_or("eks:CreateNodegroup returned no nodegroup")?;
        let uuid = nodegroup
            .nodegroup_arn()
            .and_then(|arn| arn.rsplit('/').next())
            .filter(|u| u.len() == 36)
            .map(str::to_owned)
            .unwrap_or_else(random_uuid);
        self.create_node_asg(&uuid, opts.desired_capacity).await
    }

    async fn create_node_asg(&self, uuid: &str, desired: i32) -> Result<String, Error> {
        let ec2 = self.ec2();
        let asg_name = format!("eks-{NODEGROUP_NAME}-{uuid}");
        let groups = vec![self
            .node_security_group_id
            .clone()
            .unwrap_or_else(|| self.cluster_security_group_id.clone())];
        let image_id = eks_image(&ec2).await?;
        let launch_template_id =
            create_launch_template(&ec2, &format!("eks-{uuid}"), &image_id, &groups).await?;
        let asg_tags: [(String, &str); 5] = [
            ("eks:cluster-name".into(), CLUSTER_NAME),
            ("eks:nodegroup-name".into(), NODEGROUP_NAME),
            (format!("kubernetes.io/cluster/{CLUSTER_NAME}"), "owned"),
            ("k8s.io/cluster-autoscaler/enabled".into(), "true"),
            (format!("k8s.io/cluster-autoscaler/{CLUSTER_NAME}"), "owned"),
        ];
        let template = LaunchTemplateSpecification::builder()
            .launch_template_id(&launch_template_id)
            .version("$Latest")
            .build();
        let mut create = self
            .autoscaling()
            .create_auto_scaling_group()
            .auto_scaling_group_name(&asg_name)
            .launch_template(template)
            .min_size(0)
            .max_size(desired.max(2))
            .desired_capacity(desired)
            .vpc_zone_identifier(&self.new_subnet_id);
        for (key, value) in &asg_tags {
            create = create.tags(asg_tag(&asg_name, key, value));
        }
        create
            .send()
            .await
            .context("autoscaling:CreateAutoScalingGroup")?;
        Ok(asg_name)
    }
}
