//! Never do damage twice: duplicates, retries after a partial success, a reverting actor and the loop
//! breaker, against moto with the real handler in remediate mode.

mod common;

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
