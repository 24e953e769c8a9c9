//! The answer to an SQS batch: `batchItemFailures` (the records SQS should deliver again: those whose
//! failure a retry can fix, and those whose task was lost) by their real `messageId`, and every
//! record's report.

use aws_lambda_events::sqs::SqsBatchResponse;
use serde::Serialize;

use crate::outcome::EventReport;

#[derive(Debug, Serialize)]
pub struct BatchAnswer {
    #[serde(flatten)]
    pub response: SqsBatchResponse,
    pub results: Vec<RecordReport>,
}

#[derive(Debug, Serialize)]
pub struct RecordReport {
    #[serde(rename = "messageId")]
    pub message_id: String,
    pub report: EventReport,
}

/// One record's result; `None` when its task ended abnormally (it is handed back for redelivery).
pub type RecordResult = (String, Option<EventReport>);

pub fn answer(results: Vec<RecordResult>) -> BatchAnswer {
    let mut response = SqsBatchResponse::default();
    let mut reports = Vec::new();
    for (message_id, report) in results {
        match report {
            Some(report) => {
                // Retryable failures go back to the queue (and to its DLQ after maxReceiveCount);
                // delivering a record that cannot succeed again would only repeat its report.
                if report.outcome.is_retryable_failure() {
                    response.add_failure(message_id.clone());
                }
                reports.push(RecordReport { message_id, report });
            }
            None => response.add_failure(message_id),
        }
    }
    BatchAnswer {
        response,
        results: reports,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::outcome::{Outcome, Subject};
    use crate::skip::{Skip, SkipReason};

    #[test]
    fn retryable_and_lost_records_are_handed_back_by_their_message_id_and_no_others() {
        let skipped = EventReport::new(
            Outcome::skipped(Skip::new(SkipReason::NotEks, "x")),
            Subject::default(),
        );
        let malformed = EventReport::failed(&Error::MalformedEvent("bad".into()));
        let throttled = EventReport::failed(&Error::Deadline { stage: "snapshot" });
        let answer = answer(vec![
            ("m-1".into(), Some(skipped)),
            ("m-2".into(), Some(throttled)),
            ("m-3".into(), None),
            ("m-4".into(), Some(malformed)),
        ]);
        let json = serde_json::to_value(&answer).expect("serializes");
        assert_eq!(
            json["batchItemFailures"],
            serde_json::json!([{"itemIdentifier": "m-2"}, {"itemIdentifier": "m-3"}])
        );
        assert_eq!(json["results"][0]["messageId"], "m-1");
        assert_eq!(json["results"].as_array().map(Vec::len), Some(3));
    }
}
