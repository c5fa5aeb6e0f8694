//! A fresh, migrated database per test, on the server `DATABASE_URL` points at
//! (default `postgres://postgres@127.0.0.1:5432/postgres`). Databases are named `t_<uuid>`;
//! `make test` drops the ones earlier runs left behind.

use sqlx::{Connection, Executor, PgConnection};

use crate::{PgPool, PoolConfig};

pub struct TestDb {
    pub pool: PgPool,
    pub name: String,
    /// A URL that connects to this database (for subprocesses).
    pub url: String,
}

pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn with_database(url: &str, db: &str) -> String {
    // Replace the path component (the database name), keep any query string.
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..path_start], db);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Creates and migrates a new database. Panics with a clear message when the server is down,
/// because every test needing it would fail anyway.
pub async fn fresh_db() -> TestDb {
    fresh_db_with(&PoolConfig::default()).await
}

pub async fn fresh_db_with(cfg: &PoolConfig) -> TestDb {
    let server = server_url();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&server)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test Postgres at {server}: {e}"));
    admin
        .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .expect("create test database");
    admin.close().await.ok();
    let url = with_database(&server, &name);
    let pool = crate::connect(&url, cfg)
        .await
        .expect("connect test database");
    crate::migrate(&pool).await.expect("migrate test database");
    TestDb { pool, name, url }
}

/// The plan Postgres picks for the claim's locking select (the statement in
/// `fires::claim_due`), for tests that check it walks the due index.
pub async fn explain_claim(
    pool: &PgPool,
    now: chrono::DateTime<chrono::Utc>,
    limit: i64,
) -> String {
    let rows: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT id FROM schedulers WHERE next_fire_at <= $1
         ORDER BY next_fire_at LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
    .expect("explain");
    rows.join("\n")
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_database_name() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "t_1"),
            "postgres://u@h:5432/t_1"
        );
        assert_eq!(with_database("postgres://u@h", "t_1"), "postgres://u@h/t_1");
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "t_1"),
            "postgres://u@h/t_1?sslmode=disable"
        );
    }
}
