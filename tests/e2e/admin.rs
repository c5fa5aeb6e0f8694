use scheduler_store::tenancy;
use scheduler_store::testing::fresh_db;

use crate::scheduler;

#[tokio::test]
async fn admin_commands_create_users_and_tokens_that_authenticate() {
    let db = fresh_db().await;
    let env = [("DATABASE_URL", db.url.as_str())];
    let out = scheduler(
        &[
            "admin",
            "user",
            "create",
            "--org",
            "org_imbrace",
            "--user",
            "u_imbrace_agent1",
        ],
        "",
        &env,
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        tenancy::user_exists(&db.pool, "org_imbrace", "u_imbrace_agent1")
            .await
            .unwrap()
    );

    let out = scheduler(
        &["admin", "token", "create", "--org", "org_imbrace"],
        "",
        &env,
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.lines().last().expect("a last line");
    assert!(token.starts_with("api_"), "{stdout}");
    assert_eq!(
        tenancy::authenticate(&db.pool, token)
            .await
            .unwrap()
            .as_deref(),
        Some("org_imbrace")
    );

    let id = tenancy::list_tokens(&db.pool, "org_imbrace").await.unwrap()[0]
        .id
        .to_string();
    let out = scheduler(&["admin", "token", "revoke", "--id", &id], "", &env);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(tenancy::authenticate(&db.pool, token).await.unwrap(), None);
    // Revoking twice says so and fails.
    let out = scheduler(&["admin", "token", "revoke", "--id", &id], "", &env);
    assert!(!out.status.success());
}

#[test]
fn admin_rejects_ids_the_api_could_not_address() {
    let out = scheduler(
        &[
            "admin", "user", "create", "--org", "org/../x", "--user", "u1",
        ],
        "",
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--org"), "{err}");
}
