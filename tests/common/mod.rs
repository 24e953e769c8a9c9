//! Test harness: a fresh moto account per test with the seed's world in it, the fake Kubernetes API with
//! its kubelet simulator, an SNS topic with a subscribed queue, and the real handler.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use eks_node_join_remediator::config::{Config, Mode};
use eks_node_join_remediator::{handle, App, Clients};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use sandbox::kube::FakeKube;
use sandbox::moto::Moto;
use sandbox::world::{NewSubnetRouting, World, WorldOptions};
use serde_json::{json, Value};

pub struct Sandbox {
    pub world: World,
    pub kube: FakeKube,
    pub app: Arc<App>,
    pub sdk: SdkConfig,
    pub queue_url: String,
}

pub fn remediate() -> Config {
    Config {
        mode: Mode::Remediate,
        grace_period: Duration::from_secs(0),
        poll_interval: Duration::from_secs(1),
        ..Config::default()
    }
}

pub fn alert() -> Config {
    Config {
        grace_period: Duration::from_secs(0),
        poll_interval: Duration::from_secs(1),
        ..Config::default()
    }
}

impl Sandbox {
    pub async fn new(options: WorldOptions, config: Config) -> Sandbox {
        Sandbox::build(options, config, false).await.0
    }

    /// The world, the fake Kubernetes API, a subscribed queue and the real handler wired to them; with
    /// `overlay`, the handler's AWS calls go through [`sandbox::overlay::AwsOverlay`].
    async fn build(
        options: WorldOptions,
        config: Config,
        overlay: bool,
    ) -> (Sandbox, Option<sandbox::overlay::AwsOverlay>) {
        let moto = Moto::shared().await;
        let (sdk, account) = moto.fresh_account().await;
        let world = World::build(sdk.clone(), &account, options)
            .await
            .expect("the world builds in moto");
        let kube = FakeKube::start(sdk.clone(), &world.cluster_name)
            .await
            .expect("fake Kubernetes API starts");
        let overlay = match overlay {
            true => Some(
                sandbox::overlay::AwsOverlay::start(&moto.endpoint, kube.access())
                    .await
                    .expect("AWS overlay starts"),
            ),
            false => None,
        };
        let (topic_arn, queue_url) = subscribed_queue(&sdk).await;
        let config = Config {
            sns_topic_arn: Some(topic_arn),
            kube_api_endpoint_override: Some(kube.endpoint.clone()),
            kube_ca_pem: Some(kube.ca_pem.clone()),
            state_table: Some(world.state_table.clone()),
            ..config
        };
        let through = match &overlay {
            Some(o) => sdk.to_builder().endpoint_url(&o.endpoint).build(),
            None => sdk.clone(),
        };
        let app = Arc::new(App::new(config, Clients::new(&through).expect("clients")));
        let sb = Sandbox {
            world,
            kube,
            app,
            sdk,
            queue_url,
        };
        (sb, overlay)
    }

    pub async fn seed(config: Config) -> Sandbox {
        Sandbox::new(WorldOptions::default(), config).await
    }

    /// The seed's world with the new subnet routed another way.
    pub async fn routed(routing: NewSubnetRouting, config: Config) -> Sandbox {
        Sandbox::new(
            WorldOptions {
                routing,
                ..WorldOptions::default()
            },
            config,
        )
        .await
    }

    /// The instance the nodegroup launched into the new subnet.
    pub async fn stuck_instance(&self) -> String {
        let ids = self
            .world
            .nodegroup_instance_ids()
            .await
            .expect("ASG instances");
        ids.first()
            .cloned()
            .expect("the nodegroup launched an instance")
    }

    pub async fn launch_event(&self, instance_id: &str) -> Value {
        self.world
            .launch_event(instance_id)
            .await
            .expect("launch event")
    }

    pub async fn invoke(&self, payload: Value) -> Result<Value, Diagnostic> {
        handle(
            self.app.clone(),
            LambdaEvent::new(payload, Context::default()),
        )
        .await
    }

    pub async fn invoke_ok(&self, payload: Value) -> Value {
        match self.invoke(payload).await {
            Ok(v) => v,
            Err(d) => panic!("handler failed: {} {}", d.error_type, d.error_message),
        }
    }

    /// Routes of the new subnet's table as "destination -> target".
    pub async fn new_subnet_routes(&self) -> Vec<String> {
        let table = self
            .world
            .new_route_table_id
            .clone()
            .unwrap_or_else(|| self.world.main_route_table_id.clone());
        self.routes(&table).await
    }

    pub async fn routes(&self, table: &str) -> Vec<String> {
        let mut routes: Vec<String> = self
            .world
            .routes(table)
            .await
            .expect("routes")
            .into_iter()
            .map(|(dest, target, _state)| format!("{dest} -> {target}"))
            .collect();
        routes.sort();
        routes
    }

    pub async fn instance_state(&self, id: &str) -> String {
        let out = self
            .world
            .ec2()
            .describe_instances()
            .instance_ids(id)
            .send()
            .await
            .expect("describe");
        out.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find_map(|i| {
                i.state()
                    .and_then(|s| s.name())
                    .map(|n| n.as_str().to_string())
            })
            .unwrap_or_default()
    }

    /// SNS messages delivered to the subscribed queue so far: (subject, attributes, parsed JSON report).
    pub async fn sns_messages(&self) -> Vec<(String, Value, Value)> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let mut out = Vec::new();
        for _ in 0..3 {
            let got = sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("receive");
            for m in got.messages() {
                let envelope: Value =
                    serde_json::from_str(m.body().unwrap_or("{}")).expect("SNS envelope");
                let report: Value =
                    serde_json::from_str(envelope["Message"].as_str().unwrap_or("null"))
                        .expect("JSON report for SQS subscribers");
                out.push((
                    envelope["Subject"].as_str().unwrap_or_default().to_string(),
                    envelope["MessageAttributes"].clone(),
                    report,
                ));
                if let Some(handle) = m.receipt_handle() {
                    sqs.delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("delete");
                }
            }
            if !out.is_empty() {
                break;
            }
        }
        out
    }
}

/// The report topic in the account `sdk` points at, with an SQS queue subscribed: `(topic ARN, queue URL)`.
pub async fn subscribed_queue(sdk: &SdkConfig) -> (String, String) {
    subscribed_queue_named(sdk, "eks-node-join-remediator-reports", "report-subscriber").await
}

/// A topic named `topic` with the queue named `queue` subscribed (raw delivery off: SNS envelopes).
pub async fn subscribed_queue_named(sdk: &SdkConfig, topic: &str, queue: &str) -> (String, String) {
    let sns = aws_sdk_sns::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let topic = sns.create_topic().name(topic).send().await.expect("topic");
    let topic_arn = topic.topic_arn().expect("topic arn").to_string();
    let queue = sqs
        .create_queue()
        .queue_name(queue)
        .send()
        .await
        .expect("queue");
    let queue_url = queue.queue_url().expect("queue url").to_string();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes");
    let queue_arn = attrs
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .expect("queue arn")
        .to_string();
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .expect("subscribe");
    (topic_arn, queue_url)
}

/// An SQS event whose records wrap these EventBridge events, as the delay queue delivers them.
pub fn sqs_event(bodies: &[(String, String)]) -> Value {
    json!({
        "Records": bodies.iter().map(|(id, body)| json!({
            "messageId": id,
            "receiptHandle": format!("handle-{id}"),
            "body": body,
            "attributes": {},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-west-2:123456789012:eks-node-join-remediator-delay",
            "awsRegion": "us-west-2"
        })).collect::<Vec<_>>()
    })
}

pub fn codes(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|f| f["code"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl Sandbox {
    /// The world with the Lambda's AWS calls going through an overlay in front of moto that serves what
    /// moto does not model (access entries, the authentication mode, console output) from the fake
    /// Kubernetes API's `ClusterAccess` (`sb.kube.access()`), so the API and the kubelet simulator agree.
    pub async fn with_cluster_access(
        options: WorldOptions,
        config: Config,
    ) -> (Sandbox, sandbox::overlay::AwsOverlay) {
        let (sb, overlay) = Sandbox::build(options, config, true).await;
        (sb, overlay.expect("the overlay was asked for"))
    }
}

/// Invokes the handler for the stuck instance; returns the instance and its report.
pub async fn diagnose(sb: &Sandbox) -> (String, Value) {
    let instance = sb.stuck_instance().await;
    let report = sb.invoke_ok(sb.launch_event(&instance).await).await;
    (instance, report)
}

/// The report's finding with this code (the test fails if there is none).
pub fn finding<'a>(report: &'a Value, code: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["code"] == code))
        .unwrap_or_else(|| panic!("no {code} in {report:#}"))
}

/// Nothing changed: the new subnet's routes are as before and the instance still runs.
pub async fn nothing_written(sb: &Sandbox, instance: &str, routes_before: &[String]) {
    assert_eq!(
        sb.new_subnet_routes().await,
        routes_before,
        "routes changed"
    );
    assert_eq!(
        sb.instance_state(instance).await,
        "running",
        "instance recycled"
    );
}
