//! Diagnosis by destination against moto: one world per finding code and per deliberate egress design,
//! with the real handler in remediate mode. Each test asserts the codes, the evidence, and that nothing
//! was written where nothing may be written.

use crate::common;

use common::{codes, diagnose, finding, nothing_written, remediate, Sandbox};
use sandbox::world::WorldOptions;
use serde_json::Value;

fn text(v: &Value) -> String {
    v.to_string()
}

async fn world(options: WorldOptions) -> (Sandbox, Vec<String>) {
    let sb = Sandbox::new(options, remediate()).await;
    let routes = sb.new_subnet_routes().await;
    (sb, routes)
}

#[tokio::test]
async fn proxy_behind_a_transit_gateway_is_unknown_and_no_nat_route_is_added_around_it() {
    let (sb, before) = world(WorldOptions::proxy_via_transit_gateway()).await;
    let (instance, report) = diagnose(&sb).await;
    assert_eq!(codes(&report), vec!["cause-unknown"], "{report:#}");
    assert_eq!(report["outcome"], "diagnosed");
    let paths = text(&report["paths"]);
    assert!(paths.contains("unknown"), "{paths}");
    nothing_written(&sb, &instance, &before).await;
}

#[tokio::test]
async fn split_default_routes_through_the_nat_let_the_node_join() {
    let (sb, _) = world(WorldOptions::split_defaults()).await;
    let (_, report) = diagnose(&sb).await;
    assert_eq!(report["outcome"], "registered", "{report:#}");
}

#[tokio::test]
async fn a_firewall_fronted_nat_is_usable_and_gets_the_seeds_fix() {
    let (sb, _) = world(WorldOptions::firewall_fronted_nat()).await;
    let firewalled = sb
        .world
        .firewall
        .clone()
        .expect("firewall world")
        .nat
        .nat_gateway_id;
    // Leave the firewalled NAT as the only one: the fix must not be refused because of the firewall.
    sb.world
        .delete_nat_gateway(&sb.world.nat_gateway_id)
        .await
        .expect("delete the plain NAT");
    let (_, report) = diagnose(&sb).await;
    assert_eq!(codes(&report)[0], "no-default-route", "{report:#}");
    assert_eq!(report["outcome"], "remediated", "{report:#}");
    let routes = sb.new_subnet_routes().await;
    assert!(
        routes.contains(&format!("0.0.0.0/0 -> {firewalled}")),
        "{routes:?}"
    );
}

#[tokio::test]
async fn a_nat_without_its_own_route_is_named_with_the_fix_for_its_table() {
    let (sb, before) = world(WorldOptions::nat_without_internet()).await;
    let isolated = sb.world.isolated_nat.clone().expect("isolated NAT");
    let (instance, report) = diagnose(&sb).await;
    assert_eq!(
        codes(&report),
        vec!["nat-gateway-without-internet"],
        "{report:#}"
    );
    let f = finding(&report, "nat-gateway-without-internet");
    let commands = text(&f["remedy"]["commands"]);
    assert!(commands.contains(&isolated.route_table_id), "{commands}");
    assert!(!commands.contains("create-nat-gateway"), "{commands}");
    assert_eq!(report["outcome"], "diagnosed");
    nothing_written(&sb, &instance, &before).await;
}

#[tokio::test]
async fn a_private_cluster_missing_the_sts_endpoint_names_it_and_adds_no_nat_route() {
    let (sb, before) = world(WorldOptions::private_cluster_missing_sts()).await;
    let (instance, report) = diagnose(&sb).await;
    assert_eq!(codes(&report), vec!["missing-vpc-endpoints"], "{report:#}");
    let f = finding(&report, "missing-vpc-endpoints");
    assert!(
        f["summary"].as_str().unwrap_or_default().contains("sts"),
        "{f:#}"
    );
    assert!(text(&f["remedy"]["commands"]).contains("com.amazonaws.us-west-2.sts"));
    assert_eq!(report["outcome"], "diagnosed");
    nothing_written(&sb, &instance, &before).await;
}

#[tokio::test]
async fn a_private_cluster_with_every_endpoint_joins_without_internet() {
    let (sb, _) = world(WorldOptions::private_cluster_all_endpoints()).await;
    let (_, report) = diagnose(&sb).await;
    assert_eq!(report["outcome"], "registered", "{report:#}");
}

#[tokio::test]
async fn a_network_acl_denying_https_is_named_and_left_to_a_human() {
    let (sb, before) = world(WorldOptions::nacl_denies_https()).await;
    let acl = sb.world.new_subnet_nacl_id.clone().expect("NACL");
    let (instance, report) = diagnose(&sb).await;
    assert_eq!(codes(&report), vec!["nacl-blocks-traffic"], "{report:#}");
    let f = finding(&report, "nacl-blocks-traffic");
    assert!(text(f).contains(&acl), "{f:#}");
    assert!(text(&f["remedy"]["commands"]).contains("--rule-number 99"));
    nothing_written(&sb, &instance, &before).await;
}

#[tokio::test]
async fn a_security_group_without_https_egress_is_named() {
    let (sb, before) = world(WorldOptions::node_sg_without_https()).await;
    let group = sb.world.node_security_group_id.clone().expect("node SG");
    let (instance, report) = diagnose(&sb).await;
    assert_eq!(
        codes(&report),
        vec!["security-group-blocks-egress"],
        "{report:#}"
    );
    assert!(text(&finding(&report, "security-group-blocks-egress")["remedy"]).contains(&group));
    nothing_written(&sb, &instance, &before).await;
}

#[tokio::test]
async fn vpc_dns_support_off_is_named() {
    let (sb, before) = world(WorldOptions::dns_support_disabled()).await;
    let (instance, report) = diagnose(&sb).await;
    assert_eq!(codes(&report), vec!["vpc-dns-disabled"], "{report:#}");
    assert!(text(&report).contains("--enable-dns-support"));
    nothing_written(&sb, &instance, &before).await;
}

#[tokio::test]
async fn a_public_only_endpoint_that_does_not_admit_the_nat_address_is_not_reachable() {
    let (sb, before) = world(WorldOptions::public_endpoint_excluding_nat()).await;
    let (instance, report) = diagnose(&sb).await;
    assert_eq!(codes(&report), vec!["endpoint-not-reachable"], "{report:#}");
    let f = finding(&report, "endpoint-not-reachable");
    assert!(
        text(&f["remedy"]["commands"]).contains("publicAccessCidrs=203.0.113.0/24,"),
        "{f:#}"
    );
    nothing_written(&sb, &instance, &before).await;
}

#[tokio::test]
async fn the_report_carries_the_path_table_for_every_destination() {
    let sb = Sandbox::seed(common::alert()).await;
    let (_, report) = diagnose(&sb).await;
    let destinations: Vec<&str> = report["paths"]
        .as_array()
        .map(|p| p.iter().filter_map(|p| p["destination"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        destinations,
        vec!["cluster-api", "ecr.api", "ecr.dkr", "sts", "ec2", "s3"]
    );
    let messages = sb.sns_messages().await;
    assert!(
        messages.iter().any(|(_, _, r)| r["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Paths a node needs")),
        "the text report shows the path table"
    );
}

/// The path table's row for a destination.
fn path_row<'a>(report: &'a Value, destination: &str) -> &'a Value {
    report["paths"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["destination"] == destination))
        .unwrap_or_else(|| panic!("no {destination} path in {report:#}"))
}

#[tokio::test]
async fn dual_stack_node_without_an_ipv4_default_is_fixed_with_the_nat_route_and_reaches_the_api_over_ipv6(
) {
    let (sb, _) = world(WorldOptions::dual_stack_without_ipv4_default()).await;
    let (_, report) = diagnose(&sb).await;
    assert_eq!(codes(&report), vec!["no-default-route"], "{report:#}");
    let f = finding(&report, "no-default-route");
    assert!(
        !text(&f["summary"]).contains("cluster-api"),
        "the API is reached over IPv6: {f:#}"
    );
    let api = path_row(&report, "cluster-api");
    assert_eq!(api["verdict"]["verdict"], "pass", "{api:#}");
    let legs: Vec<(&str, &str)> = api["families"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|l| {
                    let family = l["family"].as_str().unwrap_or_default();
                    (family, l["verdict"]["verdict"].as_str().unwrap_or_default())
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(legs, vec![("IPv4", "blocked"), ("IPv6", "pass")], "{api:#}");
    assert_eq!(report["outcome"], "remediated", "{report:#}");
    let routes = sb.new_subnet_routes().await;
    assert!(
        routes.contains(&format!("0.0.0.0/0 -> {}", sb.world.nat_gateway_id)),
        "{routes:?}"
    );
}

#[tokio::test]
async fn dual_stack_api_refusing_the_nat_is_no_blocker_when_ipv6_reaches_it() {
    // The node role lacks the worker policy, so the node stays out and the function diagnoses: the only
    // cause is the role, not the endpoint the node reaches over IPv6.
    let options = WorldOptions {
        node_policies: WorldOptions::node_role_without("AmazonEKSWorkerNodePolicy").node_policies,
        ..WorldOptions::dual_stack_ipv4_endpoint_restricted()
    };
    let (sb, before) = world(options).await;
    let (instance, report) = diagnose(&sb).await;
    assert_eq!(
        codes(&report),
        vec!["node-role-missing-policy"],
        "{report:#}"
    );
    let api = path_row(&report, "cluster-api");
    assert_eq!(api["verdict"]["verdict"], "pass", "{api:#}");
    let messages = sb.sns_messages().await;
    assert!(
        messages.iter().any(|(_, _, r)| r["text"]
            .as_str()
            .unwrap_or_default()
            .contains("cluster-api via internet: pass [IPv4 blocked at publicAccessCidrs")),
        "the text report shows both families: {messages:#?}"
    );
    nothing_written(&sb, &instance, &before).await;
}
