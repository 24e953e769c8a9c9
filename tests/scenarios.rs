//! The real handler and AWS SDK against moto and the fake Kubernetes API: one fresh account per test.

use crate::common;

use std::time::Duration;

use common::{alert, codes, remediate, sqs_event, Sandbox};
use eks_node_join_remediator::config::{Config, Recycle};
use sandbox::world::{DefaultTarget, NewSubnetRouting, WorldOptions};

const LOCAL_ONLY: &str = "10.42.0.0/16 -> local";

#[tokio::test]
async fn seed_in_alert_mode_reports_no_default_route_with_the_fix_and_writes_nothing() {
    let sb = Sandbox::seed(alert()).await;
    let instance = sb.stuck_instance().await;
    let report = sb.invoke_ok(sb.launch_event(&instance).await).await;

    assert_eq!(report["outcome"], "diagnosed", "{report:#}");
    assert_eq!(codes(&report), vec!["no-default-route"]);
    assert_eq!(report["registration"]["state"], "missing");
    assert_eq!(
        sb.new_subnet_routes().await,
        vec![LOCAL_ONLY],
        "alert mode must not write"
    );
    assert_eq!(sb.instance_state(&instance).await, "running");

    let messages = sb.sns_messages().await;
    assert_eq!(messages.len(), 1, "one report");
    let (subject, attributes, body) = &messages[0];
    assert!(
        subject.contains("eks-workshop/new_nodegroup_2") && subject.contains("no-default-route"),
        "{subject}"
    );
    assert_eq!(attributes["outcome"]["Value"], "diagnosed");
    assert_eq!(attributes["severity"]["Value"], "blocker");
    let text = body["text"].as_str().expect("text body");
    let table = sb.world.new_route_table_id.clone().expect("explicit table");
    let fix = format!(
        "aws ec2 create-route --region us-west-2 --route-table-id {table} --destination-cidr-block 0.0.0.0/0 --nat-gateway-id {}",
        sb.world.nat_gateway_id
    );
    assert!(
        text.contains(&fix),
        "the report gives the exact fix:\n{text}"
    );
}

#[tokio::test]
async fn seed_in_remediate_mode_adds_the_route_replaces_the_instance_and_the_replacement_joins() {
    let sb = Sandbox::seed(remediate()).await;
    let stuck = sb.stuck_instance().await;
    let report = sb.invoke_ok(sb.launch_event(&stuck).await).await;

    assert_eq!(report["outcome"], "remediated", "{report:#}");
    let actions = report["actions"].as_array().expect("actions");
    assert_eq!(actions[0]["action"]["kind"], "create-default-route");
    assert_eq!(actions[0]["status"], "applied");
    assert_eq!(actions[1]["action"]["kind"], "terminate-instance");
    assert_eq!(actions[1]["status"], "applied");
    let nat_route = format!("0.0.0.0/0 -> {}", sb.world.nat_gateway_id);
    assert_eq!(
        sb.new_subnet_routes().await,
        vec![nat_route, LOCAL_ONLY.to_string()]
    );
    assert!(matches!(
        sb.instance_state(&stuck).await.as_str(),
        "shutting-down" | "terminated"
    ));

    let messages = sb.sns_messages().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].2["outcome"], "remediated");

    // The seed's step 7: the replacement registers, and its own launch event closes the story.
    let mut replacement = None;
    for _ in 0..30 {
        let ids = sb.world.nodegroup_instance_ids().await.expect("instances");
        replacement = ids.into_iter().find(|id| *id != stuck);
        if replacement.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let replacement = replacement.expect("the Auto Scaling group launched a replacement");
    let nodes = sb.kube.nodes().await.expect("nodes");
    assert!(
        nodes
            .iter()
            .any(|n| n.provider_id.ends_with(&replacement) && n.ready),
        "{nodes:?}"
    );
    let follow_up = sb.invoke_ok(sb.launch_event(&replacement).await).await;
    assert_eq!(follow_up["outcome"], "registered", "{follow_up:#}");
    assert_eq!(follow_up["resolves_remediation"], true);
    let messages = sb.sns_messages().await;
    assert_eq!(messages.len(), 1, "one 'resolved' follow-up");
    assert_eq!(messages[0].2["outcome"], "registered");
}

#[tokio::test]
async fn dead_nat_route_is_replaced_by_the_healthy_nat() {
    let sb = Sandbox::seed(Config {
        recycle: Recycle::None,
        ..remediate()
    })
    .await;
    let stuck = sb.stuck_instance().await;
    let doomed = sb
        .world
        .add_nat_gateway(&sb.world.public_subnet_ids[1])
        .await
        .expect("second NAT");
    sb.world
        .set_new_subnet_default_route(DefaultTarget::Nat(doomed.clone()))
        .await
        .expect("route to it");
    sb.world
        .delete_nat_gateway(&doomed)
        .await
        .expect("delete it");

    let report = sb.invoke_ok(sb.launch_event(&stuck).await).await;
    assert_eq!(report["outcome"], "remediated", "{report:#}");
    assert_eq!(codes(&report), vec!["dead-default-route"]);
    assert_eq!(
        report["actions"][0]["action"]["kind"],
        "replace-default-route"
    );
    assert_eq!(
        report["actions"][0]["action"]["previous_target"],
        doomed.as_str()
    );
    assert_eq!(
        report["actions"].as_array().map(Vec::len),
        Some(1),
        "RECYCLE=none"
    );
    let nat_route = format!("0.0.0.0/0 -> {}", sb.world.nat_gateway_id);
    assert_eq!(
        sb.new_subnet_routes().await,
        vec![nat_route, LOCAL_ONLY.to_string()]
    );
}

#[tokio::test]
async fn live_transit_gateway_default_route_is_left_untouched() {
    let sb = Sandbox::seed(Config {
        allow_shared_route_tables: true,
        ..remediate()
    })
    .await;
    let stuck = sb.stuck_instance().await;
    let tgw = sb.world.create_transit_gateway().await.expect("tgw");
    sb.world
        .set_new_subnet_default_route(DefaultTarget::TransitGateway(tgw.clone()))
        .await
        .expect("route");
    let before = sb.new_subnet_routes().await;

    let report = sb.invoke_ok(sb.launch_event(&stuck).await).await;
    assert_eq!(report["outcome"], "diagnosed", "{report:#}");
    assert_eq!(codes(&report), vec!["cause-unknown"]);
    assert_eq!(sb.new_subnet_routes().await, before);
    assert!(before.contains(&format!("0.0.0.0/0 -> {tgw}")));
    assert_eq!(sb.instance_state(&stuck).await, "running");
}

#[tokio::test]
async fn registered_node_is_reported_registered_and_nothing_is_written() {
    let sb = Sandbox::routed(NewSubnetRouting::ViaNat, remediate()).await;
    let instance = sb.stuck_instance().await;
    let before = sb.new_subnet_routes().await;
    let report = sb.invoke_ok(sb.launch_event(&instance).await).await;
    assert_eq!(report["outcome"], "registered", "{report:#}");
    assert_eq!(report["ready"], true);
    assert!(report.get("resolves_remediation").is_none());
    assert_eq!(sb.new_subnet_routes().await, before);
    assert_eq!(sb.instance_state(&instance).await, "running");
    assert!(
        sb.sns_messages().await.is_empty(),
        "a healthy launch is not reported"
    );
}

#[tokio::test]
async fn group_without_eks_tags_is_skipped_as_not_eks() {
    let sb = Sandbox::seed(remediate()).await;
    let (asg, instance) = sb.world.create_non_eks_group().await.expect("plain group");
    let mut event = sb.launch_event(&instance).await;
    event["detail"]["AutoScalingGroupName"] = asg.clone().into();
    let report = sb.invoke_ok(event).await;
    assert_eq!(report["outcome"], "skipped");
    assert_eq!(report["reason"], "not-eks");
    assert_eq!(sb.new_subnet_routes().await, vec![LOCAL_ONLY]);
}

#[tokio::test]
async fn terminated_instance_is_skipped_as_gone() {
    let sb = Sandbox::seed(remediate()).await;
    let stuck = sb.stuck_instance().await;
    let event = sb.launch_event(&stuck).await;
    sb.world
        .terminate_instance(&stuck)
        .await
        .expect("terminate");
    let report = sb.invoke_ok(event).await;
    assert_eq!(report["outcome"], "skipped", "{report:#}");
    assert_eq!(report["reason"], "instance-gone");
    assert_eq!(sb.new_subnet_routes().await, vec![LOCAL_ONLY]);
}

#[tokio::test]
async fn main_route_table_is_not_changed_without_allow_shared_route_tables() {
    let sb = Sandbox::routed(NewSubnetRouting::MainTable, remediate()).await;
    let stuck = sb.stuck_instance().await;
    let report = sb.invoke_ok(sb.launch_event(&stuck).await).await;
    assert_eq!(report["outcome"], "remediation-blocked", "{report:#}");
    assert_eq!(report["guard"], "shared-route-table");
    assert_eq!(codes(&report), vec!["no-default-route"]);
    assert_eq!(
        sb.routes(&sb.world.main_route_table_id).await,
        vec![LOCAL_ONLY]
    );
    assert_eq!(sb.instance_state(&stuck).await, "running");
    let messages = sb.sns_messages().await;
    assert_eq!(messages[0].1["outcome"]["Value"], "remediation-blocked");
}

#[tokio::test]
async fn malformed_event_is_a_clear_non_retryable_failure_that_is_not_redelivered() {
    let sb = Sandbox::seed(remediate()).await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/malformed-missing-instance-id.json"
    ))
    .expect("fixture");
    // Not an error: delivering it again could not help, so it is answered with its report.
    let report = sb
        .invoke_ok(serde_json::from_str(&text).expect("json"))
        .await;
    assert_eq!(report["outcome"], "failed");
    assert_eq!(report["error_kind"], "MalformedEvent");
    assert_eq!(report["retryable"], false);
    assert!(
        report["error"]
            .as_str()
            .unwrap_or_default()
            .contains("EC2InstanceId"),
        "{report:#}"
    );
}

#[tokio::test]
async fn a_bad_record_is_reported_but_not_redelivered_and_does_not_spoil_the_batch() {
    let sb = Sandbox::seed(alert()).await;
    let stuck = sb.stuck_instance().await;
    let good = sb.launch_event(&stuck).await.to_string();
    let answer = sb
        .invoke_ok(sqs_event(&[
            ("good".to_string(), good),
            ("bad".to_string(), "{not json".to_string()),
        ]))
        .await;
    assert_eq!(answer["batchItemFailures"], serde_json::json!([]));
    assert_eq!(answer["results"][0]["report"]["outcome"], "diagnosed");
    assert_eq!(answer["results"][1]["messageId"], "bad");
    assert_eq!(answer["results"][1]["report"]["outcome"], "failed");
    assert_eq!(answer["results"][1]["report"]["retryable"], false);
}

#[tokio::test]
async fn concurrent_events_for_one_subnet_write_the_route_once() {
    let sb = Sandbox::new(
        WorldOptions {
            desired_capacity: 3,
            ..WorldOptions::default()
        },
        remediate(),
    )
    .await;
    let ids = sb.world.nodegroup_instance_ids().await.expect("instances");
    assert_eq!(ids.len(), 3);
    let mut bodies = Vec::new();
    for id in &ids {
        bodies.push((id.clone(), sb.launch_event(id).await.to_string()));
    }
    let answer = sb.invoke_ok(sqs_event(&bodies)).await;
    assert_eq!(
        answer["batchItemFailures"],
        serde_json::json!([]),
        "{answer:#}"
    );
    let statuses: Vec<&str> = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            r["report"]["actions"][0]["status"]
                .as_str()
                .unwrap_or("none")
        })
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "applied").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "already-present").count(),
        2,
        "{statuses:?}"
    );
    for id in &ids {
        assert!(
            matches!(
                sb.instance_state(id).await.as_str(),
                "shutting-down" | "terminated"
            ),
            "{id} recycled"
        );
    }
}

#[tokio::test]
async fn refused_kubernetes_api_still_fixes_a_definitive_blocker() {
    let sb = Sandbox::seed(remediate()).await;
    sb.kube.refuse_with(Some(403));
    let stuck = sb.stuck_instance().await;
    let report = sb.invoke_ok(sb.launch_event(&stuck).await).await;
    assert_eq!(report["registration"]["state"], "unknown", "{report:#}");
    assert!(report["registration"]["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("403"));
    assert_eq!(report["outcome"], "remediated");
}

#[tokio::test]
async fn refused_kubernetes_api_without_a_blocker_changes_nothing() {
    let sb = Sandbox::routed(NewSubnetRouting::ViaNat, remediate()).await;
    sb.kube.refuse_with(Some(403));
    let instance = sb.stuck_instance().await;
    let report = sb.invoke_ok(sb.launch_event(&instance).await).await;
    assert_eq!(report["outcome"], "diagnosed", "{report:#}");
    assert_eq!(report["registration"]["state"], "unknown");
    assert_eq!(sb.instance_state(&instance).await, "running");
}

/// A world where the node cannot join but nothing is definitively wrong: the default route goes to a
/// transit gateway (alive as far as the VPC can tell; the kubelet simulator gives it no egress).
async fn tgw_world(config: Config) -> (Sandbox, String, serde_json::Value) {
    let sb = Sandbox::seed(config).await;
    let instance = sb.stuck_instance().await;
    let tgw = sb.world.create_transit_gateway().await.expect("tgw");
    sb.world
        .set_new_subnet_default_route(DefaultTarget::TransitGateway(tgw))
        .await
        .expect("route");
    let mut event = sb.launch_event(&instance).await;
    event["time"] = rfc3339_now().into();
    (sb, instance, event)
}

#[tokio::test]
async fn poll_mode_returns_as_soon_as_the_node_registers() {
    let (sb, _instance, event) = tgw_world(Config {
        grace_period: Duration::from_secs(120),
        ..remediate()
    })
    .await;
    let world = &sb.world;
    let (report, ()) = tokio::join!(sb.invoke(event), async {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        world
            .set_new_subnet_default_route(DefaultTarget::Nat(world.nat_gateway_id.clone()))
            .await
            .expect("egress restored");
    });
    let report = report.expect("handled");
    assert_eq!(report["outcome"], "registered", "{report:#}");
    assert!(sb.kube.requests_seen() >= 2, "polled more than once");
}

#[tokio::test]
async fn poll_mode_without_a_blocker_waits_out_the_grace_period_then_diagnoses() {
    let (sb, instance, event) = tgw_world(Config {
        grace_period: Duration::from_secs(3),
        ..remediate()
    })
    .await;
    let report = sb.invoke_ok(event).await;
    assert_eq!(report["outcome"], "diagnosed", "{report:#}");
    assert_eq!(codes(&report), vec!["cause-unknown"]);
    assert!(
        sb.kube.requests_seen() >= 3,
        "checked at the start and while polling: {}",
        sb.kube.requests_seen()
    );
    assert_eq!(sb.instance_state(&instance).await, "running");
}

#[tokio::test]
async fn delayed_queue_mode_stops_after_triage_when_nothing_is_definitive() {
    let (sb, _instance, event) = tgw_world(Config {
        grace_period: Duration::from_secs(300),
        registration_check: eks_node_join_remediator::config::RegistrationCheck::DelayedQueue,
        ..remediate()
    })
    .await;
    let report = sb.invoke_ok(event).await;
    assert_eq!(report["outcome"], "diagnosed", "{report:#}");
    assert!(report["why_no_change"]
        .as_str()
        .unwrap_or_default()
        .contains("delayed check"));
    assert_eq!(report["deferred"], true);
    assert!(
        sb.sns_messages().await.is_empty(),
        "triage without a blocker does not page anyone"
    );
}

fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // civil_from_days (Howard Hinnant)
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[tokio::test]
async fn nodegroup_recycle_scales_to_zero_and_back_to_the_original_size() {
    let sb = Sandbox::seed(Config {
        recycle: Recycle::Nodegroup,
        ..remediate()
    })
    .await;
    let stuck = sb.stuck_instance().await;
    let report = sb.invoke_ok(sb.launch_event(&stuck).await).await;
    assert_eq!(report["outcome"], "remediated", "{report:#}");
    let actions = report["actions"].as_array().expect("actions");
    assert_eq!(actions[1]["action"]["kind"], "rescale-nodegroup");
    assert_eq!(actions[1]["action"]["desired_size"], 1);
    assert_eq!(actions[1]["status"], "applied", "{report:#}");
    let ng = sb
        .world
        .eks()
        .describe_nodegroup()
        .cluster_name(&sb.world.cluster_name)
        .nodegroup_name(&sb.world.nodegroup_name)
        .send()
        .await
        .expect("nodegroup");
    let scaling = ng
        .nodegroup()
        .and_then(|n| n.scaling_config())
        .expect("scaling");
    assert_eq!(scaling.desired_size(), Some(1), "back to the original size");
    assert_eq!(scaling.min_size(), Some(0));
}
