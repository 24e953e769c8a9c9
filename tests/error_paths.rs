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

/// One direct invocation against a server that answers every AWS call with this error: the Lambda
/// error for a retryable failure, the report for any other outcome.
async fn invoke_against(
    status: u16,
    code: &str,
    message: &str,
) -> (Result<Value, Diagnostic>, usize) {
    let fault = FaultServer::query_error(status, code, message)
        .await
        .expect("fault server");
    let answer = handle(
        app_against(&fault).await,
        LambdaEvent::new(launch_event(), Context::default()),
    )
    .await;
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
