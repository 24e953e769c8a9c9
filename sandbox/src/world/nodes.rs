//! Instances launched without an Auto Scaling group, as the function sees them: Karpenter's and EKS Auto
//! Mode's nodes (both launch with EC2 CreateFleet; moto's RunInstances stands in, with the same tags),
//! and instances that are nobody's node. Each gets its `EC2 Instance State-change Notification`
//! (`running`), cut from the repository's fixture.
//!
//! A Karpenter or Auto Mode node runs as the world's node role (the instance profile) with the cluster
//! security group, in the new subnet: the kubelet simulator registers it exactly when the subnet has a
//! way out, like the nodegroup's.

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_ec2::types::{IamInstanceProfileSpecification, InstanceType, ResourceType};
use serde_json::{json, Value};

use super::ec2::{describe_instance, eks_image, tags};
use super::{World, NODE_PROFILE_NAME, WAIT};
use crate::util::{random_uuid, rfc3339, Context};
use crate::Error;

/// The EventBridge state-change event the events are cut from.
const RUNNING_EVENT_TEMPLATE: &str = include_str!("../../../events/instance-running.json");

/// Who launched an instance, by the tags it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launcher {
    /// Karpenter's NodePool (`karpenter.sh/nodepool`, `karpenter.k8s.aws/ec2nodeclass`,
    /// `eks:eks-cluster-name`, `kubernetes.io/cluster/<cluster>`).
    Karpenter { nodepool: String },
    /// EKS Auto Mode's node pool (`eks:kubernetes-node-pool-name`, `eks:kubernetes-node-class-name`,
    /// `eks:eks-cluster-name`, `kubernetes.io/cluster/<cluster>`).
    AutoMode { nodepool: String },
    /// Nobody's node: a `Name` tag only.
    Untagged,
}

impl World {
    /// One instance launched by `launcher` into the new subnet, running; returns its id.
    pub async fn launch_node(&self, launcher: &Launcher) -> Result<String, Error> {
        let ids = self.launch_nodes(launcher, 1).await?;
        ids.into_iter()
            .next()
            .ok_or_else(|| "RunInstances launched nothing".into())
    }

    /// `count` instances launched by `launcher` into the new subnet in one call, running; their ids.
    pub async fn launch_nodes(
        &self,
        launcher: &Launcher,
        count: i32,
    ) -> Result<Vec<String>, Error> {
        let ec2 = self.ec2();
        let cluster_tag = format!("kubernetes.io/cluster/{}", self.cluster_name);
        let pairs: Vec<(&str, &str)> = match launcher {
            Launcher::Karpenter { nodepool } => vec![
                ("karpenter.sh/nodepool", nodepool),
                ("karpenter.k8s.aws/ec2nodeclass", "default"),
                ("eks:eks-cluster-name", &self.cluster_name),
                (&cluster_tag, "owned"),
            ],
            Launcher::AutoMode { nodepool } => vec![
                ("eks:kubernetes-node-pool-name", nodepool),
                ("eks:kubernetes-node-class-name", "default"),
                ("eks:eks-cluster-name", &self.cluster_name),
                (&cluster_tag, "owned"),
            ],
            Launcher::Untagged => vec![("Name", "batch-worker")],
        };
        let mut run = ec2
            .run_instances()
            .image_id(eks_image(&ec2).await?)
            .instance_type(InstanceType::M5Large)
            .min_count(count)
            .max_count(count)
            .subnet_id(&self.new_subnet_id)
            .security_group_ids(&self.cluster_security_group_id)
            .tag_specifications(tags(ResourceType::Instance, &pairs));
        if *launcher != Launcher::Untagged {
            let profile = IamInstanceProfileSpecification::builder()
                .name(NODE_PROFILE_NAME)
                .build();
            run = run.iam_instance_profile(profile);
        }
        let out = run.send().await.context("ec2:RunInstances")?;
        let ids: Vec<String> = out
            .instances()
            .iter()
            .filter_map(|i| i.instance_id().map(str::to_owned))
            .collect();
        self.wait_running(&ids).await?;
        if *launcher != Launcher::Untagged {
            self.give_node_profile(&ids).await?;
        }
        Ok(ids)
    }

    /// moto applies RunInstances' instance profile to the first instance of a multi-instance launch
    /// only: the others get it here, as EC2 would have given it.
    async fn give_node_profile(&self, ids: &[String]) -> Result<(), Error> {
        let ec2 = self.ec2();
        for id in ids {
            let instance = describe_instance(&ec2, id).await?;
            if instance.iam_instance_profile().is_some() {
                continue;
            }
            let profile = IamInstanceProfileSpecification::builder()
                .name(NODE_PROFILE_NAME)
                .build();
            ec2.associate_iam_instance_profile()
                .instance_id(id)
                .iam_instance_profile(profile)
                .send()
                .await
                .context(format!("ec2:AssociateIamInstanceProfile {id}"))?;
        }
        Ok(())
    }

    /// Waits until every one of `ids` is `running` (one DescribeInstances per round for all of them).
    async fn wait_running(&self, ids: &[String]) -> Result<(), Error> {
        let deadline = Instant::now() + WAIT;
        loop {
            let out = self
                .ec2()
                .describe_instances()
                .set_instance_ids(Some(ids.to_vec()))
                .send()
                .await
                .context("ec2:DescribeInstances (launched)")?;
            let running = out
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .filter(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) == Some("running"))
                .count();
            if running == ids.len() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let n = ids.len();
                return Err(format!("{running} of {n} instances running after {WAIT:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The EventBridge `EC2 Instance State-change Notification` (`running`) for `instance_id`: the
    /// repository's fixture with account, region, time and instance replaced.
    pub async fn running_event(&self, instance_id: &str) -> Result<Value, Error> {
        let instance = describe_instance(&self.ec2(), instance_id).await?;
        let launched = instance
            .launch_time()
            .and_then(|t| SystemTime::try_from(*t).ok())
            .unwrap_or_else(SystemTime::now);
        let mut event: Value = serde_json::from_str(RUNNING_EVENT_TEMPLATE)
            .map_err(|e| format!("events/instance-running.json is not JSON: {e}"))?;
        let arn = format!(
            "arn:aws:ec2:{}:{}:instance/{instance_id}",
            self.region, self.account_id
        );
        let fields = [
            ("id", json!(random_uuid())),
            ("account", json!(self.account_id)),
            ("region", json!(self.region)),
            ("time", json!(rfc3339(launched))),
            ("resources", json!([arn])),
            (
                "detail",
                json!({ "instance-id": instance_id, "state": "running" }),
            ),
        ];
        let obj = event
            .as_object_mut()
            .ok_or("events/instance-running.json is not an object")?;
        for (key, value) in fields {
            obj.insert(key.into(), value);
        }
        Ok(event)
    }
}
