//! Nodes launched without an Auto Scaling group, seen through their `EC2 Instance State-change
//! Notification` (`running`): Karpenter's and EKS Auto Mode's in the seed's broken subnet, and instances
//! that are nobody's node, whose cost is measured. The real handler against moto and the fake Kubernetes
//! API, one fresh account per test.

use crate::common;

use std::time::Instant;

use common::{alert, codes, remediate, sqs_event, Sandbox};
use sandbox::world::{Launcher, WorldOptions};
use serde_json::Value;

const LOCAL_ONLY: &str = "10.42.0.0/16 -> local";

fn karpenter() -> Launcher {
    Launcher::Karpenter {
        nodepool: "default".into(),
    }
}

async fn running(sb: &Sandbox, instance: &str) -> Value {
    sb.world
        .running_event(instance)
        .await
        .expect("running event")
}

#[tokio::test]
async fn a_karpenter_node_in_the_broken_subnet_is_diagnosed_and_alert_mode_writes_nothing() {
    let sb = Sandbox::seed(alert()).await;
    let node = sb.world.launch_node(&karpenter()).await.expect("node");
    let report = sb.invoke_ok(running(&sb, &node).await).await;

    assert_eq!(report["outcome"], "diagnosed", "{report:#}");
    assert_eq!(codes(&report), vec!["no-default-route"]);
    assert_eq!(report["node_source"]["kind"], "karpenter");
    assert_eq!(report["node_source"]["nodepool"], "default");
    assert!(report.get("asg_name").is_none(), "no Auto Scaling group");
    assert_eq!(report["registration"]["state"], "missing");
    let kinds: Vec<&str> = report["would_apply"]
        .as_array()
        .expect("would_apply")
        .iter()
        .filter_map(|a| a["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        vec!["create-default-route", "terminate-karpenter-instance"]
    );
    assert_eq!(sb.new_subnet_routes().await, vec![LOCAL_ONLY]);
    assert_eq!(sb.instance_state(&node).await, "running");

    let messages = sb.sns_messages().await;
    assert_eq!(messages.len(), 1, "one report");
    let (subject, attributes, body) = &messages[0];
    assert!(
        subject.contains("eks-workshop/karpenter:default"),
        "{subject}"
    );
    assert_eq!(attributes["nodegroup"]["Value"], "karpenter:default");
    assert_eq!(attributes["account"]["Value"], sb.world.account_id.as_str());
    let text = body["text"].as_str().expect("text");
    for needle in [
        "Karpenter NodePool default",
        "(EC2 CreateFleet, no Auto Scaling group)",
        &format!("aws ec2 terminate-instances --region us-west-2 --instance-ids {node}"),
        "kubectl get nodes --selector=karpenter.sh/nodepool=default",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

#[tokio::test]
async fn a_karpenter_node_in_remediate_mode_gets_the_route_its_instance_terminated_and_its_replacement_joins(
) {
    let sb = Sandbox::seed(remediate()).await;
    let stuck = sb.world.launch_node(&karpenter()).await.expect("node");
    let report = sb.invoke_ok(running(&sb, &stuck).await).await;

    assert_eq!(report["outcome"], "remediated", "{report:#}");
    let actions = report["actions"].as_array().expect("actions");
    assert_eq!(actions[0]["action"]["kind"], "create-default-route");
    assert_eq!(actions[0]["status"], "applied");
    assert_eq!(actions[1]["action"]["kind"], "terminate-karpenter-instance");
    assert_eq!(actions[1]["status"], "applied", "{report:#}");
    let nat_route = format!("0.0.0.0/0 -> {}", sb.world.nat_gateway_id);
    assert_eq!(
        sb.new_subnet_routes().await,
        vec![nat_route, LOCAL_ONLY.to_string()]
    );
    assert!(matches!(
        sb.instance_state(&stuck).await.as_str(),
        "shutting-down" | "terminated"
    ));
    assert_eq!(sb.sns_messages().await.len(), 1);

    // Karpenter sees its NodeClaim's instance gone and launches another into the same subnet: it joins.
    let replacement = sb
        .world
        .launch_node(&karpenter())
        .await
        .expect("replacement");
    let nodes = sb.kube.nodes().await.expect("nodes");
    assert!(
        nodes
            .iter()
            .any(|n| n.provider_id.ends_with(&replacement) && n.ready),
        "{nodes:?}"
    );
    let follow_up = sb.invoke_ok(running(&sb, &replacement).await).await;
    assert_eq!(follow_up["outcome"], "registered", "{follow_up:#}");
    assert_eq!(follow_up["ready"], true);
}

#[tokio::test]
async fn the_same_karpenter_event_delivered_twice_terminates_the_instance_once() {
    let sb = Sandbox::seed(remediate()).await;
    let stuck = sb.world.launch_node(&karpenter()).await.expect("node");
    let event = running(&sb, &stuck).await;
    let first = sb.invoke_ok(event.clone()).await;
    assert_eq!(first["outcome"], "remediated", "{first:#}");
    let second = sb.invoke_ok(event).await;
    assert_eq!(second["outcome"], "skipped", "{second:#}");
    assert_eq!(second["reason"], "instance-gone");
    assert_eq!(sb.sns_messages().await.len(), 1, "one report");
}

#[tokio::test]
async fn an_auto_mode_node_gets_the_route_and_the_nodeclaim_command_but_is_never_terminated() {
    let sb = Sandbox::seed(remediate()).await;
    let launcher = Launcher::AutoMode {
        nodepool: "general-purpose".into(),
    };
    let node = sb.world.launch_node(&launcher).await.expect("node");
    let report = sb.invoke_ok(running(&sb, &node).await).await;

    assert_eq!(report["outcome"], "remediated", "{report:#}");
    assert_eq!(report["node_source"]["kind"], "auto-mode");
    let actions = report["actions"].as_array().expect("actions");
    assert_eq!(actions[0]["status"], "applied");
    assert_eq!(actions[1]["action"]["kind"], "delete-nodeclaim");
    assert_eq!(actions[1]["status"], "skipped", "{report:#}");
    assert_eq!(
        sb.instance_state(&node).await,
        "running",
        "EKS owns the instance"
    );
    let text = report_text(&sb).await;
    assert!(
        text.contains("What is left to run")
            && text.contains("kubectl get nodeclaims --output=wide && kubectl delete nodeclaim"),
        "{text}"
    );
}

#[tokio::test]
async fn an_instance_of_an_auto_scaling_group_seen_running_is_left_to_its_launch_event() {
    let (sb, overlay) = Sandbox::with_cluster_access(WorldOptions::default(), remediate()).await;
    let stuck = sb.stuck_instance().await;
    overlay.calls.take();
    let report = sb.invoke_ok(running(&sb, &stuck).await).await;
    assert_eq!(report["outcome"], "skipped", "{report:#}");
    assert_eq!(report["reason"], "in-auto-scaling-group");
    let calls = overlay.calls.take();
    assert_eq!(calls.values().sum::<usize>(), 1, "{calls:?}");
    assert_eq!(sb.new_subnet_routes().await, vec![LOCAL_ONLY]);
}

/// A scale-out of instances that are nobody's node: each event costs exactly one AWS call (the
/// DescribeInstances that reads its tags), no Kubernetes request and no report. The cost is per event, so
/// a hundred instances show it as well as the 500 of `make bench`'s scale-out, in a fifth of the time.
#[tokio::test]
async fn untagged_instances_cost_one_aws_call_each_and_no_report() {
    const COUNT: usize = 100;
    let (sb, overlay) = Sandbox::with_cluster_access(WorldOptions::default(), remediate()).await;
    let ids = sb
        .world
        .launch_nodes(&Launcher::Untagged, COUNT as i32)
        .await
        .expect("instances");
    assert_eq!(ids.len(), COUNT);
    let mut events = Vec::new();
    for id in &ids {
        events.push(running(&sb, id).await);
    }
    overlay.calls.take();
    let kube_before = sb.kube.requests_seen();

    let started = Instant::now();
    for event in events {
        let report = sb.invoke_ok(event).await;
        assert_eq!(report["outcome"], "skipped", "{report:#}");
        assert_eq!(report["reason"], "not-eks");
    }
    let elapsed = started.elapsed();

    let calls = overlay.calls.take();
    assert_eq!(
        calls,
        [("ec2:DescribeInstances".to_string(), COUNT)]
            .into_iter()
            .collect(),
        "one call per instance and no other"
    );
    assert_eq!(
        sb.kube.requests_seen(),
        kube_before,
        "no Kubernetes request"
    );
    eprintln!(
        "{COUNT} untagged instances, direct: {} AWS call(s) per instance, {:.1} ms per event against moto",
        calls.values().sum::<usize>() / COUNT,
        elapsed.as_secs_f64() * 1000.0 / COUNT as f64
    );

    // The delay queue's copies arrive in batches of 10: one read for each batch.
    let mut batches = 0;
    for chunk in ids.chunks(10) {
        let mut bodies = Vec::new();
        for id in chunk {
            bodies.push((id.clone(), running(&sb, id).await.to_string()));
        }
        let answer = sb.invoke_ok(sqs_event(&bodies)).await;
        assert_eq!(answer["batchItemFailures"], serde_json::json!([]));
        for result in answer["results"].as_array().expect("results") {
            assert_eq!(result["report"]["reason"], "not-eks", "{result:#}");
        }
        batches += 1;
    }
    let calls = overlay.calls.take();
    assert_eq!(
        calls,
        [("ec2:DescribeInstances".to_string(), batches)]
            .into_iter()
            .collect(),
        "one call per batch of 10"
    );
    assert!(sb.sns_messages().await.is_empty(), "no report");
    eprintln!("{COUNT} untagged instances, delayed: {batches} AWS calls in {batches} batches");
}

/// What ten healthy launches cost through each trigger with a warm container (the cluster and the node
/// role's profile already read): the AWS calls of the ten immediate invocations and of the delayed copies
/// in one SQS batch, and the Kubernetes requests (the README's cost table).
#[tokio::test]
async fn ten_healthy_launches_cost_a_few_reads_through_either_trigger() {
    let options = WorldOptions {
        desired_capacity: 10,
        ..WorldOptions::open_network()
    };
    let (sb, overlay) = Sandbox::with_cluster_access(options, alert()).await;
    let asg_nodes = sb.world.nodegroup_instance_ids().await.expect("instances");
    let pool_nodes = sb
        .world
        .launch_nodes(&karpenter(), 10)
        .await
        .expect("nodes");
    // Warm the container's caches, as any event after the first finds them.
    let warm_up = sb.invoke_ok(sb.launch_event(&asg_nodes[0]).await).await;
    assert_eq!(warm_up["outcome"], "registered", "{warm_up:#}");
    let mut asg_events = Vec::new();
    for id in &asg_nodes {
        asg_events.push(sb.launch_event(id).await);
    }
    let mut pool_events = Vec::new();
    for id in &pool_nodes {
        pool_events.push(running(&sb, id).await);
    }
    let calls = |pairs: &[(&str, usize)]| -> std::collections::BTreeMap<String, usize> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    let asg = measure(&sb, &overlay, asg_events).await;
    let direct = [
        ("autoscaling:DescribeAutoScalingGroups", 10),
        ("ec2:DescribeInstances", 10),
    ];
    // The batch reads its instances and its group once, for all ten records.
    let delayed = [
        ("autoscaling:DescribeAutoScalingGroups", 1),
        ("ec2:DescribeInstances", 1),
    ];
    assert_eq!(asg, (calls(&direct), calls(&delayed), 20));
    let pool = measure(&sb, &overlay, pool_events).await;
    let direct = [("ec2:DescribeInstances", 10)];
    let delayed = [("ec2:DescribeInstances", 1)];
    assert_eq!(pool, (calls(&direct), calls(&delayed), 20));
    eprintln!("10 healthy nodegroup launches: {asg:?}\n10 healthy Karpenter launches: {pool:?}");
}

type Calls = std::collections::BTreeMap<String, usize>;

/// The calls of the immediate invocations, those of the delayed copies in one batch, and the Kubernetes
/// requests of both; every event must end `registered`.
async fn measure(
    sb: &Sandbox,
    overlay: &sandbox::overlay::AwsOverlay,
    events: Vec<Value>,
) -> (Calls, Calls, usize) {
    overlay.calls.take();
    let kube_before = sb.kube.requests_seen();
    for event in &events {
        let report = sb.invoke_ok(event.clone()).await;
        assert_eq!(report["outcome"], "registered", "{report:#}");
    }
    let direct = overlay.calls.take();
    let bodies: Vec<(String, String)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (format!("m{i}"), e.to_string()))
        .collect();
    let answer = sb.invoke_ok(sqs_event(&bodies)).await;
    for result in answer["results"].as_array().expect("results") {
        assert_eq!(result["report"]["outcome"], "registered", "{result:#}");
    }
    let delayed = overlay.calls.take();
    (direct, delayed, sb.kube.requests_seen() - kube_before)
}

/// The text of the one report delivered so far.
async fn report_text(sb: &Sandbox) -> String {
    let messages = sb.sns_messages().await;
    assert_eq!(messages.len(), 1, "one report");
    messages[0].2["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
