//! The durable state every invocation shares, in a small DynamoDB table the template creates
//! (pay-per-request, items expire through TTL): exactly-once claims, the loop breaker's counts and the
//! routes this function wrote. Conditional writes make each of them safe under concurrency.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;
use tokio::time::Instant;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::aws_error::aws;
use crate::error::{Error, Result};
use crate::ledger::{self, Admit, PairClaim, RescaleRecord, RouteRecord, SharedReads};

/// Attribute names of the table's items.
const KEY: &str = "pk";
const EXPIRES: &str = "expires_at";
const TIMES: &str = "times";
const VERSION: &str = "version";
const NAT: &str = "nat_gateway_id";
const AT: &str = "at";
const AT_MS: &str = "at_ms";
const DESIRED: &str = "desired";
const MIN: &str = "min";
const BODY: &str = "body";
const TOKEN: &str = "token";
const DONE_MS: &str = "done_ms";
const LEASE_UNTIL: &str = "lease_until";
/// Optimistic-concurrency retries of the loop breaker's counter.
const CAS_ATTEMPTS: usize = 5;

/// A claim is taken where no claim is, or where the last one has expired.
const CLAIM_CONDITION: &str = "attribute_not_exists(#k) OR #e < :now";

struct ClaimParts {
    item: HashMap<String, AttributeValue>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

#[derive(Clone)]
pub struct StateStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// Put before every key: the events of another account or Region keep their own (`scope`).
    prefix: String,
    /// The writes started off an event's path (`write_off_path`), shared by every scoped copy.
    off_path: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// Kept by an event while a write it started off its path ([`StateStore::write_off_path`]) must not
/// start yet: the write waits until the event lets go of it ([`Hold::let_go`]) or drops it (the event
/// ended, whichever way). An event holds the store of the VPC read it made until it has its diagnosis:
/// the write never competes with the event's own reads, and it always goes out beside the report's
/// claim, so a container's first event opens the two DynamoDB connections every later event uses and a
/// warm container opens no more of them. Started as soon as the reads ended, the store was sometimes answered before
/// the claim and sometimes not (one connection in 8 of 20 cold starts, measured), and the first warm event
/// after a container's one-connection start opened the second.
#[derive(Debug)]
pub struct Hold(tokio::sync::oneshot::Sender<()>);

/// What a write held back by a [`Hold`] waits for.
#[derive(Debug)]
pub struct Until(tokio::sync::oneshot::Receiver<()>);

/// A new hold, and what a write waits for under it.
pub fn hold() -> (Hold, Until) {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    (Hold(sender), Until(receiver))
}

impl Hold {
    /// Lets the held writes start.
    pub fn let_go(self) {
        // A write that is gone (it was never started) has nothing to wait for.
        let _ = self.0.send(());
    }
}

impl Until {
    /// Let go of, or dropped: either way the write may start.
    async fn reached(self) {
        let _ = self.0.await;
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn conflict<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

impl StateStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: String) -> StateStore {
        StateStore {
            client,
            table,
            prefix: String::new(),
            off_path: Arc::default(),
        }
    }

    /// The same table, every key under `prefix`.
    pub fn scoped(&self, prefix: &str) -> StateStore {
        StateStore {
            client: self.client.clone(),
            table: self.table.clone(),
            prefix: prefix.to_string(),
            off_path: self.off_path.clone(),
        }
    }

    /// Starts `write` beside the event that asks for it, which goes on without waiting, once `until`
    /// is reached (its [`Hold`] let go or dropped); the invocation waits for it before it answers
    /// (`settle`). Lambda freezes a container once its invocation has answered, so a write still in
    /// flight then would be left until the container thaws, if it ever does.
    pub fn write_off_path(&self, until: Until, write: impl Future<Output = ()> + Send + 'static) {
        let task = tokio::spawn(async move {
            until.reached().await;
            write.await
        });
        match self.off_path.lock() {
            Ok(mut pending) => pending.push(task),
            Err(_) => tracing::warn!("a write off the event's path is not tracked; it runs on"),
        }
    }

    /// Waits for the writes started off the events' paths, until `deadline`: how many of them ended.
    /// A write whose [`Hold`] is still kept waits for it, so the invocation settles once its events
    /// have ended.
    pub async fn settle(&self, deadline: Option<Instant>) -> usize {
        let pending = match self.off_path.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => Vec::new(),
        };
        let mut ended = 0;
        for task in pending {
            let waited = match deadline {
                Some(at) => tokio::time::timeout_at(at, task).await.ok(),
                None => Some(task.await),
            };
            match waited {
                Some(Ok(())) => ended += 1,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "a write off the event's path ended abnormally")
                }
                None => {
                    tracing::warn!("a write off the event's path was still running at the deadline")
                }
            }
        }
        ended
    }

    fn key(&self, key: &str) -> AttributeValue {
        s(&format!("{}{key}", self.prefix))
    }

    /// Claims `key` for `ttl` seconds: `true` for the first caller, `false` for every later one.
    pub async fn claim(&self, key: &str, now: i64, ttl: i64) -> Result<bool> {
        let claim = self.claim_parts(key, now, ttl);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(claim.item))
            .condition_expression(CLAIM_CONDITION)
            .set_expression_attribute_names(Some(claim.names))
            .set_expression_attribute_values(Some(claim.values))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(conflict) => Ok(false),
            Err(e) => Err(aws("dynamodb:PutItem")(e)),
        }
    }

    /// Claims two keys for their own number of seconds in one transaction: both or neither. One round
    /// trip instead of two for a report's instance and incident claims.
    pub async fn claim_pair(
        &self,
        (first, first_ttl): (&str, i64),
        (second, second_ttl): (&str, i64),
        now: i64,
    ) -> Result<PairClaim> {
        let items = [
            self.claim_put(first, now, first_ttl)?,
            self.claim_put(second, now, second_ttl)?,
        ];
        let written = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items.into()))
            .send()
            .await;
        match written {
            Ok(_) => Ok(PairClaim::Both),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    let reasons: Vec<Option<&str>> =
                        c.cancellation_reasons().iter().map(|r| r.code()).collect();
                    Ok(ledger::pair_claim(&reasons))
                }
                _ => Err(aws("dynamodb:TransactWriteItems")(e)),
            },
        }
    }

    /// One conditional put of a transaction: `key` claimed until `now + ttl`, unless a live claim has it.
    fn claim_put(&self, key: &str, now: i64, ttl: i64) -> Result<TransactWriteItem> {
        let claim = self.claim_parts(key, now, ttl);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(claim.item))
            .condition_expression(CLAIM_CONDITION)
            .set_expression_attribute_names(Some(claim.names))
            .set_expression_attribute_values(Some(claim.values))
            .build()
            .map_err(|e| Error::Inconsistent(format!("a claim could not be built: {e}")))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The item of a claim of `key` until `now + ttl`, and the names and values of `CLAIM_CONDITION`.
    fn claim_parts(&self, key: &str, now: i64, ttl: i64) -> ClaimParts {
        ClaimParts {
            item: HashMap::from([
                (KEY.to_string(), self.key(key)),
                (AT.to_string(), n(now)),
                (EXPIRES.to_string(), n(now + ttl)),
            ]),
            names: HashMap::from([
                ("#k".to_string(), KEY.to_string()),
                ("#e".to_string(), EXPIRES.to_string()),
            ]),
            values: HashMap::from([(":now".to_string(), n(now))]),
        }
    }

    /// Gives a claim back (its effect did not happen, so a retry may try again).
    pub async fn release(&self, key: &str) -> Result<()> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(KEY, self.key(key));
        delete.send().await.map_err(aws("dynamodb:DeleteItem"))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<HashMap<String, AttributeValue>>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, self.key(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(aws("dynamodb:GetItem"))?;
        Ok(out.item().cloned())
    }

    /// Counts one more remediation for the group behind `key`, unless the loop breaker trips.
    pub async fn admit(&self, key: &str, now: i64, max: u32) -> Result<Admit> {
        for _ in 0..CAS_ATTEMPTS {
            let item = self.get(key).await?.unwrap_or_default();
            let version = number(&item, VERSION).unwrap_or(0);
            let times: Vec<i64> = item
                .get(TIMES)
                .and_then(|v| v.as_s().ok())
                .map(|t| t.split(',').filter_map(|x| x.parse().ok()).collect())
                .unwrap_or_default();
            match ledger::admit(&times, now, max) {
                Admit::Go { times } => {
                    if self.store_times(key, &times, version, now).await? {
                        return Ok(Admit::Go { times });
                    }
                }
                tripped => return Ok(tripped),
            }
        }
        Err(Error::Inconsistent(format!(
            "the loop breaker's counter {key} changed under {CAS_ATTEMPTS} attempts in a row"
        )))
    }

    /// Compare-and-set of the breaker's window: `false` when another invocation wrote first.
    async fn store_times(&self, key: &str, times: &[i64], version: i64, now: i64) -> Result<bool> {
        let text: Vec<String> = times.iter().map(i64::to_string).collect();
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY, self.key(key))
            .item(TIMES, s(&text.join(",")))
            .item(VERSION, n(version + 1))
            .item(EXPIRES, n(now + ledger::WINDOW_SECONDS))
            .condition_expression("attribute_not_exists(#k) OR #v = :v")
            .expression_attribute_names("#k", KEY)
            .expression_attribute_names("#v", VERSION)
            .expression_attribute_values(":v", n(version))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(conflict) => Ok(false),
            Err(e) => Err(aws("dynamodb:PutItem")(e)),
        }
    }

    /// The route this function last wrote into a table, if it remembers one.
    pub async fn route(&self, route_table_id: &str) -> Result<Option<RouteRecord>> {
        let Some(item) = self.get(&ledger::route_key(route_table_id)).await? else {
            return Ok(None);
        };
        let live = number(&item, EXPIRES).is_none_or(|e| e > now_unix());
        let nat = item.get(NAT).and_then(|v| v.as_s().ok()).cloned();
        Ok(match (live, nat, number(&item, AT)) {
            (true, Some(nat_gateway_id), Some(at)) => Some(RouteRecord {
                route_table_id: route_table_id.to_string(),
                nat_gateway_id,
                at,
                at_ms: number(&item, AT_MS).unwrap_or(at.saturating_mul(1000)),
            }),
            _ => None,
        })
    }

    /// Remembers a route this function wrote.
    pub async fn remember_route(&self, record: &RouteRecord) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(KEY, self.key(&ledger::route_key(&record.route_table_id)))
            .item(NAT, s(&record.nat_gateway_id))
            .item(AT, n(record.at))
            .item(AT_MS, n(record.at_ms))
            .item(EXPIRES, n(record.at + ledger::ROUTE_MEMORY_SECONDS))
            .send()
            .await
            .map_err(aws("dynamodb:PutItem"))?;
        Ok(())
    }
}

impl StateStore {
    /// Records the sizes a rescale must restore, unless a rescale is already recorded: then that one is
    /// returned (it must be finished before another starts).
    pub async fn begin_rescale(
        &self,
        key: &str,
        record: RescaleRecord,
    ) -> Result<Option<RescaleRecord>> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY, self.key(key))
            .item(DESIRED, n(i64::from(record.desired)))
            .item(MIN, n(i64::from(record.min)))
            .item(AT, n(record.started_at))
            .item(EXPIRES, n(record.started_at + ledger::CLAIM_SECONDS))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", KEY)
            .send()
            .await;
        match put {
            Ok(_) => Ok(None),
            Err(e) if e.as_service_error().is_some_and(conflict) => self.rescale(key).await,
            Err(e) => Err(aws("dynamodb:PutItem")(e)),
        }
    }

    /// The rescale recorded for a nodegroup, if one is.
    pub async fn rescale(&self, key: &str) -> Result<Option<RescaleRecord>> {
        let Some(item) = self.get(key).await? else {
            return Ok(None);
        };
        let size = |name| number(&item, name).and_then(|v| i32::try_from(v).ok());
        Ok(match (size(DESIRED), size(MIN), number(&item, AT)) {
            (Some(desired), Some(min), Some(started_at)) => Some(RescaleRecord {
                desired,
                min,
                started_at,
            }),
            _ => None,
        })
    }

    /// The rescale is finished: forget it.
    pub async fn end_rescale(&self, key: &str) -> Result<()> {
        self.release(key).await
    }
}

/// VPC reads shared by the containers of a burst (`gather::shared`): one item per read, holding the last
/// read stored (`body`, `done_ms`) and the lease of the container reading now (`token`, `lease_until`).
impl StateStore {
    /// Takes the lease on the read `key`, unless another container's lease is live: `None` when taken,
    /// else what is there. A stored read is kept (it serves the events that asked before it was done).
    pub async fn lease_reads(&self, key: &str, token: &str) -> Result<Option<SharedReads>> {
        let now = now_unix();
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, self.key(key))
            .update_expression("SET #t = :t, #l = :l, #e = :e")
            .condition_expression("attribute_not_exists(#l) OR #l < :now")
            .expression_attribute_names("#t", TOKEN)
            .expression_attribute_names("#l", LEASE_UNTIL)
            .expression_attribute_names("#e", EXPIRES)
            .expression_attribute_values(":t", s(token))
            .expression_attribute_values(":l", n(now + ledger::READS_LEASE_SECONDS))
            .expression_attribute_values(":e", n(now + ledger::READS_KEPT_SECONDS))
            .expression_attribute_values(":now", n(now))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match update {
            Ok(_) => Ok(None),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    Ok(Some(match c.item() {
                        Some(item) => shared_reads(item),
                        // A store that does not return the item: read it.
                        None => self.shared_reads(key).await?,
                    }))
                }
                _ => Err(aws("dynamodb:UpdateItem")(e)),
            },
        }
    }

    /// What is stored for the read `key`.
    pub async fn shared_reads(&self, key: &str) -> Result<SharedReads> {
        Ok(match self.get(key).await? {
            Some(item) => shared_reads(&item),
            None => SharedReads::default(),
        })
    }

    /// Stores a read (started at `at_ms`, done at `done_ms`) for the containers that asked while it was
    /// made, and ends the lease `token` holds (a lease another container took over is left to it).
    pub async fn store_reads(
        &self,
        key: &str,
        token: &str,
        (at_ms, done_ms): (i64, i64),
        body: String,
    ) -> Result<()> {
        let now = now_unix();
        let store = |ends_lease: bool| {
            let update = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(KEY, self.key(key))
                .expression_attribute_names("#b", BODY)
                .expression_attribute_names("#m", AT_MS)
                .expression_attribute_names("#d", DONE_MS)
                .expression_attribute_names("#e", EXPIRES)
                .expression_attribute_values(":b", AttributeValue::S(body.clone()))
                .expression_attribute_values(":m", n(at_ms))
                .expression_attribute_values(":d", n(done_ms))
                .expression_attribute_values(":e", n(now + ledger::READS_KEPT_SECONDS));
            let set = "SET #b = :b, #m = :m, #d = :d, #e = :e";
            match ends_lease {
                true => update
                    .update_expression(format!("{set} REMOVE #l"))
                    .condition_expression("#t = :t")
                    .expression_attribute_names("#l", LEASE_UNTIL)
                    .expression_attribute_names("#t", TOKEN)
                    .expression_attribute_values(":t", s(token)),
                false => update.update_expression(set),
            }
            .send()
        };
        match store(true).await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(conflict) => {
                store(false).await.map_err(aws("dynamodb:UpdateItem"))?;
                Ok(())
            }
            Err(e) => Err(aws("dynamodb:UpdateItem")(e)),
        }
    }

    /// Gives up the lease `token` holds on the read `key` (the read failed): the next container reads.
    pub async fn drop_reads_lease(&self, key: &str, token: &str) -> Result<()> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, self.key(key))
            .update_expression("REMOVE #l")
            .condition_expression("#t = :t")
            .expression_attribute_names("#l", LEASE_UNTIL)
            .expression_attribute_names("#t", TOKEN)
            .expression_attribute_values(":t", s(token))
            .send()
            .await;
        match update {
            Ok(_) => Ok(()),
            // Not ours any more: it expired and another container took it.
            Err(e) if e.as_service_error().is_some_and(conflict) => Ok(()),
            Err(e) => Err(aws("dynamodb:UpdateItem")(e)),
        }
    }
}

fn shared_reads(item: &HashMap<String, AttributeValue>) -> SharedReads {
    let body = item.get(BODY).and_then(|v| v.as_s().ok());
    SharedReads {
        stored: body.zip(number(item, DONE_MS)).map(|(b, d)| (d, b.clone())),
        lease_until: number(item, LEASE_UNTIL),
    }
}

pub fn now_unix() -> i64 {
    aws_smithy_types::DateTime::from(std::time::SystemTime::now()).secs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox::fault::FaultServer;

    const CANCELLED: &str = "com.amazonaws.dynamodb.v20120810#TransactionCanceledException";

    fn cancelled(reasons: &[&str]) -> String {
        let reasons: Vec<String> = reasons
            .iter()
            .map(|code| format!(r#"{{"Code":"{code}"}}"#))
            .collect();
        format!(
            r#"{{"__type":"{CANCELLED}","message":"Transaction cancelled","CancellationReasons":[{}]}}"#,
            reasons.join(",")
        )
    }

    async fn store_against(server: &FaultServer) -> StateStore {
        store_at(&server.endpoint)
    }

    fn store_at(endpoint: &str) -> StateStore {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .http_client(sandbox::moto::http_client())
            .region(aws_config::Region::new("us-west-2"))
            .endpoint_url(endpoint)
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new("AKID", "secret", None, None, "test"),
                ),
            )
            .build();
        StateStore::new(aws_sdk_dynamodb::Client::new(&sdk), "state".into())
    }

    /// A store whose table answers every UpdateItem with success, and the server that counts them.
    async fn store_that_stores() -> (FaultServer, StateStore) {
        let server = FaultServer::json_by_target(&[("UpdateItem", 200, "{}")])
            .await
            .expect("fault server");
        let store = store_against(&server).await;
        (server, store)
    }

    /// A shared VPC read's store, started off the event's path by a scoped copy of the store.
    fn store_off_path(store: &StateStore) {
        let (hold, until) = hold();
        hold.let_go();
        store_off_path_until(store, until);
    }

    fn store_off_path_until(store: &StateStore, until: Until) {
        let scoped = store.scoped("member/");
        let writer = scoped.clone();
        scoped.write_off_path(until, async move {
            let stored = writer
                .store_reads("reads#vpc-1", "t", (1, 2), "{}".into())
                .await;
            assert!(stored.is_ok(), "{stored:?}");
        });
    }

    #[tokio::test]
    async fn a_write_started_off_an_events_path_has_ended_when_the_invocation_settles() {
        let (server, store) = store_that_stores().await;
        store_off_path(&store);
        assert_eq!(store.settle(None).await, 1, "the write was waited for");
        assert_eq!(server.hits_for("UpdateItem"), 1, "and made");
        assert_eq!(store.settle(None).await, 0, "and is not waited for again");
    }

    #[tokio::test]
    async fn a_held_write_starts_only_once_its_event_lets_go_or_ends() {
        let (server, store) = store_that_stores().await;
        let (kept, until) = hold();
        store_off_path_until(&store, until);
        let (dropped, until) = hold();
        store_off_path_until(&store, until);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(server.hits_for("UpdateItem"), 0, "both held back");
        kept.let_go();
        drop(dropped);
        assert_eq!(store.settle(None).await, 2, "both ran once let go");
        assert_eq!(server.hits_for("UpdateItem"), 2);
    }

    #[tokio::test]
    async fn settling_stops_waiting_for_a_write_at_the_deadline() {
        let server = sandbox::fault::HangServer::start()
            .await
            .expect("hang server");
        let store = store_at(&server.endpoint);
        store_off_path(&store);
        let deadline = Instant::now() + std::time::Duration::from_millis(300);
        assert_eq!(store.settle(Some(deadline)).await, 0, "nothing ended");
        assert!(Instant::now() < deadline + std::time::Duration::from_secs(1));
        assert!(server.connections() >= 1, "the write was under way");
    }

    async fn pair_claim_answered(body: &str) -> Result<PairClaim> {
        let server = FaultServer::json_by_target(&[("TransactWriteItems", 400, body)])
            .await
            .expect("fault server");
        let store = store_against(&server).await;
        let claim = store
            .claim_pair(("notify#i-1", 60), ("incident#c#s", 60), 1_000)
            .await;
        assert_eq!(server.hits_for("TransactWriteItems"), 1, "one transaction");
        claim
    }

    #[tokio::test]
    async fn a_cancelled_claim_transaction_is_read_from_the_reasons_dynamodb_gives() {
        let taken = pair_claim_answered(&cancelled(&["ConditionalCheckFailed", "None"])).await;
        assert_eq!(taken.ok(), Some(PairClaim::FirstTaken));
        let incident = pair_claim_answered(&cancelled(&["None", "ConditionalCheckFailed"])).await;
        assert_eq!(incident.ok(), Some(PairClaim::SecondTaken));
        let conflict = pair_claim_answered(&cancelled(&["None", "TransactionConflict"])).await;
        assert_eq!(conflict.ok(), Some(PairClaim::Undecided));
    }

    #[tokio::test]
    async fn a_claim_transaction_refused_for_another_reason_is_an_error_naming_the_call() {
        let denied =
            r#"{"__type":"com.amazon.coral.service#AccessDeniedException","message":"no"}"#;
        let err = pair_claim_answered(denied).await.expect_err("refused");
        let text = err.to_string();
        assert!(text.contains("dynamodb:TransactWriteItems"), "{text}");
        assert!(!err.is_retryable(), "{text}");
    }
}
