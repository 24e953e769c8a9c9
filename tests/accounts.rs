//! An organisation-wide deployment against moto with two account ids: the function runs in a central
//! account (its state table, its report and chat topics) and handles an event of a member account —
//! forwarded to the central bus, so its `account` is the member's — through the member role. moto keeps
//! the accounts apart, so a read or write made with the wrong credentials finds nothing.

use crate::common;

use std::sync::Arc;

use common::{remediate, subscribed_queue, subscribed_queue_named, Sandbox};
use eks_node_join_remediator::config::Config;
use eks_node_join_remediator::{App, Clients};
use sandbox::kube::FakeKube;
use sandbox::moto::Moto;
use sandbox::world::{Central, Launcher, World, WorldOptions, MEMBER_ROLE_NAME};
use serde_json::Value;

const LOCAL_ONLY: &str = "10.42.0.0/16 -> local";

/// A central account running the function with the member role configured, and a member account
/// holding the seed's world; the sandbox's `sdk` and queue are the central account's.
async fn organisation(config: Config) -> (Sandbox, Central, String) {
    let moto = Moto::shared().await;
    let (central_sdk, central_account) = moto.fresh_account().await;
    let (member_sdk, member_account) = moto.fresh_account().await;
    assert_ne!(central_account, member_account);
    let central = Central::build(central_sdk.clone(), &central_account)
        .await
        .expect("central account");
    let world = World::build(member_sdk.clone(), &member_account, WorldOptions::default())
        .await
        .expect("member world");
    let function_role = central.function_role_arn("eks-node-join-remediator-FunctionRole");
    world
        .create_member_role(&function_role)
        .await
        .expect("member role");
    let kube = FakeKube::start(member_sdk, &world.cluster_name)
        .await
        .expect("fake Kubernetes API");
    let (topic_arn, queue_url) = subscribed_queue(&central_sdk).await;
    let config = Config {
        sns_topic_arn: Some(topic_arn),
        state_table: Some(central.state_table.clone()),
        function_role_arn: Some(function_role),
        member_role_name: Some(MEMBER_ROLE_NAME.to_string()),
        kube_api_endpoint_override: Some(kube.endpoint.clone()),
        kube_ca_pem: Some(kube.ca_pem.clone()),
        ..config
    };
    let clients = Clients::new(&central_sdk).expect("central clients");
    let app = Arc::new(App::new(config, clients));
    let sb = Sandbox {
        world,
        kube,
        app,
        sdk: central_sdk,
        queue_url,
    };
    (sb, central, member_account)
}

/// The keys of the central state table's items.
async fn state_keys(central: &Central) -> Vec<String> {
    let ddb = aws_sdk_dynamodb::Client::new(&central.sdk);
    let out = ddb
        .scan()
        .table_name(&central.state_table)
        .send()
        .await
        .expect("scan");
    let mut keys: Vec<String> = out
        .items()
        .iter()
        .filter_map(|i| i.get("pk").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_member_accounts_launch_is_fixed_in_that_account_and_reported_centrally() {
    let (sb, central, member) = organisation(remediate()).await;
    let stuck = sb.stuck_instance().await;
    let event = sb.launch_event(&stuck).await;
    assert_eq!(event["account"], member.as_str(), "the member's own event");

    let report = sb.invoke_ok(event).await;
    assert_eq!(report["outcome"], "remediated", "{report:#}");
    assert_eq!(report["account"], member.as_str());
    assert_eq!(report["region"], "us-west-2");
    let nat_route = format!("0.0.0.0/0 -> {}", sb.world.nat_gateway_id);
    assert_eq!(
        sb.new_subnet_routes().await,
        vec![nat_route, LOCAL_ONLY.to_string()],
        "the member's route table, written with the member role"
    );
    assert!(matches!(
        sb.instance_state(&stuck).await.as_str(),
        "shutting-down" | "terminated"
    ));

    let messages = sb.sns_messages().await;
    assert_eq!(messages.len(), 1, "reported once, in the central account");
    let (_, attributes, body) = &messages[0];
    assert_eq!(attributes["account"]["Value"], member.as_str());
    assert_eq!(attributes["region"]["Value"], "us-west-2");
    let text = body["text"].as_str().unwrap_or_default();
    assert!(
        text.contains(&format!("Account {member}, Region us-west-2")),
        "{text}"
    );

    let prefix = format!("{member}:us-west-2#");
    let keys = state_keys(&central).await;
    assert!(!keys.is_empty());
    assert!(
        keys.iter().all(|k| k.starts_with(&prefix)),
        "the member's durable state is kept under its account: {keys:?}"
    );
    assert!(keys.contains(&format!("{prefix}breaker#eks-workshop#new_nodegroup_2")));
}

#[tokio::test]
async fn a_member_accounts_karpenter_node_is_handled_through_the_member_role() {
    let (sb, _central, member) = organisation(remediate()).await;
    let node = sb
        .world
        .launch_node(&Launcher::Karpenter {
            nodepool: "default".into(),
        })
        .await
        .expect("node");
    let event = sb.world.running_event(&node).await.expect("event");
    let report = sb.invoke_ok(event).await;
    assert_eq!(report["outcome"], "remediated", "{report:#}");
    assert_eq!(report["account"], member.as_str());
    assert_eq!(
        report["actions"][1]["action"]["kind"],
        "terminate-karpenter-instance"
    );
    assert!(matches!(
        sb.instance_state(&node).await.as_str(),
        "shutting-down" | "terminated"
    ));
}

#[tokio::test]
async fn the_same_event_seen_as_the_central_accounts_own_finds_nothing_there() {
    let (sb, central, _member) = organisation(remediate()).await;
    let stuck = sb.stuck_instance().await;
    let mut event = sb.launch_event(&stuck).await;
    event["account"] = central.account_id.clone().into();
    let report = sb.invoke_ok(event).await;
    // The central account's own clients look in the central account, where this group does not exist.
    assert_eq!(report["outcome"], "skipped", "{report:#}");
    assert_eq!(report["reason"], "instance-gone");
    assert_eq!(sb.new_subnet_routes().await, vec![LOCAL_ONLY]);
}

#[tokio::test]
async fn the_chat_topic_gets_a_custom_notification_card_with_the_fix_and_the_verify_line() {
    let (sb, _central, member) = organisation(common::alert()).await;
    let (chat_topic, chat_queue) = subscribed_queue_named(&sb.sdk, "chat", "chat-channel").await;
    let config = Config {
        chat_topic_arn: Some(chat_topic),
        ..sb.app.config.clone()
    };
    let clients = Clients::new(&sb.sdk).expect("central clients");
    let sb = Sandbox {
        app: Arc::new(App::new(config, clients)),
        ..sb
    };
    let stuck = sb.stuck_instance().await;
    let report = sb.invoke_ok(sb.launch_event(&stuck).await).await;
    assert_eq!(report["outcome"], "diagnosed", "{report:#}");
    assert_eq!(
        sb.sns_messages().await.len(),
        1,
        "the e-mail/JSON report still goes out"
    );

    let card = one_message(&sb, &chat_queue).await;
    assert_eq!(card["version"], "1.0");
    assert_eq!(card["source"], "custom");
    let content = &card["content"];
    assert_eq!(content["textType"], "client-markdown");
    assert!(content["title"]
        .as_str()
        .unwrap_or_default()
        .contains("no-default-route"));
    let description = content["description"].as_str().unwrap_or_default();
    assert!(
        description.starts_with("Cause `no-default-route`:"),
        "{description}"
    );
    assert!(description.contains(&member), "{description}");
    let steps: Vec<&str> = content["nextSteps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        steps[0].starts_with("Run: `aws ec2 create-route --region us-west-2"),
        "{steps:?}"
    );
    let verify = format!(
        "Verify: `aws ec2 describe-route-tables --region us-west-2 --route-table-ids {} --query 'RouteTables[0].Routes'`",
        sb.world.new_subnet_table()
    );
    assert_eq!(steps.last().copied(), Some(verify.as_str()));
    assert_eq!(
        card["metadata"]["additionalContext"]["account"],
        member.as_str()
    );
}

/// The one message delivered to `queue` (the SNS envelope's `Message`, parsed).
async fn one_message(sb: &Sandbox, queue: &str) -> Value {
    let sqs = aws_sdk_sqs::Client::new(&sb.sdk);
    let got = sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .wait_time_seconds(2)
        .send()
        .await
        .expect("receive");
    let messages = got.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let envelope: Value =
        serde_json::from_str(messages[0].body().unwrap_or("{}")).expect("envelope");
    serde_json::from_str(envelope["Message"].as_str().unwrap_or("null")).expect("a JSON card")
}
