//! Input parsing: every payload we can receive is normalised into one domain event, [`LaunchEvent`], or an
//! explicit skip. Example payloads live in `events/` and are parsed by the tests below.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::SqsEvent;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::skip::{Skip, SkipReason};

pub const LAUNCH_SUCCESSFUL: &str = "EC2 Instance Launch Successful";
pub const AUTOSCALING_SOURCE: &str = "aws.autoscaling";

/// An Auto Scaling group launched an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchEvent {
    pub instance_id: String,
    pub asg_name: String,
    pub subnet_id: Option<String>,
    pub availability_zone: Option<String>,
    /// When the launch happened (the EventBridge `time`), as Unix seconds, if it could be read.
    pub launched_at: Option<i64>,
}

/// What one payload (or one SQS record) turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Launch(LaunchEvent),
    Skip(Skip),
}

/// How the function was invoked.
#[derive(Debug)]
pub enum Input {
    /// EventBridge invoked us directly (or `cargo lambda invoke`): immediate triage.
    Direct(Parsed),
    /// The delay queue delivered records after the grace period: one registration check each.
    Delayed(Vec<DelayedRecord>),
}

#[derive(Debug)]
pub struct DelayedRecord {
    pub message_id: String,
    pub parsed: Result<Parsed>,
}

/// `detail` of an Auto Scaling launch event.
#[derive(Debug, Deserialize)]
struct LaunchDetail {
    #[serde(rename = "EC2InstanceId")]
    instance_id: String,
    #[serde(rename = "AutoScalingGroupName")]
    asg_name: String,
    #[serde(rename = "Details", default)]
    details: LaunchDetails,
}

#[derive(Debug, Default, Deserialize)]
struct LaunchDetails {
    #[serde(rename = "Subnet ID")]
    subnet_id: Option<String>,
    #[serde(rename = "Availability Zone")]
    availability_zone: Option<String>,
}

pub fn parse_input(payload: Value) -> Result<Input> {
    if payload.get("Records").is_some() {
        let sqs: SqsEvent = serde_json::from_value(payload)
            .map_err(|e| Error::MalformedEvent(format!("SQS event: {e}")))?;
        let records = sqs
            .records
            .into_iter()
            .enumerate()
            .map(|(i, record)| {
                let message_id = record.message_id.unwrap_or_else(|| format!("record-{i}"));
                let parsed = match record.body {
                    None => Err(Error::MalformedEvent(format!(
                        "SQS record {message_id} has no body"
                    ))),
                    Some(body) => serde_json::from_str::<Value>(&body)
                        .map_err(|e| {
                            Error::MalformedEvent(format!(
                                "SQS record {message_id}: body is not JSON: {e}"
                            ))
                        })
                        .and_then(parse_event),
                };
                DelayedRecord { message_id, parsed }
            })
            .collect();
        return Ok(Input::Delayed(records));
    }
    parse_event(payload).map(Input::Direct)
}

/// Parses one event: an EventBridge event, or an Auto Scaling notification (test notifications).
pub fn parse_event(payload: Value) -> Result<Parsed> {
    if payload.get("Event").and_then(Value::as_str) == Some("autoscaling:TEST_NOTIFICATION") {
        return Ok(Parsed::Skip(Skip::new(
            SkipReason::TestNotification,
            "Auto Scaling test notification",
        )));
    }
    if payload.get("detail-type").is_none() {
        return Err(Error::MalformedEvent(
            "expected an EventBridge event (with `detail-type`) or an SQS event (with `Records`)"
                .to_string(),
        ));
    }
    let event: EventBridgeEvent<Value> = serde_json::from_value(payload)
        .map_err(|e| Error::MalformedEvent(format!("EventBridge event: {e}")))?;
    if event.source != AUTOSCALING_SOURCE || event.detail_type != LAUNCH_SUCCESSFUL {
        return Ok(Parsed::Skip(Skip::new(
            SkipReason::UnsupportedEvent,
            format!(
                "{} / {}: only `{AUTOSCALING_SOURCE}` / `{LAUNCH_SUCCESSFUL}` is handled",
                event.source, event.detail_type
            ),
        )));
    }
    let detail: LaunchDetail = serde_json::from_value(event.detail)
        .map_err(|e| Error::MalformedEvent(format!("`{LAUNCH_SUCCESSFUL}` event detail: {e}")))?;
    validate(&detail)?;
    Ok(Parsed::Launch(LaunchEvent {
        instance_id: detail.instance_id,
        asg_name: detail.asg_name,
        subnet_id: detail.details.subnet_id,
        availability_zone: detail.details.availability_zone,
        launched_at: event.time.map(|t| t.timestamp()),
    }))
}

/// EC2 instance ids are `i-` and 8 or 17 lowercase hex digits.
pub fn is_instance_id(id: &str) -> bool {
    id.strip_prefix("i-").is_some_and(|hex| {
        matches!(hex.len(), 8 | 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Auto Scaling group names are 1 to 255 characters, none of them a control character.
const ASG_NAME_MAX: usize = 255;

fn validate(detail: &LaunchDetail) -> Result<()> {
    if !is_instance_id(&detail.instance_id) {
        return Err(Error::MalformedEvent(format!(
            "detail.EC2InstanceId {:?} is not an instance id",
            detail.instance_id
        )));
    }
    let name = &detail.asg_name;
    if name.trim().is_empty()
        || name.chars().count() > ASG_NAME_MAX
        || name.chars().any(char::is_control)
    {
        return Err(Error::MalformedEvent(format!(
            "detail.AutoScalingGroupName {:?} is not an Auto Scaling group name (1-{ASG_NAME_MAX} printable characters)",
            name.chars().take(80).collect::<String>()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("fixture exists");
        serde_json::from_str(&text).expect("fixture is JSON")
    }

    #[test]
    fn direct_launch_event_becomes_a_launch() {
        let Input::Direct(Parsed::Launch(launch)) =
            parse_input(fixture("launch-successful.json")).expect("parses")
        else {
            panic!("expected a direct launch");
        };
        assert_eq!(launch.instance_id, "i-1234abcd1234abcd1");
        assert_eq!(
            launch.asg_name,
            "eks-new_nodegroup_2-abcd1234-1234-abcd-1234-1234abcd1234"
        );
        assert_eq!(
            launch.subnet_id.as_deref(),
            Some("subnet-1234abcd1234abcd1")
        );
        assert_eq!(launch.availability_zone.as_deref(), Some("us-west-2a"));
        assert_eq!(launch.launched_at, Some(1_728_485_976));
    }

    #[test]
    fn sqs_delivery_unwraps_each_record() {
        let Input::Delayed(records) =
            parse_input(fixture("sqs-delayed-launch.json")).expect("parses")
        else {
            panic!("expected delayed records");
        };
        assert_eq!(records.len(), 1);
        assert!(
            matches!(&records[0].parsed, Ok(Parsed::Launch(l)) if l.instance_id == "i-1234abcd1234abcd1")
        );
    }

    #[test]
    fn test_notification_is_an_explicit_skip() {
        let Input::Delayed(records) =
            parse_input(fixture("sqs-test-notification.json")).expect("parses")
        else {
            panic!("expected delayed records");
        };
        assert!(matches!(
            &records[0].parsed,
            Ok(Parsed::Skip(Skip {
                reason: SkipReason::TestNotification,
                ..
            }))
        ));
    }

    #[test]
    fn other_detail_types_are_skipped_as_unsupported() {
        let parsed = parse_input(fixture("launch-unsuccessful.json")).expect("parses");
        assert!(matches!(
            parsed,
            Input::Direct(Parsed::Skip(Skip {
                reason: SkipReason::UnsupportedEvent,
                ..
            }))
        ));
    }

    #[test]
    fn missing_instance_id_is_a_malformed_event_naming_the_field() {
        let err =
            parse_input(fixture("malformed-missing-instance-id.json")).expect_err("malformed");
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("EC2InstanceId"), "{err}");
    }

    #[test]
    fn a_bad_record_does_not_spoil_the_batch() {
        let Input::Delayed(records) =
            parse_input(fixture("sqs-batch-with-malformed-record.json")).expect("parses")
        else {
            panic!("expected delayed records");
        };
        assert_eq!(records.len(), 2);
        assert!(records[0].parsed.is_ok());
        let err = records[1]
            .parsed
            .as_ref()
            .expect_err("second record is not JSON");
        assert!(err.to_string().contains("not JSON"), "{err}");
    }

    #[test]
    fn payloads_of_unknown_shape_are_rejected_with_a_clear_message() {
        for payload in [
            serde_json::json!({}),
            serde_json::json!([1, 2]),
            serde_json::json!("x"),
        ] {
            let err = parse_input(payload).expect_err("unknown shape");
            assert!(err.to_string().contains("detail-type"), "{err}");
        }
    }

    #[test]
    fn every_example_event_parses_or_fails_cleanly() {
        let dir = format!("{}/events", env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("events/ exists") {
            let path = entry.expect("dir entry").path();
            let text = std::fs::read_to_string(&path).expect("readable");
            let value: Value = serde_json::from_str(&text).expect("every example is JSON");
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            let result = parse_input(value);
            assert_eq!(
                result.is_err(),
                name.starts_with("malformed"),
                "{name}: only malformed-* examples may fail to parse"
            );
            seen += 1;
        }
        assert!(seen >= 5, "expected the example events, found {seen}");
    }
}
