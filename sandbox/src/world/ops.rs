//! Changes to a built world and questions about it: instances of the nodegroup, routes, NAT gateways added
//! or deleted, the new subnet's routes, a transit gateway, a non-EKS group, terminations.

use std::time::{Duration, Instant};

use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_sdk_ec2::types::{InstanceStateName, NatGatewayState};

use super::ec2::{
    add_nat_gateway, asg_instance_ids, asg_tag, create_launch_template, create_route,
    describe_instance, describe_route_table, eks_image, filter, nat_state, replace_route,
    route_destination, route_target,
};
use super::{DefaultTarget, World, DEFAULT_ROUTE, WAIT};
use crate::util::{random_u64, Context};
use crate::Error;

impl World {
    /// Ids of the nodegroup ASG's instances that are `InService` or `Pending*`.
    pub async fn nodegroup_instance_ids(&self) -> Result<Vec<String>, Error> {
        asg_instance_ids(&self.autoscaling(), &self.asg_name).await
    }

    pub(super) async fn wait_for_instances(&self, count: usize) -> Result<(), Error> {
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
        add_nat_gateway(&self.ec2(), subnet_id, "eks-workshop-nat").await
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
        self.set_new_subnet_route(DEFAULT_ROUTE, target).await
    }

    /// Creates, or replaces, the `destination` route of the new subnet's explicit route table.
    pub async fn set_new_subnet_route(
        &self,
        destination: &str,
        target: DefaultTarget,
    ) -> Result<(), Error> {
        let table_id = self.new_route_table_id.as_deref().ok_or(
            "the new subnet has no explicit route table in this world (NewSubnetRouting::MainTable)",
        )?;
        let ec2 = self.ec2();
        let table = describe_route_table(&ec2, table_id).await?;
        let exists = table
            .routes()
            .iter()
            .any(|r| r.destination_cidr_block() == Some(destination));
        if exists {
            replace_route(&ec2, table_id, destination, &target).await
        } else {
            create_route(&ec2, table_id, destination, &target).await
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
        let name = format!("batch-workers-{:08x}", random_u64() as u32);
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
        let lt = create_launch_template(&ec2, &name, &image_id, &[default_sg]).await?;
        let template = LaunchTemplateSpecification::builder()
            .launch_template_id(&lt)
            .version("$Latest")
            .build();
        self.autoscaling()
            .create_auto_scaling_group()
            .auto_scaling_group_name(&name)
            .launch_template(template)
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
            let ids = asg_instance_ids(&self.autoscaling(), &name).await?;
            if let Some(id) = ids.into_iter().next() {
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
