//! EC2's request throttling, as the bench's proxy enforces it: token buckets per account and region, one
//! for the non-mutating actions (`Describe*`, `Get*`, `List*`, `Search*`: 100 tokens, refilled 20 per
//! second) and one for the mutating actions (50 tokens, refilled 5 per second). A call that finds its
//! bucket empty is answered `RequestLimitExceeded` (HTTP 503), as EC2 answers it. Other services' limits
//! are not modelled.

use std::collections::HashMap;
use std::time::Instant;

/// Size and refill rate of a bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketSpec {
    pub capacity: f64,
    pub refill_per_second: f64,
}

/// EC2's bucket for non-mutating actions.
pub const NON_MUTATING: BucketSpec = BucketSpec {
    capacity: 100.0,
    refill_per_second: 20.0,
};

/// EC2's bucket for mutating actions.
pub const MUTATING: BucketSpec = BucketSpec {
    capacity: 50.0,
    refill_per_second: 5.0,
};

/// Which bucket an EC2 action draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionClass {
    NonMutating,
    Mutating,
}

impl ActionClass {
    pub fn of(action: &str) -> ActionClass {
        let reads = ["Describe", "Get", "List", "Search"];
        if reads.iter().any(|p| action.starts_with(p)) {
            ActionClass::NonMutating
        } else {
            ActionClass::Mutating
        }
    }

    pub fn spec(self) -> BucketSpec {
        match self {
            ActionClass::NonMutating => NON_MUTATING,
            ActionClass::Mutating => MUTATING,
        }
    }
}

/// A token bucket; time is passed in, so the arithmetic is testable.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    spec: BucketSpec,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(spec: BucketSpec, now: Instant) -> TokenBucket {
        TokenBucket {
            spec,
            tokens: spec.capacity,
            updated: now,
        }
    }

    /// Takes one token if there is one (after refilling for the time since the last call).
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.spec.refill_per_second).min(self.spec.capacity);
        self.updated = now.max(self.updated);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Every bucket the proxy has seen, keyed by (account, region, class). The bench identifies an account by
/// the access key id that signed the call: each bench world runs under one assumed role.
#[derive(Debug, Default)]
pub struct Buckets {
    buckets: HashMap<(String, String, ActionClass), TokenBucket>,
}

impl Buckets {
    /// Whether an EC2 call of `action` from `account` in `region` is admitted at `now`.
    pub fn admit(&mut self, account: &str, region: &str, action: &str, now: Instant) -> bool {
        let class = ActionClass::of(action);
        self.buckets
            .entry((account.to_owned(), region.to_owned(), class))
            .or_insert_with(|| TokenBucket::new(class.spec(), now))
            .try_take(now)
    }
}

/// EC2's answer to a throttled call: the query API's XML error document (sent with HTTP 503).
pub fn request_limit_exceeded(request_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code>\
         <Message>Request limit exceeded.</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_full_describe_bucket_admits_one_hundred_calls_then_throttles() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(NON_MUTATING, t0);
        let admitted = (0..150).filter(|_| bucket.try_take(t0)).count();
        assert_eq!(admitted, 100);
        assert!(!bucket.try_take(t0));
    }

    #[test]
    fn an_empty_bucket_refills_at_its_rate_and_never_beyond_its_capacity() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(NON_MUTATING, t0);
        while bucket.try_take(t0) {}
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!((0..50).filter(|_| bucket.try_take(t1)).count(), 20);
        let much_later = t1 + Duration::from_secs(3600);
        assert_eq!(
            (0..500).filter(|_| bucket.try_take(much_later)).count(),
            100
        );
    }

    #[test]
    fn mutating_calls_have_a_bucket_of_fifty_refilled_five_per_second() {
        let t0 = Instant::now();
        let mut buckets = Buckets::default();
        let creates = (0..60)
            .filter(|_| buckets.admit("AKID", "us-west-2", "CreateRoute", t0))
            .count();
        assert_eq!(creates, 50);
        // The describe bucket is separate and still full.
        assert!(buckets.admit("AKID", "us-west-2", "DescribeRouteTables", t0));
        let t2 = t0 + Duration::from_secs(2);
        let later = (0..60)
            .filter(|_| buckets.admit("AKID", "us-west-2", "TerminateInstances", t2))
            .count();
        assert_eq!(later, 10);
    }

    #[test]
    fn accounts_and_regions_are_throttled_apart() {
        let t0 = Instant::now();
        let mut buckets = Buckets::default();
        for _ in 0..100 {
            assert!(buckets.admit("A", "us-west-2", "DescribeSubnets", t0));
        }
        assert!(!buckets.admit("A", "us-west-2", "DescribeSubnets", t0));
        assert!(buckets.admit("B", "us-west-2", "DescribeSubnets", t0));
        assert!(buckets.admit("A", "eu-west-1", "DescribeSubnets", t0));
    }

    #[test]
    fn reads_are_non_mutating_and_everything_else_mutating() {
        for read in [
            "DescribeInstances",
            "GetConsoleOutput",
            "ListImagesInRecycleBin",
        ] {
            assert_eq!(ActionClass::of(read), ActionClass::NonMutating, "{read}");
        }
        for write in ["CreateRoute", "ReplaceRoute", "TerminateInstances"] {
            assert_eq!(ActionClass::of(write), ActionClass::Mutating, "{write}");
        }
    }

    #[test]
    fn the_throttling_answer_is_ec2s_query_error_document() {
        let body = request_limit_exceeded("req-1");
        assert!(body.contains("<Errors><Error><Code>RequestLimitExceeded</Code>"));
        assert!(body.contains("<RequestID>req-1</RequestID>"));
    }
}
