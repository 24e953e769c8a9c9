//! An organisation-wide deployment in moto: a central account that runs the function (its durable state
//! here; its report topic is the test's) and member accounts that each hold a world and the member role
//! the member template creates. moto keeps every account's resources apart, and its `sts:AssumeRole`
//! answers with credentials of the role's own account, as AWS does.

use aws_config::SdkConfig;

use super::steps::state_table;
use super::World;
use crate::util::Context;
use crate::Error;

/// The name `templates/member.yaml` gives the member role (its `MemberRoleName` default).
pub const MEMBER_ROLE_NAME: &str = "eks-node-join-remediator-member";

/// The account that runs the function.
#[derive(Debug, Clone)]
pub struct Central {
    pub sdk: SdkConfig,
    pub account_id: String,
    /// The function's state table, as the central template creates it.
    pub state_table: String,
}

impl Central {
    /// The central account's resources the function needs besides its report topic.
    pub async fn build(sdk: SdkConfig, account_id: &str) -> Result<Central, Error> {
        let state_table = state_table(&sdk).await?;
        Ok(Central {
            sdk,
            account_id: account_id.to_owned(),
            state_table,
        })
    }

    /// `arn:aws:iam::<central>:role/<name>`: the function's role, as the member role trusts it.
    pub fn function_role_arn(&self, name: &str) -> String {
        format!("arn:aws:iam::{}:role/{name}", self.account_id)
    }
}

impl World {
    /// The member role in this world's account, trusting `function_role_arn` through the central
    /// account (as `templates/member.yaml` does); returns its ARN.
    pub async fn create_member_role(&self, function_role_arn: &str) -> Result<String, Error> {
        let central = function_role_arn.split(':').nth(4).unwrap_or_default();
        let trust = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "AWS": format!("arn:aws:iam::{central}:root") },
                "Action": "sts:AssumeRole",
                "Condition": { "ArnEquals": { "aws:PrincipalArn": function_role_arn } }
            }]
        });
        let out = self
            .iam()
            .create_role()
            .role_name(MEMBER_ROLE_NAME)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .context("iam:CreateRole (member role)")?;
        Ok(out
            .role()
            .map(|r| r.arn().to_owned())
            .unwrap_or_else(|| format!("arn:aws:iam::{}:role/{MEMBER_ROLE_NAME}", self.account_id)))
    }
}
