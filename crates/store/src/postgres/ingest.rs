//! Messages in, on PostgreSQL: group commit, and one statement per step for a whole batch.
//!
//! Messages commit in `seq` order, which the event stream's `Last-Event-ID` resumes by
//! (see outbox.rs), so every transaction that inserts one holds the outbox's advisory lock
//! until its commit. With one message per transaction, the lock made ingest one commit (one
//! WAL flush) at a time: about 600 messages/s with fsync on, whatever the number of senders.
//! Here the API's messages go through one queue per node: a single loop takes every request
//! waiting, inserts them all in one transaction (the lock taken once, one flush) and answers
//! each. Under load a batch holds as many messages as arrived during the previous commit; a
//! lone request is committed at once, as before.
//!
//! [`insert_many`] is also the single-message path (the outbox's platform events, operational
//! events): four statements whatever the batch size, messages, their endpoints, their
//! deliveries, and a wake-up when some deliveries are left for any node to claim.
//!
//! A message for an account deleted meanwhile is skipped by the insert (404 for its caller),
//! not a foreign-key failure of the batch. A batch that still fails as a whole is run again
//! one message per transaction, so one bad request fails alone, unless the database does not
//! answer or stays busy: then every request gets that error at once. A request whose caller
//! went away before its batch is not committed, and a panic fails its batch only.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Weak;

use tokio::sync::{mpsc, oneshot};

use datahooks_domain::delivery::{signing_secrets, Trigger};
use datahooks_domain::events::endpoint_wants;

use super::{exec, new_id, now, now_ms, rows, wake_workers, Inner, PgStore, Tx};
use super::{write_tx, OUTBOX_LOCK};
use crate::handoff::{hand_over, lease_to};
use crate::lifecycle::MessageExtras;
use crate::opwh::Kind;
use crate::shared::endpoints::{list_of, map_of};
use crate::webhooks::{DeliveryJob, Message, NewMessage};
use crate::{Error, Result};

/// Most messages committed in one transaction.
const MAX_BATCH: usize = 256;

/// Requests waiting for the loop; senders wait when it is full (back-pressure on the API).
const QUEUE: usize = 4 * MAX_BATCH;

/// One message to insert, borrowed from its request.
pub(crate) struct Incoming<'a> {
    pub account_id: i64,
    pub id: &'a str,
    pub event_type: &'a str,
    pub event_id: Option<&'a str>,
    pub channels: &'a [String],
    pub payload: &'a str,
    pub only_endpoint: Option<&'a str>,
    pub tags: &'a [String],
    pub payload_expire_ms: Option<i64>,
    /// The caller's trace context: an attempt claimed later, by any node, joins its trace.
    pub traceparent: Option<&'a str>,
}

/// A request of the API, waiting for its batch.
pub(crate) struct Request {
    account_id: i64,
    msg: NewMessage,
    extras: MessageExtras,
    traceparent: Option<String>,
    reply: oneshot::Sender<Result<Message>>,
}

/// The sending half kept by the store, and the loop to spawn with a handle on it.
pub(crate) fn channel() -> (mpsc::Sender<Request>, mpsc::Receiver<Request>) {
    mpsc::channel(QUEUE)
}

impl PgStore {
    /// Inserts an API message (with its deliveries) in the next group commit.
    pub(crate) async fn ingest(
        &self,
        account_id: i64,
        msg: NewMessage,
        extras: MessageExtras,
    ) -> Result<Message> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            account_id,
            msg,
            extras,
            traceparent: crate::trace::current(),
            reply,
        };
        self.inner
            .ingest
            .send(request)
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> Error {
    Error::Other("the message ingest loop stopped".into())
}

/// The loop: one batch at a time, each the requests that waited. Holds the store weakly, so
/// it ends with the store (whose drop closes the channel).
pub(crate) async fn run(store: Weak<Inner>, mut requests: mpsc::Receiver<Request>) {
    while let Some(first) = requests.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        // A request whose caller went away (timed out, disconnected) is not committed: as
        // before the group commit, when dropping its future rolled its transaction back.
        batch.retain(|r| !r.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let Some(inner) = store.upgrade() else {
            for r in batch {
                let _ = r.reply.send(Err(stopped()));
            }
            return;
        };
        // Each batch in a task of its own: a panic fails its batch (its callers see the
        // answer dropped), never the loop and every later message.
        if let Err(e) = tokio::spawn(commit_batch(PgStore { inner }, batch)).await {
            tracing::error!(error = %e, "a message batch panicked");
        }
    }
}

/// Commits a batch in one transaction. If that fails and the database answers, a message of
/// the batch may be at fault (a value it refused): then each is committed alone, so it fails
/// alone. If the database does not answer (or stays busy), the batch's error is every
/// request's: retrying each alone would only repeat the wait.
async fn commit_batch(store: PgStore, batch: Vec<Request>) {
    if batch.len() == 1 {
        commit_alone(&store, batch).await;
        return;
    }
    let ids: Vec<String> = batch.iter().map(|_| new_id("msg")).collect();
    let written = AtomicBool::new(false);
    match commit(&store, &batch, &ids, &written).await {
        Ok(results) => {
            for (r, result) in batch.into_iter().zip(results) {
                let _ = r.reply.send(result);
            }
        }
        // Every statement ran and the COMMIT failed: the batch may have been committed (the
        // answer was lost with the connection). Committing each message again could store it
        // twice, so every request gets the error, as a lone message's lost COMMIT would.
        Err(e) if written.load(Ordering::SeqCst) && !matches!(e, Error::Busy) => {
            tracing::warn!(error = %e, size = batch.len(), "a message batch's COMMIT failed; its outcome is unknown, so it is not retried");
            let text = e.to_string();
            for r in batch {
                let _ = r.reply.send(Err(Error::Other(text.clone())));
            }
        }
        Err(e) if matches!(e, Error::Busy) || !answers(&store).await => {
            let text = e.to_string();
            for r in batch {
                let _ = r.reply.send(Err(match e {
                    Error::Busy => Error::Busy,
                    _ => Error::Other(text.clone()),
                }));
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, size = batch.len(), "a message batch failed; committing its messages one by one");
            commit_alone(&store, batch).await;
        }
    }
}

/// Whether the database answers a trivial statement now.
async fn answers(store: &PgStore) -> bool {
    match store.client().await {
        Ok(c) => c.simple_query("SELECT 1").await.is_ok(),
        Err(_) => false,
    }
}

/// Commits each request in a transaction of its own.
async fn commit_alone(store: &PgStore, batch: Vec<Request>) {
    for r in batch {
        if r.reply.is_closed() {
            continue;
        }
        let ids = [new_id("msg")];
        let result = commit(
            store,
            std::slice::from_ref(&r),
            &ids,
            &AtomicBool::new(false),
        )
        .await
        .and_then(|mut v| v.pop().unwrap_or_else(|| Err(stopped())));
        let _ = r.reply.send(result);
    }
}

/// One transaction for `batch` (message ids `ids`): each request's own result. `written` is
/// set once every statement has run, just before the COMMIT.
async fn commit(
    store: &PgStore,
    batch: &[Request],
    ids: &[String],
    written: &AtomicBool,
) -> Result<Vec<Result<Message>>> {
    let items: Vec<Incoming<'_>> = batch
        .iter()
        .zip(ids)
        .map(|(r, id)| Incoming {
            account_id: r.account_id,
            id,
            event_type: &r.msg.event_type,
            event_id: r.msg.event_id.as_deref(),
            channels: &r.msg.channels,
            payload: &r.msg.payload,
            only_endpoint: r.msg.only_endpoint.as_deref(),
            tags: &r.extras.tags,
            payload_expire_ms: r.extras.payload_expire_ms,
            traceparent: r.traceparent.as_deref(),
        })
        .collect();
    write_tx!(store, |tx| {
        written.store(false, Ordering::SeqCst);
        exec(&tx, "SELECT pg_advisory_xact_lock($1)", &[&OUTBOX_LOCK]).await?;
        let results = insert_many(&tx, Kind::App, &items).await?;
        written.store(true, Ordering::SeqCst);
        Ok::<_, Error>(results)
    })
}

/// An endpoint as the fan-out reads it.
struct Target {
    id: String,
    account_id: i64,
    event_types: Option<Vec<String>>,
    channels: Option<Vec<String>>,
    disabled: bool,
    url: String,
    secret: String,
    old_secrets: String,
    headers: String,
    throttle_rate: Option<i64>,
}

/// Inserts messages of one kind and queues their deliveries, in the caller's transaction
/// (which holds the outbox's lock). An operational event goes to the account's operational
/// endpoints only, an application message to its application endpoints only; a message with
/// `only_endpoint` to that endpoint alone, even disabled. Deliveries are leased to this
/// node's worker when one is attached (a disabled endpoint's wait in the queue instead).
/// Returns each message, or the conflict of an `eventId` already used.
pub(crate) async fn insert_many(
    tx: &Tx<'_>,
    kind: Kind,
    items: &[Incoming<'_>],
) -> Result<Vec<Result<Message>>> {
    let (_, at) = now();
    let ms = now_ms();
    let mut cols = MessageColumns::default();
    for m in items {
        cols.push(m)?;
    }
    let inserted: HashMap<String, i64> = rows(
        tx,
        "INSERT INTO messages (id, account_id, event_type, event_id, channels, payload, created_at,
             created_ms, only_endpoint, traceparent, operational, tags, payload_expire_ms)
         SELECT id, account_id, event_type, event_id, channels, payload, $11, $12, only_endpoint,
             traceparent, $13, tags, expire
         FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
             $7::text[], $8::text[], $9::text[], $10::bigint[]) WITH ORDINALITY
             AS t(id, account_id, event_type, event_id, channels, payload, only_endpoint,
                  traceparent, tags, expire, n)
         WHERE EXISTS (SELECT 1 FROM accounts a WHERE a.id = t.account_id)
         ORDER BY n
         ON CONFLICT (account_id, event_id) DO NOTHING
         RETURNING id, seq",
        &[
            &cols.ids,
            &cols.accounts,
            &cols.types,
            &cols.event_ids,
            &cols.channels,
            &cols.payloads,
            &cols.onlys,
            &cols.traces,
            &cols.tags,
            &cols.expires,
            &at,
            &ms,
            &kind.flag(),
        ],
    )
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect::<Result<_>>()?;

    let fanned: Vec<&Incoming<'_>> = items
        .iter()
        .filter(|m| inserted.contains_key(m.id))
        .collect();
    let accounts: Vec<i64> = fanned
        .iter()
        .filter(|m| m.only_endpoint.is_none())
        .map(|m| m.account_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let onlys: Vec<&str> = fanned.iter().filter_map(|m| m.only_endpoint).collect();
    let targets = if fanned.is_empty() {
        Vec::new()
    } else {
        targets(tx, kind, &accounts, &onlys).await?
    };

    // Every (message, endpoint) pair, in message order and each account's endpoints oldest
    // first, as one statement's columns.
    let lease = lease_to(ms);
    let mut by_account: HashMap<i64, Vec<&Target>> = HashMap::new();
    for t in &targets {
        by_account.entry(t.account_id).or_default().push(t);
    }
    let mut pairs: Vec<(&Incoming<'_>, &Target)> = Vec::new();
    for m in &fanned {
        for &t in by_account.get(&m.account_id).into_iter().flatten() {
            let wanted = match m.only_endpoint {
                Some(only) => t.id == only,
                None => {
                    !t.disabled
                        && endpoint_wants(
                            t.event_types.as_deref(),
                            t.channels.as_deref(),
                            m.event_type,
                            m.channels,
                        )
                }
            };
            if wanted {
                pairs.push((m, t));
            }
        }
    }
    if !pairs.is_empty() {
        let owned = |t: &Target| lease.as_ref().filter(|_| !t.disabled);
        let msg_ids: Vec<&str> = pairs.iter().map(|(m, _)| m.id).collect();
        let ep_ids: Vec<&str> = pairs.iter().map(|(_, t)| t.id.as_str()).collect();
        let owners: Vec<Option<&str>> = pairs
            .iter()
            .map(|(_, t)| owned(t).map(|l| l.0.as_str()))
            .collect();
        let untils: Vec<Option<i64>> = pairs.iter().map(|(_, t)| owned(t).map(|l| l.1)).collect();
        let delivery_ids: HashMap<(String, String), i64> = rows(
            tx,
            "INSERT INTO deliveries (msg_id, endpoint_id, status, trigger_type, next_attempt_at,
                 created_ms, lease_owner, lease_until)
             SELECT msg, ep, CASE WHEN owner IS NULL THEN 1 ELSE 3 END, 0, $5, $5, owner, until
             FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY
                 AS t(msg, ep, owner, until, n)
             ORDER BY n
             RETURNING id, msg_id, endpoint_id",
            &[&msg_ids, &ep_ids, &owners, &untils, &ms],
        )
        .await?
        .iter()
        .map(|r| Ok(((r.try_get(1)?, r.try_get(2)?), r.try_get(0)?)))
        .collect::<Result<_>>()?;
        let mut jobs = Vec::new();
        for (m, t) in &pairs {
            if owned(t).is_none() {
                continue;
            }
            let Some(&delivery_id) = delivery_ids.get(&(m.id.to_owned(), t.id.clone())) else {
                continue;
            };
            let old: Vec<(String, i64)> = serde_json::from_str(&t.old_secrets)?;
            jobs.push(DeliveryJob {
                delivery_id,
                account_id: m.account_id,
                msg_id: m.id.to_owned(),
                endpoint_id: t.id.clone(),
                url: t.url.clone(),
                secrets: signing_secrets(t.secret.clone(), &old, ms),
                headers: map_of(&t.headers)?,
                payload: m.payload.to_owned(),
                attempts: 0,
                trigger_type: Trigger::Scheduled.code(),
                throttle_rate: t.throttle_rate,
                traceparent: m.traceparent.map(str::to_owned),
            });
        }
        if owners.iter().any(Option::is_none) {
            // Pending rows any node may claim.
            wake_workers(tx).await?;
        }
        hand_over(jobs);
    }

    // Not inserted: an `eventId` already used, or an account deleted meanwhile (skipped above
    // rather than failing the whole batch on its foreign key). Told apart only when it happens.
    let gone: HashSet<i64> = if inserted.len() < items.len() {
        let missing: Vec<i64> = items
            .iter()
            .filter(|m| !inserted.contains_key(m.id))
            .map(|m| m.account_id)
            .collect();
        let found: HashSet<i64> = rows(
            tx,
            "SELECT id FROM accounts WHERE id = ANY($1)",
            &[&missing],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
        missing.into_iter().filter(|a| !found.contains(a)).collect()
    } else {
        HashSet::new()
    };
    Ok(items
        .iter()
        .map(|m| match inserted.get(m.id) {
            Some(&seq) => Ok(Message {
                id: m.id.to_owned(),
                account_id: m.account_id,
                event_type: m.event_type.to_owned(),
                event_id: m.event_id.map(str::to_owned),
                channels: m.channels.to_vec(),
                payload: m.payload.to_owned(),
                created_at: at.clone(),
                seq,
                tags: m.tags.to_vec(),
            }),
            None if gone.contains(&m.account_id) => Err(Error::not_found()),
            None => Err(Error::exists("A message with this eventId already exists.")),
        })
        .collect())
}

/// The endpoints of `kind` a batch may go to: the enabled ones of `accounts`, and the
/// `onlys` named, oldest first.
async fn targets(tx: &Tx<'_>, kind: Kind, accounts: &[i64], onlys: &[&str]) -> Result<Vec<Target>> {
    rows(
        tx,
        "SELECT id, account_id, event_types, channels, disabled, url, secret, old_secrets, headers,
                throttle_rate
         FROM endpoints
         WHERE operational = $3 AND ((account_id = ANY($1) AND NOT disabled) OR id = ANY($2))
         ORDER BY seq",
        &[&accounts, &onlys, &kind.flag()],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(Target {
            id: r.try_get(0)?,
            account_id: r.try_get(1)?,
            event_types: list_of(r.try_get(2)?)?,
            channels: list_of(r.try_get(3)?)?,
            disabled: r.try_get(4)?,
            url: r.try_get(5)?,
            secret: r.try_get(6)?,
            old_secrets: r.try_get(7)?,
            headers: r.try_get(8)?,
            throttle_rate: r.try_get(9)?,
        })
    })
    .collect()
}

/// The messages of a batch as the columns of an `unnest`.
#[derive(Default)]
struct MessageColumns<'a> {
    ids: Vec<&'a str>,
    accounts: Vec<i64>,
    types: Vec<&'a str>,
    event_ids: Vec<Option<&'a str>>,
    channels: Vec<String>,
    payloads: Vec<&'a str>,
    onlys: Vec<Option<&'a str>>,
    traces: Vec<Option<&'a str>>,
    tags: Vec<String>,
    expires: Vec<Option<i64>>,
}

impl<'a> MessageColumns<'a> {
    fn push(&mut self, m: &Incoming<'a>) -> Result<()> {
        self.ids.push(m.id);
        self.accounts.push(m.account_id);
        self.types.push(m.event_type);
        self.event_ids.push(m.event_id);
        self.channels.push(serde_json::to_string(m.channels)?);
        self.payloads.push(m.payload);
        self.onlys.push(m.only_endpoint);
        self.traces.push(m.traceparent);
        self.tags.push(serde_json::to_string(m.tags)?);
        self.expires.push(m.payload_expire_ms);
        Ok(())
    }
}
