//! The reads around the node's identity: its role and policies (IAM), the cluster's access entries for
//! it (EKS), `aws-auth` (Kubernetes API), its type's network limits and its console output (EC2). All
//! best effort: a read that fails or is denied becomes `NotRead(why)`, so a cause beyond the network is
//! `unknown` at worst and never fails the event.

use std::time::Duration;

use base64::Engine;

use crate::aws_error::{aws, code, SdkError};
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

/// The role of the instance profile `arn:…:instance-profile/<path>/<name>`; `Read(None)` when the instance
/// has no profile or the profile no role. Read at admission (a warm container keeps it a few minutes), so
/// the role's policies and access entries are read in the snapshot's one wave.
pub async fn profile_role(
    clients: &Clients,
    profile_arn: Option<&str>,
) -> Readable<Option<ProfileRole>> {
    let Some(name) = profile_arn.and_then(|a| a.rsplit('/').next()) else {
        return Readable::Read(None);
    };
    let out = clients
        .iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await;
    match best_effort("iam:GetInstanceProfile", out) {
        Readable::Read(out) => Readable::Read(
            out.instance_profile()
                .and_then(|p| p.roles().first())
                .map(|r| ProfileRole {
                    arn: r.arn().to_string(),
                    name: r.role_name().to_string(),
                }),
        ),
        Readable::NotRead(why) => Readable::NotRead(why),
    }
}

/// Node role policies, access entries and `aws-auth`, side by side.
pub(super) async fn read(
    clients: &Clients,
    kube: Result<&KubeApi, &KubeError>,
    role: &Readable<Option<ProfileRole>>,
    cluster: &Cluster,
) -> Identity {
    let mode = cluster.authentication_mode.as_ref();
    let entries = async {
        if AuthenticationMode::uses_access_entries(mode) {
            access_entries(clients, &cluster.name, role).await
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
    let (node_role, access_entries, aws_auth_map_roles) = tokio::join!(
        Box::pin(node_role(clients, role)),
        Box::pin(entries),
        Box::pin(aws_auth)
    );
    Identity {
        node_role,
        access_entries,
        aws_auth_map_roles,
    }
}

/// The node role with its attached and inline policies.
async fn node_role(
    clients: &Clients,
    role: &Readable<Option<ProfileRole>>,
) -> Readable<Option<NodeRole>> {
    let role = match role {
        Readable::Read(Some(role)) => role,
        Readable::Read(None) => return Readable::Read(None),
        Readable::NotRead(why) => return Readable::NotRead(why.clone()),
    };
    let (attached, inline) = tokio::join!(
        attached_policies(clients, &role.name),
        inline_policies(clients, &role.name)
    );
    Readable::Read(Some(NodeRole {
        arn: role.arn.clone(),
        name: role.name.clone(),
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

/// The access entries of the node role: `DescribeAccessEntry` for its ARN, side by side with the list of
/// every principal. Entries listed under another form of the same role (a path) are described after.
async fn access_entries(
    clients: &Clients,
    cluster: &str,
    role: &Readable<Option<ProfileRole>>,
) -> Readable<Vec<AccessEntry>> {
    let Readable::Read(Some(role)) = role else {
        return Readable::NotRead("the node role is not known".into());
    };
    let Some(key) = RoleKey::from_arn(&role.arn) else {
        return Readable::NotRead(format!("{} is not a role ARN", role.arn));
    };
    let (direct, listed) = tokio::join!(
        describe_entry(clients, cluster, &role.arn),
        list_access_entries(clients, cluster)
    );
    let mut out: Vec<AccessEntry> = match direct {
        Readable::Read(entry) => entry.into_iter().collect(),
        Readable::NotRead(why) => return Readable::NotRead(why),
    };
    let listed = match listed {
        Readable::Read(listed) => listed,
        Readable::NotRead(_) if !out.is_empty() => return Readable::Read(out),
        Readable::NotRead(why) => return Readable::NotRead(why),
    };
    let others = listed.iter().filter(|p| key.is(p) && **p != role.arn);
    for principal in others.take(MAX_DESCRIBED) {
        match describe_entry(clients, cluster, principal).await {
            Readable::Read(entry) => out.extend(entry),
            Readable::NotRead(why) => return Readable::NotRead(why),
        }
    }
    Readable::Read(out)
}

/// One principal's access entry; `Read(None)` when the cluster has none for it.
async fn describe_entry(
    clients: &Clients,
    cluster: &str,
    principal: &str,
) -> Readable<Option<AccessEntry>> {
    let described = clients
        .eks
        .describe_access_entry()
        .cluster_name(cluster)
        .principal_arn(principal)
        .send()
        .await;
    if let Err(e) = &described {
        if code(e) == Some("ResourceNotFoundException") {
            return Readable::Read(None);
        }
    }
    match best_effort("eks:DescribeAccessEntry", described) {
        Readable::Read(o) => Readable::Read(o.access_entry().map(|e| AccessEntry {
            principal_arn: e.principal_arn().unwrap_or(principal).to_string(),
            kind: e.r#type().unwrap_or_default().to_string(),
            kubernetes_groups: e.kubernetes_groups().to_vec(),
        })),
        Readable::NotRead(why) => Readable::NotRead(why),
    }
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
