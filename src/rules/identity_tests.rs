//! The identity, capacity and console rules, on the seed with an open network path (so that only the
//! cause under test is left).

use super::*;
use crate::finding::Severity;
use crate::fixture::{self, *};
use crate::snapshot::*;

fn open_path() -> Snapshot {
    fixture::seed().with_new_subnet_default(nat_target(NAT_A))
}

fn finding(s: &Snapshot, code: Code) -> Option<Finding> {
    diagnose(s).findings.into_iter().find(|f| f.code == code)
}

fn must(s: &Snapshot, code: Code) -> Finding {
    finding(s, code).unwrap_or_else(|| panic!("no {code} in {:#?}", diagnose(s).findings))
}

fn commands(f: &Finding) -> Vec<String> {
    f.remedy.commands.iter().map(ToString::to_string).collect()
}

fn text(f: &Finding) -> String {
    format!("{} {:?} {:?}", f.summary, f.evidence, f.remedy)
}

fn unmapped(mode: AuthenticationMode) -> Snapshot {
    let mut s = open_path();
    s.cluster.authentication_mode = Some(mode);
    s.identity.access_entries = Readable::Read(vec![]);
    s.identity.aws_auth_map_roles = Readable::Read(Some(map_roles_for(
        "arn:aws:iam::123456789012:role/someone-else",
    )));
    s
}

#[test]
fn a_node_role_with_its_policies_and_an_access_entry_adds_nothing_but_says_what_was_verified() {
    let d = diagnose(&open_path());
    let codes: Vec<Code> = d.findings.iter().map(|f| f.code).collect();
    assert_eq!(codes, vec![Code::CauseUnknown]);
    let evidence = d.findings[0].evidence.join("\n");
    for needle in [
        "node role eks-workshop-node-role: has AmazonEKSWorkerNodePolicy, AmazonEC2ContainerRegistryReadOnly, AmazonEKS_CNI_Policy",
        "cluster access: access entry EC2_LINUX for arn:aws:iam::123456789012:role/eks-workshop-node-role",
        "console output: read once the grace period is over",
    ] {
        assert!(evidence.contains(needle), "{needle} not in {evidence}");
    }
}

#[test]
fn a_role_in_neither_access_entries_nor_aws_auth_is_a_blocker_with_the_access_entry_command() {
    let f = must(
        &unmapped(AuthenticationMode::ApiAndConfigMap),
        Code::MissingAccessEntry,
    );
    assert_eq!(f.severity, Severity::Blocker);
    assert_eq!(
        commands(&f)[0],
        format!("aws eks create-access-entry --region us-west-2 --cluster-name eks-workshop --principal-arn {NODE_ROLE} --type EC2_LINUX")
    );
    let note = f.remedy.note.clone().unwrap_or_default();
    assert!(note.contains(&format!("- rolearn: {NODE_ROLE}")), "{note}");
    assert!(note.contains("    - system:nodes"), "{note}");
    assert!(text(&f).contains("no access entry for role eks-workshop-node-role"));
    assert!(text(&f)
        .contains("aws-auth mapRoles has no entry for role eks-workshop-node-role (1 entries)"));
}

#[test]
fn a_role_present_in_either_place_is_mapped() {
    let mut by_config_map = unmapped(AuthenticationMode::ApiAndConfigMap);
    by_config_map.identity.aws_auth_map_roles = Readable::Read(Some(map_roles_for(NODE_ROLE)));
    assert_eq!(finding(&by_config_map, Code::MissingAccessEntry), None);
    let mut by_entry = unmapped(AuthenticationMode::ApiAndConfigMap);
    let assumed = "arn:aws:sts::123456789012:assumed-role/eks-workshop-node-role/i-1";
    by_entry.identity.access_entries = Readable::Read(vec![node_access_entry(assumed)]);
    assert_eq!(finding(&by_entry, Code::MissingAccessEntry), None);
}

#[test]
fn the_authentication_mode_decides_which_place_counts() {
    let mut api = unmapped(AuthenticationMode::Api);
    api.identity.aws_auth_map_roles = Readable::Read(Some(map_roles_for(NODE_ROLE)));
    let f = must(&api, Code::MissingAccessEntry);
    assert_eq!(
        f.severity,
        Severity::Blocker,
        "aws-auth does not count in API mode"
    );
    assert!(!text(&f).contains("mapRoles"), "{}", text(&f));

    let mut config_map = unmapped(AuthenticationMode::ConfigMap);
    config_map.identity.access_entries = Readable::Read(vec![node_access_entry(NODE_ROLE)]);
    let f = must(&config_map, Code::MissingAccessEntry);
    assert_eq!(f.severity, Severity::Blocker);
    assert_eq!(
        commands(&f),
        vec!["kubectl edit configmap aws-auth --namespace kube-system"]
    );
}

#[test]
fn a_read_that_failed_makes_access_a_warning_or_unknown_never_a_blocker() {
    let mut half = unmapped(AuthenticationMode::ApiAndConfigMap);
    half.identity.aws_auth_map_roles = Readable::NotRead("GET aws-auth answered 403".into());
    assert_eq!(
        must(&half, Code::MissingAccessEntry).severity,
        Severity::Warning
    );

    let mut none = half.clone();
    none.identity.access_entries = Readable::NotRead("not permitted".into());
    assert_eq!(finding(&none, Code::MissingAccessEntry), None);
    let unknown = must(&none, Code::CauseUnknown).evidence.join("\n");
    assert!(
        unknown.contains("access entries unknown (not permitted)"),
        "{unknown}"
    );

    let mut garbled = unmapped(AuthenticationMode::ConfigMap);
    garbled.identity.aws_auth_map_roles = Readable::Read(Some("- rolearn: |\n  x\n".into()));
    assert_eq!(finding(&garbled, Code::MissingAccessEntry), None);
}

#[test]
fn entries_that_cannot_carry_node_permissions_do_not_map_the_node() {
    let mut standard = unmapped(AuthenticationMode::Api);
    standard.identity.access_entries = Readable::Read(vec![AccessEntry {
        kind: "STANDARD".into(),
        ..node_access_entry(NODE_ROLE)
    }]);
    let f = must(&standard, Code::MissingAccessEntry);
    assert_eq!(f.severity, Severity::Blocker);
    assert!(text(&f).contains("type STANDARD"), "{}", text(&f));

    let mut no_groups = unmapped(AuthenticationMode::ConfigMap);
    let masters = format!("- rolearn: {NODE_ROLE}\n  groups: [system:masters]\n");
    no_groups.identity.aws_auth_map_roles = Readable::Read(Some(masters));
    assert_eq!(
        must(&no_groups, Code::MissingAccessEntry).severity,
        Severity::Blocker
    );
}

#[test]
fn an_aws_auth_entry_with_a_role_path_is_a_warning() {
    let mut s = unmapped(AuthenticationMode::ConfigMap);
    let with_path = "arn:aws:iam::123456789012:role/platform/eks-workshop-node-role";
    s.identity.aws_auth_map_roles = Readable::Read(Some(map_roles_for(with_path)));
    let f = must(&s, Code::MissingAccessEntry);
    assert_eq!(f.severity, Severity::Warning);
    assert!(text(&f)
        .contains("aws-auth matches only arn:aws:iam::123456789012:role/eks-workshop-node-role"));
}

fn with_policies(attached: &[&str], inline: &[&str]) -> Snapshot {
    let mut s = open_path();
    s.identity.node_role = Readable::Read(Some(node_role(attached, inline)));
    s
}

#[test]
fn a_role_without_the_worker_policy_is_a_blocker_with_the_attach_command() {
    let s = with_policies(&NODE_POLICIES[1..], &[]);
    let f = must(&s, Code::NodeRoleMissingPolicy);
    assert_eq!(f.severity, Severity::Blocker);
    assert_eq!(commands(&f)[0], "aws iam attach-role-policy --role-name eks-workshop-node-role --policy-arn arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy");
    assert!(
        f.summary.contains("lacks the worker node permissions"),
        "{}",
        f.summary
    );
}

#[test]
fn pull_only_grants_ecr_and_a_missing_cni_policy_is_a_warning_saying_how_to_tell() {
    let pull_only = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly";
    let s = with_policies(&[NODE_POLICIES[0], pull_only], &[]);
    let f = must(&s, Code::NodeRoleMissingPolicy);
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.summary.contains("lacks the VPC CNI permissions"),
        "{}",
        f.summary
    );
    let cmds = commands(&f).join("\n");
    assert!(cmds.contains("kubectl describe serviceaccount aws-node --namespace kube-system"));
    assert!(cmds.contains("aws eks list-pod-identity-associations"));
    assert!(f.remedy.note.unwrap_or_default().contains("IRSA"));
    let mut v6 = s.clone();
    v6.cluster.ip_family = Some(IpFamily::Ipv6);
    assert_eq!(finding(&v6, Code::NodeRoleMissingPolicy), None);
}

#[test]
fn inline_policies_that_may_grant_a_permission_make_it_a_warning_not_a_blocker() {
    let s = with_policies(&[], &["node-permissions"]);
    let f = must(&s, Code::NodeRoleMissingPolicy);
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.summary.starts_with("cannot tell whether"),
        "{}",
        f.summary
    );
    let mut unread = open_path();
    if let Readable::Read(Some(role)) = &mut unread.identity.node_role {
        role.attached_policies = Readable::NotRead("not permitted".into());
    }
    assert_eq!(finding(&unread, Code::NodeRoleMissingPolicy), None);
}

#[test]
fn an_instance_without_a_profile_is_named() {
    let mut s = open_path();
    s.instance.instance_profile_arn = None;
    s.identity.node_role = Readable::Read(None);
    let f = must(&s, Code::NodeRoleMissingPolicy);
    assert!(
        f.summary.contains("has no instance profile"),
        "{}",
        f.summary
    );
    assert_eq!(f.severity, Severity::Warning);
}

#[test]
fn a_subnet_short_of_addresses_is_a_warning_with_the_numbers_and_a_blocker_at_zero() {
    let mut s = open_path();
    s.subnet.available_ip_addresses = 10;
    let f = must(&s, Code::SubnetOutOfAddresses);
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.summary
            .contains("10 free IPv4 address(es), fewer than one node's pod capacity (29)"),
        "{}",
        f.summary
    );
    s.subnet.available_ip_addresses = 0;
    assert_eq!(
        must(&s, Code::SubnetOutOfAddresses).severity,
        Severity::Blocker
    );
    s.cluster.ip_family = Some(IpFamily::Ipv6);
    assert_eq!(
        finding(&s, Code::SubnetOutOfAddresses),
        None,
        "IPv6 pods take no IPv4"
    );
    assert_eq!(finding(&open_path(), Code::SubnetOutOfAddresses), None);
}

#[test]
fn nodegroup_health_codes_say_which_finding_they_correspond_to() {
    let mut s = open_path();
    if let Some(ng) = s.nodegroup.as_mut() {
        ng.health_issues.push(HealthIssue {
            code: "AccessDenied".into(),
            message: "The node role is not authorized".into(),
        });
    }
    let f = must(&s, Code::NodegroupHealthIssue);
    assert_eq!(f.severity, Severity::Info);
    assert!(f.evidence.contains(
        &"AccessDenied corresponds to: node-role-missing-policy, missing-access-entry".to_string()
    ));
}

#[test]
fn the_console_shows_the_bootstrap_failure_quoted_and_withholds_secrets() {
    let mut s = open_path();
    s.console_output = Some(Readable::Read(
        "kubelet: Unable to register node \"ip-10-42-200-17\" with API server: Unauthorized\nbootstrap error: AKIAIOSFODNN7EXAMPLE denied\n".into(),
    ));
    let f = must(&s, Code::NodeBootstrapFailed);
    assert_eq!(f.severity, Severity::Warning);
    let evidence = f.evidence.join("\n");
    assert!(evidence.contains("Unable to register node"), "{evidence}");
    assert!(!evidence.contains("AKIA"), "{evidence}");
    assert!(
        evidence.contains("1 more matching line(s) withheld"),
        "{evidence}"
    );
    s.console_output = Some(Readable::NotRead(
        "not permitted: ec2:GetConsoleOutput".into(),
    ));
    assert_eq!(finding(&s, Code::NodeBootstrapFailed), None);
    let unknown = must(&s, Code::CauseUnknown).evidence.join("\n");
    assert!(
        unknown.contains("console output: unknown (not permitted"),
        "{unknown}"
    );
}
