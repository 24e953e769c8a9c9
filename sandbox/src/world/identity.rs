//! The nodes' IAM identity in moto: the node role `eks-workshop-node-role` (trusted by EC2) with the
//! policies of [`super::WorldOptions::node_policies`], the instance profile holding it, and the profile
//! associated with every nodegroup instance (moto's Auto Scaling does not apply a launch template's
//! profile; EKS would).

use super::ec2::asg_instance_ids;
use super::World;
use crate::util::Context;
use crate::Error;

/// The node role every world's nodegroup uses.
pub const NODE_ROLE_NAME: &str = "eks-workshop-node-role";
/// The instance profile holding the node role.
pub const NODE_PROFILE_NAME: &str = "eks-workshop-node-profile";
/// The AWS-managed policies a node role carries by default.
pub const NODE_POLICIES: [&str; 3] = [
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonEKS_CNI_Policy",
];

const EC2_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

impl World {
    /// IAM client of the world's account.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk)
    }

    /// `arn:aws:iam::<account>:role/eks-workshop-node-role`.
    pub fn node_role_arn(&self) -> String {
        format!("arn:aws:iam::{}:role/{NODE_ROLE_NAME}", self.account_id)
    }

    /// The node role with `policies` (AWS-managed names) and the instance profile holding it.
    pub(super) async fn create_node_identity(&self, policies: &[String]) -> Result<(), Error> {
        let iam = self.iam();
        iam.create_role()
            .role_name(NODE_ROLE_NAME)
            .assume_role_policy_document(EC2_TRUST)
            .send()
            .await
            .context("iam:CreateRole")?;
        for policy in policies {
            self.attach_node_policy(policy).await?;
        }
        iam.create_instance_profile()
            .instance_profile_name(NODE_PROFILE_NAME)
            .send()
            .await
            .context("iam:CreateInstanceProfile")?;
        iam.add_role_to_instance_profile()
            .instance_profile_name(NODE_PROFILE_NAME)
            .role_name(NODE_ROLE_NAME)
            .send()
            .await
            .context("iam:AddRoleToInstanceProfile")?;
        Ok(())
    }

    /// Attaches the AWS-managed policy `name` to the node role.
    pub async fn attach_node_policy(&self, name: &str) -> Result<(), Error> {
        let attached = self
            .iam()
            .attach_role_policy()
            .role_name(NODE_ROLE_NAME)
            .policy_arn(format!("arn:aws:iam::aws:policy/{name}"))
            .send()
            .await;
        match attached {
            Ok(_) => Ok(()),
            Err(e) if format!("{e:?}").contains("NoSuchEntity") => Err(format!(
                "iam:AttachRolePolicy {name}: moto has no such AWS-managed policy; start it with sandbox/moto_server.py, which keeps the EKS, ECR and SSM ones"
            )
            .into()),
            Err(e) => Err(e).context(format!("iam:AttachRolePolicy {name}")),
        }
    }

    /// Associates the node profile with every nodegroup instance that has none.
    pub(super) async fn associate_node_profile(&self) -> Result<(), Error> {
        let ec2 = self.ec2();
        for id in asg_instance_ids(&self.autoscaling(), &self.asg_name).await? {
            let profile = aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
                .name(NODE_PROFILE_NAME)
                .build();
            ec2.associate_iam_instance_profile()
                .instance_id(&id)
                .iam_instance_profile(profile)
                .send()
                .await
                .context(format!("ec2:AssociateIamInstanceProfile {id}"))?;
        }
        Ok(())
    }
}
