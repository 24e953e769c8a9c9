//! The answer to an SQS batch: `batchItemFailures` (the records SQS should deliver again) by their real
//! `messageId`, and every record's report.

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
                // Failed records go back to the queue (and to its DLQ after maxReceiveCount).
                if report.is_failed() {
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
    fn failed_and_lost_records_are_handed_back_by_their_message_id() {
        let skipped = EventReport::new(
            Outcome::skipped(Skip::new(SkipReason::NotEks, "x")),
            Subject::default(),
        );
        let failed = EventReport::failed(&Error::MalformedEvent("bad".into()));
        let answer = answer(vec![
            ("m-1".into(), Some(skipped)),
            ("m-2".into(), Some(failed)),
            ("m-3".into(), None),
        ]);
        let json = serde_json::to_value(&answer).expect("serializes");
        assert_eq!(
            json["batchItemFailures"],
            serde_json::json!([{"itemIdentifier": "m-2"}, {"itemIdentifier": "m-3"}])
        );
        assert_eq!(json["results"][0]["messageId"], "m-1");
        assert_eq!(json["results"].as_array().map(Vec::len), Some(2));
    }
}
