//! Counts the AWS calls a client makes, per `service:Operation`, as the AWS overlay forwards them: how a
//! test measures what an event costs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The calls seen so far; cheap to clone, shared with the overlay.
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    calls: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl CallLog {
    pub(crate) fn record(&self, operation: String) {
        let mut calls = match self.calls.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *calls.entry(operation).or_default() += 1;
    }

    /// The calls counted since the last `take`, per `service:Operation`; the count starts again.
    pub fn take(&self) -> BTreeMap<String, usize> {
        let mut calls = match self.calls.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        std::mem::take(&mut *calls)
    }
}

/// `service:Operation` of a request, named as `make bench` names it ([`crate::bench::operation`]): the
/// query protocol's `Action`, the JSON protocol's `X-Amz-Target`, else (REST) the method and the path's
/// shape (`eks:GET /clusters/{}/node-groups/{}`). `head` holds the request line and headers.
pub(crate) fn operation(
    service: &str,
    head: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> String {
    let target = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("x-amz-target")
            .then(|| v.trim().to_owned())
    });
    crate::bench::operation::operation(service, target.as_deref(), method, path, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_named_by_each_protocol() {
        let query = operation(
            "ec2",
            "",
            "POST",
            "/",
            b"Action=DescribeInstances&Version=2016-11-15",
        );
        assert_eq!(query, "ec2:DescribeInstances");
        let json = operation(
            "dynamodb",
            "POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\n",
            "POST",
            "/",
            b"{}",
        );
        assert_eq!(json, "dynamodb:PutItem");
        let rest = operation("eks", "", "GET", "/clusters/eks-workshop", b"");
        assert_eq!(rest, "eks:GET /clusters/{}");
        let nodegroup = operation(
            "eks",
            "",
            "GET",
            "/clusters/eks-workshop/node-groups/ng?x=1",
            b"",
        );
        assert_eq!(nodegroup, "eks:GET /clusters/{}/node-groups/{}");
    }
}
