//! Organizations, users and API tokens.

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{secrets, StoreError, StoreResult};

/// A token as shown once to its owner; only `hash_token` of it is stored.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub id: Uuid,
    pub organization_id: String,
    pub token: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenInfo {
    pub id: Uuid,
    pub organization_id: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// SHA-256 of the token. Tokens are random UUIDs (122 bits), so a fast hash is enough:
/// there is no low-entropy secret to stretch.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A new token in the documented `api_<uuid>` form.
pub fn new_token() -> String {
    format!("api_{}", Uuid::new_v4())
}

/// Creates the organization if it does not exist. Returns true when it was created now.
pub async fn ensure_organization(pool: &PgPool, organization_id: &str) -> StoreResult<bool> {
    let created = sqlx::query!(
        "INSERT INTO organizations (id, signing_secret) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        organization_id,
        secrets::new_stored_secret(organization_id),
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(created == 1)
}

pub async fn organization_exists(pool: &PgPool, organization_id: &str) -> StoreResult<bool> {
    let found = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1) AS "found!""#,
        organization_id
    )
    .fetch_one(pool)
    .await?;
    Ok(found)
}

/// The secret webhook deliveries of this organization are signed with (the current one; see
/// [`secrets::get`] for the previous one during a rotation's overlap).
pub async fn signing_secret(pool: &PgPool, organization_id: &str) -> StoreResult<String> {
    let stored = sqlx::query_scalar!(
        "SELECT signing_secret FROM organizations WHERE id = $1",
        organization_id
    )
    .fetch_one(pool)
    .await?;
    secrets::reveal_stored(organization_id, &stored)
}

/// Registers a user, creating the organization on first use. Returns true when the user is new.
pub async fn ensure_user(pool: &PgPool, organization_id: &str, user_id: &str) -> StoreResult<bool> {
    ensure_organization(pool, organization_id).await?;
    let created = sqlx::query!(
        "INSERT INTO users (organization_id, id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        organization_id,
        user_id
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(created == 1)
}

pub async fn user_exists(pool: &PgPool, organization_id: &str, user_id: &str) -> StoreResult<bool> {
    let found = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE organization_id = $1 AND id = $2) AS "found!""#,
        organization_id,
        user_id
    )
    .fetch_one(pool)
    .await?;
    Ok(found)
}

pub async fn delete_user(pool: &PgPool, organization_id: &str, user_id: &str) -> StoreResult<()> {
    let deleted = sqlx::query!(
        "DELETE FROM users WHERE organization_id = $1 AND id = $2",
        organization_id,
        user_id
    )
    .execute(pool)
    .await?
    .rows_affected();
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Issues a new random token for the organization (created on first use).
pub async fn issue_token(pool: &PgPool, organization_id: &str) -> StoreResult<IssuedToken> {
    store_token(pool, organization_id, &new_token()).await
}

/// Stores a caller-chosen token (used by `scheduler dev` to seed the documented example token).
/// Storing the same token again for the same organization is a no-op.
pub async fn store_token(
    pool: &PgPool,
    organization_id: &str,
    token: &str,
) -> StoreResult<IssuedToken> {
    ensure_organization(pool, organization_id).await?;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO api_tokens (id, organization_id, token_hash) VALUES ($1, $2, $3)
           ON CONFLICT (token_hash) DO UPDATE SET token_hash = EXCLUDED.token_hash
           WHERE api_tokens.organization_id = EXCLUDED.organization_id
           RETURNING id"#,
        Uuid::new_v4(),
        organization_id,
        hash_token(token),
    )
    .fetch_optional(pool)
    .await?
    // The hash exists for another organization: never move a token between tenants.
    .ok_or(StoreError::AlreadyExists)?;
    Ok(IssuedToken {
        id,
        organization_id: organization_id.to_owned(),
        token: token.to_owned(),
    })
}

/// The organization a live token belongs to, or None for unknown and revoked tokens.
pub async fn authenticate(pool: &PgPool, token: &str) -> StoreResult<Option<String>> {
    let org = sqlx::query_scalar!(
        "SELECT organization_id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        hash_token(token)
    )
    .fetch_optional(pool)
    .await?;
    Ok(org)
}

/// What a tenant request's token says: the organization it belongs to and whether `user_id`
/// is registered there. One round trip for both checks the API makes on every request;
/// None for unknown and revoked tokens.
pub async fn authenticate_user(
    pool: &PgPool,
    token: &str,
    user_id: &str,
) -> StoreResult<Option<(String, bool)>> {
    let row = sqlx::query!(
        r#"SELECT t.organization_id,
                  EXISTS (SELECT 1 FROM users u
                          WHERE u.organization_id = t.organization_id AND u.id = $2) AS "user_exists!"
           FROM api_tokens t
           WHERE t.token_hash = $1 AND t.revoked_at IS NULL"#,
        hash_token(token),
        user_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.organization_id, r.user_exists)))
}

pub async fn revoke_token(pool: &PgPool, token_id: Uuid) -> StoreResult<()> {
    let updated = sqlx::query!(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        token_id
    )
    .execute(pool)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub async fn list_tokens(pool: &PgPool, organization_id: &str) -> StoreResult<Vec<TokenInfo>> {
    let rows = sqlx::query_as!(
        TokenInfo,
        "SELECT id, organization_id, created_at, revoked_at FROM api_tokens
         WHERE organization_id = $1 ORDER BY created_at, id",
        organization_id
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
