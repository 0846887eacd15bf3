//! `pop3host check`: a conformance report for a plugin. It loads the plugin as the server
//! does and drives it through the real session state machine and the same backend work
//! functions, without a network, reading the replies as a client would. Each rule gets PASS,
//! FAIL with a hint, or SKIP; the exit status says whether all passed.
//!
//! `rules` holds the rules and what each one asks of a plugin; `client` drives a session and
//! reads its replies with the workspace's client decoder (`pop3_client_codec`).

mod client;
mod rules;

use crate::config::{Config, Settings};
use crate::service::Service;
use rules::Checker;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Plugin library: a path, or a NAME for libNAME.so (Windows: NAME.dll; macOS:
    /// libNAME.dylib) next to the binary, in ../lib/pop3host or in --plugin-dir.
    #[arg(long, value_name = "PATH|NAME")]
    pub plugin: String,
    #[arg(long, value_name = "DIR")]
    pub plugin_dir: Option<PathBuf>,
    /// Configuration for the plugin's init: JSON text, or @FILE.
    #[arg(long, value_name = "JSON|@FILE")]
    pub plugin_config: Option<String>,
    /// A user whose maildrop holds at least one message.
    #[arg(long)]
    pub user: String,
    /// That user's password.
    #[arg(long)]
    pub pass: String,
    /// Also check deletion, which removes the user's first message for good.
    #[arg(long)]
    pub allow_delete: bool,
}

/// Messages read in full per check, so that a large maildrop stays quick to check.
pub(super) const MAX_MESSAGES: usize = 100;

/// Runs every check and prints the report; `Ok(false)` when one failed.
pub fn run(args: CheckArgs) -> Result<bool, String> {
    let settings = Settings {
        plugin: Some(args.plugin.clone()),
        plugin_dir: args.plugin_dir.clone(),
        plugin_config: args.plugin_config.clone(),
        ..Settings::default()
    };
    let config = Config::from_settings(settings)?;
    let service = Service::start(&config, false)?;
    println!(
        "pop3host check: {} ({})",
        service.plugin.name,
        service.plugin_path.display()
    );
    let checker = Checker {
        service: &service,
        args: &args,
    };
    let mut report = Report::default();
    checker.run(&mut report);
    println!(
        "{} passed, {} failed, {} skipped",
        report.passed, report.failed, report.skipped
    );
    Ok(report.failed == 0)
}

#[derive(Default)]
pub(super) struct Report {
    passed: usize,
    failed: usize,
    skipped: usize,
}

impl Report {
    pub(super) fn check(&mut self, name: &str, result: Result<String, Failure>) {
        match result {
            Ok(detail) => {
                self.passed += 1;
                println!("PASS  {name:<16} {detail}");
            }
            Err(Failure { what, hint }) => {
                self.failed += 1;
                println!("FAIL  {name:<16} {what}\n      hint: {hint}");
            }
        }
    }

    /// Runs `rule` when `runs`, else skips it and says why not.
    pub(super) fn check_if(
        &mut self,
        runs: bool,
        name: &str,
        rule: impl FnOnce() -> Result<String, Failure>,
        why_not: &str,
    ) {
        match runs {
            true => self.check(name, rule()),
            false => self.skip(name, why_not),
        }
    }

    pub(super) fn skip(&mut self, name: &str, why: &str) {
        self.skipped += 1;
        println!("SKIP  {name:<16} {why}");
    }
}

pub(super) struct Failure {
    pub(super) what: String,
    pub(super) hint: &'static str,
}

pub(super) fn fail<T>(what: impl Into<String>, hint: &'static str) -> Result<T, Failure> {
    Err(Failure {
        what: what.into(),
        hint,
    })
}
