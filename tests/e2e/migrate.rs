use scheduler_store::testing::{empty_db, fresh_db};

use crate::scheduler;

async fn tables(pool: &scheduler_store::PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' ORDER BY table_name",
    )
    .fetch_all(pool)
    .await
    .expect("list tables")
}

/// `scheduler migrate` on a database with nothing in it creates the schema: every migration
/// the binary embeds is recorded as applied, and the service's tables exist. A second run
/// changes nothing.
#[tokio::test]
async fn migrate_creates_the_schema_on_an_empty_database() {
    let db = empty_db().await;
    assert_eq!(tables(&db.pool).await, Vec::<String>::new(), "not empty");
    let out = scheduler(&["migrate"], "", &[("DATABASE_URL", &db.url)]);
    assert!(out.status.success(), "{out:?}");
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&db.pool)
            .await
            .expect("the migrations table");
    let embedded: Vec<i64> = scheduler_store::MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .collect();
    assert!(!embedded.is_empty());
    assert_eq!(applied, embedded, "applied vs embedded migrations");
    let created = tables(&db.pool).await;
    for table in ["schedulers", "fires", "organizations", "attachments"] {
        assert!(
            created.iter().any(|t| t == table),
            "{table} missing: {created:?}"
        );
    }

    let out = scheduler(&["migrate"], "", &[("DATABASE_URL", &db.url)]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        tables(&db.pool).await,
        created,
        "a second migrate changed the tables"
    );
}

#[tokio::test]
async fn migrate_is_idempotent_on_a_migrated_database() {
    let db = fresh_db().await;
    let before = tables(&db.pool).await;
    for _ in 0..2 {
        let out = scheduler(&["migrate"], "", &[("DATABASE_URL", &db.url)]);
        assert!(out.status.success(), "{out:?}");
    }
    assert_eq!(tables(&db.pool).await, before);
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
