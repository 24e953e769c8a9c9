//! Node identity: whether the role of the instance's profile carries the policies a node needs, and
//! whether the cluster maps that role (an access entry, or `aws-auth`). A read that failed, a policy that
//! may be granted where it cannot be seen, a text that cannot be parsed: each is said, never a blocker.

use crate::commands::{self, CommandLine};
use crate::finding::{Code, Finding, Remedy, Severity};
use crate::snapshot::{AuthenticationMode, IpFamily, NodeRole, Readable, RoleKey, Snapshot};

use super::aws_auth::{parse_map_roles, RoleMapping};

/// What the identity checks found: findings, and lines for `cause-unknown` saying what passed or stayed
/// unknown.
pub(super) struct IdentityReport {
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
}

pub(super) fn check(s: &Snapshot) -> IdentityReport {
    let mut report = IdentityReport {
        findings: vec![],
        notes: vec![],
    };
    match &s.identity.node_role {
        Readable::NotRead(why) => report.notes.push(format!(
            "node IAM role: unknown ({why}); cluster access not checked"
        )),
        Readable::Read(None) => report.findings.push(no_role(s)),
        Readable::Read(Some(role)) => {
            match policies(s, role) {
                Ok(note) => report.notes.push(note),
                Err(finding) => report.findings.push(*finding),
            }
            match access(s, role) {
                Ok(note) => report.notes.push(note),
                Err(finding) => report.findings.push(*finding),
            }
        }
    }
    report
}

fn no_role(s: &Snapshot) -> Finding {
    let id = &s.instance.id;
    let (summary, evidence) = match &s.instance.instance_profile_arn {
        None => (
            format!("{id} has no instance profile, so the node has no IAM role to join the cluster with"),
            format!("ec2 DescribeInstances: {id} has no IamInstanceProfile"),
        ),
        Some(profile) => (
            format!("the instance profile of {id} holds no role, so the node has no IAM role to join the cluster with"),
            format!("iam GetInstanceProfile: {profile} has no role"),
        ),
    };
    Finding {
        code: Code::NodeRoleMissingPolicy,
        severity: Severity::Warning,
        summary,
        evidence: vec![evidence],
        remedy: Remedy::manual(
            vec![],
            "launch the nodes with an instance profile whose role has AmazonEKSWorkerNodePolicy and AmazonEC2ContainerRegistryReadOnly, and map that role into the cluster",
        ),
    }
}

// ------------------------------------------------------------------------------------ policies

/// A permission a node needs, and the AWS-managed policies that grant it.
struct Need {
    what: &'static str,
    granted_by: &'static [&'static str],
    attach: &'static str,
    severity: Severity,
}

const WORKER: Need = Need {
    what: "the worker node permissions",
    granted_by: &[
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKSWorkerNodeMinimalPolicy",
    ],
    attach: "AmazonEKSWorkerNodePolicy",
    severity: Severity::Blocker,
};

const ECR: Need = Need {
    what: "ECR read access",
    granted_by: &[
        "AmazonEC2ContainerRegistryReadOnly",
        "AmazonEC2ContainerRegistryPullOnly",
        "AmazonEC2ContainerRegistryPowerUser",
        "AmazonEC2ContainerRegistryFullAccess",
    ],
    attach: "AmazonEC2ContainerRegistryReadOnly",
    severity: Severity::Blocker,
};

const CNI: Need = Need {
    what: "the VPC CNI permissions",
    granted_by: &["AmazonEKS_CNI_Policy"],
    attach: "AmazonEKS_CNI_Policy",
    severity: Severity::Warning,
};

/// How a need stands on the role.
enum Standing {
    Granted(String),
    /// Not granted by an AWS-managed policy, but inline or customer-managed policies may grant it.
    Maybe,
    Missing,
}

/// `arn:<partition>:iam::aws:policy/<name>`: the name of an AWS-managed policy.
fn aws_managed_name(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (_, _, service, _, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (service == "iam" && account == "aws")
        .then(|| resource.strip_prefix("policy/"))
        .flatten()
        .and_then(|r| r.rsplit('/').next())
}

fn standing(need: &Need, attached: &[String], others_may_grant: bool) -> Standing {
    let granted = attached.iter().find_map(|arn| {
        aws_managed_name(arn)
            .filter(|name| need.granted_by.contains(name))
            .map(String::from)
    });
    match granted {
        Some(name) => Standing::Granted(name),
        None if others_may_grant => Standing::Maybe,
        None => Standing::Missing,
    }
}

fn partition(role: &NodeRole) -> String {
    RoleKey::from_arn(&role.arn)
        .map(|k| k.partition)
        .unwrap_or_else(|| "aws".to_string())
}

/// `Ok(note)` when every need is granted or cannot be judged for want of a read; else the finding.
fn policies(s: &Snapshot, role: &NodeRole) -> Result<String, Box<Finding>> {
    let attached = match &role.attached_policies {
        Readable::Read(a) => a,
        Readable::NotRead(why) => {
            return Ok(format!("node role {}: policies unknown ({why})", role.name))
        }
    };
    let customer_managed = attached.iter().any(|a| aws_managed_name(a).is_none());
    let inline = match &role.inline_policies {
        Readable::Read(names) => !names.is_empty(),
        Readable::NotRead(_) => true,
    };
    let mut needs = vec![&WORKER, &ECR];
    if s.cluster.ip_family != Some(IpFamily::Ipv6) {
        needs.push(&CNI);
    }
    let judged: Vec<(&Need, Standing)> = needs
        .into_iter()
        .map(|n| (n, standing(n, attached, customer_managed || inline)))
        .collect();
    if judged
        .iter()
        .all(|(_, st)| matches!(st, Standing::Granted(_)))
    {
        let names: Vec<String> = judged
            .iter()
            .filter_map(|(_, st)| match st {
                Standing::Granted(n) => Some(n.clone()),
                _ => None,
            })
            .collect();
        return Ok(format!("node role {}: has {}", role.name, names.join(", ")));
    }
    Err(Box::new(policy_finding(s, role, &judged)))
}

fn policy_finding(s: &Snapshot, role: &NodeRole, judged: &[(&Need, Standing)]) -> Finding {
    let mut evidence = vec![format!("node role {} (from {})", role.arn, profile(s))];
    evidence.push(format!("attached: {}", list(&role.attached_policies)));
    evidence.push(format!("inline: {}", list(&role.inline_policies)));
    let (mut severity, mut missing, mut maybe) = (Severity::Info, vec![], vec![]);
    let mut cmds: Vec<CommandLine> = vec![];
    let arn = |name: &str| format!("arn:{}:iam::aws:policy/{name}", partition(role));
    for (need, st) in judged {
        let line = match st {
            Standing::Granted(name) => format!("{}: granted by {name}", need.what),
            Standing::Maybe => {
                severity = severity.max(Severity::Warning);
                maybe.push(need.what);
                cmds.push(commands::attach_role_policy(&role.name, &arn(need.attach)));
                format!(
                    "{}: no AWS-managed policy grants it; an inline or customer-managed policy may",
                    need.what
                )
            }
            Standing::Missing => {
                severity = severity.max(need.severity);
                missing.push(need.what);
                cmds.push(commands::attach_role_policy(&role.name, &arn(need.attach)));
                format!("{}: missing ({} is not attached)", need.what, need.attach)
            }
        };
        evidence.push(line);
    }
    let cni_only =
        missing == [CNI.what] && maybe.is_empty() || maybe == [CNI.what] && missing.is_empty();
    cmds.push(commands::list_attached_role_policies(&role.name));
    if missing.contains(&CNI.what) || maybe.contains(&CNI.what) {
        cmds.push(commands::describe_aws_node_service_account());
        cmds.push(commands::list_aws_node_pod_identity(
            &s.region,
            &s.cluster.name,
        ));
    }
    Finding {
        code: Code::NodeRoleMissingPolicy,
        severity,
        summary: policy_summary(role, &missing, &maybe),
        evidence,
        remedy: Remedy::manual(cmds, policy_note(cni_only, !maybe.is_empty())),
    }
}

fn policy_summary(role: &NodeRole, missing: &[&str], maybe: &[&str]) -> String {
    match (missing.is_empty(), maybe.is_empty()) {
        (false, true) => format!("node role {} lacks {}", role.name, missing.join(" and ")),
        (true, _) => format!(
            "cannot tell whether node role {} has {}: only inline or customer-managed policies could grant it",
            role.name,
            maybe.join(" and ")
        ),
        (false, false) => format!(
            "node role {} lacks {}; cannot tell whether it has {}",
            role.name,
            missing.join(" and "),
            maybe.join(" and ")
        ),
    }
}

fn policy_note(cni_only: bool, maybe: bool) -> String {
    let mut note = String::new();
    if maybe {
        note.push_str("read the role's inline and customer-managed policies first: attach a managed policy only if none of them grants the permission. ");
    }
    if cni_only {
        note.push_str("the VPC CNI policy belongs on the node role only when the aws-node service account has no role of its own: an eks.amazonaws.com/role-arn annotation (IRSA) or a Pod Identity association means it is not needed here");
    } else {
        note.push_str("nodes without these permissions cannot register or pull their images; the VPC CNI policy is not needed on the node role when aws-node has a role of its own (IRSA annotation or Pod Identity association)");
    }
    note
}

fn profile(s: &Snapshot) -> String {
    s.instance
        .instance_profile_arn
        .clone()
        .unwrap_or_else(|| "no instance profile".to_string())
}

fn list(r: &Readable<Vec<String>>) -> String {
    match r {
        Readable::Read(v) if v.is_empty() => "none".to_string(),
        Readable::Read(v) => v.join(", "),
        Readable::NotRead(why) => format!("unknown ({why})"),
    }
}

// ------------------------------------------------------------------------------ cluster access

/// How one place (access entries, `aws-auth`) maps the node role.
enum Mapping {
    Mapped(String),
    /// Definitely does not let the node in.
    Missing(String),
    /// Present, but probably not matched (a role path in `aws-auth`).
    Doubtful(String),
    Unknown(String),
}

fn access_entry_mapping(s: &Snapshot, key: &RoleKey) -> Mapping {
    let entries = match &s.identity.access_entries {
        Readable::Read(e) => e,
        Readable::NotRead(why) => {
            return Mapping::Unknown(format!("access entries unknown ({why})"))
        }
    };
    let mine: Vec<_> = entries
        .iter()
        .filter(|e| key.is(&e.principal_arn))
        .collect();
    if let Some(e) = mine.iter().find(|e| e.is_for_nodes()) {
        return Mapping::Mapped(format!("access entry {} for {}", e.kind, e.principal_arn));
    }
    match mine.first() {
        Some(e) => Mapping::Missing(format!(
            "the access entry for {} is of type {}, which cannot carry node permissions (EC2_LINUX or EC2_WINDOWS can)",
            e.principal_arn, e.kind
        )),
        None => Mapping::Missing(format!(
            "eks ListAccessEntries: no access entry for role {} in cluster {}",
            key.name, s.cluster.name
        )),
    }
}

fn aws_auth_mapping(key: &RoleKey, text: &Readable<Option<String>>) -> Mapping {
    let text = match text {
        Readable::NotRead(why) => return Mapping::Unknown(format!("aws-auth unknown ({why})")),
        Readable::Read(None) => {
            return Mapping::Missing("the ConfigMap kube-system/aws-auth does not exist".into())
        }
        Readable::Read(Some(t)) => t,
    };
    let mappings = match parse_map_roles(text) {
        Ok(m) => m,
        Err(e) => return Mapping::Unknown(format!("aws-auth mapRoles could not be read: {e}")),
    };
    let mine: Vec<&RoleMapping> = mappings.iter().filter(|m| key.is(&m.rolearn)).collect();
    let has = |m: &RoleMapping, g: &str| m.groups.iter().any(|x| x == g);
    let full = mine
        .iter()
        .find(|m| has(m, "system:bootstrappers") && has(m, "system:nodes"));
    match (full, mine.first()) {
        (Some(m), _) if m.rolearn.eq_ignore_ascii_case(&key.arn_without_path()) => {
            Mapping::Mapped(format!(
                "aws-auth mapRoles maps {} to system:bootstrappers and system:nodes",
                m.rolearn
            ))
        }
        (Some(m), _) => Mapping::Doubtful(format!(
            "aws-auth maps {} with a path or session; aws-auth matches only {}",
            m.rolearn,
            key.arn_without_path()
        )),
        (None, Some(m)) => Mapping::Missing(format!(
            "aws-auth maps {} to groups [{}], without system:bootstrappers and system:nodes",
            m.rolearn,
            m.groups.join(", ")
        )),
        (None, None) => Mapping::Missing(format!(
            "aws-auth mapRoles has no entry for role {} ({} entries)",
            key.name,
            mappings.len()
        )),
    }
}

/// `Ok(note)` when the role is mapped or nothing can be said; else the finding.
fn access(s: &Snapshot, role: &NodeRole) -> Result<String, Box<Finding>> {
    let Some(key) = RoleKey::from_arn(&role.arn) else {
        return Ok(format!("cluster access: {} is not a role ARN", role.arn));
    };
    let mode = s.cluster.authentication_mode.as_ref();
    let mut places = vec![];
    if AuthenticationMode::uses_access_entries(mode) {
        places.push(access_entry_mapping(s, &key));
    }
    if AuthenticationMode::uses_config_map(mode) {
        places.push(aws_auth_mapping(&key, &s.identity.aws_auth_map_roles));
    }
    if let Some(Mapping::Mapped(how)) = places.iter().find(|p| matches!(p, Mapping::Mapped(_))) {
        return Ok(format!("cluster access: {how}"));
    }
    let definite = places.iter().all(|p| matches!(p, Mapping::Missing(_)));
    let negative = places
        .iter()
        .any(|p| matches!(p, Mapping::Missing(_) | Mapping::Doubtful(_)));
    let lines: Vec<String> = places.into_iter().map(text_of).collect();
    if !negative {
        return Ok(format!("cluster access: {}", lines.join("; ")));
    }
    let severity = if definite {
        Severity::Blocker
    } else {
        Severity::Warning
    };
    Err(Box::new(access_finding(s, role, &key, severity, lines)))
}

fn text_of(m: Mapping) -> String {
    match m {
        Mapping::Mapped(t) | Mapping::Missing(t) | Mapping::Doubtful(t) | Mapping::Unknown(t) => t,
    }
}

fn access_finding(
    s: &Snapshot,
    role: &NodeRole,
    key: &RoleKey,
    severity: Severity,
    lines: Vec<String>,
) -> Finding {
    let mode = s.cluster.authentication_mode.as_ref();
    let mode_text = mode.map_or("unknown (EKS did not say)".to_string(), |m| m.to_string());
    let mut evidence = vec![
        format!(
            "cluster {} authentication mode: {mode_text}",
            s.cluster.name
        ),
        format!("node role {} (from {})", role.arn, profile(s)),
    ];
    evidence.extend(lines);
    let summary = match severity {
        Severity::Blocker => format!(
            "node role {} is not mapped into cluster {}: the node's credentials are refused",
            role.name, s.cluster.name
        ),
        _ => format!(
            "node role {} may not be mapped into cluster {}",
            role.name, s.cluster.name
        ),
    };
    Finding {
        code: Code::MissingAccessEntry,
        severity,
        summary,
        evidence,
        remedy: access_remedy(s, role, key, mode),
    }
}

fn access_remedy(
    s: &Snapshot,
    role: &NodeRole,
    key: &RoleKey,
    mode: Option<&AuthenticationMode>,
) -> Remedy {
    let lines = aws_auth_lines(key);
    if matches!(mode, Some(AuthenticationMode::ConfigMap)) {
        let note = format!(
            "add to data.mapRoles of kube-system/aws-auth (the ARN without any path):\n{lines}"
        );
        return Remedy::manual(vec![commands::edit_aws_auth()], note);
    }
    let create = commands::create_access_entry(&s.region, &s.cluster.name, &role.arn, "EC2_LINUX");
    let mut note = "use --type EC2_WINDOWS for Windows nodes; an existing entry of another type must be deleted first (aws eks delete-access-entry)".to_string();
    if AuthenticationMode::uses_config_map(mode) {
        note.push_str(&format!(
            "; or add to data.mapRoles of kube-system/aws-auth (the ARN without any path):\n{lines}"
        ));
    }
    Remedy::manual(
        vec![
            create,
            commands::list_access_entries(&s.region, &s.cluster.name),
        ],
        note,
    )
}

fn aws_auth_lines(key: &RoleKey) -> String {
    format!(
        "- rolearn: {}\n  username: system:node:{{{{EC2PrivateDNSName}}}}\n  groups:\n    - system:bootstrappers\n    - system:nodes",
        key.arn_without_path()
    )
}
