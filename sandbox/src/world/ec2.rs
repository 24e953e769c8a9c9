//! Low-level EC2 and Auto Scaling helpers the world is built with: one SDK call (or a call and its wait)
//! each, returning the ids of what they made.

use std::time::{Duration, Instant};

use aws_sdk_autoscaling::types::Tag as AsgTag;
use aws_sdk_ec2::types::{
    DomainType, Filter, InstanceType, NatGatewayState, RequestLaunchTemplateData, ResourceType,
    Route, Tag, TagSpecification,
};

use super::{DefaultTarget, WAIT};
use crate::util::Context;
use crate::Error;

type Ec2 = aws_sdk_ec2::Client;

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

pub(super) fn tags(resource: ResourceType, pairs: &[(&str, &str)]) -> TagSpecification {
    let mut spec = TagSpecification::builder().resource_type(resource);
    for (k, v) in pairs {
        spec = spec.tags(Tag::builder().key(*k).value(*v).build());
    }
    spec.build()
}

pub(super) fn asg_tag(asg_name: &str, key: &str, value: &str) -> AsgTag {
    AsgTag::builder()
        .resource_id(asg_name)
        .resource_type("auto-scaling-group")
        .key(key)
        .value(value)
        .propagate_at_launch(true)
        .build()
}

pub(super) async fn main_route_table(ec2: &Ec2, vpc_id: &str) -> Result<String, Error> {
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

pub(super) async fn create_subnet(
    ec2: &Ec2,
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

pub(super) async fn create_route_table(
    ec2: &Ec2,
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

/// `destination → target` in `table_id`.
pub(super) async fn create_route(
    ec2: &Ec2,
    table_id: &str,
    destination: &str,
    target: &DefaultTarget,
) -> Result<(), Error> {
    let create = ec2
        .create_route()
        .route_table_id(table_id)
        .destination_cidr_block(destination);
    let create = match target {
        DefaultTarget::Nat(id) => create.nat_gateway_id(id),
        DefaultTarget::TransitGateway(id) => create.transit_gateway_id(id),
        DefaultTarget::InternetGateway(id) => create.gateway_id(id),
        DefaultTarget::VpcEndpoint(id) => create.vpc_endpoint_id(id),
    };
    create.send().await.context(format!(
        "ec2:CreateRoute {table_id} {destination} -> {target:?}"
    ))?;
    Ok(())
}

/// Points the existing `destination` route of `table_id` at `target`.
pub(super) async fn replace_route(
    ec2: &Ec2,
    table_id: &str,
    destination: &str,
    target: &DefaultTarget,
) -> Result<(), Error> {
    let replace = ec2
        .replace_route()
        .route_table_id(table_id)
        .destination_cidr_block(destination);
    let replace = match target {
        DefaultTarget::Nat(id) => replace.nat_gateway_id(id),
        DefaultTarget::TransitGateway(id) => replace.transit_gateway_id(id),
        DefaultTarget::InternetGateway(id) => replace.gateway_id(id),
        DefaultTarget::VpcEndpoint(id) => replace.vpc_endpoint_id(id),
    };
    replace.send().await.context(format!(
        "ec2:ReplaceRoute {table_id} {destination} -> {target:?}"
    ))?;
    Ok(())
}

pub(super) async fn associate(ec2: &Ec2, table_id: &str, subnet_id: &str) -> Result<(), Error> {
    ec2.associate_route_table()
        .route_table_id(table_id)
        .subnet_id(subnet_id)
        .send()
        .await
        .context(format!("ec2:AssociateRouteTable {table_id} {subnet_id}"))?;
    Ok(())
}

pub(super) async fn nat_state(ec2: &Ec2, nat_id: &str) -> Result<NatGatewayState, Error> {
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

/// A new EIP + NAT gateway named `name` in `subnet_id`, waited until `available`.
pub(super) async fn add_nat_gateway(
    ec2: &Ec2,
    subnet_id: &str,
    name: &str,
) -> Result<String, Error> {
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
        .tag_specifications(tags(ResourceType::Natgateway, &[("Name", name)]))
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
pub(super) async fn eks_image(ec2: &Ec2) -> Result<String, Error> {
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

pub(super) async fn create_launch_template(
    ec2: &Ec2,
    name: &str,
    image_id: &str,
    security_group_ids: &[String],
) -> Result<String, Error> {
    Ok(ec2
        .create_launch_template()
        .launch_template_name(name)
        .launch_template_data(
            RequestLaunchTemplateData::builder()
                .image_id(image_id)
                .instance_type(InstanceType::M5Large)
                .set_security_group_ids(Some(security_group_ids.to_vec()))
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

pub(super) async fn asg_instance_ids(
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
    ec2: &Ec2,
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
    ec2: &Ec2,
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
