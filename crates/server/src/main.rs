//! `scheduler`: the one binary of the service.

mod admin;
mod cli;
mod dev;
mod local_pg;
mod local_s3;
mod ops;
mod preview;
mod serve;
mod telemetry;

use std::io::Read as _;
use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Preview(args) => {
            let mut input = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut input) {
                eprintln!("error: cannot read the scheduler document from stdin: {e}");
                return ExitCode::from(2);
            }
            let after = args.after.unwrap_or_else(chrono::Utc::now);
            match preview::preview(&input, after, args.count) {
                Ok(lines) => {
                    for line in lines {
                        println!("{line}");
                    }
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("error: {message}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Admin(args) => {
            telemetry::init(cli.log_format);
            run_async(async move {
                admin::check(&args.command)?;
                let pool =
                    scheduler_store::connect(&args.db.database_url, &args.db.pool_config()).await?;
                cli::open_signing_secrets(&pool, args.db.signing_secret_key.as_ref()).await?;
                admin::run(&pool, args.command).await
            })
        }
        Command::Dev(args) => {
            if std::env::var_os("RUST_LOG").is_none() {
                // Every delivered fire is logged at debug by the runner: show those.
                std::env::set_var("RUST_LOG", "info,scheduler_runner=debug");
            }
            telemetry::init(cli.log_format);
            run_async(dev::run(args))
        }
        Command::Serve(args) => {
            telemetry::init(cli.log_format);
            run_async(serve::run(args))
        }
        Command::Migrate(args) => {
            telemetry::init(cli.log_format);
            run_async(async move {
                let pool =
                    scheduler_store::connect(&args.db.database_url, &args.db.pool_config()).await?;
                scheduler_store::migrate(&pool).await?;
                tracing::info!("migrations applied");
                cli::open_signing_secrets(&pool, args.db.signing_secret_key.as_ref()).await?;
                Ok(())
            })
        }
    }
}

fn run_async(fut: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
