//! The pure parts of a burst: the events (SQS records, one launch event per instance) and what the
//! function's answers and the proxy's record of writes say about it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::proxy::Write;
use super::runtime::Finished;
use crate::util::random_uuid;

/// Records `start .. start + count` of a burst as SQS delivers them, cycling through `bodies`.
pub fn sqs_records(bodies: &[String], start: usize, count: usize, region: &str) -> Vec<Value> {
    (start..start + count)
        .filter_map(|n| sqs_record(bodies, n, region))
        .collect()
}

/// Message `m-<n>` carrying `bodies[n % len]`.
fn sqs_record(bodies: &[String], n: usize, region: &str) -> Option<Value> {
    let body = bodies.get(n % bodies.len().max(1))?;
    Some(json!({
        "messageId": format!("m-{n}"),
        "receiptHandle": format!("h-{n}"),
        "body": body,
        "attributes": {}, "messageAttributes": {},
        "eventSource": "aws:sqs", "awsRegion": region,
    }))
}

/// SQS batches of up to 10 delivering messages `m-<n>` for each `n` of `messages`.
pub fn sqs_batches(bodies: &[String], messages: &[usize], region: &str) -> Vec<Value> {
    messages
        .chunks(10)
        .map(|chunk| {
            let records: Vec<Value> = chunk
                .iter()
                .filter_map(|&n| sqs_record(bodies, n, region))
                .collect();
            json!({ "Records": records })
        })
        .collect()
}

/// The messages (`m-<n>` → `n`) a batch answer hands back for redelivery.
pub fn failed_messages(answer: &Finished) -> Vec<usize> {
    answer.body["batchItemFailures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| {
            f["itemIdentifier"]
                .as_str()?
                .strip_prefix("m-")?
                .parse()
                .ok()
        })
        .collect()
}

/// The launch event of `instance_id`, cut from another instance's event of the same group and subnet.
pub fn launch_event_for(template: &Value, instance_id: &str) -> Value {
    let mut event = template.clone();
    let old = template["detail"]["EC2InstanceId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    event["id"] = random_uuid().into();
    event["detail"]["EC2InstanceId"] = instance_id.into();
    event["detail"]["Description"] = format!("Launching a new EC2 instance: {instance_id}").into();
    if let Some(resources) = event["resources"].as_array_mut() {
        for r in resources.iter_mut() {
            if let Some(arn) = r.as_str().filter(|a| !old.is_empty() && a.ends_with(&old)) {
                *r = arn.replace(&old, instance_id).into();
            }
        }
    }
    event
}

/// The outcome of every launch in an answer: one for a direct invocation, one per record of an SQS
/// batch; a Lambda error answer is `error:<errorType>`.
pub fn launch_outcomes(answer: &Finished) -> Vec<String> {
    if !answer.ok {
        let kind = answer.body["errorType"].as_str().unwrap_or("unknown");
        return vec![format!("error:{kind}")];
    }
    match answer.body["results"].as_array() {
        Some(records) => records
            .iter()
            .map(|r| r["report"]["outcome"].as_str().unwrap_or("none").to_owned())
            .collect(),
        None => vec![answer.outcome()],
    }
}

/// Whether an answer tells of throttling (the function let a `RequestLimitExceeded` through).
pub fn mentions_throttling(answer: &Value) -> bool {
    let text = answer.to_string().to_ascii_lowercase();
    text.contains("requestlimitexceeded") || text.contains("throttl")
}

/// Route writes moto accepted, and attempts in all.
pub fn route_writes(writes: &[Write]) -> (usize, usize) {
    let routes: Vec<&Write> = writes
        .iter()
        .filter(|w| w.operation == "ec2:CreateRoute" || w.operation == "ec2:ReplaceRoute")
        .collect();
    let accepted = routes.iter().filter(|w| w.status < 300).count();
    (accepted, routes.len())
}

/// Instances replaced (accepted `TerminateInstanceInAutoScalingGroup` or `TerminateInstances`), in order.
pub fn recycled(writes: &[Write]) -> Vec<String> {
    writes
        .iter()
        .filter(|w| w.status < 300)
        .filter_map(|w| match w.operation.as_str() {
            "autoscaling:TerminateInstanceInAutoScalingGroup" => w.param("InstanceId"),
            "ec2:TerminateInstances" => w.param("InstanceId.1"),
            _ => None,
        })
        .collect()
}

/// Recycles checked against the instances that were stuck: how many, how many distinct, how many were
/// not stuck.
#[derive(Debug, PartialEq, Eq)]
pub struct RecycleCheck {
    pub recycles: usize,
    pub distinct: usize,
    pub not_stuck: usize,
}

pub fn check_recycles(recycled: &[String], stuck: &BTreeSet<String>) -> RecycleCheck {
    let distinct: BTreeSet<&String> = recycled.iter().collect();
    RecycleCheck {
        recycles: recycled.len(),
        distinct: distinct.len(),
        not_stuck: distinct.iter().filter(|i| !stuck.contains(**i)).count(),
    }
}

/// How many times each value occurs.
pub fn histogram(values: impl IntoIterator<Item = String>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for v in values {
        *out.entry(v).or_default() += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn write(operation: &str, body: &str, status: u16) -> Write {
        Write {
            operation: operation.to_owned(),
            body: body.to_owned(),
            status,
        }
    }

    fn answer(ok: bool, body: Value) -> Finished {
        let now = Instant::now();
        Finished {
            id: "bench-1".into(),
            served: now,
            answered: now,
            ok,
            body,
        }
    }

    #[test]
    fn a_batch_answer_has_one_outcome_per_record_and_an_error_answer_its_type() {
        let batch = answer(
            true,
            json!({ "batchItemFailures": [], "results": [
                { "messageId": "m-0", "report": { "outcome": "remediated" } },
                { "messageId": "m-1", "report": { "outcome": "remediation-blocked" } },
            ]}),
        );
        assert_eq!(
            launch_outcomes(&batch),
            ["remediated", "remediation-blocked"]
        );
        let direct = answer(true, json!({ "outcome": "diagnosed" }));
        assert_eq!(launch_outcomes(&direct), ["diagnosed"]);
        let error = answer(false, json!({ "errorType": "Retryable.AwsApi" }));
        assert_eq!(launch_outcomes(&error), ["error:Retryable.AwsApi"]);
    }

    #[test]
    fn only_accepted_route_writes_count_as_writes() {
        let writes = [
            write("ec2:CreateRoute", "Action=CreateRoute", 200),
            write("ec2:CreateRoute", "Action=CreateRoute", 400),
            write("ec2:CreateTags", "Action=CreateTags", 200),
        ];
        assert_eq!(route_writes(&writes), (1, 2));
    }

    #[test]
    fn recycles_of_instances_that_were_not_stuck_or_twice_are_found() {
        let writes = [
            write(
                "autoscaling:TerminateInstanceInAutoScalingGroup",
                "Action=TerminateInstanceInAutoScalingGroup&InstanceId=i-1",
                200,
            ),
            write(
                "autoscaling:TerminateInstanceInAutoScalingGroup",
                "Action=TerminateInstanceInAutoScalingGroup&InstanceId=i-1",
                200,
            ),
            write(
                "autoscaling:TerminateInstanceInAutoScalingGroup",
                "Action=TerminateInstanceInAutoScalingGroup&InstanceId=i-9",
                200,
            ),
            write(
                "autoscaling:TerminateInstanceInAutoScalingGroup",
                "Action=TerminateInstanceInAutoScalingGroup&InstanceId=i-2",
                400,
            ),
        ];
        let recycled = recycled(&writes);
        assert_eq!(recycled, ["i-1", "i-1", "i-9"]);
        let stuck: BTreeSet<String> = ["i-1", "i-2"].map(String::from).into();
        let check = check_recycles(&recycled, &stuck);
        assert_eq!(
            check,
            RecycleCheck {
                recycles: 3,
                distinct: 2,
                not_stuck: 1
            }
        );
    }

    #[test]
    fn throttling_is_recognised_wherever_the_answer_mentions_it() {
        assert!(mentions_throttling(
            &json!({ "errorMessage": "ec2:DescribeSubnets: RequestLimitExceeded" })
        ));
        assert!(mentions_throttling(
            &json!({ "findings": [{ "evidence": ["Throttling: slow down"] }] })
        ));
        assert!(!mentions_throttling(&json!({ "outcome": "remediated" })));
    }

    #[test]
    fn a_launch_event_is_recut_for_another_instance_of_the_group() {
        let template = json!({
            "id": "x", "resources": ["arn:aws:autoscaling:r:1:autoScalingGroup:g", "arn:aws:ec2:r:1:instance/i-1"],
            "detail": { "EC2InstanceId": "i-1", "Description": "Launching a new EC2 instance: i-1", "Details": { "Subnet ID": "subnet-1" } },
        });
        let event = launch_event_for(&template, "i-2");
        assert_eq!(event["detail"]["EC2InstanceId"], "i-2");
        assert_eq!(event["resources"][1], "arn:aws:ec2:r:1:instance/i-2");
        assert_eq!(event["resources"][0], template["resources"][0]);
        assert_eq!(event["detail"]["Details"]["Subnet ID"], "subnet-1");
        assert_ne!(event["id"], "x");
    }

    #[test]
    fn failed_records_are_batched_again_by_their_message_ids() {
        let bodies: Vec<String> = (0..25).map(|n| format!("b{n}")).collect();
        let failed = answer(
            true,
            json!({ "batchItemFailures": [
                { "itemIdentifier": "m-3" }, { "itemIdentifier": "m-17" }, { "itemIdentifier": "x" },
            ]}),
        );
        assert_eq!(failed_messages(&failed), [3, 17]);
        let all: Vec<usize> = (0..25).collect();
        let batches = sqs_batches(&bodies, &all, "us-west-2");
        let sizes: Vec<usize> = batches
            .iter()
            .map(|b| b["Records"].as_array().map_or(0, Vec::len))
            .collect();
        assert_eq!(sizes, [10, 10, 5]);
        assert_eq!(batches[1]["Records"][7]["messageId"], "m-17");
        assert_eq!(batches[1]["Records"][7]["body"], "b17");
    }

    #[test]
    fn sqs_records_cycle_through_the_bodies_with_unique_message_ids() {
        let bodies = ["a".to_owned(), "b".to_owned()];
        let records = sqs_records(&bodies, 3, 3, "us-west-2");
        let got: Vec<(&str, &str)> = records
            .iter()
            .map(|r| {
                (
                    r["messageId"].as_str().unwrap_or(""),
                    r["body"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(got, [("m-3", "b"), ("m-4", "a"), ("m-5", "b")]);
    }
}
