//! The commands.

mod backup;
mod firstrun;
mod limits;
mod listen;
mod secret_key;
mod serve;

use anyhow::Context;

use datahooks_domain::model::Role;

use crate::config::{Cli, Command, EventsCmd, KeyCmd, OrgCmd, RetentionCmd, SecretKeyCmd, UserCmd};

/// Runs the command the user asked for.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let url = cli.store.url();
    let cli = match cli.command {
        Command::Serve(args) => return serve::serve(&cli.store, args).await,
        // These work on the database file itself, without opening (and migrating) the store.
        Command::Backup { to } => return backup::backup(&cli.store, &to),
        Command::Restore { from, force } => return backup::restore(&cli.store, &from, force).await,
        // A client of a server: no store of its own.
        Command::Listen(args) => return listen::listen(args).await,
        command => Cli { command, ..cli },
    };
    let store = datahooks_store::open(&url)
        .await
        .with_context(|| format!("cannot open the store at {url}"))?;
    match cli.command {
        Command::Serve(_)
        | Command::Listen(_)
        | Command::Backup { .. }
        | Command::Restore { .. } => Ok(()),
        Command::SecretKey(SecretKeyCmd::Rotate {
            secret_key,
            batch_size,
        }) => {
            let keys = secret_key::load(secret_key.as_deref(), &cli.store.data_dir, false)?;
            let r = secret_key::rotate(store.as_ref(), &keys, batch_size).await?;
            println!(
                "re-sealed {} endpoint secret(s) under the first key ({} already were, {}                  rotated or deleted meanwhile); the other keys can now be dropped",
                r.resealed, r.current, r.skipped
            );
            Ok(())
        }
        Command::Migrate => {
            println!("migrations applied to {url}");
            Ok(())
        }
        Command::Retention(RetentionCmd::Sweep { retention, now }) => {
            let retention = datahooks_webhooks::retention::parse_duration(&retention)
                .map_err(|e| anyhow::anyhow!("--retention: {e}"))?;
            let now = match now {
                Some(t) => chrono::DateTime::parse_from_rfc3339(&t)
                    .with_context(|| format!("--now {t:?} is not an RFC 3339 time"))?
                    .timestamp_millis(),
                None => chrono::Utc::now().timestamp_millis(),
            };
            let r =
                datahooks_webhooks::retention::sweep_once(store.as_ref(), now, retention).await?;
            println!(
                "{}",
                serde_json::json!({"payloadsExpired": r.payloads_expired, "messages": r.messages,
                    "attempts": r.attempts, "events": r.events, "idempotency": r.idempotency})
            );
            Ok(())
        }
        Command::User(UserCmd::Create { name, email }) => {
            let (account, key) = store.create_user(&name, email.as_deref()).await?;
            println!("created user {} (key id {})", account.name, key.id);
            println!("{}", key.key);
            Ok(())
        }
        Command::User(UserCmd::Delete { name }) => {
            store.delete_user(&name).await?;
            println!("deleted user {name}");
            Ok(())
        }
        Command::Org(OrgCmd::Create { name, owner }) => {
            let org = store.create_org(&name, &owner).await?;
            println!("created organization {} administered by {owner}", org.name);
            Ok(())
        }
        Command::Org(OrgCmd::AddMember { org, user, role }) => {
            let role = Role::parse(&role)?;
            store.add_org_member(&org, &user, role).await?;
            println!("{user} is now {role} of {org}");
            Ok(())
        }
        Command::Apikey(KeyCmd::Create { user }) => {
            let key = store.create_api_key(&user).await?;
            println!("created key id {} for {user}", key.id);
            println!("{}", key.key);
            Ok(())
        }
        Command::Apikey(KeyCmd::Revoke { key_id }) => {
            store.revoke_api_key(&key_id).await?;
            println!("revoked key {key_id}");
            Ok(())
        }
        Command::Events(EventsCmd::List { after, limit }) => {
            let events = store.events_after(after, limit).await?;
            for e in events {
                let payload: serde_json::Value = serde_json::from_str(&e.payload)?;
                println!(
                    "{}",
                    serde_json::json!({"seq": e.seq, "id": e.id, "payload": payload})
                );
            }
            Ok(())
        }
    }
}
