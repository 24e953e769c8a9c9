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
/// Instances launched without an Auto Scaling group (Karpenter and EKS Auto Mode use EC2 CreateFleet)
/// are seen through their state change to `running`.
pub const STATE_CHANGE: &str = "EC2 Instance State-change Notification";
pub const EC2_SOURCE: &str = "aws.ec2";
pub const RUNNING: &str = "running";

/// An instance was launched: by an Auto Scaling group (its launch event), or by anything else (its state
/// change to `running`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchEvent {
    pub instance_id: String,
    /// The group that launched it; `None` for an instance seen through its state change.
    pub asg_name: Option<String>,
    pub subnet_id: Option<String>,
    pub availability_zone: Option<String>,
    /// When the launch happened (the EventBridge `time`), as Unix seconds, if it could be read.
    pub launched_at: Option<i64>,
    /// The account and Region the event comes from (EventBridge `account` and `region`), when it says.
    pub origin: Origin,
}

/// Where an event happened, as EventBridge says (validated: an account id of 12 digits, a Region name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Origin {
    pub account: Option<String>,
    pub region: Option<String>,
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
            .map_err(|e| Error::MalformedEvent(format!("SQS event: {}", excerpt(&e))))?;
        let records = sqs
            .records
            .into_iter()
            .enumerate()
            .map(|(i, record)| {
                let message_id = record.message_id.unwrap_or_else(|| format!("record-{i}"));
                let id = excerpt(&message_id);
                let parsed = match record.body {
                    None => Err(Error::MalformedEvent(format!(
                        "SQS record {id} has no body"
                    ))),
                    Some(body) => serde_json::from_str::<Value>(&body)
                        .map_err(|e| {
                            Error::MalformedEvent(format!(
                                "SQS record {id}: body is not JSON: {}",
                                excerpt(&e)
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
        .map_err(|e| Error::MalformedEvent(format!("EventBridge event: {}", excerpt(&e))))?;
    match (event.source.as_str(), event.detail_type.as_str()) {
        (AUTOSCALING_SOURCE, LAUNCH_SUCCESSFUL) => launch(event),
        (EC2_SOURCE, STATE_CHANGE) => state_change(event),
        _ => Ok(Parsed::Skip(Skip::new(
            SkipReason::UnsupportedEvent,
            format!(
                "{} / {}: only `{AUTOSCALING_SOURCE}` / `{LAUNCH_SUCCESSFUL}` and `{EC2_SOURCE}` / `{STATE_CHANGE}` are handled",
                excerpt(&event.source),
                excerpt(&event.detail_type)
            ),
        ))),
    }
}

/// An Auto Scaling group launched an instance.
fn launch(event: EventBridgeEvent<Value>) -> Result<Parsed> {
    let origin = origin(&event)?;
    let detail: LaunchDetail = serde_json::from_value(event.detail).map_err(|e| {
        Error::MalformedEvent(format!(
            "`{LAUNCH_SUCCESSFUL}` event detail: {}",
            excerpt(&e)
        ))
    })?;
    validate(&detail)?;
    Ok(Parsed::Launch(LaunchEvent {
        instance_id: detail.instance_id,
        asg_name: Some(detail.asg_name),
        subnet_id: detail.details.subnet_id,
        availability_zone: detail.details.availability_zone,
        launched_at: event.time.map(|t| t.timestamp()),
        origin,
    }))
}

/// `detail` of an EC2 state-change event.
#[derive(Debug, Deserialize)]
struct StateChangeDetail {
    #[serde(rename = "instance-id")]
    instance_id: String,
    state: String,
}

/// An instance changed state: `running` is a launch whatever launched it; any other state is skipped.
fn state_change(event: EventBridgeEvent<Value>) -> Result<Parsed> {
    let origin = origin(&event)?;
    let detail: StateChangeDetail = serde_json::from_value(event.detail).map_err(|e| {
        Error::MalformedEvent(format!("`{STATE_CHANGE}` event detail: {}", excerpt(&e)))
    })?;
    if !is_instance_id(&detail.instance_id) {
        return Err(Error::MalformedEvent(format!(
            "detail.instance-id {} is not an instance id",
            excerpt(&format!("{:?}", detail.instance_id))
        )));
    }
    if detail.state != RUNNING {
        let state = excerpt(&format!("{:?}", detail.state));
        return Ok(Parsed::Skip(Skip::new(
            SkipReason::UnsupportedEvent,
            format!(
                "{} is {state}: only `{RUNNING}` instances are checked",
                detail.instance_id
            ),
        )));
    }
    Ok(Parsed::Launch(LaunchEvent {
        instance_id: detail.instance_id,
        asg_name: None,
        subnet_id: None,
        availability_zone: None,
        launched_at: event.time.map(|t| t.timestamp()),
        origin,
    }))
}

/// The event's `account` and `region`, which pick the account whose role is assumed: anything that is
/// not an account id or a Region name is refused, never put into an ARN.
fn origin(event: &EventBridgeEvent<Value>) -> Result<Origin> {
    let account = event.account.clone().filter(|a| !a.is_empty());
    if let Some(a) = account.as_deref().filter(|a| !is_account_id(a)) {
        return Err(Error::MalformedEvent(format!(
            "EventBridge `account` {} is not an account id (12 digits)",
            excerpt(&format!("{a:?}"))
        )));
    }
    let region = event.region.clone().filter(|r| !r.is_empty());
    if let Some(r) = region.as_deref().filter(|r| !is_region(r)) {
        return Err(Error::MalformedEvent(format!(
            "EventBridge `region` {} is not a Region name",
            excerpt(&format!("{r:?}"))
        )));
    }
    Ok(Origin { account, region })
}

/// An AWS account id: 12 ASCII digits.
pub fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// A Region name such as `us-west-2`, `us-gov-east-1` or `eusc-de-east-1`: lowercase words joined by
/// hyphens, ending in a number.
pub fn is_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let word = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    name.len() <= 32
        && parts.len() >= 3
        && parts[..parts.len() - 1].iter().all(word)
        && parts
            .last()
            .is_some_and(|n| (1..=2).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
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

/// Messages quote the input; a hostile payload must not make them (nor the report and log lines built
/// from them) arbitrarily long.
const EXCERPT_CHARS: usize = 120;

/// The first [`EXCERPT_CHARS`] characters of `text`, saying how many more there were.
fn excerpt(text: &impl ToString) -> String {
    let text = text.to_string();
    let total = text.chars().count();
    if total <= EXCERPT_CHARS {
        return text;
    }
    let kept: String = text.chars().take(EXCERPT_CHARS).collect();
    format!("{kept}... ({} more characters)", total - EXCERPT_CHARS)
}

/// Auto Scaling group names are 1 to 255 characters, none of them a control character.
const ASG_NAME_MAX: usize = 255;

fn validate(detail: &LaunchDetail) -> Result<()> {
    if !is_instance_id(&detail.instance_id) {
        return Err(Error::MalformedEvent(format!(
            "detail.EC2InstanceId {} is not an instance id",
            excerpt(&format!("{:?}", detail.instance_id))
        )));
    }
    let name = &detail.asg_name;
    if name.trim().is_empty()
        || name.chars().count() > ASG_NAME_MAX
        || name.chars().any(char::is_control)
    {
        return Err(Error::MalformedEvent(format!(
            "detail.AutoScalingGroupName {} is not an Auto Scaling group name (1-{ASG_NAME_MAX} printable characters)",
            excerpt(&format!("{name:?}"))
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
            launch.asg_name.as_deref(),
            Some("eks-new_nodegroup_2-abcd1234-1234-abcd-1234-1234abcd1234")
        );
        assert_eq!(
            launch.subnet_id.as_deref(),
            Some("subnet-1234abcd1234abcd1")
        );
        assert_eq!(launch.availability_zone.as_deref(), Some("us-west-2a"));
        assert_eq!(launch.launched_at, Some(1_728_485_976));
        assert_eq!(launch.origin.account.as_deref(), Some("123456789012"));
        assert_eq!(launch.origin.region.as_deref(), Some("us-west-2"));
    }

    #[test]
    fn an_instance_running_without_a_group_becomes_a_launch_without_a_group() {
        let Input::Direct(Parsed::Launch(launch)) =
            parse_input(fixture("instance-running.json")).expect("parses")
        else {
            panic!("expected a direct launch");
        };
        assert_eq!(launch.instance_id, "i-0f1e2d3c4b5a69788");
        assert_eq!(launch.asg_name, None);
        assert_eq!(launch.subnet_id, None);
        assert_eq!(launch.launched_at, Some(1_728_485_981));
        assert_eq!(launch.origin.account.as_deref(), Some("111122223333"));
        assert_eq!(launch.origin.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn other_instance_states_are_skipped_as_unsupported() {
        for state in [
            "pending",
            "stopping",
            "stopped",
            "shutting-down",
            "terminated",
        ] {
            let mut event = fixture("instance-running.json");
            event["detail"]["state"] = state.into();
            let parsed = parse_input(event).expect("parses");
            assert!(
                matches!(&parsed, Input::Direct(Parsed::Skip(Skip { reason: SkipReason::UnsupportedEvent, detail })) if detail.contains(state)),
                "{state}: {parsed:?}"
            );
        }
    }

    #[test]
    fn an_account_or_region_that_is_not_one_is_malformed_and_never_used() {
        for (field, value) in [
            ("account", "12345678901"),
            ("account", "1234567890123"),
            ("account", "12345678901a"),
            ("account", "123456789012/../role"),
            ("region", "us-west-2/x"),
            ("region", "US-WEST-2"),
            ("region", "west"),
            ("region", "us-west-"),
        ] {
            for name in ["instance-running.json", "launch-successful.json"] {
                let mut event = fixture(name);
                event[field] = value.into();
                let message = malformed_message(event);
                assert!(message.contains(&format!("`{field}`")), "{message}");
            }
        }
        for region in [
            "us-gov-east-1",
            "cn-north-1",
            "eusc-de-east-1",
            "ap-southeast-5",
        ] {
            assert!(is_region(region), "{region}");
        }
    }

    #[test]
    fn a_state_change_without_an_instance_id_is_malformed_naming_the_field() {
        let mut event = fixture("instance-running.json");
        event["detail"]["instance-id"] = "i-nothex!".into();
        let message = malformed_message(event);
        assert!(message.contains("instance-id"), "{message}");
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

    #[test]
    fn instance_ids_are_i_and_8_or_17_lowercase_hex_digits() {
        for good in [
            "i-1234abcd",
            "i-1234abcd1234abcd1",
            "i-00000000",
            "i-ffffffffffffffff0",
        ] {
            assert!(is_instance_id(good), "{good}");
        }
        for bad in [
            "",
            "i-",
            "i-1234abc",
            "i-1234abcd1",
            "i-1234abcd1234abcd",
            "i-1234abcd1234abcd12",
            "i-1234ABCD",
            "i-1234abcg",
            "I-1234abcd",
            "x-1234abcd",
            "i_1234abcd",
            " i-1234abcd",
            "i-1234abcd ",
            "i-1234abcd\n",
            "i-１２３４abcd",
        ] {
            assert!(!is_instance_id(bad), "{bad:?}");
        }
    }

    fn launch_with(instance_id: Value, asg_name: Value) -> Value {
        let mut event = fixture("launch-successful.json");
        event["detail"]["EC2InstanceId"] = instance_id;
        event["detail"]["AutoScalingGroupName"] = asg_name;
        event
    }

    fn malformed_message(payload: Value) -> String {
        let err = parse_input(payload).expect_err("malformed");
        assert!(matches!(err, Error::MalformedEvent(_)), "{err:?}");
        err.to_string()
    }

    #[test]
    fn group_names_up_to_255_characters_are_accepted_and_longer_ones_rejected() {
        let id = Value::from("i-1234abcd");
        for name in ["g".repeat(255), "é".repeat(255), "g".to_string()] {
            let parsed = parse_input(launch_with(id.clone(), Value::from(name.clone())));
            assert!(
                matches!(parsed, Ok(Input::Direct(Parsed::Launch(ref l))) if l.asg_name.as_deref() == Some(name.as_str())),
                "{} chars",
                name.chars().count()
            );
        }
        let message = malformed_message(launch_with(id, Value::from("g".repeat(256))));
        assert!(message.contains("AutoScalingGroupName"), "{message}");
        assert!(message.len() < 300, "the name is not echoed in full");
    }

    #[test]
    fn blank_or_control_character_group_names_are_rejected() {
        for name in ["", "   ", "eks\ngroup", "eks\u{0}group"] {
            let message =
                malformed_message(launch_with(Value::from("i-1234abcd"), Value::from(name)));
            assert!(message.contains("AutoScalingGroupName"), "{message}");
        }
    }

    #[test]
    fn a_huge_instance_id_is_rejected_without_being_echoed_in_full() {
        let huge = "i-".to_string() + &"f".repeat(1_000_000);
        let message = malformed_message(launch_with(Value::from(huge), Value::from("g")));
        assert!(message.contains("EC2InstanceId"), "{message}");
        assert!(message.len() < 300, "{} bytes", message.len());
    }

    /// Hostile input: whatever arrives, parsing never panics, and every failure is a non-retryable
    /// `MalformedEvent` that names what was wrong in a message of bounded size.
    mod hostile {
        use super::*;
        use proptest::prelude::*;
        use serde_json::Map;

        /// Keys and values the parser looks at, so generated inputs get past the first checks.
        const KEYS: &[&str] = &[
            "Records",
            "body",
            "messageId",
            "detail-type",
            "source",
            "detail",
            "time",
            "Event",
            "EC2InstanceId",
            "AutoScalingGroupName",
            "Details",
            "Subnet ID",
            "Availability Zone",
            "version",
            "id",
            "account",
            "region",
            "resources",
            "instance-id",
            "state",
        ];
        const WORDS: &[&str] = &[
            LAUNCH_SUCCESSFUL,
            AUTOSCALING_SOURCE,
            "autoscaling:TEST_NOTIFICATION",
            STATE_CHANGE,
            EC2_SOURCE,
            RUNNING,
            "123456789012",
            "EC2 Instance Launch Unsuccessful",
            "i-1234abcd1234abcd1",
            "i-1234abcd",
            "2024-10-09T14:59:36Z",
            "not a time",
            "",
            "{}",
            "[]",
            "null",
        ];
        /// A useful message names the shape or the field that was wrong.
        const NAMES: &[&str] = &[
            "SQS",
            "EventBridge",
            "detail-type",
            "Records",
            "event detail",
            "EC2InstanceId",
            "AutoScalingGroupName",
            "instance-id",
        ];
        const MESSAGE_LIMIT: usize = 1_000;

        fn fixtures() -> Vec<Value> {
            let mut all: Vec<Value> = [
                "launch-successful.json",
                "launch-unsuccessful.json",
                "instance-running.json",
                "malformed-missing-instance-id.json",
                "sqs-batch-with-malformed-record.json",
                "sqs-delayed-launch.json",
                "sqs-test-notification.json",
            ]
            .into_iter()
            .map(fixture)
            .collect();
            // The events inside SQS bodies, to be mutated and wrapped again.
            let bodies: Vec<Value> = all
                .iter()
                .filter_map(|f| f["Records"].as_array().cloned())
                .flatten()
                .filter_map(|r| {
                    r["body"]
                        .as_str()
                        .and_then(|b| serde_json::from_str(b).ok())
                })
                .collect();
            all.extend(bodies);
            all
        }

        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                4 => prop::sample::select(WORDS).prop_map(String::from),
                4 => prop::collection::vec(any::<char>(), 0..12).prop_map(String::from_iter),
                1 => "[a-f0-9-]{0,24}".prop_map(|s| format!("i-{s}")),
                1 => (any::<char>(), 0..300usize).prop_map(|(c, n)| c.to_string().repeat(n)),
            ]
        }

        /// Up to half a million characters: one repeated, or random text repeated.
        fn huge() -> impl Strategy<Value = String> {
            prop_oneof![
                (any::<char>(), 10_000..500_000usize).prop_map(|(c, n)| c.to_string().repeat(n)),
                (any::<String>(), 1_000..10_000usize).prop_map(|(s, n)| s.repeat(n)),
            ]
        }

        fn key() -> impl Strategy<Value = String> {
            prop_oneof![
                4 => prop::sample::select(KEYS).prop_map(String::from),
                1 => prop::collection::vec(any::<char>(), 0..8).prop_map(String::from_iter),
            ]
        }

        fn leaf() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                text().prop_map(Value::from),
            ]
        }

        fn value() -> impl Strategy<Value = Value> {
            leaf().prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::vec((key(), inner), 0..4)
                        .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
                ]
            })
        }

        /// Replaces (or, without a replacement, removes) the node reached by walking `steps`.
        fn mutate(node: &mut Value, steps: &[usize], replacement: Option<Value>) {
            let Some((&step, rest)) = steps.split_first() else {
                *node = replacement.unwrap_or(Value::Null);
                return;
            };
            match node {
                Value::Object(map) if !map.is_empty() => {
                    let Some(key) = map.keys().nth(step % map.len()).cloned() else {
                        return;
                    };
                    match (rest.is_empty(), replacement) {
                        (true, None) => {
                            map.remove(&key);
                        }
                        (_, replacement) => {
                            if let Some(child) = map.get_mut(&key) {
                                mutate(child, rest, replacement);
                            }
                        }
                    }
                }
                Value::Array(items) if !items.is_empty() => {
                    let len = items.len();
                    mutate(&mut items[step % len], rest, replacement);
                }
                // A JSON string (an SQS body) is mutated inside, then written back.
                Value::String(s) => match serde_json::from_str::<Value>(s) {
                    Ok(mut inner) => {
                        mutate(&mut inner, steps, replacement);
                        *s = inner.to_string();
                    }
                    Err(_) => *node = replacement.unwrap_or(Value::Null),
                },
                _ => *node = replacement.unwrap_or(Value::Null),
            }
        }

        fn mutated_fixture() -> impl Strategy<Value = Value> {
            let all = fixtures();
            let count = all.len();
            (
                0..count,
                prop::collection::vec(
                    (
                        prop::collection::vec(any::<usize>(), 0..6),
                        prop::option::of(value()),
                    ),
                    1..4,
                ),
            )
                .prop_map(move |(i, mutations)| {
                    let mut event = all[i].clone();
                    for (steps, replacement) in mutations {
                        mutate(&mut event, &steps, replacement);
                    }
                    event
                })
        }

        /// A launch event whose fields the parser reads each hold any type.
        fn retyped_launch() -> impl Strategy<Value = Value> {
            const FIELDS: [&str; 8] = [
                "detail-type",
                "source",
                "time",
                "detail",
                "EC2InstanceId",
                "AutoScalingGroupName",
                "Details",
                "Subnet ID",
            ];
            prop::collection::vec((prop::sample::select(&FIELDS[..]), value()), 1..4).prop_map(
                |changes| {
                    let mut event = fixture("launch-successful.json");
                    for (field, v) in changes {
                        let place = match field {
                            "EC2InstanceId" | "AutoScalingGroupName" | "Details" => {
                                event.get_mut("detail")
                            }
                            "Subnet ID" => event.pointer_mut("/detail/Details"),
                            _ => Some(&mut event),
                        };
                        // An earlier change may have made the parent a non-object: leave it so.
                        if let Some(obj) = place.and_then(Value::as_object_mut) {
                            obj.insert(field.to_string(), v);
                        }
                    }
                    event
                },
            )
        }

        /// An SQS delivery whose bodies are anything: text, JSON of any shape, or a mutated event.
        fn sqs_delivery() -> impl Strategy<Value = Value> {
            let body = prop_oneof![
                text().prop_map(Value::from),
                value().prop_map(|v| Value::from(v.to_string())),
                retyped_launch().prop_map(|v| Value::from(v.to_string())),
                value(),
            ];
            prop::collection::vec((prop::option::of(text()), prop::option::of(body)), 0..5)
                .prop_map(|records| {
                    let records: Vec<Value> = records
                        .into_iter()
                        .map(|(id, body)| {
                            let mut r = serde_json::json!({});
                            if let Some(id) = id {
                                r["messageId"] = Value::from(id);
                            }
                            if let Some(body) = body {
                                r["body"] = body;
                            }
                            r
                        })
                        .collect();
                    serde_json::json!({ "Records": records })
                })
        }

        fn check_error(err: &Error) -> Result<(), TestCaseError> {
            prop_assert!(matches!(err, Error::MalformedEvent(_)), "{err:?}");
            prop_assert!(!err.is_retryable());
            let message = err.to_string();
            prop_assert!(
                NAMES.iter().any(|n| message.contains(n)),
                "names nothing useful: {message}"
            );
            prop_assert!(
                message.len() <= MESSAGE_LIMIT,
                "{} bytes: {}",
                message.len(),
                message.chars().take(200).collect::<String>()
            );
            Ok(())
        }

        fn parses_cleanly(payload: Value) -> Result<(), TestCaseError> {
            match parse_input(payload) {
                Ok(Input::Direct(_)) => Ok(()),
                Ok(Input::Delayed(records)) => {
                    for record in &records {
                        if let Err(err) = &record.parsed {
                            check_error(err)?;
                        }
                    }
                    Ok(())
                }
                Err(err) => check_error(&err),
            }
        }

        /// A launch event (direct, or as an SQS body) with one field the parser reads set to a huge string.
        fn launch_with_a_huge_field() -> impl Strategy<Value = Value> {
            const FIELDS: [&str; 5] = [
                "/detail-type",
                "/source",
                "/time",
                "/detail/EC2InstanceId",
                "/detail/AutoScalingGroupName",
            ];
            (prop::sample::select(&FIELDS[..]), huge(), any::<bool>()).prop_map(|(field, text, in_sqs)| {
                let mut event = fixture("launch-successful.json");
                if let Some(place) = event.pointer_mut(field) {
                    *place = Value::from(text.clone());
                }
                if in_sqs {
                    event = serde_json::json!({ "Records": [{ "messageId": text, "body": event.to_string() }] });
                }
                event
            })
        }

        /// `cases` runs; a failure is reported with its minimal input, not written to a file in the tree.
        fn config(cases: u32) -> ProptestConfig {
            ProptestConfig {
                failure_persistence: None,
                ..ProptestConfig::with_cases(cases)
            }
        }

        // 35,000 + 25,000 + 20,000 + 20,000 + 150 = 100,150 generated inputs in all, in a few seconds.
        proptest! {
            #![proptest_config(config(35_000))]

            #[test]
            fn arbitrary_json_never_panics_and_fails_only_as_malformed(payload in value()) {
                parses_cleanly(payload)?;
            }

        }

        proptest! {
            #![proptest_config(config(25_000))]

            #[test]
            fn mutated_example_events_never_panic_and_fail_only_as_malformed(payload in mutated_fixture()) {
                parses_cleanly(payload)?;
            }
        }

        proptest! {
            #![proptest_config(config(20_000))]

            #[test]
            fn launch_fields_of_any_type_never_panic_and_fail_only_as_malformed(payload in retyped_launch()) {
                parses_cleanly(payload)?;
            }

            #[test]
            fn sqs_bodies_of_any_shape_fail_record_by_record_as_malformed(payload in sqs_delivery()) {
                parses_cleanly(payload)?;
            }
        }

        proptest! {
            #![proptest_config(config(150))]

            #[test]
            fn huge_strings_are_rejected_or_skipped_with_short_messages(payload in launch_with_a_huge_field()) {
                parses_cleanly(payload)?;
            }
        }
    }
}
