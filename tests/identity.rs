//! Causes beyond the network, against moto with the real handler in remediate mode: the node role's
//! policies, the cluster's access for the node role (access entries and `aws-auth`), the subnet's free
//! addresses, and what the node printed. Where moto does not model something (access entries, the
//! authentication mode, console output) an overlay in front of it serves it from the same
//! `ClusterAccess` the kubelet simulator decides with. Each test asserts the codes, the evidence, and
//! that nothing was written.

use crate::common;

use common::{codes, diagnose, finding, nothing_written, remediate, Sandbox};
use sandbox::access::AwsAuth;
use sandbox::world::{WorldOptions, NODE_ROLE_NAME};
use serde_json::Value;

fn text(v: &Value) -> String {
    v.to_string()
}

/// The open-network world behind the overlay, with the cluster in `mode` and `aws-auth` mapping some
/// other role only.
async fn unmapped(mode: &str) -> (Sandbox, sandbox::overlay::AwsOverlay, Vec<String>) {
    let (sb, overlay) =
        Sandbox::with_cluster_access(WorldOptions::open_network(), remediate()).await;
    let access = sb.kube.access();
    access.set_authentication_mode(Some(mode));
    let other = format!("arn:aws:iam::{}:role/ci-deployer", sb.world.account_id);
    access.set_aws_auth(AwsAuth::MapRoles(format!(
        "- rolearn: {other}\n  username: deployer\n  groups:\n    - system:masters\n"
    )));
    let routes = sb.new_subnet_routes().await;
    (sb, overlay, routes)
}

#[tokio::test]
async fn a_node_role_without_the_worker_policy_is_a_blocker_with_the_attach_command() {
    let sb = Sandbox::new(
        WorldOptions::node_role_without("AmazonEKSWorkerNodePolicy"),
        remediate(),
    )
    .await;
    let before = sb.new_subnet_routes().await;
    let (instance, report) = diagnose(&sb).await;
    assert_eq!(
        codes(&report),
        vec!["node-role-missing-policy"],
        "{report:#}"
    );
    let f = finding(&report, "node-role-missing-policy");
    assert_eq!(f["severity"], "blocker");
    assert!(
        text(&f["remedy"]["commands"]).contains(&format!(
            "aws iam attach-role-policy --role-name {NODE_ROLE_NAME} --policy-arn arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"
        )),
        "{f:#}"
    );
    assert!(
        text(&f["evidence"]).contains("AmazonEC2ContainerRegistryReadOnly"),
        "{f:#}"
    );
    assert_eq!(report["outcome"], "diagnosed");
    nothing_written(&sb, &instance, &before).await;
}

#[tokio::test]
async fn a_node_role_in_neither_access_entries_nor_aws_auth_is_a_blocker_with_the_access_entry_command(
) {
    let (sb, _overlay, before) = unmapped("API_AND_CONFIG_MAP").await;
    let (instance, report) = diagnose(&sb).await;
    assert_eq!(codes(&report), vec!["missing-access-entry"], "{report:#}");
    let f = finding(&report, "missing-access-entry");
    assert_eq!(f["severity"], "blocker");
    let role = sb.world.node_role_arn();
    assert_eq!(
        f["remedy"]["commands"][0],
        format!("aws eks create-access-entry --region us-west-2 --cluster-name eks-workshop --principal-arn {role} --type EC2_LINUX")
    );
    let evidence = text(&f["evidence"]);
    assert!(
        evidence.contains("authentication mode: API_AND_CONFIG_MAP"),
        "{evidence}"
    );
    assert!(
        evidence.contains(&format!("no access entry for role {NODE_ROLE_NAME}")),
        "{evidence}"
    );
    assert!(
        evidence.contains(&format!(
            "aws-auth mapRoles has no entry for role {NODE_ROLE_NAME}"
        )),
        "{evidence}"
    );
    assert!(text(&f["remedy"]["note"]).contains(&format!("- rolearn: {role}")));
    assert_eq!(report["outcome"], "diagnosed");
    let messages = sb.sns_messages().await;
    let rendered = messages
        .iter()
        .find_map(|(_, _, r)| r["text"].as_str().map(String::from))
        .unwrap_or_default();
    assert!(
        rendered.contains("[blocker] missing-access-entry"),
        "{rendered}"
    );
    println!("{rendered}");
    nothing_written(&sb, &instance, &before).await;
}

#[tokio::test]
async fn in_config_map_mode_the_fix_is_the_aws_auth_entry() {
    let (sb, _overlay, before) = unmapped("CONFIG_MAP").await;
    sb.kube
        .access()
        .add_access_entry(&sb.world.node_role_arn(), "EC2_LINUX");
    let (instance, report) = diagnose(&sb).await;
    assert_eq!(codes(&report), vec!["missing-access-entry"], "{report:#}");
    let f = finding(&report, "missing-access-entry");
    assert_eq!(f["severity"], "blocker");
    assert_eq!(
        f["remedy"]["commands"][0],
        "kubectl edit configmap aws-auth --namespace kube-system"
    );
    assert!(text(&f["remedy"]["note"]).contains("    - system:bootstrappers"));
    nothing_written(&sb, &instance, &before).await;
}

#[tokio::test]
async fn an_ec2_linux_access_entry_lets_the_node_join_without_aws_auth() {
    let (sb, _overlay, _) = unmapped("API").await;
    let access = sb.kube.access();
    access.set_aws_auth(AwsAuth::Absent);
    access.add_access_entry(&sb.world.node_role_arn(), "EC2_LINUX");
    let (_, report) = diagnose(&sb).await;
    assert_eq!(report["outcome"], "registered", "{report:#}");
}

#[tokio::test]
async fn the_console_quotes_the_bootstrap_failure_and_withholds_what_looks_like_a_secret() {
    let (sb, _overlay, before) = unmapped("API").await;
    let instance = sb.stuck_instance().await;
    sb.kube.access().set_console_output(
        &instance,
        "[   12.0] cloud-init[1]: running modules:final\n\
         [   45.1] kubelet[2101]: E1009 15:03:02 kubelet_node_status.go:96] \"Unable to register node with API server\" err=\"Unauthorized\" node=\"ip-10-42-192-5\"\n\
         [   45.9] nodeadm[1800]: level=error msg=\"bootstrap failed\" AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n",
    );
    let report = sb.invoke_ok(sb.launch_event(&instance).await).await;
    assert_eq!(
        codes(&report),
        vec!["missing-access-entry", "node-bootstrap-failed"],
        "{report:#}"
    );
    let f = finding(&report, "node-bootstrap-failed");
    assert_eq!(f["severity"], "warning");
    let evidence = text(&f["evidence"]);
    assert!(
        evidence.contains("Unable to register node with API server"),
        "{evidence}"
    );
    assert!(!evidence.contains("AKIA"), "{evidence}");
    assert!(
        evidence.contains("1 more matching line(s) withheld"),
        "{evidence}"
    );
    assert!(!text(&report).contains("AKIAIOSFODNN7EXAMPLE"));
    nothing_written(&sb, &instance, &before).await;
}

#[tokio::test]
async fn a_subnet_with_fewer_free_addresses_than_a_nodes_pods_is_a_warning_with_the_numbers() {
    let sb = Sandbox::new(WorldOptions::small_subnet_behind_proxy(), remediate()).await;
    let before = sb.new_subnet_routes().await;
    let (instance, report) = diagnose(&sb).await;
    assert_eq!(
        codes(&report),
        vec!["subnet-out-of-addresses", "cause-unknown"],
        "{report:#}"
    );
    let f = finding(&report, "subnet-out-of-addresses");
    assert_eq!(f["severity"], "warning");
    let summary = f["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("fewer than one node's pod capacity (29)"),
        "{summary}"
    );
    assert!(text(&f["evidence"]).contains("10.42.192.0/28"), "{f:#}");
    assert!(text(&f["evidence"]).contains("m5.large"), "{f:#}");
    nothing_written(&sb, &instance, &before).await;
}

#[tokio::test]
async fn with_everything_in_place_the_identity_checks_are_listed_as_verified() {
    let sb = Sandbox::new(WorldOptions::proxy_via_transit_gateway(), remediate()).await;
    let (_, report) = diagnose(&sb).await;
    assert_eq!(codes(&report), vec!["cause-unknown"], "{report:#}");
    let evidence = text(&finding(&report, "cause-unknown")["evidence"]);
    assert!(
        evidence.contains(&format!(
            "node role {NODE_ROLE_NAME}: has AmazonEKSWorkerNodePolicy"
        )),
        "{evidence}"
    );
    assert!(
        evidence.contains("cluster access: aws-auth mapRoles maps"),
        "{evidence}"
    );
    assert!(
        evidence.contains("console output: no known bootstrap failure line"),
        "{evidence}"
    );
}
