//! How many AWS calls ran one after the other: the longest chain of sequential round trips.

use std::time::Instant;

/// One call as the counting proxy saw it: when it was received, when it was answered, and which
/// operation it was (`ec2:DescribeInstances`).
#[derive(Debug, Clone)]
pub struct Span {
    pub start: Instant,
    pub end: Instant,
    pub op: String,
    pub connection: Connection,
    /// How long its connection's TLS handshake took, for the first call on a connection.
    pub handshake: Option<std::time::Duration>,
}

/// How a call reached the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// On a connection opened for it: its span starts when the client connected.
    New,
    /// First on its connection, but long after the handshake: the connection was opened for a call
    /// that went on another and waited idle in the client's pool. Its span starts when it arrived.
    Idle,
    /// On a kept-alive connection, after the call before it was answered. An HTTP client whose new
    /// connection is slower to come up than another call's answer sends on the connection that answer
    /// frees: a call issued beside another then shows as following it.
    Reused,
}

impl Connection {
    fn name(self) -> &'static str {
        match self {
            Connection::New => "new",
            Connection::Idle => "idle",
            Connection::Reused => "reused",
        }
    }
}

/// The length of the longest chain (`chain`).
pub fn longest_chain(spans: &[Span]) -> usize {
    chain(spans).len()
}

/// The longest chain of calls each of which started after the previous one was answered, first call
/// first: the sequential round trips, measured from the calls' own times (two overlapping calls ran
/// concurrently and count once).
pub fn chain(spans: &[Span]) -> Vec<&Span> {
    let mut by_end: Vec<&Span> = spans.iter().collect();
    by_end.sort_by_key(|s| s.end);
    // For each call: the length of the longest chain it ends, and the call before it in that chain
    // (of equals, the one answered last).
    let mut best: Vec<(usize, Option<usize>)> = Vec::with_capacity(by_end.len());
    for i in 0..by_end.len() {
        let before = (0..i)
            .filter(|&j| by_end[j].end <= by_end[i].start)
            .max_by_key(|&j| best[j].0);
        best.push((before.map_or(0, |j| best[j].0) + 1, before));
    }
    let mut at = (0..best.len()).max_by_key(|&i| best[i].0);
    let mut out = Vec::new();
    while let Some(i) = at {
        out.push(by_end[i]);
        at = best[i].1;
    }
    out.reverse();
    out
}

/// The calls that report an event: its claim (exactly once) and its publish.
const REPORT_OPS: [&str; 2] = ["dynamodb:TransactWriteItems", "sns:Publish"];

/// The calls an event made before its report: those answered before the first of its claim or its
/// publish started (all of them when it reported nothing). A call still in flight when the report
/// started ran beside the report's first call, in the same round trip: the report did not wait for it.
pub fn before_report(spans: &[Span]) -> Vec<Span> {
    let report = spans
        .iter()
        .filter(|s| REPORT_OPS.contains(&s.op.as_str()))
        .map(|s| s.start)
        .min();
    spans
        .iter()
        .filter(|s| report.is_none_or(|at| s.end <= at))
        .cloned()
        .collect()
}

/// Every call as `[operation, started, answered, connection, handshake]`, in milliseconds after the
/// first call started, in the order they started, `connection` being `new`, `idle` or `reused`
/// ([`Connection`]) and `handshake` how long the TLS handshake of a new or idle connection took: what
/// the chain was measured from, for a human to check it against.
pub fn timeline(spans: &[Span]) -> serde_json::Value {
    let Some(t0) = spans.iter().map(|s| s.start).min() else {
        return serde_json::Value::Array(Vec::new());
    };
    let ms = |t: Instant| (t - t0).as_secs_f64() * 1000.0;
    let mut sorted: Vec<&Span> = spans.iter().collect();
    sorted.sort_by_key(|s| s.start);
    sorted
        .iter()
        .map(|s| {
            let connection = s.connection.name();
            let handshake = s.handshake.map(|d| round(d.as_secs_f64() * 1000.0));
            let (start, end) = (round(ms(s.start)), round(ms(s.end)));
            serde_json::json!([s.op, start, end, connection, handshake])
        })
        .collect()
}

fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

/// `a → b → c`: the chain's operations, for a human.
pub fn describe(chain: &[&Span]) -> String {
    chain
        .iter()
        .map(|s| s.op.as_str())
        .collect::<Vec<_>>()
        .join(" → ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    fn span(t0: Instant, (from, to): (u64, u64), op: &str) -> Span {
        Span {
            start: at(t0, from),
            end: at(t0, to),
            op: op.to_string(),
            connection: Connection::Reused,
            handshake: None,
        }
    }

    #[test]
    fn calls_that_waited_for_each_other_count_once_each() {
        let t0 = Instant::now();
        // group || instance, then cluster, then (nodegroup || five reads), then publish.
        let spans = [
            span(t0, (0, 10), "group"),
            span(t0, (1, 9), "instance"),
            span(t0, (11, 20), "cluster"),
            span(t0, (21, 30), "nodegroup"),
            span(t0, (21, 35), "routes"),
            span(t0, (22, 28), "subnets"),
            span(t0, (36, 40), "publish"),
        ];
        assert_eq!(longest_chain(&spans), 4);
        // Of two calls that end a chain equally long, the one answered last: the one the next call
        // waited for.
        assert_eq!(
            describe(&chain(&spans)),
            "group → cluster → routes → publish"
        );
    }

    #[test]
    fn the_chain_before_the_report_stops_at_its_claim_or_its_publish() {
        let t0 = Instant::now();
        let spans = [
            span(t0, (0, 10), "autoscaling:DescribeAutoScalingGroups"),
            span(t0, (11, 20), "eks:DescribeCluster"),
            span(t0, (11, 19), "dynamodb:UpdateItem"),
            span(t0, (21, 30), "ec2:DescribeRouteTables"),
            span(t0, (31, 35), "dynamodb:TransactWriteItems"),
            span(t0, (36, 40), "sns:Publish"),
        ];
        assert_eq!(longest_chain(&spans), 5);
        assert_eq!(longest_chain(&before_report(&spans)), 3);
        let unreported = &spans[..4];
        assert_eq!(before_report(unreported).len(), 4);
    }

    #[test]
    fn a_call_still_in_flight_when_the_report_starts_is_not_before_it() {
        let t0 = Instant::now();
        let spans = [
            span(t0, (0, 10), "ec2:DescribeInstances"),
            span(t0, (11, 20), "ec2:DescribeRouteTables"),
            span(t0, (21, 27), "dynamodb:UpdateItem"),
            span(t0, (22, 30), "dynamodb:TransactWriteItems"),
            span(t0, (31, 35), "sns:Publish"),
        ];
        let before = before_report(&spans);
        assert_eq!(longest_chain(&before), 2, "{}", describe(&chain(&before)));
        // Answered before the report started, it is a round trip before the report.
        let answered = [
            spans[0].clone(),
            spans[1].clone(),
            span(t0, (21, 22), "x"),
            spans[3].clone(),
        ];
        assert_eq!(longest_chain(&before_report(&answered)), 3);
    }

    #[test]
    fn overlapping_calls_are_one_round_trip_and_no_calls_are_none() {
        let t0 = Instant::now();
        assert_eq!(
            longest_chain(&[span(t0, (0, 5), "a"), span(t0, (1, 6), "b")]),
            1
        );
        assert_eq!(longest_chain(&[]), 0);
    }

    #[test]
    fn the_timeline_lists_calls_in_the_order_they_started_from_the_first() {
        let t0 = Instant::now();
        let mut first = span(t0, (5, 6), "a");
        first.connection = Connection::New;
        first.handshake = Some(Duration::from_micros(2_345));
        let mut idle = span(t0, (8, 10), "c");
        idle.connection = Connection::Idle;
        idle.handshake = Some(Duration::from_millis(3));
        let spans = [span(t0, (7, 9), "b"), first, idle];
        assert_eq!(
            timeline(&spans),
            serde_json::json!([
                ["a", 0.0, 1.0, "new", 2.3],
                ["b", 2.0, 4.0, "reused", null],
                ["c", 3.0, 5.0, "idle", 3.0]
            ])
        );
        assert_eq!(timeline(&[]), serde_json::json!([]));
    }

    #[test]
    fn a_call_started_the_instant_another_was_answered_follows_it() {
        let t0 = Instant::now();
        let spans = [span(t0, (0, 5), "a"), span(t0, (5, 9), "b")];
        assert_eq!(longest_chain(&spans), 2);
        assert_eq!(describe(&chain(&spans)), "a → b");
    }
}
