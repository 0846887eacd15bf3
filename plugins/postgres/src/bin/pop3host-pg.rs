//! `pop3host-pg`: gets mail into the postgres plugin's database.
//!
//! - `pop3host-pg --url URL deliver USER < message`: one message from standard input, as
//!   Postfix's `pipe` or Exim's `pipe` transport runs it. Exit status as sendmail's: 0
//!   stored, 67 (EX_NOUSER) no such user, 65 (EX_DATAERR) too large, 78 (EX_CONFIG) a wrong
//!   --tls or --ca-file, 75 (EX_TEMPFAIL) the database failed (the MTA retries later).
//! - `pop3host-pg --url URL import-maildir USER DIR`: a maildir's `cur/` and `new/` in one
//!   transaction, the maildir base names kept as UIDLs; running it again stores nothing twice.
//!
//! The URL may also come from `POP3HOST_PG_URL` (keeps a password off the command line);
//! `--tls` and `--ca-file` are the plugin's `"tls"` and `"ca_file"`.

use clap::{Parser, Subcommand};
use postgres::delivery::{self, DeliveryError};
use postgres::Tls;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    version,
    about = "Deliver or import mail into pop3host's PostgreSQL store"
)]
struct Args {
    /// postgresql://user@host/db, or key=value pairs.
    #[arg(long, env = "POP3HOST_PG_URL")]
    url: String,
    /// TLS to the database: disable, require (unverified) or verify-full (with --ca-file).
    #[arg(long, value_enum, default_value_t = Tls::Disable)]
    tls: Tls,
    /// The CA certificates (PEM) that --tls verify-full checks the server's with.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Largest message accepted, in octets.
    #[arg(long, default_value_t = 100 * 1024 * 1024)]
    max_size: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Store the message on standard input for USER.
    Deliver { user: String },
    /// Store every message of the maildir DIR for USER.
    ImportMaildir { user: String, dir: PathBuf },
}

const EX_DATAERR: u8 = 65;
const EX_NOUSER: u8 = 67;
const EX_TEMPFAIL: u8 = 75;
const EX_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("pop3host-pg: {err}");
            ExitCode::from(match err {
                DeliveryError::NoSuchUser(_) => EX_NOUSER,
                DeliveryError::TooLarge(_) => EX_DATAERR,
                DeliveryError::Io(_) | DeliveryError::Database(_) => EX_TEMPFAIL,
                DeliveryError::Config(_) => EX_CONFIG,
            })
        }
    }
}

fn run(args: &Args) -> Result<(), DeliveryError> {
    let mut config: pg::Config = args.url.parse()?;
    let (tls, mode) = pop3_pg_pool::tls::connector(&args.tls, args.ca_file.as_deref())
        .map_err(DeliveryError::Config)?;
    let mut client = config.ssl_mode(mode).connect(tls)?;
    match &args.command {
        Command::Deliver { user } => {
            let (body, size) = delivery::read_message(std::io::stdin().lock(), args.max_size)?;
            let user = delivery::canonical_user(&mut client, user)?;
            delivery::store(&mut client, &user, None, &body, size)?;
        }
        Command::ImportMaildir { user, dir } => {
            let mut tx = client.transaction()?;
            let user = delivery::canonical_user(&mut tx, user)?;
            let imported = delivery::import_maildir(&mut tx, &user, dir, args.max_size)?;
            tx.commit()?;
            for name in &imported.skipped {
                eprintln!("pop3host-pg: skipped {name}: not a regular file");
            }
            println!(
                "{} messages imported, {} already there, {} skipped",
                imported.stored,
                imported.already_there,
                imported.skipped.len()
            );
        }
    }
    Ok(())
}
