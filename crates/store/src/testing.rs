//! A fresh, migrated database per test, on the server of the test tier
//! ([`crate::test_services::tier`]): in the local tier the server `DATABASE_URL` points at
//! (default `postgres://postgres@127.0.0.1:5432/postgres`), where `make test` drops the
//! databases (`t_<uuid>`) earlier runs left behind; in the container tier a Postgres container,
//! shared by the databases of this process while any of them is alive and removed after the
//! last (so one per test under nextest, which runs each test in its own process).

use std::sync::{Arc, Weak};

use sqlx::{Connection, Executor, PgConnection};
use testcontainers::runners::AsyncRunner as _;
use testcontainers::ImageExt as _;
use testcontainers_modules::postgres::Postgres;

use crate::test_services::{self, Container, Tier};
use crate::{PgPool, PoolConfig};

pub struct TestDb {
    pub pool: PgPool,
    pub name: String,
    /// A URL that connects to this database (for subprocesses).
    pub url: String,
    /// The container tier's server, kept alive while this database is (None: local tier).
    _server: Option<Arc<PgContainer>>,
}

/// The Postgres image of the container tier: the same major version line the service targets,
/// configured like scripts/ensure-postgres.sh's private cluster.
const PG_TAG: &str = "17-alpine";

struct PgContainer {
    url: String,
    _container: Container<Postgres>,
}

/// The container tier's server for this process: the running one if a database still holds
/// it, else a new container.
async fn pg_container() -> Arc<PgContainer> {
    static SHARED: tokio::sync::Mutex<Weak<PgContainer>> =
        tokio::sync::Mutex::const_new(Weak::new());
    let mut shared = SHARED.lock().await;
    if let Some(c) = shared.upgrade() {
        return c;
    }
    let c = Postgres::default()
        .with_host_auth()
        .with_tag(PG_TAG)
        .with_cmd(["-c", "fsync=off", "-c", "max_connections=300"])
        .start()
        .await
        .unwrap_or_else(|e| panic!("cannot start the Postgres container: {e}"));
    let host = test_services::host_of(&c).await;
    let port = c
        .get_host_port_ipv4(5432)
        .await
        .expect("the Postgres container's port");
    let c = Arc::new(PgContainer {
        url: format!("postgres://postgres@{host}:{port}/postgres"),
        _container: Container::new(c),
    });
    *shared = Arc::downgrade(&c);
    c
}

/// The local tier's server: `DATABASE_URL`, else the default.
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
    let db = empty_db_with(cfg).await;
    crate::migrate(&db.pool)
        .await
        .expect("migrate test database");
    db
}

/// Creates a new database with nothing in it, not even the migrations table (for testing
/// `scheduler migrate` itself).
pub async fn empty_db() -> TestDb {
    empty_db_with(&PoolConfig::default()).await
}

async fn empty_db_with(cfg: &PoolConfig) -> TestDb {
    let (server, container) = match test_services::tier() {
        Tier::Local => (server_url(), None),
        Tier::Containers => {
            let c = pg_container().await;
            (c.url.clone(), Some(c))
        }
    };
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
    TestDb {
        pool,
        name,
        url,
        _server: container,
    }
}

/// The plan Postgres picks for the claim's locking select, as `fires::claim_due` really sends
/// it, for tests that check it walks the due index.
///
/// The statement is not copied here: the real claim is started while another transaction holds
/// an exclusive lock on `schedulers`, so it blocks on its first statement that touches the
/// table, the locking select; its text is read from `pg_stat_activity` (byte for byte what
/// sqlx sent), the claim is cancelled (so nothing is claimed or changed), the lock released,
/// and that text is explained with the same parameters. Returns the statement and its plan.
pub async fn explain_claim(
    pool: &PgPool,
    now: chrono::DateTime<chrono::Utc>,
    limit: i64,
) -> ClaimPlan {
    use std::time::{Duration, Instant};

    let mut blocker = pool.begin().await.expect("begin the blocking transaction");
    sqlx::query("LOCK TABLE schedulers IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .expect("lock schedulers");
    let blocker_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *blocker)
        .await
        .expect("backend pid");

    let claim = tokio::spawn({
        let pool = pool.clone();
        async move {
            crate::fires::claim_due(
                &pool,
                crate::fires::ClaimRequest {
                    now,
                    limit,
                    lease: crate::fires::Lease {
                        owner: "explain_claim",
                        until: now + chrono::TimeDelta::seconds(30),
                    },
                },
                |_| Err("explain_claim cancels the claim before it plans anything".to_owned()),
            )
            .await
        }
    });

    // The claim's backend, waiting on the lock.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (pid, statement): (i32, String) = loop {
        let waiting: Option<(i32, String)> = sqlx::query_as(
            "SELECT pid, query FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
        )
        .bind(blocker_pid)
        .fetch_optional(pool)
        .await
        .expect("read pg_stat_activity");
        if let Some(found) = waiting {
            break found;
        }
        if claim.is_finished() {
            panic!(
                "the claim finished without touching schedulers: {:?}",
                claim.await
            );
        }
        assert!(
            Instant::now() < deadline,
            "the claim never waited on the lock on schedulers"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let cancelled: bool = sqlx::query_scalar("SELECT pg_cancel_backend($1)")
        .bind(pid)
        .fetch_one(pool)
        .await
        .expect("cancel the claim");
    assert!(cancelled, "could not cancel the claim's backend {pid}");
    let result = claim.await.expect("the claim task");
    assert!(
        result.is_err(),
        "the cancelled claim must fail and change nothing, got {result:?}"
    );
    blocker.rollback().await.expect("release the lock");

    assert!(
        statement.contains("FROM schedulers") && statement.contains("FOR UPDATE SKIP LOCKED"),
        "the claim's first statement on schedulers is not its locking select: {statement}"
    );
    let rows: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {statement}"))
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("explain {statement}: {e}"));
    ClaimPlan {
        statement,
        plan: rows.join("\n"),
    }
}

/// What [`explain_claim`] found: the claim's locking select as sent, and its plan.
#[derive(Debug, Clone)]
pub struct ClaimPlan {
    pub statement: String,
    pub plan: String,
}

/// `n` hourly schedulers of `organization_id`/`user_id` (created if missing), due at `due`,
/// ids `first..first + n` in hex, all with the same `job`: one statement, for tests that need
/// many due schedulers at once.
pub async fn bulk_due(
    pool: &PgPool,
    organization_id: &str,
    user_id: &str,
    first: u64,
    n: u64,
    due: chrono::DateTime<chrono::Utc>,
    job: &serde_json::Value,
) {
    crate::tenancy::ensure_user(pool, organization_id, user_id)
        .await
        .expect("user");
    sqlx::query(
        r#"INSERT INTO schedulers (id, organization_id, created_by, type, name, event_type, job,
               trigger_frequency_unit, trigger_frequency_value, start_datetime, next_fire_at,
               created_at, updated_at)
           SELECT lpad(to_hex(g), 24, '0'), $5, $6, 'recurring', 'bulk ' || g, 'bulk', $4,
                  'hours', 1, $1, $1, $1, $1
           FROM generate_series($2::int8, $2::int8 + $3::int8 - 1) g"#,
    )
    .bind(due)
    .bind(first as i64)
    .bind(n as i64)
    .bind(job)
    .bind(organization_id)
    .bind(user_id)
    .execute(pool)
    .await
    .expect("bulk insert");
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
