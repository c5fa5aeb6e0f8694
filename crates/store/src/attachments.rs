//! Attachments of schedulers (metadata of objects kept in S3) and the `orphan_objects` ledger.
//!
//! The ledger makes object cleanup survive failures and crashes. A key is *reserved* in it
//! (reason [`RESERVED`]) before its object is written; the transaction that stores the
//! attachment row removes the reservation, so a request that dies between the upload and the
//! commit leaves a reservation behind and the sweeper deletes the object once it is older than
//! the upload grace. Objects to delete after a commit (replaced or deleted attachments) are
//! written to the ledger inside that transaction and removed once the object is gone; a
//! deletion that fails stays there for the sweeper. The ledger's primary key also keeps two
//! uploads from ever sharing a key.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::StoreResult;

/// `orphan_objects.reason` of a key whose upload is in progress (not yet committed).
pub const RESERVED: &str = "upload in progress";

/// One row of `attachments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRecord {
    pub file_id: Uuid,
    pub scheduler_id: String,
    pub organization_id: String,
    /// The file name as the client gave it.
    pub name: String,
    /// The object key.
    pub file_path: String,
    pub size: i64,
    pub file_type: String,
    pub file_extension: String,
    pub is_public: bool,
    pub short_path: String,
    /// Order within the scheduler's attachment set (0-based).
    pub position: i32,
    pub created_at: DateTime<Utc>,
}

/// A ledger entry the sweeper may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanRecord {
    pub file_path: String,
    pub reason: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

/// Reserves `key` for an upload. False when the key is taken: by a committed attachment, by
/// another upload in progress, or by an object still waiting for deletion.
///
/// The advisory lock (also taken by [`insert`]) orders a reservation after any commit of the
/// same key, so the existence check cannot read a snapshot from before that commit.
pub async fn reserve_key(pool: &PgPool, key: &str) -> StoreResult<bool> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
        .execute(&mut *tx)
        .await?;
    let inserted = sqlx::query_scalar!(
        r#"INSERT INTO orphan_objects (file_path, reason)
           SELECT $1, $2
           WHERE NOT EXISTS (SELECT 1 FROM attachments WHERE file_path = $1)
           ON CONFLICT (file_path) DO NOTHING
           RETURNING file_path"#,
        key,
        RESERVED,
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(inserted.is_some())
}

/// Stores attachment rows and drops the reservations of their keys, in the caller's
/// transaction (so a commit makes the objects owned, a rollback leaves them reserved).
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[AttachmentRecord],
) -> StoreResult<()> {
    let mut keys: Vec<&str> = rows.iter().map(|r| r.file_path.as_str()).collect();
    // One order for every locker, so two transactions never wait on each other in a cycle.
    keys.sort_unstable();
    for key in &keys {
        sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
            .execute(&mut **tx)
            .await?;
    }
    for r in rows {
        sqlx::query!(
            r#"INSERT INTO attachments (file_id, scheduler_id, organization_id, name, file_path,
                   size, file_type, file_extension, is_public, short_path, position, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"#,
            r.file_id,
            r.scheduler_id,
            r.organization_id,
            r.name,
            r.file_path,
            r.size,
            r.file_type,
            r.file_extension,
            r.is_public,
            r.short_path,
            r.position,
            r.created_at,
        )
        .execute(&mut **tx)
        .await?;
    }
    let keys: Vec<String> = keys.into_iter().map(str::to_owned).collect();
    sqlx::query!(
        "DELETE FROM orphan_objects WHERE file_path = ANY($1) AND reason = $2",
        &keys,
        RESERVED
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Removes every attachment of a scheduler and queues their objects for deletion (`reason`),
/// in the caller's transaction. Returns the removed rows: after the commit the caller deletes
/// the objects and then calls [`forget`].
pub async fn detach_all(
    tx: &mut Transaction<'_, Postgres>,
    organization_id: &str,
    scheduler_id: &str,
    reason: &str,
) -> StoreResult<Vec<AttachmentRecord>> {
    let rows = sqlx::query_as!(
        AttachmentRecord,
        r#"DELETE FROM attachments WHERE scheduler_id = $1 AND organization_id = $2
           RETURNING file_id, scheduler_id, organization_id, name, file_path, size, file_type,
                     file_extension, is_public, short_path, position, created_at"#,
        scheduler_id,
        organization_id,
    )
    .fetch_all(&mut **tx)
    .await?;
    let keys: Vec<String> = rows.iter().map(|r| r.file_path.clone()).collect();
    sqlx::query!(
        r#"INSERT INTO orphan_objects (file_path, reason)
           SELECT k, $2 FROM UNNEST($1::text[]) AS k
           ON CONFLICT (file_path) DO UPDATE SET reason = EXCLUDED.reason"#,
        &keys,
        reason,
    )
    .execute(&mut **tx)
    .await?;
    let mut rows = rows;
    rows.sort_by_key(|r| r.position);
    Ok(rows)
}

/// The attachments of a scheduler, in order.
pub async fn list<'e, E>(executor: E, scheduler_id: &str) -> StoreResult<Vec<AttachmentRecord>>
where
    E: sqlx::PgExecutor<'e>,
{
    let rows = sqlx::query_as!(
        AttachmentRecord,
        r#"SELECT file_id, scheduler_id, organization_id, name, file_path, size, file_type,
                  file_extension, is_public, short_path, position, created_at
           FROM attachments WHERE scheduler_id = $1
           ORDER BY position, created_at, file_id"#,
        scheduler_id,
    )
    .fetch_all(executor)
    .await?;
    Ok(rows)
}

/// The attachments of many schedulers in one query, ordered by scheduler, then as [`list`]
/// orders them (a runner reads those of a whole batch of fires at once).
pub async fn list_many(
    pool: &PgPool,
    scheduler_ids: &[String],
) -> StoreResult<Vec<AttachmentRecord>> {
    if scheduler_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query_as!(
        AttachmentRecord,
        r#"SELECT file_id, scheduler_id, organization_id, name, file_path, size, file_type,
                  file_extension, is_public, short_path, position, created_at
           FROM attachments WHERE scheduler_id = ANY($1)
           ORDER BY scheduler_id, position, created_at, file_id"#,
        scheduler_ids,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// One attachment, scoped by organization and scheduler. `NotFound` when any of the three does
/// not match.
pub async fn get(
    pool: &PgPool,
    organization_id: &str,
    scheduler_id: &str,
    file_id: Uuid,
) -> StoreResult<AttachmentRecord> {
    let row = sqlx::query_as!(
        AttachmentRecord,
        r#"SELECT file_id, scheduler_id, organization_id, name, file_path, size, file_type,
                  file_extension, is_public, short_path, position, created_at
           FROM attachments
           WHERE file_id = $1 AND scheduler_id = $2 AND organization_id = $3"#,
        file_id,
        scheduler_id,
        organization_id,
    )
    .fetch_one(pool)
    .await?;
    Ok(row)
}

/// Drops ledger entries whose objects are gone (or, for reservations, were never written).
pub async fn forget(pool: &PgPool, keys: &[String]) -> StoreResult<()> {
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        r#"DELETE FROM orphan_objects o WHERE o.file_path = ANY($1)
             AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.file_path = o.file_path)"#,
        keys
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records that deleting these objects failed: the entries stay (created if missing), with the
/// reason and one more attempt, for the sweeper.
pub async fn deletion_failed(pool: &PgPool, keys: &[String], reason: &str) -> StoreResult<()> {
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        r#"INSERT INTO orphan_objects (file_path, reason, attempts)
           SELECT k, $2, 1 FROM UNNEST($1::text[]) AS k
           ON CONFLICT (file_path) DO UPDATE
             SET reason = EXCLUDED.reason, attempts = orphan_objects.attempts + 1"#,
        keys,
        reason,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Ledger entries the sweeper should delete now: every queued deletion, and reservations made
/// before `reserved_before` (an upload still running is younger than that). Keys a committed
/// attachment owns are never returned.
pub async fn due_orphans(
    pool: &PgPool,
    reserved_before: DateTime<Utc>,
    limit: i64,
) -> StoreResult<Vec<OrphanRecord>> {
    let rows = sqlx::query_as!(
        OrphanRecord,
        r#"SELECT o.file_path, o.reason, o.attempts, o.created_at FROM orphan_objects o
           WHERE (o.reason <> $1 OR o.created_at < $2)
             AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.file_path = o.file_path)
           ORDER BY o.attempts, o.created_at
           LIMIT $3"#,
        RESERVED,
        reserved_before,
        limit,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Every ledger entry (tests and diagnostics).
pub async fn all_orphans(pool: &PgPool) -> StoreResult<Vec<OrphanRecord>> {
    let rows = sqlx::query_as!(
        OrphanRecord,
        "SELECT file_path, reason, attempts, created_at FROM orphan_objects ORDER BY file_path"
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
