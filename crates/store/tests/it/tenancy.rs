use scheduler_store::testing::fresh_db;
use scheduler_store::{tenancy, StoreError};

#[tokio::test]
async fn users_create_their_organization_on_first_use() {
    let db = fresh_db().await;
    assert!(!tenancy::organization_exists(&db.pool, "org_a")
        .await
        .unwrap());
    assert!(tenancy::ensure_user(&db.pool, "org_a", "u1").await.unwrap());
    assert!(
        !tenancy::ensure_user(&db.pool, "org_a", "u1").await.unwrap(),
        "second time is a no-op"
    );
    assert!(tenancy::organization_exists(&db.pool, "org_a")
        .await
        .unwrap());
    assert!(tenancy::user_exists(&db.pool, "org_a", "u1").await.unwrap());
    assert!(!tenancy::user_exists(&db.pool, "org_a", "u2").await.unwrap());
    assert!(!tenancy::user_exists(&db.pool, "org_b", "u1").await.unwrap());
    let secret = tenancy::signing_secret(&db.pool, "org_a").await.unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
}

#[tokio::test]
async fn tokens_authenticate_their_organization_until_revoked() {
    let db = fresh_db().await;
    let a = tenancy::issue_token(&db.pool, "org_a").await.unwrap();
    let b = tenancy::issue_token(&db.pool, "org_b").await.unwrap();
    assert!(
        a.token.starts_with("api_") && a.token.len() == 40,
        "{}",
        a.token
    );
    assert_ne!(a.token, b.token);
    assert_eq!(
        tenancy::authenticate(&db.pool, &a.token)
            .await
            .unwrap()
            .as_deref(),
        Some("org_a")
    );
    assert_eq!(
        tenancy::authenticate(&db.pool, &b.token)
            .await
            .unwrap()
            .as_deref(),
        Some("org_b")
    );
    assert_eq!(
        tenancy::authenticate(&db.pool, "api_unknown")
            .await
            .unwrap(),
        None
    );

    // Only the hash is stored.
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM api_tokens WHERE encode(token_hash, 'escape') LIKE '%api_%'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(stored, 0);

    tenancy::revoke_token(&db.pool, a.id).await.unwrap();
    assert_eq!(
        tenancy::authenticate(&db.pool, &a.token).await.unwrap(),
        None
    );
    assert!(matches!(
        tenancy::revoke_token(&db.pool, a.id).await,
        Err(StoreError::NotFound)
    ));
    let listed = tenancy::list_tokens(&db.pool, "org_a").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].revoked_at.is_some());
}

#[tokio::test]
async fn a_chosen_token_is_idempotent_and_never_moves_between_organizations() {
    let db = fresh_db().await;
    let token = "api_2f576a7d-f7eb-4748-9ec0-b295d7204de1";
    let first = tenancy::store_token(&db.pool, "org_imbrace", token)
        .await
        .unwrap();
    let again = tenancy::store_token(&db.pool, "org_imbrace", token)
        .await
        .unwrap();
    assert_eq!(first.id, again.id);
    assert!(matches!(
        tenancy::store_token(&db.pool, "org_other", token).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(
        tenancy::authenticate(&db.pool, token)
            .await
            .unwrap()
            .as_deref(),
        Some("org_imbrace")
    );
}

#[tokio::test]
async fn one_lookup_answers_for_the_token_and_the_user() {
    let db = fresh_db().await;
    tenancy::ensure_user(&db.pool, "org_a", "u1").await.unwrap();
    tenancy::ensure_user(&db.pool, "org_b", "u2").await.unwrap();
    let a = tenancy::issue_token(&db.pool, "org_a").await.unwrap();
    let known = tenancy::authenticate_user(&db.pool, &a.token, "u1")
        .await
        .unwrap();
    assert_eq!(known, Some(("org_a".to_owned(), true)));
    // A user of another organization is not a user of this one.
    let other = tenancy::authenticate_user(&db.pool, &a.token, "u2")
        .await
        .unwrap();
    assert_eq!(other, Some(("org_a".to_owned(), false)));
    assert_eq!(
        tenancy::authenticate_user(&db.pool, "api_unknown", "u1")
            .await
            .unwrap(),
        None
    );
    tenancy::revoke_token(&db.pool, a.id).await.unwrap();
    assert_eq!(
        tenancy::authenticate_user(&db.pool, &a.token, "u1")
            .await
            .unwrap(),
        None
    );
}
