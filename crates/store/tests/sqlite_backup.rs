#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The SQLite backup is one snapshot even when it takes many steps and another connection
//! commits between every two of them: the copy holds exactly what was committed when it
//! began, and it finishes (the backup never restarts because of those writes).

use datahooks_store::sqlite::backup;

fn count(conn: &rusqlite::Connection) -> i64 {
    conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn a_backup_is_one_snapshot_while_another_connection_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    // The store creates the schema (WAL mode, as the server runs it).
    drop(
        datahooks_store::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap(),
    );
    let writer = rusqlite::Connection::open(&db).unwrap();
    writer
        .busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    // About 4,000 pages: several backup steps.
    let filler = "x".repeat(3000);
    writer.execute_batch("BEGIN").unwrap();
    for i in 0..5000 {
        writer
            .execute(
                "INSERT INTO events (id, event_type, dataset, owner, payload, created_at)
                 VALUES (?1, 'sample.created', 'a/b', 'a', ?2, 't')",
                rusqlite::params![format!("evt_{i}"), filler],
            )
            .unwrap();
    }
    writer.execute_batch("COMMIT").unwrap();
    let before = count(&writer);

    let dest = dir.path().join("copy.db");
    let mut steps = 0;
    let mut written = 0;
    let mut progress = |done: u64, total: u64| {
        steps += 1;
        // A backup that restarts on every foreign write would never end.
        assert!(
            steps < 200,
            "the backup keeps restarting: it is not one snapshot"
        );
        if done < total {
            // A commit by another connection in the middle of the copy.
            writer
                .execute(
                    "INSERT INTO events (id, event_type, dataset, owner, payload, created_at)
                     VALUES (?1, 'sample.created', 'a/b', 'a', ?2, 't')",
                    rusqlite::params![format!("during_{steps}"), filler],
                )
                .unwrap();
            written += 1;
        }
    };
    let summary = backup::backup(&db, &dest, &mut progress).unwrap();
    assert!(steps >= 3, "the copy took {steps} steps: too few to test");
    assert!(written >= 2);
    assert!(summary.pages > 3000, "{summary:?}");

    let copy = rusqlite::Connection::open(&dest).unwrap();
    assert_eq!(count(&copy), before, "the copy is the state when it began");
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    assert_eq!(
        count(&writer),
        before + written,
        "the writes went on meanwhile"
    );
    assert!(!dir.path().join("copy.db.partial").exists());

    // And it restores: into an empty place, the copy's content.
    let target = dir.path().join("restored").join("datahooks.db");
    assert!(!backup::holds_data(&target).unwrap());
    backup::restore(&dest, &target, &mut |_, _| {}).unwrap();
    assert!(backup::holds_data(&target).unwrap());
    let restored = datahooks_store::open(&format!("sqlite://{}", target.display()))
        .await
        .unwrap();
    assert_eq!(
        restored.events_after(0, 100_000).await.unwrap().len() as i64,
        before
    );
}
