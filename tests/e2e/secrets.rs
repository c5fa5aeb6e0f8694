//! `scheduler admin org secret` / `rotate-secret`, and SIGNING_SECRET_KEY checked at start.

use scheduler_store::tenancy;
use scheduler_store::testing::fresh_db;

use crate::scheduler;

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes
const OTHER_KEY: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="; // 32 other bytes

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn last_line(out: &std::process::Output) -> String {
    stdout(out).lines().last().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn admin_org_secret_shows_the_secret_and_rotate_secret_keeps_the_old_one_signing() {
    let db = fresh_db().await;
    let env = [("DATABASE_URL", db.url.as_str())];
    tenancy::ensure_organization(&db.pool, "org_a")
        .await
        .unwrap();
    let first = tenancy::signing_secret(&db.pool, "org_a").await.unwrap();

    let out = scheduler(&["admin", "org", "secret", "--org", "org_a"], "", &env);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(last_line(&out), first, "the secret alone on the last line");

    let out = scheduler(
        &[
            "admin",
            "org",
            "rotate-secret",
            "--org",
            "org_a",
            "--overlap-secs",
            "3600",
        ],
        "",
        &env,
    );
    assert!(out.status.success(), "{out:?}");
    let second = last_line(&out);
    assert!(second.starts_with("whsec_") && second != first, "{out:?}");
    assert!(stdout(&out).contains("still signs until"), "{out:?}");
    assert_eq!(
        tenancy::signing_secret(&db.pool, "org_a").await.unwrap(),
        second
    );
    // During the overlap `secret` shows the replaced one too, before the last line.
    let out = scheduler(&["admin", "org", "secret", "--org", "org_a"], "", &env);
    assert_eq!(last_line(&out), second);
    assert!(stdout(&out).contains(&first), "{out:?}");

    // Overlap 0: the replaced secret stops at once.
    let out = scheduler(
        &[
            "admin",
            "org",
            "rotate-secret",
            "--org",
            "org_a",
            "--overlap-secs",
            "0",
        ],
        "",
        &env,
    );
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("no longer signs"), "{out:?}");

    let out = scheduler(&["admin", "org", "secret", "--org", "org_nope"], "", &env);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("organization org_nope does not exist"),
        "{out:?}"
    );
    let out = scheduler(
        &[
            "admin",
            "org",
            "rotate-secret",
            "--org",
            "org_a",
            "--overlap-secs",
            "604801",
        ],
        "",
        &env,
    );
    assert!(!out.status.success(), "an overlap over 7 days is refused");
}

#[tokio::test]
async fn admin_with_signing_secret_key_encrypts_at_rest_and_a_wrong_or_missing_key_stops_it() {
    let db = fresh_db().await;
    let plain_env = [("DATABASE_URL", db.url.as_str())];
    let keyed = [
        ("DATABASE_URL", db.url.as_str()),
        ("SIGNING_SECRET_KEY", KEY),
    ];
    tenancy::ensure_organization(&db.pool, "org_a")
        .await
        .unwrap();
    let secret = tenancy::signing_secret(&db.pool, "org_a").await.unwrap();
    let stored = || async {
        sqlx::query_scalar::<_, String>("SELECT signing_secret FROM organizations WHERE id = $1")
            .bind("org_a")
            .fetch_one(&db.pool)
            .await
            .unwrap()
    };
    assert_eq!(stored().await, secret, "plain text without a key");

    // The first start with the key encrypts the plain secret; the secret itself is unchanged.
    let out = scheduler(&["admin", "org", "secret", "--org", "org_a"], "", &keyed);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(last_line(&out), secret);
    let at_rest = stored().await;
    assert!(at_rest.starts_with("enc:v1:"), "{at_rest}");
    assert!(
        !at_rest.contains(&secret[6..]),
        "a dump alone does not show the secret"
    );
    // Organizations made with the key are stored encrypted from the start.
    let out = scheduler(&["admin", "org", "create", "--org", "org_b"], "", &keyed);
    assert!(out.status.success(), "{out:?}");
    let b: String =
        sqlx::query_scalar("SELECT signing_secret FROM organizations WHERE id = 'org_b'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(b.starts_with("enc:v1:"), "{b}");
    // Rotation keeps both secrets encrypted.
    let out = scheduler(
        &["admin", "org", "rotate-secret", "--org", "org_a"],
        "",
        &keyed,
    );
    assert!(out.status.success(), "{out:?}");
    let new = last_line(&out);
    let (current, previous): (String, String) = sqlx::query_as(
        "SELECT signing_secret, previous_signing_secret FROM organizations WHERE id = 'org_a'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(current.starts_with("enc:v1:") && previous.starts_with("enc:v1:"));
    let out = scheduler(&["admin", "org", "secret", "--org", "org_a"], "", &keyed);
    assert_eq!(last_line(&out), new);

    // Without the key, or with another, nothing starts, and the message says why.
    for (env, expected) in [
        (&plain_env[..], "SIGNING_SECRET_KEY is not set"),
        (
            &[
                ("DATABASE_URL", db.url.as_str()),
                ("SIGNING_SECRET_KEY", OTHER_KEY),
            ][..],
            "SIGNING_SECRET_KEY does not decrypt 3 organization signing secret(s)",
        ),
        (
            &[
                ("DATABASE_URL", db.url.as_str()),
                ("SIGNING_SECRET_KEY", "c2hvcnQ="),
            ][..],
            "SIGNING_SECRET_KEY must be 32 bytes in base64",
        ),
    ] {
        for args in [
            &["admin", "org", "secret", "--org", "org_a"][..],
            &["migrate"][..],
            &["serve", "--role", "api", "--listen", "127.0.0.1:0"][..],
        ] {
            let out = scheduler(args, "", env);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} started: {out:?}");
            assert!(stderr.contains(expected), "{args:?}: {stderr}");
            assert!(!stdout(&out).contains("whsec_"), "{args:?}");
        }
    }
    let out = scheduler(&["migrate"], "", &keyed);
    assert!(out.status.success(), "{out:?}");
}
