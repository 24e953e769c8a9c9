//! SDK error paths moto cannot produce: a local server answers every AWS call with one fixed error, and
//! the real SDK (with its retry policy) and the real handler meet it.

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use eks_node_join_remediator::config::{Config, Mode};
use eks_node_join_remediator::{handle, App, Clients};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use sandbox::fault::FaultServer;
use serde_json::Value;

async fn app_against(fault: &FaultServer) -> Arc<App> {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .http_client(sandbox::moto::http_client())
        .region("us-west-2")
        .endpoint_url(&fault.endpoint)
        .credentials_provider(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        ))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(10)),
        )
        .load()
        .await;
    let config = Config {
        mode: Mode::Remediate,
        ..Config::default()
    };
    Arc::new(App::new(config, Clients::new(&sdk).expect("clients")))
}

fn launch_event() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/launch-successful.json"
    ))
    .expect("fixture");
    serde_json::from_str(&text).expect("json")
}

fn sqs_launch_event() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/sqs-delayed-launch.json"
    ))
    .expect("fixture");
    serde_json::from_str(&text).expect("json")
}

#[tokio::test]
async fn throttling_fails_the_event_as_retryable_after_the_sdk_retried() {
    let fault = FaultServer::query_error(400, "Throttling", "Rate exceeded")
        .await
        .expect("fault server");
    let app = app_against(&fault).await;
    let err = handle(
        app.clone(),
        LambdaEvent::new(launch_event(), Context::default()),
    )
    .await
    .expect_err("throttled");
    assert_eq!(err.error_type, "Retryable.AwsApi");
    assert!(
        err.error_message.contains("Throttling"),
        "{}",
        err.error_message
    );
    assert_eq!(most_attempts(&fault), 2, "the SDK's retry policy ran");

    // Through the delay queue the record is handed back for redelivery, not lost.
    let answer = handle(
        app,
        LambdaEvent::new(sqs_launch_event(), Context::default()),
    )
    .await
    .expect("batch answer");
    assert_eq!(
        answer["batchItemFailures"][0]["itemIdentifier"],
        "5f0c8e2a-1b3d-4c5e-8f7a-9b0c1d2e3f40"
    );
    assert_eq!(answer["results"][0]["report"]["retryable"], true);
}

/// The delay queue's fixture record three times, for three instances of one group.
fn sqs_batch_of_three() -> Value {
    let one = sqs_launch_event();
    let record = &one["Records"][0];
    let body = record["body"].as_str().expect("body");
    let records: Vec<Value> = (1..=3)
        .map(|n| {
            let mut r = record.clone();
            r["messageId"] = Value::from(format!("message-{n}"));
            r["body"] =
                Value::from(body.replace("i-1234abcd1234abcd1", &format!("i-1234abcd1234abcd{n}")));
            r
        })
        .collect();
    serde_json::json!({ "Records": records })
}

/// The batch of three against a server that answers every AWS call with this error: the batch answer,
/// and the server (what it was asked).
async fn batch_of_three_against(status: u16, code: &str, message: &str) -> (Value, FaultServer) {
    let (answer, fault) = handled_against(status, code, message, sqs_batch_of_three()).await;
    (answer.expect("batch answer"), fault)
}

/// The handler's answer to `payload` against a server that answers every AWS call with this error, and
/// the server (what it was asked).
async fn handled_against(
    status: u16,
    code: &str,
    message: &str,
    payload: Value,
) -> (Result<Value, Diagnostic>, FaultServer) {
    let fault = FaultServer::query_error(status, code, message)
        .await
        .expect("fault server");
    let answer = handle(
        app_against(&fault).await,
        LambdaEvent::new(payload, Context::default()),
    )
    .await;
    (answer, fault)
}

/// The batch's reads fail in a way a later try can mend: every record is handed back for redelivery
/// with that error, and none makes the same reads again on its own (a throttled API gets the batch's
/// one wave of calls, not one per record).
#[tokio::test]
async fn a_throttled_read_ahead_hands_the_batch_back_without_a_read_per_record() {
    let (answer, fault) = batch_of_three_against(400, "Throttling", "Rate exceeded").await;
    let failures: Vec<&str> = answer["batchItemFailures"]
        .as_array()
        .expect("failures")
        .iter()
        .filter_map(|f| f["itemIdentifier"].as_str())
        .collect();
    assert_eq!(
        failures,
        ["message-1", "message-2", "message-3"],
        "{answer:#}"
    );
    for result in answer["results"].as_array().expect("results") {
        assert_eq!(result["report"]["retryable"], true, "{result:#}");
        assert!(
            result["report"]["error"]
                .as_str()
                .unwrap_or_default()
                .contains("Throttling"),
            "{result:#}"
        );
    }
    // The wave's two calls, two attempts each at most (the first to fail ends the other); one read per
    // record would be two attempts more per record.
    let hits = ["DescribeAutoScalingGroups", "DescribeInstances"].map(|a| fault.hits_for(a));
    assert!(hits.iter().all(|h| *h <= 2), "{hits:?}");
    assert!(hits.iter().sum::<usize>() >= 2, "{hits:?}");
}

/// A read-ahead refused for good is read again per record, so each record is reported with its own
/// answer (one bad record would otherwise spoil the batch); none is redelivered.
#[tokio::test]
async fn a_denied_read_ahead_leaves_each_record_to_read_and_report_its_own() {
    let (answer, fault) = batch_of_three_against(403, "AccessDenied", "not authorized").await;
    assert_eq!(
        answer["batchItemFailures"],
        serde_json::json!([]),
        "{answer:#}"
    );
    for result in answer["results"].as_array().expect("results") {
        assert_eq!(result["report"]["retryable"], false, "{result:#}");
    }
    assert_eq!(
        fault.hits_for("DescribeAutoScalingGroups"),
        4,
        "the wave's call, then one per record"
    );
}

/// One direct invocation against a server that answers every AWS call with this error: the Lambda
/// error for a retryable failure, the report for any other outcome.
async fn invoke_against(
    status: u16,
    code: &str,
    message: &str,
) -> (Result<Value, Diagnostic>, usize) {
    let (answer, fault) = handled_against(status, code, message, launch_event()).await;
    (answer, most_attempts(&fault))
}

#[tokio::test]
async fn access_denied_fails_the_event_as_not_retryable_without_retrying() {
    let (answer, hits) = invoke_against(
        403,
        "AccessDenied",
        "User: arn:aws:sts::123456789012:assumed-role/fn is not authorized to perform: autoscaling:DescribeAutoScalingGroups",
    )
    .await;
    let report =
        answer.expect("a non-retryable failure is answered with its report, not redelivered");
    assert_eq!(report["outcome"], "failed");
    assert_eq!(report["error_kind"], "AwsApi");
    assert_eq!(report["retryable"], false);
    assert!(
        report["error"]
            .as_str()
            .unwrap_or_default()
            .contains("autoscaling:DescribeAutoScalingGroups"),
        "{report:#}"
    );
    assert_eq!(hits, 1);
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let (answer, hits) = invoke_against(503, "ServiceUnavailable", "try later").await;
    let err = answer.expect_err("a retryable failure is a Lambda error, so it is retried");
    assert_eq!(err.error_type, "Retryable.AwsApi");
    assert_eq!(hits, 2, "the SDK's retry policy ran");
}

/// Attempts of the call the SDK tried most often.
fn most_attempts(fault: &FaultServer) -> usize {
    ["DescribeAutoScalingGroups", "DescribeInstances"]
        .iter()
        .map(|action| fault.hits_for(action))
        .max()
        .unwrap_or(0)
}

/// An invocation context whose deadline is `seconds` from now, as Lambda sets it.
fn context_with_deadline(seconds: u64) -> Context {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let mut context = Context::default();
    context.deadline = now_ms + seconds * 1000;
    context
}

#[tokio::test]
async fn an_endpoint_that_never_answers_fails_the_event_as_retryable_before_the_deadline() {
    let hang = sandbox::fault::HangServer::start()
        .await
        .expect("hang server");
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .http_client(sandbox::moto::http_client())
        .region("us-west-2")
        .endpoint_url(&hang.endpoint)
        .credentials_provider(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        ))
        .load()
        .await;
    let config = Config {
        mode: Mode::Remediate,
        ..Config::default()
    };
    let app = Arc::new(App::new(config, Clients::new(&sdk).expect("clients")));
    let deadline = Duration::from_secs(60);
    let started = std::time::Instant::now();
    let err = handle(
        app,
        LambdaEvent::new(launch_event(), context_with_deadline(deadline.as_secs())),
    )
    .await
    .expect_err("a hung call fails the event");
    let took = started.elapsed();
    println!(
        "hung endpoint: answered {} after {:.1} s of a {} s deadline ({} connections)",
        err.error_type,
        took.as_secs_f64(),
        deadline.as_secs(),
        hang.connections()
    );
    assert!(
        err.error_type.starts_with("Retryable."),
        "{}",
        err.error_type
    );
    assert!(took < deadline, "answered after the deadline: {took:?}");
    assert!(hang.connections() >= 1);
}
