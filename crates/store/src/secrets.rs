//! Webhook signing secrets: showing, rotating, and their encryption at rest.
//!
//! An organization has a current secret and, for an overlap after a rotation, the previous one.
//! Deliveries are signed with both while the previous one is valid (see [`SigningSecrets`]), so
//! receivers holding either verify.
//!
//! At rest a secret is either the plain `whsec_...` text or, when the process was started with
//! `SIGNING_SECRET_KEY`, `enc:v1:<base64 of nonce + XChaCha20-Poly1305 ciphertext>` with the
//! organization id as associated data (a ciphertext copied to another organization's row does
//! not decrypt). The key is process configuration, checked once at start by [`init`], which
//! also encrypts the secrets still stored in plain text; every later read and write uses it.

use std::sync::OnceLock;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, TimeDelta, Utc};
use rand::RngCore as _;
use sqlx::PgPool;

use crate::{StoreError, StoreResult};

/// The Standard Webhooks prefix of a secret; the rest is the base64 of the HMAC key.
pub const SECRET_PREFIX: &str = "whsec_";
/// How a stored value says it is encrypted (and with which scheme).
const ENCRYPTED_PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 24;

/// The overlap a rotation gives the previous secret unless the caller says otherwise.
pub const DEFAULT_OVERLAP: TimeDelta = TimeDelta::hours(24);
/// The longest overlap a rotation may ask for: a week covers a receiver's slow deploy, and a
/// leaked secret should not stay valid for longer.
pub const MAX_OVERLAP: TimeDelta = TimeDelta::days(7);

/// A new random secret: 32 bytes (256 bits, the HMAC-SHA256 block's worth), `whsec_` + base64.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The key secrets are encrypted with at rest (`SIGNING_SECRET_KEY`: 32 bytes in base64).
#[derive(Clone)]
pub struct SecretKey(XChaCha20Poly1305);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

impl SecretKey {
    /// Parses the base64 of exactly 32 bytes (`openssl rand -base64 32`). The error never
    /// repeats the value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| "SIGNING_SECRET_KEY is not valid base64".to_owned())?;
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| {
            format!(
                "SIGNING_SECRET_KEY must be 32 bytes in base64 (`openssl rand -base64 32`), \
                 not {} bytes",
                bytes.len()
            )
        })?;
        Ok(Self(cipher))
    }

    fn seal(&self, organization_id: &str, secret: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: secret.as_bytes(),
            aad: organization_id.as_bytes(),
        };
        // Encryption into a Vec fails only for messages of gigabytes.
        let ciphertext = self
            .0
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        format!(
            "{ENCRYPTED_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// The plain secret of an encrypted stored value; None when this key did not make it (or
    /// the value was altered, or belongs to another organization).
    fn open(&self, organization_id: &str, stored: &str) -> Option<String> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(stored.strip_prefix(ENCRYPTED_PREFIX)?)
            .ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad: organization_id.as_bytes(),
        };
        let plain = self.0.decrypt(XNonce::from_slice(nonce), payload).ok()?;
        String::from_utf8(plain).ok()
    }
}

/// The key this process encrypts and decrypts with, set once by [`init`].
static PROCESS_KEY: OnceLock<SecretKey> = OnceLock::new();

fn is_encrypted(stored: &str) -> bool {
    stored.starts_with(ENCRYPTED_PREFIX)
}

/// A stored value as it is written: encrypted when this process has a key.
fn conceal(organization_id: &str, secret: &str) -> String {
    match PROCESS_KEY.get() {
        Some(key) => key.seal(organization_id, secret),
        None => secret.to_owned(),
    }
}

/// The plain secret of a stored value.
fn reveal(organization_id: &str, stored: &str) -> StoreResult<String> {
    if !is_encrypted(stored) {
        return Ok(stored.to_owned());
    }
    let key = PROCESS_KEY.get().ok_or_else(|| {
        StoreError::Corrupt(format!(
            "the signing secret of organization {organization_id} is encrypted and this \
             process has no SIGNING_SECRET_KEY"
        ))
    })?;
    key.open(organization_id, stored).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "the signing secret of organization {organization_id} does not decrypt with \
             SIGNING_SECRET_KEY"
        ))
    })
}

/// Why a process may not start with the secrets it finds.
#[derive(Debug, thiserror::Error)]
pub enum SecretKeyError {
    #[error(
        "{count} organization signing secret(s) are stored encrypted (e.g. organization \
         {example}) but SIGNING_SECRET_KEY is not set; start with the key they were encrypted with"
    )]
    Missing { count: usize, example: String },
    #[error(
        "SIGNING_SECRET_KEY does not decrypt {count} organization signing secret(s) (e.g. \
         organization {example}): it is not the key they were encrypted with"
    )]
    Wrong { count: usize, example: String },
    #[error("this process already uses another SIGNING_SECRET_KEY")]
    AlreadySet,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks the stored secrets against `key` and makes it the process's key. Refuses to start
/// (an error naming the problem) when encrypted secrets exist and `key` is missing or does not
/// decrypt every one of them. With a key, secrets still stored in plain text are encrypted
/// (each with a compare-and-set, so processes starting together do not encrypt twice).
/// Returns how many values this call encrypted.
pub async fn init(pool: &PgPool, key: Option<SecretKey>) -> Result<u64, SecretKeyError> {
    let rows = sqlx::query!(
        "SELECT id, signing_secret, previous_signing_secret FROM organizations ORDER BY id"
    )
    .fetch_all(pool)
    .await
    .map_err(StoreError::from)?;
    let stored = || {
        rows.iter().flat_map(|r| {
            std::iter::once((r.id.as_str(), r.signing_secret.as_str())).chain(
                r.previous_signing_secret
                    .as_deref()
                    .map(|p| (r.id.as_str(), p)),
            )
        })
    };
    let undecryptable: Vec<&str> = stored()
        .filter(|(org, value)| {
            is_encrypted(value) && key.as_ref().is_none_or(|k| k.open(org, value).is_none())
        })
        .map(|(org, _)| org)
        .collect();
    if let Some(example) = undecryptable.first() {
        let (count, example) = (undecryptable.len(), (*example).to_owned());
        return Err(match key {
            None => SecretKeyError::Missing { count, example },
            Some(_) => SecretKeyError::Wrong { count, example },
        });
    }
    let Some(key) = key else {
        return Ok(0);
    };
    let mut sealed = 0;
    for (org, value) in stored().filter(|(_, v)| !is_encrypted(v)) {
        let encrypted = key.seal(org, value);
        // Either column may hold the value; the WHERE matches only where it still is plain.
        sealed += sqlx::query!(
            r#"UPDATE organizations SET
                   signing_secret = CASE WHEN signing_secret = $2 THEN $3 ELSE signing_secret END,
                   previous_signing_secret = CASE WHEN previous_signing_secret = $2 THEN $3
                                                  ELSE previous_signing_secret END
               WHERE id = $1 AND (signing_secret = $2 OR previous_signing_secret = $2)"#,
            org,
            value,
            encrypted,
        )
        .execute(pool)
        .await
        .map_err(StoreError::from)?
        .rows_affected();
    }
    install(key)?;
    Ok(sealed)
}

/// Makes `key` this process's key. A second call must bring an equal key (tests start several
/// services in one process); a different one is refused.
fn install(key: SecretKey) -> Result<(), SecretKeyError> {
    let probe = key.seal("probe", "probe");
    let current = PROCESS_KEY.get_or_init(|| key);
    match current.open("probe", &probe) {
        Some(_) => Ok(()),
        None => Err(SecretKeyError::AlreadySet),
    }
}

/// The secrets a delivery is signed with: the current one, and the previous one until its
/// overlap ends. The `Debug` form shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecrets {
    pub current: String,
    /// The secret the last rotation replaced, and when it stops signing.
    pub previous: Option<(String, DateTime<Utc>)>,
}

impl std::fmt::Debug for SigningSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningSecrets")
            .field("current", &"[redacted]")
            .field("previous_expires_at", &self.previous.as_ref().map(|p| p.1))
            .finish()
    }
}

impl SigningSecrets {
    /// Decrypts the stored columns of one organization.
    pub fn from_stored(
        organization_id: &str,
        current: &str,
        previous: Option<&str>,
        previous_expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<Self> {
        let previous = match (previous, previous_expires_at) {
            (Some(p), Some(until)) => Some((reveal(organization_id, p)?, until)),
            _ => None,
        };
        Ok(Self {
            current: reveal(organization_id, current)?,
            previous,
        })
    }

    /// The secrets valid at `at` (Unix seconds of the delivery's `webhook-timestamp`), newest
    /// first: the previous secret signs while `at` is before the end of its overlap.
    pub fn valid_at(&self, at: i64) -> impl Iterator<Item = &str> {
        let previous = self
            .previous
            .as_ref()
            .filter(|(_, until)| at < until.timestamp())
            .map(|(p, _)| p.as_str());
        std::iter::once(self.current.as_str()).chain(previous)
    }
}

/// An organization's secrets as shown to the organization and to operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretView {
    pub organization_id: String,
    pub secret: String,
    pub created_at: DateTime<Utc>,
    /// The secret the last rotation replaced, while it still signs (until `previous_expires_at`).
    pub previous_secret: Option<String>,
    pub previous_expires_at: Option<DateTime<Utc>>,
}

impl SecretView {
    fn new(
        organization_id: String,
        created_at: DateTime<Utc>,
        secrets: SigningSecrets,
        now: DateTime<Utc>,
    ) -> Self {
        let previous = secrets.previous.filter(|(_, until)| *until > now);
        Self {
            organization_id,
            secret: secrets.current,
            created_at,
            previous_expires_at: previous.as_ref().map(|p| p.1),
            previous_secret: previous.map(|p| p.0),
        }
    }
}

/// The organization's secrets as of `now` (an expired previous secret is not shown).
pub async fn get(
    pool: &PgPool,
    organization_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<SecretView> {
    let r = sqlx::query!(
        "SELECT signing_secret, signing_secret_created_at, previous_signing_secret,
                previous_signing_secret_expires_at
         FROM organizations WHERE id = $1",
        organization_id
    )
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)?;
    let secrets = SigningSecrets::from_stored(
        organization_id,
        &r.signing_secret,
        r.previous_signing_secret.as_deref(),
        r.previous_signing_secret_expires_at,
    )?;
    Ok(SecretView::new(
        organization_id.to_owned(),
        r.signing_secret_created_at,
        secrets,
        now,
    ))
}

/// Replaces the organization's secret with a new random one at `now`. The replaced secret keeps
/// signing until `now + overlap` (none when `overlap` is zero). At most two secrets are ever
/// valid: rotating again during an overlap ends the older previous secret at once, and the
/// secret being replaced (however young) becomes the previous one with a fresh overlap.
/// `overlap` must lie in 0..=[`MAX_OVERLAP`] (the caller validates; out of range is clamped).
pub async fn rotate(
    pool: &PgPool,
    organization_id: &str,
    overlap: TimeDelta,
    now: DateTime<Utc>,
) -> StoreResult<SecretView> {
    let overlap = overlap.clamp(TimeDelta::zero(), MAX_OVERLAP);
    let new = new_secret();
    let keep_previous = overlap > TimeDelta::zero();
    // One statement: the secret moved to `previous` is the one current at the moment of the
    // update, even when two rotations race.
    let r = sqlx::query!(
        r#"UPDATE organizations SET
               previous_signing_secret = CASE WHEN $4 THEN signing_secret END,
               previous_signing_secret_expires_at = CASE WHEN $4 THEN $3::timestamptz END,
               signing_secret = $2,
               signing_secret_created_at = $5
           WHERE id = $1
           RETURNING previous_signing_secret, previous_signing_secret_expires_at"#,
        organization_id,
        conceal(organization_id, &new),
        now + overlap,
        keep_previous,
        now,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)?;
    let previous = match (
        r.previous_signing_secret,
        r.previous_signing_secret_expires_at,
    ) {
        (Some(p), Some(until)) => Some((reveal(organization_id, &p)?, until)),
        _ => None,
    };
    let secrets = SigningSecrets {
        current: new,
        previous,
    };
    Ok(SecretView::new(
        organization_id.to_owned(),
        now,
        secrets,
        now,
    ))
}

/// A new organization's first secret, in its stored form.
pub(crate) fn new_stored_secret(organization_id: &str) -> String {
    conceal(organization_id, &new_secret())
}

/// The plain text of a stored secret (for the store's own readers).
pub(crate) fn reveal_stored(organization_id: &str, stored: &str) -> StoreResult<String> {
    reveal(organization_id, stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::parse(&base64::engine::general_purpose::STANDARD.encode([byte; 32])).unwrap()
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_organization() {
        let sealed = key(1).seal("org_a", "whsec_abc");
        assert!(sealed.starts_with(ENCRYPTED_PREFIX));
        assert!(!sealed.contains("whsec_abc"));
        assert_eq!(key(1).open("org_a", &sealed).as_deref(), Some("whsec_abc"));
        assert_eq!(key(2).open("org_a", &sealed), None, "another key");
        assert_eq!(key(1).open("org_b", &sealed), None, "another organization");
        assert_ne!(
            sealed,
            key(1).seal("org_a", "whsec_abc"),
            "a fresh nonce each time"
        );
    }

    #[test]
    fn keys_are_32_bytes_of_base64_and_errors_do_not_echo_them() {
        assert!(
            SecretKey::parse(&base64::engine::general_purpose::STANDARD.encode([7u8; 32])).is_ok()
        );
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        let err = SecretKey::parse(&short).unwrap_err();
        assert!(err.contains("32 bytes") && !err.contains(&short), "{err}");
        let err = SecretKey::parse("not base64 at all!").unwrap_err();
        assert!(!err.contains("at all"), "{err}");
    }

    #[test]
    fn the_previous_secret_signs_until_its_overlap_ends() {
        let until = DateTime::from_timestamp(1_000, 0).unwrap();
        let s = SigningSecrets {
            current: "new".into(),
            previous: Some(("old".into(), until)),
        };
        assert_eq!(s.valid_at(999).collect::<Vec<_>>(), ["new", "old"]);
        assert_eq!(s.valid_at(1_000).collect::<Vec<_>>(), ["new"]);
        assert!(!format!("{s:?}").contains("old"));
    }
}
