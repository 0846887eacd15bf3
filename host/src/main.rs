use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use pop3host::admin::AdminArgs;
use pop3host::check::CheckArgs;
use pop3host::config::{show_defaults, Settings};
use pop3host::scm::ServiceArgs;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "pop3host",
    version,
    about = "A POP3 server whose mailboxes come from plugins"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand)]
enum Command {
    /// Check a plugin against the rules a POP3 backend must follow, without a network.
    Check(CheckArgs),
    /// List the open sessions of a running server (through its --admin-socket).
    Who(AdminArgs),
    /// End a user's sessions on a running server, without UPDATE: nothing is deleted.
    Kick {
        /// The user name, as the user logged in.
        user: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Install, remove or run pop3host as a Windows service (Windows only).
    Service(ServiceArgs),
}

fn main() -> ExitCode {
    let matches = show_defaults(Cli::command()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let result = match cli.command {
        Some(Command::Check(args)) => pop3host::check::run(args),
        Some(Command::Who(args)) => pop3host::admin::who(&args),
        Some(Command::Kick { user, admin }) => pop3host::admin::kick(&admin, &user),
        Some(Command::Service(args)) => pop3host::scm::main(args),
        None => pop3host::run(cli.settings, None).map(|()| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("pop3host: {error}");
            ExitCode::FAILURE
        }
    }
}
