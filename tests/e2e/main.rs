//! End-to-end tests over the real `scheduler` binary (one test binary for the whole suite).

mod admin;
mod console;
mod deploy;
mod dev;
mod faults;
mod migrate;
mod preview;
mod secrets;
mod serve;

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

/// Runs the built binary with `args`, feeding `stdin`.
pub fn scheduler(args: &[&str], stdin: &str, envs: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scheduler"))
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scheduler");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for scheduler")
}
