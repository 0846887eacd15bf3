use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    match pop3host::run(pop3host::config::Settings::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pop3host: {error}");
            ExitCode::FAILURE
        }
    }
}
