//! A scale-out into one broken subnet, as separate Lambda containers run it: each container handles its
//! own launch, and the VPC reads they all need are made once and shared through the state table; the
//! instances with the same cause are reported once, as one incident. And as one container runs an SQS
//! batch of such launches: the reads about their cluster, nodegroup and node role are made once.

use crate::common;

use std::sync::Arc;

use common::{alert, codes, sqs_event, Sandbox};
use eks_node_join_remediator::{handle, App, Clients};
use lambda_runtime::{Context, LambdaEvent};
use sandbox::world::{reported_now, WorldOptions};

const CONTAINERS: usize = 4;
/// Longer than the 0.7 s by which the last of the containers was seen to follow the first on a loaded
/// 2-core machine.
const VPC_READ_TAKES: std::time::Duration = std::time::Duration::from_secs(3);

#[tokio::test]
async fn launches_into_one_subnet_on_separate_containers_make_one_vpc_read_and_one_report_between_them(
) {
    let options = WorldOptions {
        desired_capacity: CONTAINERS as i32,
        ..WorldOptions::default()
    };
    let (sb, overlay) = Sandbox::with_cluster_access(options, alert()).await;
    let ids = sb.world.nodegroup_instance_ids().await.expect("instances");
    assert_eq!(ids.len(), CONTAINERS);
    let through = sb.sdk.to_builder().endpoint_url(&overlay.endpoint).build();
    let mut events = Vec::new();
    for id in &ids {
        events.push(reported_now(&sb.launch_event(id).await));
    }
    overlay.calls.take();
    // The shared VPC read is made to take longer than the containers' way to it (seen up to 0.7 s apart):
    // a container that asks after the read is done reads afresh, by design (`ledger::reads_step`).
    overlay.slow_down("ec2:DescribeRouteTables", VPC_READ_TAKES);

    let mut running = tokio::task::JoinSet::new();
    for event in events {
        // A container of its own: its own clients and caches, only the state table in common.
        let clients = Clients::new(&through).expect("clients");
        let app = Arc::new(App::new(sb.app.config.clone(), clients));
        running.spawn(handle(app, LambdaEvent::new(event, Context::default())));
    }
    let mut reports = Vec::new();
    while let Some(done) = running.join_next().await {
        reports.push(
            done.expect("the handler ran")
                .expect("the handler answered"),
        );
    }

    for report in &reports {
        assert_eq!(report["outcome"], "diagnosed", "{report:#}");
        assert!(
            codes(report).contains(&"no-default-route".to_string()),
            "{report:#}"
        );
    }
    let published: Vec<_> = reports.iter().filter(|r| r["notified"] == true).collect();
    assert_eq!(
        published.len(),
        1,
        "one report for the incident: {reports:#?}"
    );
    let incident = reports
        .iter()
        .filter_map(|r| r["reported_with"].as_str())
        .collect::<Vec<_>>();
    assert_eq!(incident.len(), CONTAINERS - 1, "{reports:#?}");
    assert!(
        incident.iter().all(|k| k.contains(&sb.world.new_subnet_id)),
        "{incident:?}"
    );
    assert_eq!(sb.sns_messages().await.len(), 1);
    let calls = overlay.calls.take();
    let count = |op: &str| calls.get(op).copied().unwrap_or_default();
    // Each container reads its own instance and node; the VPC around them is read once.
    assert_eq!(count("ec2:DescribeInstances"), CONTAINERS, "{calls:?}");
    for vpc_read in [
        "ec2:DescribeRouteTables",
        "ec2:DescribeNatGateways",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeNetworkAcls",
        "ec2:DescribeVpcEndpoints",
    ] {
        assert_eq!(count(vpc_read), 1, "{vpc_read}: {calls:?}");
    }
}

/// The records of one SQS batch for one nodegroup need the same cluster-side reads (the nodegroup, the
/// node role's policies, the cluster's access entries): they make them once between them, and each record
/// is diagnosed with what was read.
#[tokio::test]
async fn the_records_of_one_batch_read_their_nodegroup_and_node_role_once_between_them() {
    const RECORDS: usize = 4;
    let options = WorldOptions {
        desired_capacity: RECORDS as i32,
        ..WorldOptions::node_role_without("AmazonEKSWorkerNodePolicy")
    };
    let (sb, overlay) = Sandbox::with_cluster_access(options, alert()).await;
    let ids = sb.world.nodegroup_instance_ids().await.expect("instances");
    assert_eq!(ids.len(), RECORDS);
    let mut bodies = Vec::new();
    for id in &ids {
        bodies.push((id.clone(), sb.launch_event(id).await.to_string()));
    }
    overlay.calls.take();
    // Held, so that every record asks while the first read is in flight, however slow the machine.
    overlay.slow_down("iam:ListAttachedRolePolicies", VPC_READ_TAKES);

    let answer = sb.invoke_ok(sqs_event(&bodies)).await;

    assert_eq!(
        answer["batchItemFailures"],
        serde_json::json!([]),
        "{answer:#}"
    );
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), RECORDS);
    for result in results {
        let found = codes(&result["report"]);
        assert!(
            found.contains(&"node-role-missing-policy".to_string()),
            "{result:#}"
        );
    }
    let calls = overlay.calls.take();
    let count = |op: &str| calls.get(op).copied().unwrap_or_default();
    for shared in [
        "eks:GET /clusters/{}/node-groups/{}",
        "eks:GET /clusters/{}/access-entries",
        "iam:ListAttachedRolePolicies",
        "iam:ListRolePolicies",
        "ec2:DescribeRouteTables",
    ] {
        assert_eq!(count(shared), 1, "{shared}: {calls:?}");
    }
}

/// A launch reported as it happened asks for the lease on its subnet's VPC read during admission, beside
/// the cluster's read, so that the read starts with the snapshot. When its node turns out to have
/// registered already, no snapshot is taken and the lease is given back at once, not left for the other
/// containers of a burst to wait out.
#[tokio::test]
async fn a_vpc_read_lease_asked_for_during_admission_and_not_needed_is_given_back() {
    let (sb, overlay) = Sandbox::with_cluster_access(WorldOptions::open_network(), alert()).await;
    let ids = sb.world.nodegroup_instance_ids().await.expect("instances");
    let event = reported_now(&sb.launch_event(&ids[0]).await);
    overlay.calls.take();

    let report = sb.invoke_ok(event).await;

    assert_eq!(report["outcome"], "registered", "{report:#}");
    let calls = overlay.calls.take();
    assert_eq!(
        calls.get("dynamodb:UpdateItem"),
        Some(&2),
        "the lease taken, then given back: {calls:?}"
    );
    let table = sb.app.config.state_table.clone().expect("a state table");
    let items = aws_sdk_dynamodb::Client::new(&sb.sdk)
        .scan()
        .table_name(table)
        .send()
        .await
        .expect("scan the state table");
    let leases: Vec<_> = items
        .items()
        .iter()
        .filter(|item| {
            item.get("pk")
                .and_then(|k| k.as_s().ok())
                .is_some_and(|k| k.contains("reads#"))
        })
        .collect();
    assert_eq!(leases.len(), 1, "the read's item: {items:?}");
    assert!(
        !leases[0].contains_key("lease_until"),
        "no lease left: {leases:?}"
    );
}
