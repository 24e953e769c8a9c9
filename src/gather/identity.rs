//! The reads around the node's identity: its role and policies (IAM), the cluster's access entries for
//! it (EKS), `aws-auth` (Kubernetes API), its type's network limits and its console output (EC2). All
//! best effort: a read that fails or is denied becomes `NotRead(why)`, so a cause beyond the network is
//! `unknown` at worst and never fails the event.

use std::time::Duration;

use base64::Engine;

use crate::aws_error::{aws, SdkError};
use crate::context::Clients;
use crate::error::Error;
use crate::kube::{KubeApi, KubeError};
use crate::snapshot::*;

/// Principals of the node role described at most (a role is normally one access entry).
const MAX_DESCRIBED: usize = 5;
/// Console output kept: its last 64 KiB.
const CONSOLE_BYTES: usize = 64 * 1024;
/// The console read is abandoned after this long.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(5);

/// An SDK result as `Readable`: denied → `not permitted: …`, any other failure → what failed.
fn best_effort<T, E>(operation: &'static str, result: Result<T, SdkError<E>>) -> Readable<T>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    match result.map_err(aws(operation)) {
        Ok(value) => Readable::Read(value),
        Err(e) => Readable::NotRead(reason(&e)),
    }
}

fn reason(e: &Error) -> String {
    match e {
        Error::Aws {
            operation, code, ..
        } if code.contains("AccessDenied")
            || code.contains("Unauthorized")
            || code == "HTTP 403" =>
        {
            format!("not permitted: {operation} answered {code}")
        }
        Error::Aws {
            operation, code, ..
        } => format!("{operation} failed ({code})"),
        other => other.to_string(),
    }
}

/// Node role, access entries and `aws-auth`, the three reads side by side.
pub(super) async fn read(
    clients: &Clients,
    kube: Result<&KubeApi, &KubeError>,
    instance: &Instance,
    cluster: &Cluster,
) -> Identity {
    let mode = cluster.authentication_mode.as_ref();
    let entries = async {
        if AuthenticationMode::uses_access_entries(mode) {
            list_access_entries(clients, &cluster.name).await
        } else {
            Readable::NotRead("not used: the cluster authenticates with CONFIG_MAP".into())
        }
    };
    let aws_auth = async {
        match kube {
            _ if !AuthenticationMode::uses_config_map(mode) => {
                Readable::NotRead("not used: the cluster authenticates with API".into())
            }
            Ok(api) => match api.aws_auth_map_roles().await {
                Ok(text) => Readable::Read(text),
                Err(e) => Readable::NotRead(e.to_string()),
            },
            Err(e) => Readable::NotRead(format!("no Kubernetes API: {e}")),
        }
    };
    let role = node_role(clients, instance.instance_profile_arn.as_deref());
    let (node_role, principals, aws_auth_map_roles) =
        tokio::join!(Box::pin(role), Box::pin(entries), Box::pin(aws_auth));
    let access_entries = describe_mine(clients, &cluster.name, &node_role, principals).await;
    Identity {
        node_role,
        access_entries,
        aws_auth_map_roles,
    }
}

/// The role of the instance profile `arn:…:instance-profile/<path>/<name>`, with its policies.
async fn node_role(clients: &Clients, profile_arn: Option<&str>) -> Readable<Option<NodeRole>> {
    let Some(name) = profile_arn.and_then(|a| a.rsplit('/').next()) else {
        return Readable::Read(None);
    };
    let out = clients
        .iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await;
    let profile = match best_effort("iam:GetInstanceProfile", out) {
        Readable::Read(out) => out,
        Readable::NotRead(why) => return Readable::NotRead(why),
    };
    let Some(role) = profile.instance_profile().and_then(|p| p.roles().first()) else {
        return Readable::Read(None);
    };
    let (attached, inline) = tokio::join!(
        attached_policies(clients, role.role_name()),
        inline_policies(clients, role.role_name())
    );
    Readable::Read(Some(NodeRole {
        arn: role.arn().to_string(),
        name: role.role_name().to_string(),
        attached_policies: attached,
        inline_policies: inline,
    }))
}

async fn attached_policies(clients: &Clients, role: &str) -> Readable<Vec<String>> {
    let mut pages = clients
        .iam
        .list_attached_role_policies()
        .role_name(role)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    loop {
        match best_effort("iam:ListAttachedRolePolicies", pages.try_next().await) {
            Readable::Read(Some(page)) => out.extend(
                page.attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(String::from)),
            ),
            Readable::Read(None) => return Readable::Read(out),
            Readable::NotRead(why) => return Readable::NotRead(why),
        }
    }
}

async fn inline_policies(clients: &Clients, role: &str) -> Readable<Vec<String>> {
    let mut pages = clients
        .iam
        .list_role_policies()
        .role_name(role)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    loop {
        match best_effort("iam:ListRolePolicies", pages.try_next().await) {
            Readable::Read(Some(page)) => out.extend(page.policy_names().iter().cloned()),
            Readable::Read(None) => return Readable::Read(out),
            Readable::NotRead(why) => return Readable::NotRead(why),
        }
    }
}

/// Every principal with an access entry in the cluster.
async fn list_access_entries(clients: &Clients, cluster: &str) -> Readable<Vec<String>> {
    let mut pages = clients
        .eks
        .list_access_entries()
        .cluster_name(cluster)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    loop {
        match best_effort("eks:ListAccessEntries", pages.try_next().await) {
            Readable::Read(Some(page)) => out.extend(page.access_entries().iter().cloned()),
            Readable::Read(None) => return Readable::Read(out),
            Readable::NotRead(why) => return Readable::NotRead(why),
        }
    }
}

/// DescribeAccessEntry for the principals that are the node role (by account and role name).
async fn describe_mine(
    clients: &Clients,
    cluster: &str,
    role: &Readable<Option<NodeRole>>,
    principals: Readable<Vec<String>>,
) -> Readable<Vec<AccessEntry>> {
    let principals = match principals {
        Readable::Read(p) => p,
        Readable::NotRead(why) => return Readable::NotRead(why),
    };
    let key = match role {
        Readable::Read(Some(r)) => RoleKey::from_arn(&r.arn),
        _ => None,
    };
    let Some(key) = key else {
        return Readable::NotRead("the node role is not known".into());
    };
    let mut out = Vec::new();
    for principal in principals.iter().filter(|p| key.is(p)).take(MAX_DESCRIBED) {
        let described = clients
            .eks
            .describe_access_entry()
            .cluster_name(cluster)
            .principal_arn(principal)
            .send()
            .await;
        match best_effort("eks:DescribeAccessEntry", described) {
            Readable::Read(o) => out.extend(o.access_entry().map(|e| AccessEntry {
                principal_arn: e.principal_arn().unwrap_or(principal).to_string(),
                kind: e.r#type().unwrap_or_default().to_string(),
                kubernetes_groups: e.kubernetes_groups().to_vec(),
            })),
            Readable::NotRead(why) => return Readable::NotRead(why),
        }
    }
    Readable::Read(out)
}

/// `NetworkInfo` of the instance's type.
pub(super) async fn instance_type_network(
    clients: &Clients,
    instance_type: Option<&str>,
) -> Readable<Option<InstanceTypeNetwork>> {
    let Some(kind) = instance_type else {
        return Readable::Read(None);
    };
    let out = clients
        .ec2
        .describe_instance_types()
        .instance_types(aws_sdk_ec2::types::InstanceType::from(kind))
        .send()
        .await;
    let found = match best_effort("ec2:DescribeInstanceTypes", out) {
        Readable::Read(out) => out
            .instance_types()
            .first()
            .and_then(|t| t.network_info())
            .cloned(),
        Readable::NotRead(why) => return Readable::NotRead(why),
    };
    Readable::Read(found.map(|n| InstanceTypeNetwork {
        instance_type: kind.to_string(),
        max_network_interfaces: n.maximum_network_interfaces().unwrap_or(1),
        ipv4_addresses_per_interface: n.ipv4_addresses_per_interface().unwrap_or(1),
    }))
}

/// The instance's latest console output, decoded, its last 64 KiB; within 5 s or not at all.
pub(super) async fn console_output(clients: &Clients, instance_id: &str) -> Readable<String> {
    let call = clients
        .ec2
        .get_console_output()
        .instance_id(instance_id)
        .latest(true)
        .send();
    let out = match tokio::time::timeout(CONSOLE_TIMEOUT, call).await {
        Ok(out) => out,
        Err(_) => return Readable::NotRead("ec2:GetConsoleOutput took longer than 5 s".into()),
    };
    match best_effort("ec2:GetConsoleOutput", out) {
        Readable::Read(o) => decode_console(o.output().unwrap_or_default()),
        Readable::NotRead(why) => Readable::NotRead(why),
    }
}

fn decode_console(encoded: &str) -> Readable<String> {
    let bytes = match base64::engine::general_purpose::STANDARD.decode(encoded.trim()) {
        Ok(b) => b,
        Err(e) => return Readable::NotRead(format!("console output is not base64: {e}")),
    };
    let tail = &bytes[bytes.len().saturating_sub(CONSOLE_BYTES)..];
    Readable::Read(String::from_utf8_lossy(tail).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_output_is_decoded_and_cut_to_its_last_64_kib() {
        let text = format!("{}\nkubelet: Unauthorized\n", "a".repeat(100_000));
        let encoded = base64::engine::general_purpose::STANDARD.encode(&text);
        let Readable::Read(decoded) = decode_console(&encoded) else {
            panic!("decodes");
        };
        assert_eq!(decoded.len(), CONSOLE_BYTES);
        assert!(decoded.ends_with("kubelet: Unauthorized\n"));
        assert!(matches!(decode_console("%%%"), Readable::NotRead(_)));
    }
}
