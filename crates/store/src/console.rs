//! What the operator console needs beyond the API's queries: its sessions, the organizations
//! and users to choose from, and scheduler search by name.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::schedulers::{query_scheduler, ListPage, ListQuery};
use crate::tenancy::hash_token;
use crate::{PgPool, StoreResult};

/// Who a console session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionKind {
    /// Signed in with an API token of this organization.
    Tenant {
        organization_id: String,
        token_id: Uuid,
    },
    /// Signed in with ADMIN_TOKEN (its SHA-256): sees every organization.
    Operator { admin_token_hash: Vec<u8> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub kind: SessionKind,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// The live token's id and organization, or None for unknown and revoked tokens.
pub async fn token_identity(pool: &PgPool, token: &str) -> StoreResult<Option<(Uuid, String)>> {
    let row = sqlx::query!(
        "SELECT id, organization_id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        hash_token(token)
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.id, r.organization_id)))
}

/// Stores a session under the SHA-256 of `cookie` (the cookie's value itself is not kept), and
/// removes expired sessions.
pub async fn create_session(
    pool: &PgPool,
    cookie: &str,
    session: &Session,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let (org, token_id, admin) = match &session.kind {
        SessionKind::Tenant {
            organization_id,
            token_id,
        } => (Some(organization_id.as_str()), Some(*token_id), None),
        SessionKind::Operator { admin_token_hash } => (None, None, Some(admin_token_hash.clone())),
    };
    let mut tx = pool.begin().await?;
    sqlx::query!("DELETE FROM console_sessions WHERE expires_at < $1", now)
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "INSERT INTO console_sessions
             (id_hash, organization_id, token_id, admin_token_hash, csrf_token, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        hash_token(cookie),
        org,
        token_id,
        admin,
        session.csrf_token,
        now,
        session.expires_at,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The live session of a cookie: not expired and, for a tenant, its token not revoked.
pub async fn session(
    pool: &PgPool,
    cookie: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<Session>> {
    let row = sqlx::query!(
        "SELECT s.organization_id, s.token_id, s.admin_token_hash, s.csrf_token, s.expires_at
         FROM console_sessions s
         LEFT JOIN api_tokens t ON t.id = s.token_id
         WHERE s.id_hash = $1 AND s.expires_at > $2
           AND (s.token_id IS NULL OR t.revoked_at IS NULL)",
        hash_token(cookie),
        now
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|r| {
        let kind = match (r.organization_id, r.token_id, r.admin_token_hash) {
            (Some(organization_id), Some(token_id), None) => SessionKind::Tenant {
                organization_id,
                token_id,
            },
            (None, None, Some(admin_token_hash)) => SessionKind::Operator { admin_token_hash },
            _ => return None,
        };
        Some(Session {
            kind,
            csrf_token: r.csrf_token,
            expires_at: r.expires_at,
        })
    }))
}

pub async fn delete_session(pool: &PgPool, cookie: &str) -> StoreResult<()> {
    sqlx::query!(
        "DELETE FROM console_sessions WHERE id_hash = $1",
        hash_token(cookie)
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// An organization with how many users and schedulers it has.
#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationSummary {
    pub id: String,
    pub users: i64,
    pub schedulers: i64,
}

/// Organizations by id, one page (`limit` + 1 rows tell whether there is more).
pub async fn organizations(
    pool: &PgPool,
    limit: i64,
    skip: i64,
) -> StoreResult<Vec<OrganizationSummary>> {
    let rows = sqlx::query_as!(
        OrganizationSummary,
        r#"SELECT o.id,
                  (SELECT count(*) FROM users u WHERE u.organization_id = o.id) AS "users!",
                  (SELECT count(*) FROM schedulers s WHERE s.organization_id = o.id) AS "schedulers!"
           FROM organizations o ORDER BY o.id LIMIT $1 OFFSET $2"#,
        limit,
        skip
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// A user of an organization with how many schedulers they created.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSummary {
    pub id: String,
    pub schedulers: i64,
}

pub async fn users(pool: &PgPool, organization_id: &str) -> StoreResult<Vec<UserSummary>> {
    let rows = sqlx::query_as!(
        UserSummary,
        r#"SELECT u.id,
                  (SELECT count(*) FROM schedulers s
                   WHERE s.organization_id = u.organization_id AND s.created_by = u.id) AS "schedulers!"
           FROM users u WHERE u.organization_id = $1 ORDER BY u.id LIMIT 1000"#,
        organization_id
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// As `schedulers::list`, also filtered by a case-insensitive substring of the name.
pub async fn search(pool: &PgPool, q: &ListQuery<'_>, name: &str) -> StoreResult<ListPage> {
    let event_types: Option<Vec<String>> = match &q.event_type {
        crate::schedulers::EventTypeFilter::Any => None,
        crate::schedulers::EventTypeFilter::OneOf(v) => Some(v.clone()),
    };
    // LIKE's wildcards in the search text are matched literally.
    let pattern = format!(
        "%{}%",
        name.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "total!" FROM schedulers
           WHERE organization_id = $1 AND created_by = $2
             AND ($3::text[] IS NULL OR event_type = ANY($3)) AND name ILIKE $4"#,
        q.organization_id,
        q.user_id,
        event_types.as_deref(),
        pattern,
    )
    .fetch_one(pool)
    .await?;
    let items = query_scheduler!(
        "WHERE organization_id = $1 AND created_by = $2
           AND ($3::text[] IS NULL OR event_type = ANY($3)) AND name ILIKE $6
         ORDER BY created_at DESC, id DESC
         LIMIT $4 OFFSET $5",
        q.organization_id,
        q.user_id,
        event_types.as_deref(),
        q.limit,
        q.skip,
        pattern,
    )
    .fetch_all(pool)
    .await?;
    Ok(ListPage { items, total })
}
