//! The EventBridge `EC2 Instance Launch Successful` event for an instance of the world, cut from the
//! repository's fixture.

use std::time::SystemTime;

use serde_json::{json, Map, Value};

use super::ec2::describe_instance;
use super::World;
use crate::util::{random_uuid, rfc3339, Context};
use crate::Error;

/// The EventBridge launch event the fixtures are cut from.
const LAUNCH_EVENT_TEMPLATE: &str = include_str!("../../../events/launch-successful.json");

/// Where the instance is and which group launched it.
struct Launch {
    instance_id: String,
    subnet_id: String,
    az: String,
    asg_name: String,
    asg_arn: String,
    time: String,
}

impl World {
    /// The EventBridge `EC2 Instance Launch Successful` event for `instance_id`: the repository's fixture
    /// with account, region, ASG (from the instance's `aws:autoscaling:groupName` tag), instance, subnet
    /// and AZ replaced, in `detail` and in `resources`.
    pub async fn launch_event(&self, instance_id: &str) -> Result<Value, Error> {
        let launch = self.launch(instance_id).await?;
        let mut event: Value = serde_json::from_str(LAUNCH_EVENT_TEMPLATE)
            .map_err(|e| format!("events/launch-successful.json is not JSON: {e}"))?;
        let obj = event
            .as_object_mut()
            .ok_or("events/launch-successful.json is not an object")?;
        obj.insert("id".into(), random_uuid().into());
        obj.insert("account".into(), self.account_id.clone().into());
        obj.insert("region".into(), self.region.clone().into());
        obj.insert("time".into(), launch.time.clone().into());
        let instance_arn = format!(
            "arn:aws:ec2:{}:{}:instance/{instance_id}",
            self.region, self.account_id
        );
        obj.insert("resources".into(), json!([launch.asg_arn, instance_arn]));
        let detail = obj
            .get_mut("detail")
            .and_then(Value::as_object_mut)
            .ok_or("events/launch-successful.json has no detail object")?;
        fill_detail(detail, launch);
        Ok(event)
    }

    async fn launch(&self, instance_id: &str) -> Result<Launch, Error> {
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
        let launched = instance
            .launch_time()
            .and_then(|t| SystemTime::try_from(*t).ok())
            .unwrap_or_else(SystemTime::now);
        Ok(Launch {
            instance_id: instance_id.to_owned(),
            subnet_id: subnet_id.to_owned(),
            az: az.to_owned(),
            asg_arn: self.asg_arn(&asg_name).await?,
            asg_name,
            time: rfc3339(launched),
        })
    }

    /// The group's ARN, or one of the right shape if moto does not say.
    async fn asg_arn(&self, asg_name: &str) -> Result<String, Error> {
        let group = self
            .autoscaling()
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(asg_name)
            .send()
            .await
            .context("autoscaling:DescribeAutoScalingGroups")?;
        Ok(group
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
            }))
    }
}

fn fill_detail(detail: &mut Map<String, Value>, launch: Launch) {
    let millis = launch.time.replace('Z', ".000Z");
    detail.insert("AutoScalingGroupName".into(), launch.asg_name.into());
    detail.insert("EC2InstanceId".into(), launch.instance_id.clone().into());
    detail.insert(
        "Description".into(),
        format!("Launching a new EC2 instance: {}", launch.instance_id).into(),
    );
    detail.insert("ActivityId".into(), random_uuid().into());
    detail.insert("RequestId".into(), random_uuid().into());
    detail.insert("StartTime".into(), millis.clone().into());
    detail.insert("EndTime".into(), millis.into());
    detail.insert(
        "Details".into(),
        json!({ "Subnet ID": launch.subnet_id, "Availability Zone": launch.az }),
    );
}

/// `event` as EventBridge delivers it the moment its instance launched: its `time` is now. The function
/// asks for a launch's VPC read lease during admission only when the launch is that recent (its node
/// cannot have registered yet); replaying an older launch event without this would measure, or test, the
/// path of a late delivery instead.
pub fn reported_now(event: &Value) -> Value {
    let mut event = event.clone();
    event["time"] = Value::String(rfc3339(SystemTime::now()));
    event
}
