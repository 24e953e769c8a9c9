//! The Lambda handler: one entry for both input shapes. A direct (EventBridge) invocation answers its
//! report, or a typed error for `failed`; an SQS batch answers `batchItemFailures` plus each record's
//! report, its records processed concurrently.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use tokio::time::Instant;

use crate::admit::{read_ahead, ReadAhead};
use crate::batch;
use crate::context::App;
use crate::error::error_type;
use crate::event::{parse_input, DelayedRecord, Input, LaunchEvent, Parsed};
use crate::metrics;
use crate::outcome::{EventReport, Outcome};
use crate::pipeline::process;
use crate::triage::Trigger;

pub async fn handle(app: Arc<App>, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let deadline = lambda_deadline(event.context.deadline);
    // Boxed: the pipeline's future is deep (past the compiler's layout depth limit unboxed).
    let answer = Box::pin(answer(app.clone(), event.payload, deadline)).await;
    // The writes the events started off their paths end before the invocation answers (`settle`).
    if let Some(state) = &app.state {
        state.settle(deadline).await;
    }
    answer
}

async fn answer(
    app: Arc<App>,
    payload: Value,
    deadline: Option<Instant>,
) -> Result<Value, Diagnostic> {
    match parse_input(payload) {
        Err(e) => {
            let report = EventReport::failed(&e);
            log_report(&report);
            direct_answer(&report)
        }
        Ok(Input::Direct(parsed)) => {
            // Boxed: the pipeline's future is deep, and one heap allocation per event is nothing.
            let none = ReadAhead::new();
            let report = Box::pin(process(&app, parsed, Trigger::Direct, deadline, &none)).await;
            log_report(&report);
            direct_answer(&report)
        }
        Ok(Input::Delayed(records)) => {
            let answer = batch::answer(process_batch(app, records, deadline).await);
            to_json(&answer)
        }
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<Value, Diagnostic> {
    serde_json::to_value(value).map_err(|e| Diagnostic {
        error_type: "NonRetryable.Serialize".to_string(),
        error_message: e.to_string(),
    })
}

/// Only a failure that can succeed on retry is answered as a Lambda error (EventBridge's retry policy and
/// the DLQ keep the event). Any other outcome, a non-retryable failure included, is answered with its
/// report: delivering the same event again could not help, and the report is logged (and published).
fn direct_answer(report: &EventReport) -> Result<Value, Diagnostic> {
    match &report.outcome {
        Outcome::Failed {
            error,
            error_kind,
            retryable: true,
        } => Err(Diagnostic {
            error_type: error_type(*error_kind, true),
            error_message: error.clone(),
        }),
        _ => to_json(report),
    }
}

async fn process_batch(
    app: Arc<App>,
    records: Vec<DelayedRecord>,
    deadline: Option<Instant>,
) -> Vec<batch::RecordResult> {
    let ids: Vec<String> = records.iter().map(|r| r.message_id.clone()).collect();
    let launches: Vec<&LaunchEvent> = records
        .iter()
        .filter_map(|r| match &r.parsed {
            Ok(Parsed::Launch(launch)) => Some(launch),
            _ => None,
        })
        .collect();
    // The instances and groups the records name cost one read each for the batch, not one per record.
    let ahead = Arc::new(read_ahead(&app, &launches).await);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, record) in records.into_iter().enumerate() {
        let (app, ahead) = (app.clone(), ahead.clone());
        tasks.spawn(async move {
            let report = match record.parsed {
                Ok(parsed) => {
                    Box::pin(process(&app, parsed, Trigger::Delayed, deadline, &ahead)).await
                }
                Err(e) => EventReport::failed(&e),
            };
            log_report(&report);
            (index, report)
        });
    }
    let mut reports: Vec<Option<EventReport>> = ids.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, report)) => reports[index] = Some(report),
            Err(e) => tracing::error!(error = %e, "a record's task ended abnormally"),
        }
    }
    ids.into_iter().zip(reports).collect()
}

/// The invocation's deadline. Lambda always sets one in the future; an emulator that sends none, or one
/// already past when the invocation starts, gets no deadline (and a warning) rather than an instant timeout.
fn lambda_deadline(deadline_ms: u64) -> Option<Instant> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    match remaining(deadline_ms, now_ms) {
        Some(left) => Some(Instant::now() + left),
        None => {
            tracing::warn!(
                deadline_ms,
                now_ms,
                "the invocation has no usable deadline; running without one"
            );
            None
        }
    }
}

fn remaining(deadline_ms: u64, now_ms: u64) -> Option<Duration> {
    (deadline_ms > now_ms).then(|| Duration::from_millis(deadline_ms - now_ms))
}

fn log_report(report: &EventReport) {
    let json = serde_json::to_string(report).unwrap_or_default();
    let name = report.outcome.name();
    if report.is_failed() {
        tracing::error!(outcome = name, report = %json, "event failed");
    } else {
        tracing::info!(outcome = name, report = %json, "event done");
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    if let Some(doc) = metrics::emf(report, now_ms) {
        // EMF must be a log line of its own.
        println!("{doc}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_in_the_past_or_missing_is_no_deadline() {
        assert_eq!(remaining(0, 1_000), None);
        assert_eq!(remaining(900, 1_000), None);
        assert_eq!(remaining(4_000, 1_000), Some(Duration::from_secs(3)));
    }
}
