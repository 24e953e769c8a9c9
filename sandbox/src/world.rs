//! The seed's world (and variations of it) built in moto with the real AWS SDK.
//!
//! VPC `10.42.0.0/16` with DNS support and hostnames, an attached internet gateway, three public subnets on a
//! table `0.0.0.0/0 → IGW`, a NAT gateway in public-a, three private subnets (the existing nodegroups) on a
//! table `0.0.0.0/0 → NAT`, and the new subnet `10.42.192.0/19` in us-west-2a whose routing depends on
//! [`NewSubnetRouting`]. EKS cluster `eks-workshop`, managed nodegroup `new_nodegroup_2` and, because moto's
//! `CreateNodegroup` does not create one, the nodegroup's Auto Scaling group built by hand the way EKS
//! builds it (launch template, tags, the new subnet).

use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_autoscaling::types::{LaunchTemplateSpecification, Tag as AsgTag};
use aws_sdk_ec2::types::{
    AttributeBooleanValue, DomainType, Filter, InstanceStateName, InstanceType, NatGatewayState,
    RequestLaunchTemplateData, ResourceType, Route, Tag, TagSpecification,
};
use aws_sdk_eks::types::{AmiTypes, CapacityTypes, NodegroupScalingConfig, VpcConfigRequest};
use serde_json::Value;

use crate::util::{random_u64, random_uuid, rfc3339, Context};
use crate::Error;

/// The EventBridge launch event the fixtures are cut from.
const LAUNCH_EVENT_TEMPLATE: &str = include_str!("../../events/launch-successful.json");

/// Name of the cluster in the seed.
pub const CLUSTER_NAME: &str = "eks-workshop";
/// Name of the nodegroup whose nodes do not join in the seed.
pub const NODEGROUP_NAME: &str = "new_nodegroup_2";
/// CIDR of the new subnet in the seed.
pub const NEW_SUBNET_CIDR: &str = "10.42.192.0/19";
/// Name of the cluster security group in the seed.
pub const CLUSTER_SECURITY_GROUP_NAME: &str = "eks-cluster-sg-eks-workshop-123456789";

const VPC_CIDR: &str = "10.42.0.0/16";
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
const DEFAULT_ROUTE: &str = "0.0.0.0/0";
const WAIT: Duration = Duration::from_secs(60);

/// How the new subnet is routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NewSubnetRouting {
    /// The seed: an explicit route table with only the local route.
    #[default]
    LocalOnly,
    /// No explicit association; the VPC main table (local route only) applies.
    MainTable,
    /// An explicit table with `0.0.0.0/0 → the working NAT gateway`: nodes join.
    ViaNat,
}

/// Variations of the world.
#[derive(Debug, Clone)]
pub struct WorldOptions {
    /// Routing of the new subnet.
    pub routing: NewSubnetRouting,
    /// Desired capacity of the nodegroup (and its ASG).
    pub desired_capacity: i32,
}

impl Default for WorldOptions {
    fn default() -> Self {
        WorldOptions {
            routing: NewSubnetRouting::LocalOnly,
            desired_capacity: 1,
        }
    }
}

/// Target of the new subnet's default route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultTarget {
    /// `nat-…`
    Nat(String),
    /// `tgw-…`
    TransitGateway(String),
    /// `igw-…`
    InternetGateway(String),
}

/// The ids of everything the world is made of, plus the SDK configuration of its account.
#[derive(Debug, Clone)]
pub struct World {
    pub sdk: SdkConfig,
    pub account_id: String,
    pub region: String,
    pub vpc_id: String,
    pub igw_id: String,
    pub main_route_table_id: String,
    pub public_subnet_ids: Vec<String>,
    pub public_route_table_id: String,
    /// `available`, in the public subnet of us-west-2a.
    pub nat_gateway_id: String,
    /// Subnets of the existing nodegroups.
    pub private_subnet_ids: Vec<String>,
    /// `0.0.0.0/0 → nat_gateway_id`.
    pub private_route_table_id: String,
    /// `10.42.192.0/19`, us-west-2a.
    pub new_subnet_id: String,
    /// `None` for [`NewSubnetRouting::MainTable`].
    pub new_route_table_id: Option<String>,
    /// `eks-workshop`
    pub cluster_name: String,
    /// `new_nodegroup_2`
    pub nodegroup_name: String,
    /// `eks-new_nodegroup_2-<uuid>`, the uuid of the nodegroup's ARN.
    pub asg_name: String,
    /// `eks-cluster-sg-eks-workshop-123456789`
    pub cluster_security_group_id: String,
}

impl World {
    /// The seed's world: [`WorldOptions::default`].
    pub async fn seed(sdk: SdkConfig, account_id: &str) -> Result<World, Error> {
        World::build(sdk, account_id, WorldOptions::default()).await
    }

    /// Builds the world in the account `sdk` points at.
    pub async fn build(
        sdk: SdkConfig,
        account_id: &str,
        opts: WorldOptions,
    ) -> Result<World, Error> {
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| crate::moto::REGION.to_owned());
        let ec2 = aws_sdk_ec2::Client::new(&sdk);

        // VPC with DNS support and hostnames.
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
        ec2.modify_vpc_attribute()
            .vpc_id(&vpc_id)
            .enable_dns_support(AttributeBooleanValue::builder().value(true).build())
            .send()
            .await
            .context("ec2:ModifyVpcAttribute enableDnsSupport")?;
        ec2.modify_vpc_attribute()
            .vpc_id(&vpc_id)
            .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
            .send()
            .await
            .context("ec2:ModifyVpcAttribute enableDnsHostnames")?;
        let main_route_table_id = main_route_table(&ec2, &vpc_id).await?;

        // Internet gateway.
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
            .vpc_id(&vpc_id)
            .send()
            .await
            .context("ec2:AttachInternetGateway")?;

        // Public subnets on a table 0.0.0.0/0 -> IGW.
        let mut public_subnet_ids = Vec::new();
        for (cidr, az) in PUBLIC_SUBNETS {
            let name = format!("eks-workshop-public-{az}");
            let id = create_subnet(
                &ec2,
                &vpc_id,
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
            public_subnet_ids.push(id);
        }
        let public_route_table_id =
            create_route_table(&ec2, &vpc_id, "eks-workshop-public").await?;
        create_route(
            &ec2,
            &public_route_table_id,
            &DefaultTarget::InternetGateway(igw_id.clone()),
        )
        .await?;
        for subnet in &public_subnet_ids {
            associate(&ec2, &public_route_table_id, subnet).await?;
        }

        // The NAT gateway the existing nodegroups use.
        let nat_gateway_id = add_nat_gateway(&ec2, &public_subnet_ids[0]).await?;

        // Private subnets (existing nodegroups) on a table 0.0.0.0/0 -> NAT.
        let mut private_subnet_ids = Vec::new();
        for (cidr, az) in PRIVATE_SUBNETS {
            let name = format!("eks-workshop-private-{az}");
            let id = create_subnet(
                &ec2,
                &vpc_id,
                cidr,
                az,
                &[("Name", &name), ("kubernetes.io/role/internal-elb", "1")],
            )
            .await?;
            private_subnet_ids.push(id);
        }
        let private_route_table_id =
            create_route_table(&ec2, &vpc_id, "eks-workshop-private").await?;
        create_route(
            &ec2,
            &private_route_table_id,
            &DefaultTarget::Nat(nat_gateway_id.clone()),
        )
        .await?;
        for subnet in &private_subnet_ids {
            associate(&ec2, &private_route_table_id, subnet).await?;
        }

        // The new subnet.
        let new_subnet_id = create_subnet(
            &ec2,
            &vpc_id,
            NEW_SUBNET_CIDR,
            NEW_SUBNET_AZ,
            &[("Name", "eks-workshop-new-nodegroup-subnet")],
        )
        .await?;
        let new_route_table_id = match opts.routing {
            NewSubnetRouting::MainTable => None,
            NewSubnetRouting::LocalOnly | NewSubnetRouting::ViaNat => {
                let rt = create_route_table(&ec2, &vpc_id, "new-nodegroup-2-rt").await?;
                if opts.routing == NewSubnetRouting::ViaNat {
                    create_route(&ec2, &rt, &DefaultTarget::Nat(nat_gateway_id.clone())).await?;
                }
                associate(&ec2, &rt, &new_subnet_id).await?;
                Some(rt)
            }
        };

        // Cluster security group, as EKS creates it.
        let cluster_security_group_id = ec2
            .create_security_group()
            .group_name(CLUSTER_SECURITY_GROUP_NAME)
            .description("EKS created security group applied to ENI that is attached to EKS Control Plane master nodes, as well as any managed workloads.")
            .vpc_id(&vpc_id)
            .tag_specifications(tags(
                ResourceType::SecurityGroup,
                &[
                    ("Name", CLUSTER_SECURITY_GROUP_NAME),
                    ("aws:eks:cluster-name", CLUSTER_NAME),
                    (&format!("kubernetes.io/cluster/{CLUSTER_NAME}"), "owned"),
                ],
            ))
            .send()
            .await
            .context("ec2:CreateSecurityGroup")?
            .group_id()
            .ok_or("ec2:CreateSecurityGroup returned no GroupId")?
            .to_owned();
        ec2.authorize_security_group_ingress()
            .group_id(&cluster_security_group_id)
            .ip_permissions(
                aws_sdk_ec2::types::IpPermission::builder()
                    .ip_protocol("-1")
                    .user_id_group_pairs(
                        aws_sdk_ec2::types::UserIdGroupPair::builder()
                            .group_id(&cluster_security_group_id)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .context("ec2:AuthorizeSecurityGroupIngress (self)")?;

        // EKS cluster and managed nodegroup.
        let eks = aws_sdk_eks::Client::new(&sdk);
        eks.create_cluster()
            .name(CLUSTER_NAME)
            .version("1.30")
            .role_arn(format!(
                "arn:aws:iam::{account_id}:role/eks-workshop-cluster-role"
            ))
            .resources_vpc_config(
                VpcConfigRequest::builder()
                    .set_subnet_ids(Some(private_subnet_ids.clone()))
                    .security_group_ids(&cluster_security_group_id)
                    .endpoint_public_access(true)
                    .endpoint_private_access(true)
                    .public_access_cidrs("0.0.0.0/0")
                    .build(),
            )
            .send()
            .await
            .context("eks:CreateCluster")?;
        let max_size = opts.desired_capacity.max(2);
        let nodegroup = eks
            .create_nodegroup()
            .cluster_name(CLUSTER_NAME)
            .nodegroup_name(NODEGROUP_NAME)
            .subnets(&new_subnet_id)
            .node_role(format!(
                "arn:aws:iam::{account_id}:role/eks-workshop-node-role"
            ))
            .scaling_config(
                NodegroupScalingConfig::builder()
                    .min_size(0)
                    .max_size(max_size)
                    .desired_size(opts.desired_capacity)
                    .build(),
            )
            .instance_types("m5.large")
            .ami_type(AmiTypes::Al2X8664)
            .capacity_type(CapacityTypes::OnDemand)
            .send()
            .await
            .context("eks:CreateNodegroup")?
            .nodegroup
            .ok_or("eks:CreateNodegroup returned no nodegroup")?;
        // EKS names the group eks-<nodegroup>-<uuid of the nodegroup ARN>.
        let uuid = nodegroup
            .nodegroup_arn()
            .and_then(|arn| arn.rsplit('/').next())
            .filter(|u| u.len() == 36)
            .map(str::to_owned)
            .unwrap_or_else(random_uuid);
        let asg_name = format!("eks-{NODEGROUP_NAME}-{uuid}");

        // moto's CreateNodegroup creates no Auto Scaling group: build it the way EKS does.
        let image_id = eks_image(&ec2).await?;
        let launch_template_id = create_launch_template(
            &ec2,
            &format!("eks-{uuid}"),
            &image_id,
            &cluster_security_group_id,
        )
        .await?;
        let asg_tags: [(String, &str); 5] = [
            ("eks:cluster-name".into(), CLUSTER_NAME),
            ("eks:nodegroup-name".into(), NODEGROUP_NAME),
            (format!("kubernetes.io/cluster/{CLUSTER_NAME}"), "owned"),
            ("k8s.io/cluster-autoscaler/enabled".into(), "true"),
            (format!("k8s.io/cluster-autoscaler/{CLUSTER_NAME}"), "owned"),
        ];
        let autoscaling = aws_sdk_autoscaling::Client::new(&sdk);
        let mut create = autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(&asg_name)
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_id(&launch_template_id)
                    .version("$Latest")
                    .build(),
            )
            .min_size(0)
            .max_size(max_size)
            .desired_capacity(opts.desired_capacity)
            .vpc_zone_identifier(&new_subnet_id);
        for (key, value) in &asg_tags {
            create = create.tags(asg_tag(&asg_name, key, value));
        }
        create
            .send()
            .await
            .context("autoscaling:CreateAutoScalingGroup")?;

        let world = World {
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
            new_route_table_id,
            cluster_name: CLUSTER_NAME.to_owned(),
            nodegroup_name: NODEGROUP_NAME.to_owned(),
            asg_name,
            cluster_security_group_id,
        };
        world
            .wait_for_instances(opts.desired_capacity.max(0) as usize)
            .await?;
        Ok(world)
    }

    /// EC2 client of the world's account.
    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk)
    }

    /// EKS client of the world's account.
    pub fn eks(&self) -> aws_sdk_eks::Client {
        aws_sdk_eks::Client::new(&self.sdk)
    }

    /// Auto Scaling client of the world's account.
    pub fn autoscaling(&self) -> aws_sdk_autoscaling::Client {
        aws_sdk_autoscaling::Client::new(&self.sdk)
    }

    /// Ids of the nodegroup ASG's instances that are `InService` or `Pending*`.
    pub async fn nodegroup_instance_ids(&self) -> Result<Vec<String>, Error> {
        asg_instance_ids(&self.autoscaling(), &self.asg_name).await
    }

    async fn wait_for_instances(&self, count: usize) -> Result<(), Error> {
        let deadline = Instant::now() + WAIT;
        loop {
            let ids = self.nodegroup_instance_ids().await?;
            if ids.len() >= count {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "ASG {} has {} instance(s) after {WAIT:?}, expected {count}",
                    self.asg_name,
                    ids.len()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The EventBridge `EC2 Instance Launch Successful` event for `instance_id`: the repository's fixture
    /// with account, region, ASG (from the instance's `aws:autoscaling:groupName` tag), instance, subnet
    /// and AZ replaced, in `detail` and in `resources`.
    pub async fn launch_event(&self, instance_id: &str) -> Result<Value, Error> {
        let instance = describe_instance(&self.ec2(), instance_id).await?;
        let subnet_id = instance
            .subnet_id()
            .ok_or_else(|| format!("instance {instance_id} has no subnet"))?;
        let az = instance
            .placement()
            .and_then(|p| p.availability_zone())
            .ok_or_else(|| format!("instance {instance_id} has no availability zone"))?;
        let asg_name = instance
            .tags()
            .iter()
            .find(|t| t.key() == Some("aws:autoscaling:groupName"))
            .and_then(|t| t.value())
            .unwrap_or(&self.asg_name)
            .to_owned();
        let group = self
            .autoscaling()
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&asg_name)
            .send()
            .await
            .context("autoscaling:DescribeAutoScalingGroups")?;
        let asg_arn = group
            .auto_scaling_groups()
            .first()
            .and_then(|g| g.auto_scaling_group_arn())
            .map(str::to_owned)
            .unwrap_or_else(|| {
                format!(
                    "arn:aws:autoscaling:{}:{}:autoScalingGroup:{}:autoScalingGroupName/{asg_name}",
                    self.region,
                    self.account_id,
                    random_uuid()
                )
            });
        let launched = instance
            .launch_time()
            .and_then(|t| std::time::SystemTime::try_from(*t).ok())
            .unwrap_or_else(std::time::SystemTime::now);
        let time = rfc3339(launched);
        let millis = time.replace('Z', ".000Z");

        let mut event: Value = serde_json::from_str(LAUNCH_EVENT_TEMPLATE)
            .map_err(|e| format!("events/launch-successful.json is not JSON: {e}"))?;
        let obj = event
            .as_object_mut()
            .ok_or("events/launch-successful.json is not an object")?;
        obj.insert("id".into(), random_uuid().into());
        obj.insert("account".into(), self.account_id.clone().into());
        obj.insert("region".into(), self.region.clone().into());
        obj.insert("time".into(), time.into());
        obj.insert(
            "resources".into(),
            serde_json::json!([
                asg_arn,
                format!(
                    "arn:aws:ec2:{}:{}:instance/{instance_id}",
                    self.region, self.account_id
                )
            ]),
        );
        let detail = obj
            .get_mut("detail")
            .and_then(Value::as_object_mut)
            .ok_or("events/launch-successful.json has no detail object")?;
        detail.insert("AutoScalingGroupName".into(), asg_name.into());
        detail.insert("EC2InstanceId".into(), instance_id.into());
        detail.insert(
            "Description".into(),
            format!("Launching a new EC2 instance: {instance_id}").into(),
        );
        detail.insert("ActivityId".into(), random_uuid().into());
        detail.insert("RequestId".into(), random_uuid().into());
        detail.insert("StartTime".into(), millis.clone().into());
        detail.insert("EndTime".into(), millis.into());
        detail.insert(
            "Details".into(),
            serde_json::json!({ "Subnet ID": subnet_id, "Availability Zone": az }),
        );
        Ok(event)
    }

    /// Routes of a route table as `(destination, target id, state)`.
    pub async fn routes(
        &self,
        route_table_id: &str,
    ) -> Result<Vec<(String, String, String)>, Error> {
        let table = describe_route_table(&self.ec2(), route_table_id).await?;
        Ok(table
            .routes()
            .iter()
            .map(|r| {
                (
                    route_destination(r),
                    route_target(r),
                    r.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                )
            })
            .collect())
    }

    /// A new EIP + NAT gateway in `subnet_id`, waited until `available`.
    pub async fn add_nat_gateway(&self, subnet_id: &str) -> Result<String, Error> {
        add_nat_gateway(&self.ec2(), subnet_id).await
    }

    /// Deletes a NAT gateway and waits until it is `deleting` or `deleted`.
    pub async fn delete_nat_gateway(&self, nat_id: &str) -> Result<(), Error> {
        let ec2 = self.ec2();
        ec2.delete_nat_gateway()
            .nat_gateway_id(nat_id)
            .send()
            .await
            .context(format!("ec2:DeleteNatGateway {nat_id}"))?;
        let deadline = Instant::now() + WAIT;
        loop {
            let state = nat_state(&ec2, nat_id).await?;
            if matches!(state, NatGatewayState::Deleted | NatGatewayState::Deleting) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("NAT gateway {nat_id} still {state:?} after {WAIT:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Creates, or replaces, the `0.0.0.0/0` route of the new subnet's explicit route table.
    pub async fn set_new_subnet_default_route(&self, target: DefaultTarget) -> Result<(), Error> {
        let table_id = self.new_route_table_id.as_deref().ok_or(
            "the new subnet has no explicit route table in this world (NewSubnetRouting::MainTable)",
        )?;
        let ec2 = self.ec2();
        let table = describe_route_table(&ec2, table_id).await?;
        let exists = table
            .routes()
            .iter()
            .any(|r| r.destination_cidr_block() == Some(DEFAULT_ROUTE));
        if exists {
            let mut replace = ec2
                .replace_route()
                .route_table_id(table_id)
                .destination_cidr_block(DEFAULT_ROUTE);
            replace = match &target {
                DefaultTarget::Nat(id) => replace.nat_gateway_id(id),
                DefaultTarget::TransitGateway(id) => replace.transit_gateway_id(id),
                DefaultTarget::InternetGateway(id) => replace.gateway_id(id),
            };
            replace.send().await.context(format!(
                "ec2:ReplaceRoute {table_id} 0.0.0.0/0 -> {target:?}"
            ))?;
            Ok(())
        } else {
            create_route(&ec2, table_id, &target).await
        }
    }

    /// A transit gateway attached to the VPC (one subnet per AZ: the new subnet, private-b, private-c).
    pub async fn create_transit_gateway(&self) -> Result<String, Error> {
        let ec2 = self.ec2();
        let tgw_id = ec2
            .create_transit_gateway()
            .description("sandbox transit gateway")
            .send()
            .await
            .context("ec2:CreateTransitGateway")?
            .transit_gateway()
            .and_then(|t| t.transit_gateway_id())
            .ok_or("ec2:CreateTransitGateway returned no id")?
            .to_owned();
        let mut subnets = vec![self.new_subnet_id.clone()];
        subnets.extend(self.private_subnet_ids.iter().skip(1).cloned());
        ec2.create_transit_gateway_vpc_attachment()
            .transit_gateway_id(&tgw_id)
            .vpc_id(&self.vpc_id)
            .set_subnet_ids(Some(subnets))
            .send()
            .await
            .context("ec2:CreateTransitGatewayVpcAttachment")?;
        Ok(tgw_id)
    }

    /// A plain Auto Scaling group (no EKS tags) with one instance in the new subnet.
    /// Returns `(asg name, instance id)`.
    pub async fn create_non_eks_group(&self) -> Result<(String, String), Error> {
        let ec2 = self.ec2();
        let suffix = format!("{:08x}", random_u64() as u32);
        let name = format!("batch-workers-{suffix}");
        let default_sg = ec2
            .describe_security_groups()
            .filters(filter("vpc-id", &self.vpc_id))
            .filters(filter("group-name", "default"))
            .send()
            .await
            .context("ec2:DescribeSecurityGroups default")?
            .security_groups()
            .first()
            .and_then(|g| g.group_id())
            .ok_or_else(|| format!("VPC {} has no default security group", self.vpc_id))?
            .to_owned();
        let image_id = eks_image(&ec2).await?;
        let lt = create_launch_template(&ec2, &name, &image_id, &default_sg).await?;
        let autoscaling = self.autoscaling();
        autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(&name)
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_id(&lt)
                    .version("$Latest")
                    .build(),
            )
            .min_size(0)
            .max_size(1)
            .desired_capacity(1)
            .vpc_zone_identifier(&self.new_subnet_id)
            .tags(asg_tag(&name, "Name", "batch-workers"))
            .send()
            .await
            .context("autoscaling:CreateAutoScalingGroup (non-EKS)")?;
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(id) = asg_instance_ids(&autoscaling, &name)
                .await?
                .into_iter()
                .next()
            {
                return Ok((name, id));
            }
            if Instant::now() > deadline {
                return Err(format!("ASG {name} launched no instance within {WAIT:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `ec2:TerminateInstances`, waited until the instance is `terminated`.
    /// (moto's Auto Scaling notices and launches a replacement at once.)
    pub async fn terminate_instance(&self, instance_id: &str) -> Result<(), Error> {
        let ec2 = self.ec2();
        ec2.terminate_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .context(format!("ec2:TerminateInstances {instance_id}"))?;
        let deadline = Instant::now() + WAIT;
        loop {
            let instance = describe_instance(&ec2, instance_id).await?;
            let state = instance.state().and_then(|s| s.name()).cloned();
            if state == Some(InstanceStateName::Terminated) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(
                    format!("instance {instance_id} still {state:?} after {WAIT:?}").into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Destination of a route: IPv4 CIDR, IPv6 CIDR or prefix list.
pub fn route_destination(route: &Route) -> String {
    route
        .destination_cidr_block()
        .or(route.destination_ipv6_cidr_block())
        .or(route.destination_prefix_list_id())
        .unwrap_or_default()
        .to_owned()
}

/// Target of a route: `local`, `igw-…`, `nat-…`, `tgw-…`, `pcx-…`, `eni-…`, `i-…`, ….
pub fn route_target(route: &Route) -> String {
    route
        .gateway_id()
        .or(route.nat_gateway_id())
        .or(route.transit_gateway_id())
        .or(route.vpc_peering_connection_id())
        .or(route.network_interface_id())
        .or(route.instance_id())
        .or(route.egress_only_internet_gateway_id())
        .or(route.local_gateway_id())
        .or(route.carrier_gateway_id())
        .or(route.core_network_arn())
        .unwrap_or_default()
        .to_owned()
}

pub(crate) fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn tags(resource: ResourceType, pairs: &[(&str, &str)]) -> TagSpecification {
    let mut spec = TagSpecification::builder().resource_type(resource);
    for (k, v) in pairs {
        spec = spec.tags(Tag::builder().key(*k).value(*v).build());
    }
    spec.build()
}

fn asg_tag(asg_name: &str, key: &str, value: &str) -> AsgTag {
    AsgTag::builder()
        .resource_id(asg_name)
        .resource_type("auto-scaling-group")
        .key(key)
        .value(value)
        .propagate_at_launch(true)
        .build()
}

async fn main_route_table(ec2: &aws_sdk_ec2::Client, vpc_id: &str) -> Result<String, Error> {
    Ok(ec2
        .describe_route_tables()
        .filters(filter("vpc-id", vpc_id))
        .filters(filter("association.main", "true"))
        .send()
        .await
        .context("ec2:DescribeRouteTables main")?
        .route_tables()
        .first()
        .and_then(|t| t.route_table_id())
        .ok_or_else(|| format!("VPC {vpc_id} has no main route table"))?
        .to_owned())
}

async fn create_subnet(
    ec2: &aws_sdk_ec2::Client,
    vpc_id: &str,
    cidr: &str,
    az: &str,
    pairs: &[(&str, &str)],
) -> Result<String, Error> {
    Ok(ec2
        .create_subnet()
        .vpc_id(vpc_id)
        .cidr_block(cidr)
        .availability_zone(az)
        .tag_specifications(tags(ResourceType::Subnet, pairs))
        .send()
        .await
        .context(format!("ec2:CreateSubnet {cidr}"))?
        .subnet()
        .and_then(|s| s.subnet_id())
        .ok_or("ec2:CreateSubnet returned no SubnetId")?
        .to_owned())
}

async fn create_route_table(
    ec2: &aws_sdk_ec2::Client,
    vpc_id: &str,
    name: &str,
) -> Result<String, Error> {
    Ok(ec2
        .create_route_table()
        .vpc_id(vpc_id)
        .tag_specifications(tags(ResourceType::RouteTable, &[("Name", name)]))
        .send()
        .await
        .context("ec2:CreateRouteTable")?
        .route_table()
        .and_then(|t| t.route_table_id())
        .ok_or("ec2:CreateRouteTable returned no id")?
        .to_owned())
}

async fn create_route(
    ec2: &aws_sdk_ec2::Client,
    table_id: &str,
    target: &DefaultTarget,
) -> Result<(), Error> {
    let mut create = ec2
        .create_route()
        .route_table_id(table_id)
        .destination_cidr_block(DEFAULT_ROUTE);
    create = match target {
        DefaultTarget::Nat(id) => create.nat_gateway_id(id),
        DefaultTarget::TransitGateway(id) => create.transit_gateway_id(id),
        DefaultTarget::InternetGateway(id) => create.gateway_id(id),
    };
    create.send().await.context(format!(
        "ec2:CreateRoute {table_id} 0.0.0.0/0 -> {target:?}"
    ))?;
    Ok(())
}

async fn associate(
    ec2: &aws_sdk_ec2::Client,
    table_id: &str,
    subnet_id: &str,
) -> Result<(), Error> {
    ec2.associate_route_table()
        .route_table_id(table_id)
        .subnet_id(subnet_id)
        .send()
        .await
        .context(format!("ec2:AssociateRouteTable {table_id} {subnet_id}"))?;
    Ok(())
}

async fn nat_state(ec2: &aws_sdk_ec2::Client, nat_id: &str) -> Result<NatGatewayState, Error> {
    ec2.describe_nat_gateways()
        .nat_gateway_ids(nat_id)
        .send()
        .await
        .context(format!("ec2:DescribeNatGateways {nat_id}"))?
        .nat_gateways()
        .first()
        .and_then(|n| n.state())
        .cloned()
        .ok_or_else(|| format!("NAT gateway {nat_id} not found").into())
}

async fn add_nat_gateway(ec2: &aws_sdk_ec2::Client, subnet_id: &str) -> Result<String, Error> {
    let allocation_id = ec2
        .allocate_address()
        .domain(DomainType::Vpc)
        .send()
        .await
        .context("ec2:AllocateAddress")?
        .allocation_id()
        .ok_or("ec2:AllocateAddress returned no AllocationId")?
        .to_owned();
    let nat_id = ec2
        .create_nat_gateway()
        .subnet_id(subnet_id)
        .allocation_id(&allocation_id)
        .tag_specifications(tags(
            ResourceType::Natgateway,
            &[("Name", "eks-workshop-nat")],
        ))
        .send()
        .await
        .context(format!("ec2:CreateNatGateway in {subnet_id}"))?
        .nat_gateway()
        .and_then(|n| n.nat_gateway_id())
        .ok_or("ec2:CreateNatGateway returned no id")?
        .to_owned();
    let deadline = Instant::now() + WAIT;
    loop {
        let state = nat_state(ec2, &nat_id).await?;
        if state == NatGatewayState::Available {
            return Ok(nat_id);
        }
        if matches!(state, NatGatewayState::Failed | NatGatewayState::Deleted)
            || Instant::now() > deadline
        {
            return Err(format!("NAT gateway {nat_id} is {state:?}, not available").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An AMI moto knows: the EKS-optimised Linux one if present.
async fn eks_image(ec2: &aws_sdk_ec2::Client) -> Result<String, Error> {
    let eks = ec2
        .describe_images()
        .owners("amazon")
        .filters(filter("name", "amazon-eks-node*"))
        .send()
        .await
        .context("ec2:DescribeImages amazon-eks-node*")?;
    if let Some(id) = eks.images().first().and_then(|i| i.image_id()) {
        return Ok(id.to_owned());
    }
    let any = ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .context("ec2:DescribeImages")?;
    any.images()
        .first()
        .and_then(|i| i.image_id())
        .map(str::to_owned)
        .ok_or_else(|| "moto knows no AMI".into())
}

async fn create_launch_template(
    ec2: &aws_sdk_ec2::Client,
    name: &str,
    image_id: &str,
    security_group_id: &str,
) -> Result<String, Error> {
    Ok(ec2
        .create_launch_template()
        .launch_template_name(name)
        .launch_template_data(
            RequestLaunchTemplateData::builder()
                .image_id(image_id)
                .instance_type(InstanceType::M5Large)
                .security_group_ids(security_group_id)
                .build(),
        )
        .send()
        .await
        .context(format!("ec2:CreateLaunchTemplate {name}"))?
        .launch_template()
        .and_then(|t| t.launch_template_id())
        .ok_or("ec2:CreateLaunchTemplate returned no id")?
        .to_owned())
}

async fn asg_instance_ids(
    autoscaling: &aws_sdk_autoscaling::Client,
    asg_name: &str,
) -> Result<Vec<String>, Error> {
    let out = autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(asg_name)
        .send()
        .await
        .context(format!("autoscaling:DescribeAutoScalingGroups {asg_name}"))?;
    let group = out
        .auto_scaling_groups()
        .first()
        .ok_or_else(|| format!("ASG {asg_name} not found"))?;
    Ok(group
        .instances()
        .iter()
        .filter(|i| {
            i.lifecycle_state()
                .map(|s| s.as_str() == "InService" || s.as_str().starts_with("Pending"))
                .unwrap_or(false)
        })
        .filter_map(|i| i.instance_id().map(str::to_owned))
        .collect())
}

pub(crate) async fn describe_instance(
    ec2: &aws_sdk_ec2::Client,
    instance_id: &str,
) -> Result<aws_sdk_ec2::types::Instance, Error> {
    ec2.describe_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .context(format!("ec2:DescribeInstances {instance_id}"))?
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .next()
        .cloned()
        .ok_or_else(|| format!("instance {instance_id} not found").into())
}

pub(crate) async fn describe_route_table(
    ec2: &aws_sdk_ec2::Client,
    route_table_id: &str,
) -> Result<aws_sdk_ec2::types::RouteTable, Error> {
    ec2.describe_route_tables()
        .route_table_ids(route_table_id)
        .send()
        .await
        .context(format!("ec2:DescribeRouteTables {route_table_id}"))?
        .route_tables()
        .first()
        .cloned()
        .ok_or_else(|| format!("route table {route_table_id} not found").into())
}
