//! `pop3host service`: pop3host as a Windows service, registered with and run by the Service
//! Control Manager. The service's command line is `pop3host.exe service run --name NAME`
//! followed by the options given at install, so that it runs as a console run with those
//! options would. On Unix the command says so and stops: systemd units are in
//! examples/systemd.

#[cfg(windows)]
mod windows;

use crate::config::{Config, Settings};
use clap::{Parser, Subcommand};

const DEFAULT_NAME: &str = "pop3host";

/// The account a service runs as unless `--account` says otherwise: the built-in account
/// with the least rights (no administrator, anonymous on the network).
const DEFAULT_ACCOUNT: &str = r"NT AUTHORITY\LocalService";

#[derive(Parser, Debug)]
#[command(name = "service")]
pub struct ServiceArgs {
    #[command(subcommand)]
    pub command: ServiceCommand,
}

#[derive(Subcommand, Debug)]
pub enum ServiceCommand {
    /// Register a service that starts with Windows and serves with the options after `--`
    /// (give absolute paths: a service starts in C:\Windows\System32).
    Install {
        /// The service's name, for `sc start NAME` and `net stop NAME`.
        #[arg(long, value_name = "NAME", default_value = DEFAULT_NAME)]
        name: String,
        /// The account the service runs as, which bounds what the server may touch (an
        /// account with a password is set with `sc config NAME obj= ACCOUNT password= ...`).
        #[arg(long, value_name = "ACCOUNT", default_value = DEFAULT_ACCOUNT)]
        account: String,
        /// The server's options, as for a console run: `-- --plugin maildir --log-file ...`.
        #[arg(last = true, required = true, value_name = "SERVER_OPTIONS")]
        options: Vec<String>,
    },
    /// Remove the service (a running service goes when it stops).
    Uninstall {
        #[arg(long, value_name = "NAME", default_value = DEFAULT_NAME)]
        name: String,
    },
    /// Serve as the service NAME: what the Service Control Manager starts, not for a console.
    Run {
        #[arg(long, value_name = "NAME", default_value = DEFAULT_NAME)]
        name: String,
        #[command(flatten)]
        settings: Box<Settings>,
    },
}

/// Runs a `pop3host service` command.
#[cfg(windows)]
pub fn main(args: ServiceArgs) -> Result<bool, String> {
    match args.command {
        ServiceCommand::Install {
            name,
            account,
            options,
        } => windows::install(&name, &account, &launch_arguments(&name, &options)?),
        ServiceCommand::Uninstall { name } => windows::uninstall(&name),
        ServiceCommand::Run { name, settings } => windows::run(name, *settings),
    }
    .map(|()| true)
}

/// Runs a `pop3host service` command: on Unix, an error that says where to look instead.
#[cfg(unix)]
pub fn main(_: ServiceArgs) -> Result<bool, String> {
    Err("service: Windows only (for systemd, see the units in examples/systemd)".into())
}

/// The arguments after `pop3host.exe` on the service's command line, once `options` were
/// checked as a console run would check them, so that a mistake shows at install and not in
/// a service that does not start.
pub fn launch_arguments(name: &str, options: &[String]) -> Result<Vec<String>, String> {
    let settings = Settings::try_parse_from(
        std::iter::once("pop3host").chain(options.iter().map(String::as_str)),
    )
    .map_err(|e| {
        let clap_says = e.render().to_string();
        format!(
            "service install: {}",
            clap_says.trim_start_matches("error: ").trim_end()
        )
    })?;
    if settings.describe || settings.check_config {
        return Err("service install: --describe and --check-config do not serve".into());
    }
    let config = Config::from_settings(settings).map_err(|e| format!("service install: {e}"))?;
    if config.log_file.is_none() {
        return Err(
            "service install: give --log-file (or `log_file` in --config): a service \
                    has no console for its log"
                .into(),
        );
    }
    let run = ["service", "run", "--name", name].map(String::from);
    Ok(run.into_iter().chain(options.iter().cloned()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_service_runs_with_the_options_given_at_install() {
        let options = strings(&[
            "--plugin",
            "static_messages",
            "--listen",
            "127.0.0.1:1110",
            "--log-file",
            r"C:\pop3host\log.txt",
            "--greeting",
            "two words",
        ]);
        let launch = launch_arguments("mail", &options).unwrap();
        assert_eq!(launch[..4], strings(&["service", "run", "--name", "mail"]));
        assert_eq!(launch[4..], options);
        // What the Service Control Manager starts parses back to the same service and settings.
        let parsed = ServiceArgs::try_parse_from(&launch).unwrap();
        let ServiceCommand::Run { name, settings } = parsed.command else {
            panic!("{parsed:?}");
        };
        assert_eq!(name, "mail");
        assert_eq!(settings.plugin.as_deref(), Some("static_messages"));
        assert_eq!(settings.listen, ["127.0.0.1:1110"]);
        assert_eq!(settings.greeting.as_deref(), Some("two words"));
    }

    #[test]
    fn install_refuses_options_a_console_run_would_refuse() {
        for (options, error) in [
            (
                &["--plugin", "x", "--idle-timout", "5"][..],
                "--idle-timout",
            ),
            (&["--listen", "127.0.0.1:1110"][..], "--plugin is required"),
            (
                &["--plugin", "x", "--listen", "localhost"][..],
                "--listen localhost",
            ),
            (
                &["--plugin", "x", "--log-file", "l", "--describe"][..],
                "do not serve",
            ),
            (&["--plugin", "x", "check"][..], "check"),
            (&["--plugin", "x"][..], "--log-file"),
        ] {
            let refused = launch_arguments("pop3host", &strings(options)).unwrap_err();
            assert!(refused.starts_with("service install: "), "{refused}");
            assert!(refused.contains(error), "{options:?}: {refused}");
        }
    }

    #[test]
    fn install_needs_the_options_after_a_double_dash() {
        let parse = |args: &[&str]| ServiceArgs::try_parse_from(args).map(|a| a.command);
        assert!(parse(&["service", "install"]).is_err());
        assert!(parse(&["service", "install", "--plugin", "x"]).is_err());
        let Ok(ServiceCommand::Install {
            name,
            account,
            options,
        }) = parse(&["service", "install", "--", "--plugin", "x"])
        else {
            panic!("install -- --plugin x");
        };
        assert_eq!(
            (name.as_str(), account.as_str()),
            (DEFAULT_NAME, DEFAULT_ACCOUNT)
        );
        assert_eq!(options, ["--plugin", "x"]);
    }

    #[cfg(unix)]
    #[test]
    fn on_unix_the_service_commands_say_windows_only() {
        let args = ServiceArgs::try_parse_from(["service", "uninstall"]).unwrap();
        assert!(main(args).unwrap_err().starts_with("service: Windows only"));
    }
}
