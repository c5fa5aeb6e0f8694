use scheduler_store::testing::fresh_db;

use crate::scheduler;

#[tokio::test]
async fn migrate_is_idempotent_on_a_migrated_database() {
    let db = fresh_db().await;
    for _ in 0..2 {
        let out = scheduler(&["migrate"], "", &[("DATABASE_URL", &db.url)]);
        assert!(out.status.success(), "{out:?}");
    }
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('schedulers', 'fires', 'organizations')",
    )
    .fetch_one(&db.pool)
    .await
    .expect("count tables");
    assert_eq!(tables, 3);
}

#[test]
fn migrate_without_database_url_fails_clearly() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scheduler"))
        .arg("migrate")
        .env_remove("DATABASE_URL")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DATABASE_URL") || err.contains("--database-url"),
        "{err}"
    );
}
