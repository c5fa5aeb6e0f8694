//! `scheduler admin`: organizations, users and API tokens, straight against the database.

use anyhow::Context as _;
use chrono::{TimeDelta, Utc};
use clap::{Args, Subcommand};
use scheduler_store::{secrets, tenancy, PgPool, StoreError};

use crate::cli::DbArgs;

#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Organizations (created on first use by `user create` and `token create` too).
    #[command(subcommand)]
    Org(OrgCommand),
    /// Users of an organization.
    #[command(subcommand)]
    User(UserCommand),
    /// API tokens (`x-access-token`) of an organization.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization (no-op when it exists).
    Create {
        #[arg(long)]
        org: String,
    },
    /// Show the organization's webhook signing secret: alone on the last line of stdout
    /// (during a rotation's overlap the replaced one, and its end, on the line before).
    Secret {
        #[arg(long)]
        org: String,
    },
    /// Replace the webhook signing secret. The replaced one keeps signing deliveries for the
    /// overlap; rotating again during an overlap ends the older secret at once. The new secret
    /// is printed alone on the last line of stdout.
    RotateSecret {
        #[arg(long)]
        org: String,
        /// Seconds the replaced secret keeps signing: 0 (at once, for a leaked secret) to
        /// 604800 (7 days).
        #[arg(long, default_value_t = 86_400, value_parser = clap::value_parser!(u32).range(0..=604_800))]
        overlap_secs: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Register a user in an organization (no-op when registered).
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        user: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a new token; it is printed once, alone on the last line of stdout.
    Create {
        #[arg(long)]
        org: String,
    },
    /// List an organization's tokens (ids and state, never the tokens).
    List {
        #[arg(long)]
        org: String,
    },
    /// Revoke a token by its id.
    Revoke {
        #[arg(long)]
        id: uuid::Uuid,
    },
}

fn check_id(what: &str, id: &str) -> anyhow::Result<()> {
    scheduler_core::validate_tenant_id(&format!("--{what}"), id).map_err(anyhow::Error::new)
}

/// Checks the ids before anything connects, so a typo fails fast and clearly.
pub fn check(command: &AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Org(
            OrgCommand::Create { org }
            | OrgCommand::Secret { org }
            | OrgCommand::RotateSecret { org, .. },
        )
        | AdminCommand::Token(TokenCommand::Create { org } | TokenCommand::List { org }) => {
            check_id("org", org)
        }
        AdminCommand::User(UserCommand::Create { org, user }) => {
            check_id("org", org)?;
            check_id("user", user)
        }
        AdminCommand::Token(TokenCommand::Revoke { .. }) => Ok(()),
    }
}

fn no_organization(err: StoreError, org: &str) -> anyhow::Error {
    match err {
        StoreError::NotFound => anyhow::anyhow!("organization {org} does not exist"),
        other => other.into(),
    }
}

pub async fn run(pool: &PgPool, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Org(OrgCommand::Create { org }) => {
            let created = tenancy::ensure_organization(pool, &org).await?;
            println!(
                "organization {org} {}",
                if created { "created" } else { "already exists" }
            );
        }
        AdminCommand::Org(OrgCommand::Secret { org }) => {
            let v = secrets::get(pool, &org, Utc::now())
                .await
                .map_err(|e| no_organization(e, &org))?;
            println!(
                "signing secret of organization {org}, made {}",
                v.created_at
            );
            if let (Some(previous), Some(until)) = (&v.previous_secret, v.previous_expires_at) {
                println!("previous secret (still signs until {until}): {previous}");
            }
            println!("{}", v.secret);
        }
        AdminCommand::Org(OrgCommand::RotateSecret { org, overlap_secs }) => {
            let overlap = TimeDelta::seconds(i64::from(overlap_secs));
            let v = secrets::rotate(pool, &org, overlap, Utc::now())
                .await
                .map_err(|e| no_organization(e, &org))?;
            match v.previous_expires_at {
                Some(until) => println!(
                    "signing secret of organization {org} rotated; the previous one still \
                     signs until {until}"
                ),
                None => println!(
                    "signing secret of organization {org} rotated; the previous one no longer signs"
                ),
            }
            println!("{}", v.secret);
        }
        AdminCommand::User(UserCommand::Create { org, user }) => {
            let created = tenancy::ensure_user(pool, &org, &user).await?;
            println!(
                "user {user} of {org} {}",
                if created { "created" } else { "already exists" }
            );
        }
        AdminCommand::Token(TokenCommand::Create { org }) => {
            let issued = tenancy::issue_token(pool, &org).await?;
            println!("token id {} for organization {org}", issued.id);
            println!("{}", issued.token);
        }
        AdminCommand::Token(TokenCommand::List { org }) => {
            for t in tenancy::list_tokens(pool, &org).await? {
                let state = t
                    .revoked_at
                    .map_or_else(|| "active".to_owned(), |at| format!("revoked {at}"));
                println!("{}  created {}  {state}", t.id, t.created_at);
            }
        }
        AdminCommand::Token(TokenCommand::Revoke { id }) => {
            tenancy::revoke_token(pool, id)
                .await
                .with_context(|| format!("token {id} is unknown or already revoked"))?;
            println!("token {id} revoked");
        }
    }
    Ok(())
}
