//! The secret key: loading it (a list while it is rotated) and `datahooks secret-key rotate`.
//!
//! `--secret-key NEW,OLD` (or `DATAHOOKS_SECRET_KEY`, or the same list in
//! `<data-dir>/secret.key`) gives a node several keys: the first seals new endpoint secrets and
//! signs sessions and upload links, every key opens what it sealed. `secret-key rotate`
//! re-seals every stored endpoint secret under the first key, in batches, while the servers
//! run; after it the old key can be dropped.

use std::path::Path;

use anyhow::Context;
use rand::RngCore;

use datahooks_store::ops::SealedSecrets;
use datahooks_store::Store;
use datahooks_webhooks::vault::Vault;

/// The secret keys: the sealing key first, then keys that only open.
pub struct Keys {
    /// Seals and signs.
    pub first: Vec<u8>,
    /// Still accepted when opening.
    pub others: Vec<Vec<u8>>,
}

impl Keys {
    /// A vault that seals with the first key and opens with any.
    pub fn vault(&self) -> Vault {
        Vault::with_keys(&self.first, &self.others)
    }
}

/// Loads the keys: the flag, else `<data-dir>/secret.key`; with `create`, a missing file is
/// created with a new random key (first start).
pub fn load(given: Option<&str>, data_dir: &Path, create: bool) -> anyhow::Result<Keys> {
    let text = match given {
        Some(k) => k.trim().to_owned(),
        None => {
            let path = data_dir.join("secret.key");
            match std::fs::read_to_string(&path) {
                Ok(s) => s.trim().to_owned(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                    let mut key = [0u8; 32];
                    rand::rngs::OsRng.fill_bytes(&mut key);
                    let text = hex::encode(key);
                    std::fs::create_dir_all(data_dir)?;
                    write_private(&path, &text)?;
                    tracing::info!(path = %path.display(), "created a new secret key");
                    text
                }
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
            }
        }
    };
    parse(&text)
}

/// Parses `KEY[,KEY…]` (also one key per line): hex, at least 32 bytes each.
fn parse(text: &str) -> anyhow::Result<Keys> {
    let mut keys = Vec::new();
    for (i, part) in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        let key =
            hex::decode(part).with_context(|| format!("secret key #{} must be hex", i + 1))?;
        anyhow::ensure!(
            key.len() >= 32,
            "secret key #{} must be at least 32 bytes (64 hex digits)",
            i + 1
        );
        keys.push(key);
    }
    let mut keys = keys.into_iter();
    let first = keys.next().context("no secret key given")?;
    Ok(Keys {
        first,
        others: keys.collect(),
    })
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// How a rotation went.
#[derive(Debug, Default)]
pub struct Rotation {
    /// Endpoints whose secrets were re-sealed under the first key.
    pub resealed: usize,
    /// Endpoints whose secrets were already under the first key.
    pub current: usize,
    /// Endpoints rotated or deleted through the API while this ran (left as they are).
    pub skipped: usize,
}

/// Re-seals every endpoint's secrets (current and still-valid previous ones) under the first
/// key, `batch` endpoints per transaction. Fails, naming them, if some secret opens with none
/// of the keys: those endpoints could not be signed for, and the old key must not be dropped.
pub async fn rotate(store: &dyn Store, keys: &Keys, batch: i64) -> anyhow::Result<Rotation> {
    let vault = keys.vault();
    let mut total = Rotation::default();
    // An endpoint changed through the API during a pass is read again by the next one.
    for _ in 0..5 {
        let pass = rotate_pass(store, &vault, batch).await?;
        total.resealed += pass.resealed;
        total.skipped += pass.skipped;
        total.current = pass.current;
        if pass.skipped == 0 {
            return Ok(total);
        }
    }
    anyhow::bail!(
        "endpoint secrets kept changing during the rotation; run `secret-key rotate` again"
    )
}

/// One pass over every endpoint, in id order.
async fn rotate_pass(store: &dyn Store, vault: &Vault, batch: i64) -> anyhow::Result<Rotation> {
    let mut out = Rotation::default();
    let mut unopenable = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.sealed_secrets(after.as_deref(), batch.max(1)).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.endpoint_id.clone());
        let mut changes = Vec::new();
        for s in page {
            match reseal(vault, &s) {
                Ok(Some(new)) => changes.push((s, new)),
                Ok(None) => out.current += 1,
                Err(()) => unopenable.push(s.endpoint_id),
            }
        }
        let wanted = changes.len();
        let done = store.reseal_secrets(changes).await?;
        out.resealed += done;
        out.skipped += wanted - done;
    }
    anyhow::ensure!(
        unopenable.is_empty(),
        "{} endpoint secret(s) open with none of the keys given ({}); keep every key they may \
         be sealed with in --secret-key",
        unopenable.len(),
        unopenable.join(", ")
    );
    Ok(out)
}

/// The endpoint's secrets re-sealed under the first key; `None` if all already are.
fn reseal(vault: &Vault, s: &SealedSecrets) -> Result<Option<SealedSecrets>, ()> {
    let secret = vault.reseal(&s.secret).map_err(|_| ())?;
    let mut changed = secret.is_some();
    let mut old_secrets = Vec::with_capacity(s.old_secrets.len());
    for (sealed, expires) in &s.old_secrets {
        match vault.reseal(sealed) {
            Ok(Some(new)) => {
                changed = true;
                old_secrets.push((new, *expires));
            }
            Ok(None) => old_secrets.push((sealed.clone(), *expires)),
            Err(_) => return Err(()),
        }
    }
    Ok(changed.then(|| SealedSecrets {
        endpoint_id: s.endpoint_id.clone(),
        secret: secret.unwrap_or_else(|| s.secret.clone()),
        old_secrets,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_keys_parses_first_key_first() {
        let a = "11".repeat(32);
        let b = "22".repeat(32);
        let k = parse(&format!(" {a} , {b}\n")).unwrap();
        assert_eq!(k.first, vec![0x11; 32]);
        assert_eq!(k.others, vec![vec![0x22; 32]]);
        assert!(parse("").is_err());
        assert!(parse(&format!("{a},abcd")).is_err());
        assert!(parse("zz").is_err());
    }
}
