//! What EKS keeps about who may join a cluster, beyond what moto models: the authentication mode, access
//! entries, the content of the `aws-auth` ConfigMap, and what each instance printed on its console.
//!
//! One [`ClusterAccess`] is shared by the fake Kubernetes API (which serves `aws-auth`, and whose kubelet
//! simulator registers a node only if its role is admitted) and the AWS overlay (which serves access
//! entries, the authentication mode and console output in front of moto).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// What `kube-system/aws-auth` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AwsAuth {
    /// As EKS keeps it for managed nodegroups: every nodegroup's node role, mapped as a node.
    #[default]
    Managed,
    /// No such ConfigMap.
    Absent,
    /// This `mapRoles` text.
    MapRoles(String),
}

/// An access entry: principal and type (`EC2_LINUX`, `STANDARD`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEntry {
    pub principal_arn: String,
    pub kind: String,
}

#[derive(Debug, Default)]
struct State {
    authentication_mode: Option<String>,
    entries: Vec<AccessEntry>,
    aws_auth: AwsAuth,
    console: BTreeMap<String, String>,
}

/// Shared, cheaply cloned handle.
#[derive(Debug, Clone, Default)]
pub struct ClusterAccess {
    state: Arc<Mutex<State>>,
}

impl ClusterAccess {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut guard = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// `API`, `API_AND_CONFIG_MAP`, `CONFIG_MAP`; `None`: DescribeCluster says nothing (as moto).
    pub fn set_authentication_mode(&self, mode: Option<&str>) {
        self.with(|s| s.authentication_mode = mode.map(str::to_owned));
    }

    pub fn authentication_mode(&self) -> Option<String> {
        self.with(|s| s.authentication_mode.clone())
    }

    pub fn add_access_entry(&self, principal_arn: &str, kind: &str) {
        let entry = AccessEntry {
            principal_arn: principal_arn.to_owned(),
            kind: kind.to_owned(),
        };
        self.with(|s| s.entries.push(entry));
    }

    pub fn access_entries(&self) -> Vec<AccessEntry> {
        self.with(|s| s.entries.clone())
    }

    pub fn set_aws_auth(&self, aws_auth: AwsAuth) {
        self.with(|s| s.aws_auth = aws_auth);
    }

    pub fn aws_auth(&self) -> AwsAuth {
        self.with(|s| s.aws_auth.clone())
    }

    /// What `instance_id` printed (served by the overlay's GetConsoleOutput).
    pub fn set_console_output(&self, instance_id: &str, text: &str) {
        self.with(|s| s.console.insert(instance_id.to_owned(), text.to_owned()));
    }

    pub fn console_output(&self, instance_id: &str) -> Option<String> {
        self.with(|s| s.console.get(instance_id).cloned())
    }

    /// Whether the cluster lets `role_arn` in as a node, as EKS decides: an `EC2_LINUX`/`EC2_WINDOWS`
    /// access entry (API modes), or an `aws-auth` entry for the role's path-less ARN with the groups
    /// `system:bootstrappers` and `system:nodes` (ConfigMap modes). `managed_roles` are the nodegroups'
    /// roles ([`AwsAuth::Managed`]).
    pub fn admits(&self, role_arn: &str, managed_roles: &[String]) -> bool {
        let mode = self.authentication_mode();
        let api = mode.as_deref() != Some("CONFIG_MAP");
        let config_map = mode.as_deref() != Some("API");
        let pathless = pathless_role_arn(role_arn);
        let entry = self.access_entries().iter().any(|e| {
            matches!(e.kind.as_str(), "EC2_LINUX" | "EC2_WINDOWS")
                && (e.principal_arn.eq_ignore_ascii_case(role_arn)
                    || e.principal_arn.eq_ignore_ascii_case(&pathless))
        });
        let mapped = match self.aws_auth() {
            AwsAuth::Managed => managed_roles
                .iter()
                .any(|r| pathless_role_arn(r).eq_ignore_ascii_case(&pathless)),
            AwsAuth::Absent => false,
            AwsAuth::MapRoles(text) => map_roles_admit(&text, &pathless),
        };
        (api && entry) || (config_map && mapped)
    }
}

/// `arn:aws:iam::123:role/a/b/name` → `arn:aws:iam::123:role/name` (what the authenticator compares).
pub fn pathless_role_arn(arn: &str) -> String {
    match arn.split_once(":role/") {
        Some((head, path)) => format!("{head}:role/{}", path.rsplit('/').next().unwrap_or(path)),
        None => arn.to_owned(),
    }
}

/// The mapRoles entries as EKS writes them (`mapRoles` generated for managed nodegroups).
pub fn managed_map_roles(roles: &[String]) -> String {
    roles
        .iter()
        .map(|r| {
            format!(
                "- groups:\n  - system:bootstrappers\n  - system:nodes\n  rolearn: {}\n  username: system:node:{{{{EC2PrivateDNSName}}}}\n",
                pathless_role_arn(r)
            )
        })
        .collect()
}

/// Whether one entry of `text` names exactly `pathless` (quotes aside) with both node groups. Entries
/// are the blocks starting with `-` at the list's indentation.
fn map_roles_admit(text: &str, pathless: &str) -> bool {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let Some(list_indent) = lines.first().map(|l| indent(l)) else {
        return false;
    };
    let mut entries: Vec<Vec<&str>> = Vec::new();
    for line in lines {
        if indent(line) == list_indent && line.trim_start().starts_with('-') {
            entries.push(Vec::new());
        }
        if let Some(e) = entries.last_mut() {
            e.push(line);
        }
    }
    entries.iter().any(|entry| {
        let names_role = entry.iter().any(|l| {
            l.trim_start_matches([' ', '-'])
                .strip_prefix("rolearn:")
                .map(|v| v.trim().trim_matches(['"', '\'']))
                .is_some_and(|v| v.eq_ignore_ascii_case(pathless))
        });
        let text = entry.join("\n");
        names_role && text.contains("system:bootstrappers") && text.contains("system:nodes")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/nodes/eks-node";

    #[test]
    fn aws_auth_admits_only_the_pathless_arn_with_both_node_groups() {
        let access = ClusterAccess::default();
        access.set_aws_auth(AwsAuth::MapRoles(managed_map_roles(&[ROLE.to_owned()])));
        assert!(access.admits(ROLE, &[]));
        let with_path =
            format!("- rolearn: {ROLE}\n  groups: [system:bootstrappers, system:nodes]\n");
        access.set_aws_auth(AwsAuth::MapRoles(with_path));
        assert!(
            !access.admits(ROLE, &[]),
            "a path in aws-auth is never matched"
        );
        access.set_aws_auth(AwsAuth::Absent);
        assert!(!access.admits(ROLE, &[]));
    }

    #[test]
    fn access_entries_count_unless_the_cluster_uses_only_the_config_map() {
        let access = ClusterAccess::default();
        access.set_aws_auth(AwsAuth::Absent);
        access.add_access_entry(ROLE, "EC2_LINUX");
        assert!(access.admits(ROLE, &[]));
        access.set_authentication_mode(Some("CONFIG_MAP"));
        assert!(!access.admits(ROLE, &[]));
        access.set_authentication_mode(Some("API"));
        access.set_aws_auth(AwsAuth::Managed);
        assert!(access.admits(ROLE, &[]));
        let managed = ClusterAccess::default();
        assert!(managed.admits(ROLE, &[ROLE.to_owned()]));
        assert!(!managed.admits(ROLE, &["arn:aws:iam::123456789012:role/other".to_owned()]));
    }
}
