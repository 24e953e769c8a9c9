//! Never do damage twice: duplicates, retries after a partial success, a reverting actor and the loop
//! breaker, against moto with the real handler in remediate mode.

use crate::common;

use common::{remediate, sqs_event, Sandbox};
use eks_node_join_remediator::Config;
use sandbox::world::WorldOptions;
use serde_json::Value;

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    let kind = x["action"]["kind"].as_str().unwrap_or_default().to_string();
                    (kind, x["status"].as_str().unwrap_or_default().to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn delete_default_route(sb: &Sandbox) {
    sb.world
        .ec2()
        .delete_route()
        .route_table_id(sb.world.new_subnet_table())
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .expect("the other actor removes the route");
}

/// The instances of the nodegroup other than `gone`, once the group has launched a replacement.
async fn replacement(sb: &Sandbox, gone: &[String]) -> String {
    for _ in 0..60 {
        let ids = sb.world.nodegroup_instance_ids().await.expect("instances");
        if let Some(id) = ids.into_iter().find(|id| !gone.contains(id)) {
            return id;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    panic!("no replacement instance launched");
}

#[tokio::test]
async fn the_same_event_delivered_twice_at_once_recycles_and_reports_once() {
    let sb = Sandbox::seed(remediate()).await;
    let stuck = sb.stuck_instance().await;
    let body = sb.launch_event(&stuck).await.to_string();
    let answer = sb
        .invoke_ok(sqs_event(&[
            ("m-1".into(), body.clone()),
            ("m-2".into(), body),
        ]))
        .await;
    let reports: Vec<&Value> = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| &r["report"])
        .collect();
    let terminations: Vec<String> = reports
        .iter()
        .flat_map(|r| statuses(r))
        .filter(|(kind, _)| kind == "terminate-instance")
        .map(|(_, status)| status)
        .collect();
    assert_eq!(
        terminations.iter().filter(|s| *s == "applied").count(),
        1,
        "{answer:#}"
    );
    let messages = sb.sns_messages().await;
    assert_eq!(messages.len(), 1, "one report per incident: {messages:#?}");
    assert!(
        reports.iter().any(|r| r["already_reported"] == true),
        "{answer:#}"
    );
}

#[tokio::test]
async fn a_route_removed_again_by_someone_else_is_reported_as_drift_not_fought() {
    let sb = Sandbox::seed(remediate()).await;
    let stuck = sb.stuck_instance().await;
    let first = sb.invoke_ok(sb.launch_event(&stuck).await).await;
    assert_eq!(first["outcome"], "remediated", "{first:#}");
    let mut writes = 1;
    // Infrastructure as code that does not know the route takes it out again.
    delete_default_route(&sb).await;
    let next = replacement(&sb, &[stuck]).await;
    let event = sb.launch_event(&next).await;
    // The replacement's launch, and its redeliveries: each would re-add the route and recycle again.
    for _ in 0..3 {
        let report = sb.invoke_ok(event.clone()).await;
        assert_eq!(report["outcome"], "remediation-blocked", "{report:#}");
        assert_eq!(report["guard"], "route-drift");
        assert!(report["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("infrastructure as code"));
        writes += statuses(&report)
            .iter()
            .filter(|(k, s)| k == "create-default-route" && s == "applied")
            .count();
        assert_eq!(sb.instance_state(&next).await, "running", "not recycled");
    }
    println!("reverting actor: 4 launch events, {writes} route write(s), 1 recycle");
    assert_eq!(writes, 1);
    assert!(!sb
        .new_subnet_routes()
        .await
        .iter()
        .any(|r| r.starts_with("0.0.0.0/0")));
}

#[tokio::test]
async fn a_retry_after_the_route_was_fixed_still_replaces_the_instance_that_launched_before() {
    let sb = Sandbox::new(
        WorldOptions {
            desired_capacity: 2,
            ..WorldOptions::default()
        },
        remediate(),
    )
    .await;
    sb.kube.bootstrap_gives_up(true);
    let ids = sb.world.nodegroup_instance_ids().await.expect("instances");
    let first = sb.invoke_ok(sb.launch_event(&ids[0]).await).await;
    assert_eq!(first["outcome"], "remediated", "{first:#}");
    // The second instance launched before the fix; its route is right now, but it will not join.
    let second = sb.invoke_ok(sb.launch_event(&ids[1]).await).await;
    assert_eq!(second["outcome"], "remediated", "{second:#}");
    assert_eq!(
        statuses(&second),
        vec![("terminate-instance".to_string(), "applied".to_string())]
    );
    assert!(matches!(
        sb.instance_state(&ids[1]).await.as_str(),
        "shutting-down" | "terminated"
    ));
}

#[tokio::test]
async fn the_loop_breaker_stops_recycling_at_the_hourly_limit_and_says_when_it_re_arms() {
    let config = Config {
        max_recycles_per_hour: 1,
        ..remediate()
    };
    let sb = Sandbox::new(
        WorldOptions {
            desired_capacity: 2,
            ..WorldOptions::default()
        },
        config,
    )
    .await;
    sb.kube.bootstrap_gives_up(true);
    let ids = sb.world.nodegroup_instance_ids().await.expect("instances");
    let first = sb.invoke_ok(sb.launch_event(&ids[0]).await).await;
    assert_eq!(first["outcome"], "remediated", "{first:#}");
    let second = sb.invoke_ok(sb.launch_event(&ids[1]).await).await;
    assert_eq!(second["outcome"], "remediation-blocked", "{second:#}");
    assert_eq!(second["guard"], "loop-breaker");
    assert!(second["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("re-arms in"));
    assert_eq!(sb.instance_state(&ids[1]).await, "running");
}

/// The nodegroup's scaling as EKS reports it: (desired, min).
async fn nodegroup_sizes(sb: &Sandbox) -> (Option<i32>, Option<i32>) {
    let out = sb
        .world
        .eks()
        .describe_nodegroup()
        .cluster_name(&sb.world.cluster_name)
        .nodegroup_name(&sb.world.nodegroup_name)
        .send()
        .await
        .expect("nodegroup");
    let scaling = out.nodegroup().and_then(|n| n.scaling_config());
    (
        scaling.and_then(|s| s.desired_size()),
        scaling.and_then(|s| s.min_size()),
    )
}

/// What an invocation that scaled the nodegroup down and then died leaves behind: the nodegroup at 0,
/// and the record of the sizes to restore, `age` seconds old.
async fn abandoned_rescale(sb: &Sandbox, desired: i32, min: i32, age: i64) {
    let scaling = aws_sdk_eks::types::NodegroupScalingConfig::builder()
        .desired_size(0)
        .min_size(0)
        .build();
    sb.world
        .eks()
        .update_nodegroup_config()
        .cluster_name(&sb.world.cluster_name)
        .nodegroup_name(&sb.world.nodegroup_name)
        .scaling_config(scaling)
        .send()
        .await
        .expect("scale down");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let n = |v: i64| aws_sdk_dynamodb::types::AttributeValue::N(v.to_string());
    aws_sdk_dynamodb::Client::new(&sb.sdk)
        .put_item()
        .table_name(&sb.world.state_table)
        .item(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "rescale#{}#{}",
                sb.world.cluster_name, sb.world.nodegroup_name
            )),
        )
        .item("desired", n(desired.into()))
        .item("min", n(min.into()))
        .item("at", n(now - age))
        .item("expires_at", n(now + 86_400))
        .send()
        .await
        .expect("record");
}

#[tokio::test]
async fn a_rescale_an_earlier_invocation_left_at_zero_is_restored_by_the_next_one() {
    let config = Config {
        recycle: eks_node_join_remediator::config::Recycle::Nodegroup,
        ..remediate()
    };
    let sb = Sandbox::seed(config).await;
    abandoned_rescale(&sb, 2, 1, 3_600).await;
    assert_eq!(nodegroup_sizes(&sb).await, (Some(0), Some(0)));
    let stuck = sb.stuck_instance().await;
    let _ = sb.invoke_ok(sb.launch_event(&stuck).await).await;
    assert_eq!(
        nodegroup_sizes(&sb).await,
        (Some(2), Some(1)),
        "the recorded sizes are back"
    );
}

#[tokio::test]
async fn a_racing_rescale_restores_the_recorded_original_sizes_not_what_it_read_at_zero() {
    let config = Config {
        recycle: eks_node_join_remediator::config::Recycle::Nodegroup,
        ..remediate()
    };
    let sb = Sandbox::seed(config).await;
    // Another invocation is mid-rescale (recorded a moment ago, nodegroup at 0).
    abandoned_rescale(&sb, 2, 1, 5).await;
    let stuck = sb.stuck_instance().await;
    let report = sb.invoke_ok(sb.launch_event(&stuck).await).await;
    assert_eq!(report["outcome"], "remediated", "{report:#}");
    assert_eq!(nodegroup_sizes(&sb).await, (Some(2), Some(1)));
}

#[tokio::test]
async fn recycling_waits_while_the_group_is_already_replacing_and_the_event_comes_back_later() {
    let sb = Sandbox::new(
        WorldOptions {
            desired_capacity: 3,
            ..WorldOptions::default()
        },
        remediate(),
    )
    .await;
    let ids = sb.world.nodegroup_instance_ids().await.expect("instances");
    sb.world
        .autoscaling()
        .set_instance_health()
        .instance_id(&ids[1])
        .health_status("Unhealthy")
        .send()
        .await
        .expect("mark an instance unhealthy");
    let before = sb.new_subnet_routes().await;
    let err = sb
        .invoke(sb.launch_event(&ids[0]).await)
        .await
        .expect_err("deferred: a retryable failure, so the event comes back");
    assert_eq!(err.error_type, "Retryable.Deferred");
    assert!(
        err.error_message.contains("blast-radius"),
        "{}",
        err.error_message
    );
    assert_eq!(sb.new_subnet_routes().await, before, "nothing written");
    assert_eq!(sb.instance_state(&ids[0]).await, "running");
}
