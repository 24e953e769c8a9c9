//! The kubelet simulator's identity check: a node joins only if its role has the policies a node needs
//! (attached AWS-managed ones: this sandbox's worlds use no others) and the cluster admits the role
//! ([`ClusterAccess::admits`]). The role is the instance profile's; moto's Auto Scaling does not apply a
//! launch template's profile, so an instance without one takes its nodegroup's node role, as EKS would
//! have given it.

use super::instances::ClusterInstance;
use crate::access::ClusterAccess;
use crate::util::Context;
use crate::Error;

const WORKER: &[&str] = &[
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKSWorkerNodeMinimalPolicy",
];
const ECR: &[&str] = &[
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonEC2ContainerRegistryPullOnly",
];

/// The clients the check reads with.
pub(super) struct IdentityReader<'a> {
    pub iam: &'a aws_sdk_iam::Client,
    pub eks: &'a aws_sdk_eks::Client,
    pub cluster: &'a str,
}

impl IdentityReader<'_> {
    /// Whether `instance` can join as a node.
    pub(super) async fn admitted(
        &self,
        instance: &ClusterInstance,
        access: &ClusterAccess,
    ) -> Result<bool, Error> {
        let role = match &instance.instance_profile_arn {
            Some(profile) => self.profile_role(profile).await?,
            None => self.nodegroup_role(instance.nodegroup.as_deref()).await?,
        };
        let Some((arn, name)) = role else {
            return Ok(false);
        };
        if !self.has_node_policies(&name).await? {
            return Ok(false);
        }
        let managed = match access.aws_auth() {
            crate::access::AwsAuth::Managed => self.nodegroup_roles().await?,
            _ => vec![],
        };
        Ok(access.admits(&arn, &managed))
    }

    /// (ARN, name) of the profile's role.
    async fn profile_role(&self, profile_arn: &str) -> Result<Option<(String, String)>, Error> {
        let name = profile_arn.rsplit('/').next().unwrap_or(profile_arn);
        let out = self
            .iam
            .get_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
            .context(format!("iam:GetInstanceProfile {name}"))?;
        Ok(out
            .instance_profile()
            .and_then(|p| p.roles().first())
            .map(|r| (r.arn().to_owned(), r.role_name().to_owned())))
    }

    async fn nodegroup_role(
        &self,
        nodegroup: Option<&str>,
    ) -> Result<Option<(String, String)>, Error> {
        let Some(ng) = nodegroup else { return Ok(None) };
        let out = self
            .eks
            .describe_nodegroup()
            .cluster_name(self.cluster)
            .nodegroup_name(ng)
            .send()
            .await
            .context(format!("eks:DescribeNodegroup {ng}"))?;
        Ok(out.nodegroup().and_then(|n| n.node_role()).map(|arn| {
            let name = arn.rsplit('/').next().unwrap_or(arn).to_owned();
            (arn.to_owned(), name)
        }))
    }

    /// Every nodegroup's node role (what EKS maps in `aws-auth` by itself).
    pub(super) async fn nodegroup_roles(&self) -> Result<Vec<String>, Error> {
        let out = self
            .eks
            .list_nodegroups()
            .cluster_name(self.cluster)
            .send()
            .await
            .context("eks:ListNodegroups")?;
        let mut roles = Vec::new();
        for ng in out.nodegroups() {
            if let Some((arn, _)) = self.nodegroup_role(Some(ng)).await? {
                roles.push(arn);
            }
        }
        Ok(roles)
    }

    async fn has_node_policies(&self, role: &str) -> Result<bool, Error> {
        let out = match self
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .send()
            .await
        {
            Ok(out) => out,
            // A role that does not exist grants nothing.
            Err(e) if format!("{e:?}").contains("NoSuchEntity") => return Ok(false),
            Err(e) => return Err(format!("iam:ListAttachedRolePolicies {role}: {e:?}").into()),
        };
        let names: Vec<&str> = out
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_name())
            .collect();
        let any = |wanted: &[&str]| names.iter().any(|n| wanted.contains(n));
        Ok(any(WORKER) && any(ECR))
    }
}
