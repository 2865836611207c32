//! Endpoints, of either kind (`crate::opwh::Kind`): one text for both backends. A change to
//! an application endpoint queues its operational events ([`super::opwh`]) in the same
//! transaction; operational endpoints cause none.

use serde_json::{Map, Value};

use datahooks_domain::delivery::{rotate_secrets, set_disabled};
use datahooks_domain::operational::OpEventType;

use super::{json_of, new_id, now, now_ms, on_conflict, opwh, wake_workers};
use crate::opwh::Kind;
use crate::sql::{from_cols, Arg, Cols, Db};
use crate::webhooks::{endpoint_state, old_secrets_limit, Endpoint, EndpointInput, EndpointStats};
use crate::window_stats::fold;
use crate::Result;

const EP_COLS: &str = "id, account_id, uid, url, description, version, event_types, channels, disabled,
    disabled_reason, throttle_rate, metadata, headers, secret, old_secrets, created_at, updated_at, first_failure_at";

const UID_TAKEN: &str = "An endpoint with this uid already exists.";

/// A stored JSON list (event types, channels); `None` stands for "all".
pub(crate) fn list_of(s: Option<String>) -> Result<Option<Vec<String>>> {
    Ok(match s {
        Some(t) => Some(serde_json::from_str(&t)?),
        None => None,
    })
}

/// A stored JSON object (metadata, headers). Only objects are ever written, so anything
/// else is corrupt data: reported, not read as an empty object.
pub(crate) fn map_of(s: &str) -> Result<Map<String, Value>> {
    match json_of(s)? {
        Value::Object(m) => Ok(m),
        other => Err(crate::Error::Other(format!(
            "a stored endpoint object (metadata or headers) is not a JSON object: {other}"
        ))),
    }
}

/// What an endpoint's input stores as JSON text.
struct Stored {
    event_types: Option<String>,
    channels: Option<String>,
    metadata: String,
}

impl Stored {
    fn of(i: &EndpointInput) -> Result<Self> {
        let list = |v: &Option<Vec<String>>| v.as_ref().map(serde_json::to_string).transpose();
        Ok(Stored {
            event_types: list(&i.event_types)?,
            channels: list(&i.channels)?,
            metadata: Value::Object(i.metadata.clone()).to_string(),
        })
    }

    /// The parameters `$2` to `$11` of a statement that writes an endpoint's input: both
    /// the insert and the update number them so.
    fn args<'a>(&'a self, i: &'a EndpointInput, reason: &'a dyn Arg) -> [&'a dyn Arg; 10] {
        [
            &i.uid,
            &i.url,
            &i.description,
            &i.version,
            &self.event_types,
            &self.channels,
            &i.disabled,
            reason,
            &i.throttle_rate,
            &self.metadata,
        ]
    }
}

fn ep_row(r: &impl Cols) -> Result<Endpoint> {
    Ok(from_cols!(r => Endpoint {
        id, account_id, uid, url, description, version, disabled, disabled_reason,
        throttle_rate, secret, created_at, updated_at, first_failure_at,
        event_types: list_of(r.get("event_types")?)?,
        channels: list_of(r.get("channels")?)?,
        metadata: map_of(&r.get::<String>("metadata")?)?,
        headers: map_of(&r.get::<String>("headers")?)?,
        old_secrets: serde_json::from_str(&r.get::<String>("old_secrets")?)?,
    }))
}

/// An application endpoint by id or uid.
pub(crate) async fn get_app(db: &impl Db, account_id: i64, id: &str) -> Result<Endpoint> {
    get(db, Kind::App, account_id, id).await
}

/// An endpoint of one kind by id or uid: the other kind's endpoints are not found through it.
pub(crate) async fn get(db: &impl Db, kind: Kind, account_id: i64, id: &str) -> Result<Endpoint> {
    read(db, kind, account_id, id, "").await
}

/// [`get`], locked until the transaction ends where the backend has concurrent writers: its
/// changes read it and write it back.
async fn locked(db: &impl Db, kind: Kind, account_id: i64, id: &str) -> Result<Endpoint> {
    read(db, kind, account_id, id, db.dialect().lock_row()).await
}

async fn read(db: &impl Db, kind: Kind, account_id: i64, id: &str, lock: &str) -> Result<Endpoint> {
    let sql = format!(
        "SELECT {EP_COLS} FROM endpoints WHERE account_id = $1 AND (id = $2 OR uid = $2)
           AND operational = $3{lock}"
    );
    db.one(&sql, &[&account_id, &id, &kind.flag()], |r| ep_row(r))
        .await
}

/// A new endpoint, with its sealed secret and custom headers.
pub(crate) async fn create(
    db: &impl Db,
    kind: Kind,
    account_id: i64,
    i: &EndpointInput,
    secret: &str,
    headers: &Map<String, Value>,
) -> Result<Endpoint> {
    let (id, (_, at), flag) = (new_id("ep"), now(), kind.flag());
    let stored = Stored::of(i)?;
    let reason = i.disabled.then_some("manual");
    let mut args: Vec<&dyn Arg> = vec![&id];
    args.extend(stored.args(i, &reason));
    let headers = Value::Object(headers.clone()).to_string();
    args.extend::<[&dyn Arg; 5]>([&account_id, &headers, &secret, &at, &flag]);
    let sql = format!(
        "INSERT INTO endpoints ({EP_COLS}, operational)
         VALUES ($1, $12, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $13, $14, '[]', $15, $15, NULL, $16)"
    );
    db.exec(&sql, &args)
        .await
        .map_err(on_conflict(|| UID_TAKEN.to_owned()))?;
    let ep = get(db, kind, account_id, &id).await?;
    if kind == Kind::App {
        opwh::endpoint_event(db, &ep, OpEventType::EndpointCreated).await?;
    }
    Ok(ep)
}

/// Endpoints of one kind, oldest first, after the `iterator` endpoint id.
pub(crate) async fn list(
    db: &impl Db,
    kind: Kind,
    account_id: i64,
    limit: i64,
    iterator: Option<&str>,
) -> Result<Vec<Endpoint>> {
    // Oldest first: ids are random, so creation order is the row order.
    let seq = db.dialect().endpoint_seq();
    let mut sql =
        format!("SELECT {EP_COLS} FROM endpoints WHERE account_id = $1 AND operational = $2");
    if iterator.is_some() {
        sql += &format!(" AND {seq} > (SELECT {seq} FROM endpoints WHERE id = $4)");
    }
    sql += &format!(" ORDER BY {seq} LIMIT $3");
    match &iterator {
        Some(it) => {
            db.rows(&sql, &[&account_id, &kind.flag(), &limit, it], |r| {
                ep_row(r)
            })
            .await
        }
        None => {
            db.rows(&sql, &[&account_id, &kind.flag(), &limit], |r| ep_row(r))
                .await
        }
    }
}

pub(crate) async fn update(
    db: &impl Db,
    kind: Kind,
    account_id: i64,
    id: &str,
    i: &EndpointInput,
) -> Result<Endpoint> {
    let cur = locked(db, kind, account_id, id).await?;
    let (_, at) = now();
    let next = set_disabled(&endpoint_state(&cur), i.disabled);
    let (reason, first_failure) = (next.reason, next.first_failure_at);
    let stored = Stored::of(i)?;
    let mut args: Vec<&dyn Arg> = vec![&cur.id];
    args.extend(stored.args(i, &reason));
    args.extend::<[&dyn Arg; 2]>([&at, &first_failure]);
    db.exec(
        "UPDATE endpoints SET uid = $2, url = $3, description = $4, version = $5, event_types = $6,
             channels = $7, disabled = $8, disabled_reason = $9, throttle_rate = $10, metadata = $11,
             updated_at = $12, first_failure_at = $13
         WHERE id = $1",
        &args,
    )
    .await
    .map_err(on_conflict(|| UID_TAKEN.to_owned()))?;
    if cur.disabled && !i.disabled {
        // Its queued deliveries waited while it was disabled; they may be due now.
        wake_workers(db).await?;
    }
    let ep = get(db, kind, account_id, &cur.id).await?;
    if kind == Kind::App {
        opwh::update_events(db, &ep, cur.disabled).await?;
    }
    Ok(ep)
}

pub(crate) async fn delete(db: &impl Db, kind: Kind, account_id: i64, id: &str) -> Result<()> {
    let cur = get(db, kind, account_id, id).await?;
    db.exec("DELETE FROM endpoints WHERE id = $1", &[&cur.id])
        .await?;
    if kind == Kind::App {
        opwh::endpoint_event(db, &cur, OpEventType::EndpointDeleted).await?;
    }
    Ok(())
}

/// Sets a new secret; the current one joins the old ones, valid until `old_expires_at`.
pub(crate) async fn rotate_secret(
    db: &impl Db,
    kind: Kind,
    account_id: i64,
    id: &str,
    secret: &str,
    old_expires_at: i64,
) -> Result<Endpoint> {
    let cur = locked(db, kind, account_id, id).await?;
    let old = rotate_secrets(cur.secret, &cur.old_secrets, now_ms(), old_expires_at)
        .ok_or_else(old_secrets_limit)?;
    let (_, at) = now();
    db.exec(
        "UPDATE endpoints SET secret = $2, old_secrets = $3, updated_at = $4 WHERE id = $1",
        &[&cur.id, &secret, &serde_json::to_string(&old)?, &at],
    )
    .await?;
    get(db, kind, account_id, &cur.id).await
}

pub(crate) async fn set_headers(
    db: &impl Db,
    kind: Kind,
    account_id: i64,
    id: &str,
    headers: &Map<String, Value>,
) -> Result<()> {
    let cur = get(db, kind, account_id, id).await?;
    db.exec(
        "UPDATE endpoints SET headers = $2 WHERE id = $1",
        &[&cur.id, &Value::Object(headers.clone()).to_string()],
    )
    .await?;
    Ok(())
}

/// How many of the messages sent to an application endpoint are in each state.
pub(crate) async fn stats(db: &impl Db, account_id: i64, id: &str) -> Result<EndpointStats> {
    let cur = get_app(db, account_id, id).await?;
    let counts: Vec<(i64, i64)> = db
        .rows(
            // A message's state at an endpoint is its latest delivery row (a resend adds a row).
            "SELECT d.status AS status, COUNT(*) AS n FROM deliveries d WHERE d.endpoint_id = $1
               AND d.id = (SELECT MAX(d2.id) FROM deliveries d2
                           WHERE d2.msg_id = d.msg_id AND d2.endpoint_id = d.endpoint_id)
             GROUP BY d.status",
            &[&cur.id],
            |r| Ok((r.get("status")?, r.get("n")?)),
        )
        .await?;
    fold(counts)
}

#[cfg(test)]
mod tests {
    use super::map_of;

    #[test]
    fn a_stored_object_that_is_not_one_is_an_error() {
        assert_eq!(map_of(r#"{"a":"b"}"#).unwrap()["a"], "b");
        assert!(map_of("{}").unwrap().is_empty());
        for corrupt in ["[]", "null", "\"x\"", "1", "not json"] {
            assert!(map_of(corrupt).is_err(), "{corrupt} was accepted");
        }
    }
}
