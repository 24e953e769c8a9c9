//! VPC reads shared by the containers of a burst, through the state table. A scale-out into one subnet
//! starts as many containers as the function may run, each with its own launch; without this, each would
//! make the same ~15 EC2 Describe calls at the same moment, and EC2's request bucket for the account (100
//! calls, refilled 20 per second, shared with everything else in the account) would throttle them all.
//!
//! One container takes a lease on the read (a conditional UpdateItem that keeps the last read stored) and
//! makes it; the others, finding the lease, wait and use what it stores. Shared while in flight only, as
//! within one container: an event that asks after a read is done reads afresh (`ledger::reads_step`), so none
//! sees the VPC as it was before something it could know about. The more EC2 throttles, the longer a read
//! takes and the more events share it. A store that fails, a read too large for an item, a lease held too
//! long: each container reads for itself, as it would without a state table. The write path never uses this:
//! it re-reads what it changes.

use std::time::Duration;

use tokio::time::Instant;

use crate::error::Result;
use crate::ledger::{self, ReadsStep, SharedReads};
use crate::snapshot::VpcReads;
use crate::state::{now_unix, StateStore, Until};

/// How long a container waits for another's read before making its own. The holder's lease
/// (`ledger::READS_LEASE_SECONDS`) expires first: a holder that died or is still reading after it gives
/// its lease to one waiter, which then reads. Reading beside a slow holder would only add to the
/// throttling that makes it slow (a bench of 500 launches measured 229 such extra reads with a 15 s wait).
const WAIT_AT_MOST: Duration = Duration::from_secs(45);
/// Between looks at a read in flight, first (a read takes about half a second unthrottled), then half as
/// long again each time up to the longest, each with up to 200 ms more so waiters spread out: every look
/// is a GetItem, and a throttled read can take many seconds.
const FIRST_LOOK: Duration = Duration::from_millis(300);
const LONGEST_LOOK: Duration = Duration::from_secs(2);
/// A stored read must fit in one DynamoDB item (400 KB, key and attributes included).
const LARGEST_STORED: usize = 350 * 1024;

/// A lease on the VPC reads of `key`, asked for ahead of the snapshot, beside the admission's reads, by an
/// event that will almost surely need them (a launch just reported: its node cannot have registered
/// yet). Asking then instead of at the snapshot takes the lease off the path: the VPC reads start as soon
/// as the snapshot does. A lease that ends up unused is given back (`give_back_unused`), so no container
/// of a burst waits for a read nobody makes.
#[derive(Debug)]
pub struct LeaseAhead {
    key: String,
    token: String,
    asked_ms: i64,
    /// What asking found: `None` when this event took the lease.
    found: Result<Option<SharedReads>>,
}

/// Asks for the lease on the VPC reads of `key` now (see [`LeaseAhead`]).
pub async fn lease_ahead(state: &StateStore, key: &str) -> LeaseAhead {
    let key = ledger::shared_reads_key(key);
    let (asked_ms, token) = new_token();
    let found = state.lease_reads(&key, &token).await;
    LeaseAhead {
        key,
        token,
        asked_ms,
        found,
    }
}

/// Gives back a lease asked for ahead that no read used (the node had registered, the event was skipped).
pub async fn give_back_unused(state: &StateStore, lease: LeaseAhead) {
    if matches!(lease.found, Ok(None)) {
        give_back(state, &lease.key, &lease.token).await;
    }
}

/// `(asked_ms, token)`: when this event asked, and the token that says its lease is its own.
fn new_token() -> (i64, String) {
    let asked_ms = ledger::now_ms();
    let token = format!("{}-{asked_ms}-{}", std::process::id(), jitter_ms());
    (asked_ms, token)
}

/// The VPC reads named by `key`: stored by another container of the burst, or made by `read` (and then
/// stored for the others). Without a state table, `read` alone. `ahead`: the lease this event asked for
/// ahead, if it did (for this `key`; one for another key is given back), and when a read made here may
/// be stored.
pub async fn across_containers<F, Fut>(
    state: Option<&StateStore>,
    key: &str,
    (ahead, store_after): (Option<LeaseAhead>, Until),
    read: F,
) -> Result<VpcReads>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<VpcReads>>,
{
    let Some(state) = state else {
        return read().await;
    };
    let key = ledger::shared_reads_key(key);
    let (asked_ms, token, mut found) = match ahead {
        Some(lease) if lease.key == key => (lease.asked_ms, lease.token, Some(lease.found)),
        other => {
            if let Some(lease) = other {
                give_back_unused(state, lease).await;
            }
            let (asked_ms, token) = new_token();
            (asked_ms, token, None)
        }
    };
    let give_up = Instant::now() + WAIT_AT_MOST;
    loop {
        let leased = match found.take() {
            Some(found) => found,
            None => state.lease_reads(&key, &token).await,
        };
        let waited = match leased {
            Ok(None) => {
                let lease = (key.as_str(), token.as_str());
                return read_and_store(state, lease, store_after, read).await;
            }
            Ok(Some(_)) => wait_for_read(state, &key, asked_ms, give_up).await,
            Err(e) => Err(e),
        };
        match waited {
            Ok(Waited::Done(reads)) => return Ok(*reads),
            // The lease is free again (its holder failed): take it.
            Ok(Waited::Free) => continue,
            Ok(Waited::TooLong) => {
                tracing::warn!(%key, "another container's VPC read took too long; reading here");
                return read().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the state table cannot share VPC reads; reading here");
                return read().await;
            }
        }
    }
}

enum Waited {
    Done(Box<VpcReads>),
    /// No read in flight any more, and none that serves this event.
    Free,
    TooLong,
}

/// Looks at the read in flight until it is stored, its lease is gone, or `give_up`.
async fn wait_for_read(
    state: &StateStore,
    key: &str,
    asked_ms: i64,
    give_up: Instant,
) -> Result<Waited> {
    let mut pause = FIRST_LOOK;
    loop {
        if Instant::now() >= give_up {
            return Ok(Waited::TooLong);
        }
        tokio::time::sleep(pause + Duration::from_millis(jitter_ms())).await;
        pause = (pause * 3 / 2).min(LONGEST_LOOK);
        let found = state.shared_reads(key).await?;
        match ledger::reads_step(found, asked_ms, now_unix()) {
            ReadsStep::Use(body) => {
                return Ok(match serde_json::from_str(&body) {
                    Ok(reads) => Waited::Done(reads),
                    Err(e) => {
                        // Another form than this version stores (a deployment in progress).
                        tracing::warn!(error = %e, "a stored VPC read could not be used");
                        Waited::TooLong
                    }
                });
            }
            ReadsStep::Wait => {}
            ReadsStep::Lease => return Ok(Waited::Free),
        }
    }
}

/// Makes the read and stores it for the containers waiting, once `store_after` is reached (they look
/// every few hundred milliseconds, and the event goes on with its own reads meanwhile); a failed read
/// gives the lease back.
async fn read_and_store<F, Fut>(
    state: &StateStore,
    (key, token): (&str, &str),
    store_after: Until,
    read: F,
) -> Result<VpcReads>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<VpcReads>>,
{
    let reads = match read().await {
        Ok(reads) => reads,
        Err(e) => {
            give_back(state, key, token).await;
            return Err(e);
        }
    };
    let done_ms = ledger::now_ms();
    match serde_json::to_string(&reads) {
        Ok(body) if body.len() <= LARGEST_STORED => {
            // Off this event's path, and after its diagnosis: the others get the read then.
            let (store, key, token) = (state.clone(), key.to_string(), token.to_string());
            let at = (reads.taken_at_ms, done_ms);
            state.write_off_path(store_after, async move {
                if let Err(e) = store.store_reads(&key, &token, at, body).await {
                    tracing::warn!(error = %e, "could not share the VPC read; the others read for themselves");
                }
            });
        }
        Ok(body) => {
            tracing::info!(
                bytes = body.len(),
                "VPC read too large to share; the others read for themselves"
            );
            give_back(state, key, token).await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not encode the VPC read to share it");
            give_back(state, key, token).await;
        }
    }
    Ok(reads)
}

async fn give_back(state: &StateStore, key: &str, token: &str) {
    if let Err(e) = state.drop_reads_lease(key, token).await {
        tracing::warn!(error = %e, "could not give the VPC read lease back; it expires");
    }
}

/// 0 to 200 ms, from the clock's low bits: spreads the waiters of a burst.
fn jitter_ms() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    u64::from(nanos % 201)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::snapshot::{EndpointType, Readable};

    #[test]
    fn a_stored_vpc_read_comes_back_exactly_as_it_was_read() {
        let mut s = fixture::dual_stack()
            .with_s3_gateway_endpoint()
            .with_interface_endpoints(&["ecr.api", "sts"])
            .with_nacl_entries(fixture::dual_stack_nacl_entries());
        s.taken_at_ms = 1_795_860_457_300;
        s.cluster_enis =
            Readable::NotRead("ec2:DescribeNetworkInterfaces: UnauthorizedOperation".into());
        s.vpc_endpoints.push(fixture::endpoint(
            "gwlb",
            EndpointType::Other("Future".into()),
            &[],
        ));
        let reads = fixture::vpc_reads(s);
        let body = serde_json::to_string(&reads).expect("encodes");
        let back: VpcReads = serde_json::from_str(&body).expect("decodes");
        assert_eq!(back, reads);
        assert!(body.len() < LARGEST_STORED);
    }
}
