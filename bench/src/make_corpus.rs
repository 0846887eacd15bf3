//! `pop3bench corpus`: writes a template maildir of generated messages (deterministic for a
//! seed), then optionally users whose maildirs are hard links to it, and their passwd-file
//! lines (`user:{PLAIN}password:uid:gid::home::`, Dovecot's format, read by pop3host's maildir
//! plugin too). The template itself is never served, so it stays the corpus to check against.
//!
//! Plain messages are text/plain of 76-octet LF-ended lines (some starting with a dot) in
//! cur/ as already seen (`:2,S`), so a QUIT renames nothing. `--tricky` messages cover what a
//! server must transform: CRLF and mixed line ends, no final newline, dot lines, 8-bit and NUL
//! octets, a 3000-octet line, an empty body; a third of them wait in new/.

use crate::corpus::normalize;
use crate::report::Report;
use crate::users::UserPattern;
use std::fs;
use std::io::Write;
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// The template maildir; made when it does not exist, else reused as it is.
    #[arg(long)]
    pub template: PathBuf,
    #[arg(long, default_value_t = 100)]
    pub messages: usize,
    /// Average message size in octets (each is between half and one and a half times it).
    #[arg(long, default_value_t = 230_000)]
    pub size: usize,
    /// Messages that test a server's line-end and dot-stuffing transformations.
    #[arg(long, conflicts_with = "sizes_in_names")]
    pub tricky: bool,
    /// Name files `...,S=<size>,W=<CRLF size>` as Dovecot's deliver does.
    #[arg(long)]
    pub sizes_in_names: bool,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Append users to this passwd-file (created when missing).
    #[arg(long, requires_all = ["user_pattern", "users", "home_root"])]
    pub write_users: Option<PathBuf>,
    #[command(flatten)]
    pub users: UserPattern,
    /// Homes are <home-root>/<user>.
    #[arg(long)]
    pub home_root: Option<PathBuf>,
    /// Maildirs made in each home, each linking every template message; repeatable.
    #[arg(long, default_value = "Maildir")]
    pub maildir_name: Vec<String>,
    /// Make only the homes: the users' maildirs do not exist (an empty mailbox to pop3host's
    /// maildir plugin, which then needs no lock file; Dovecot creates it at login).
    #[arg(long)]
    pub no_maildir: bool,
    /// Owner of everything written (Dovecot will not run mail processes as root).
    #[arg(long)]
    pub uid: Option<u32>,
    #[arg(long)]
    pub gid: Option<u32>,
}

pub fn run(args: Args) -> Result<Report, String> {
    if args.messages > 1_000_000 || args.size > 64 << 20 {
        return Err("--messages at most 1000000, --size at most 64 MiB".into());
    }
    let owner = Owner(args.uid, args.gid);
    let made = !args.template.join("cur").is_dir();
    if made {
        write_template(&args, &owner)?;
    }
    let files = template_files(&args.template)?;
    let octets: u64 = files
        .iter()
        .map(|(sub, name)| fs::metadata(args.template.join(sub).join(name)).map_or(0, |m| m.len()))
        .sum();
    let mut users = 0;
    if let Some(users_file) = &args.write_users {
        users = write_users(&args, users_file, &files, &owner)?;
    }
    let mut report = Report::new("corpus");
    report.add(
        "template",
        args.template.display(),
        args.template.display().to_string(),
    );
    report.add("made", made, made);
    report.count("messages", files.len() as u64);
    report.count("octets", octets);
    report.count("users_written", users as u64);
    Ok(report)
}

struct Owner(Option<u32>, Option<u32>);

impl Owner {
    fn apply(&self, path: &Path) -> Result<(), String> {
        if self.0.is_none() && self.1.is_none() {
            return Ok(());
        }
        chown(path, self.0, self.1).map_err(|e| format!("chown {}: {e}", path.display()))
    }

    fn mkdir(&self, path: &Path) -> Result<(), String> {
        fs::create_dir_all(path).map_err(|e| format!("mkdir {}: {e}", path.display()))?;
        self.apply(path)
    }
}

fn write_template(args: &Args, owner: &Owner) -> Result<(), String> {
    owner.mkdir(&args.template)?;
    for sub in ["cur", "new", "tmp"] {
        owner.mkdir(&args.template.join(sub))?;
    }
    let mut rng = fastrand::Rng::with_seed(args.seed);
    for i in 0..args.messages {
        let size = args.size / 2 + rng.usize(0..=args.size.max(1));
        let content = if args.tricky {
            tricky(i, size, args.seed)
        } else {
            plain(i, size, args.seed)
        };
        let mut base = format!("{}.M{i}P{}.pop3bench", 1_700_000_000 + i, args.seed);
        if args.sizes_in_names {
            base += &format!(",S={},W={}", content.len(), normalize(&content).len());
        }
        let path = if args.tricky && i % 3 == 0 {
            args.template.join("new").join(base)
        } else {
            args.template.join("cur").join(base + ":2,S")
        };
        fs::write(&path, &content).map_err(|e| format!("{}: {e}", path.display()))?;
        owner.apply(&path)?;
    }
    Ok(())
}

/// (subdirectory, file name) of every template message.
fn template_files(template: &Path) -> Result<Vec<(&'static str, String)>, String> {
    let mut files = Vec::new();
    for sub in ["cur", "new"] {
        let dir = template.join(sub);
        let entries = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let name = entry
                .map_err(|e| format!("{}: {e}", dir.display()))?
                .file_name();
            files.push((sub, name.to_string_lossy().into_owned()));
        }
    }
    files.sort();
    Ok(files)
}

fn write_users(
    args: &Args,
    users_file: &Path,
    files: &[(&str, String)],
    owner: &Owner,
) -> Result<usize, String> {
    if args.users.users.is_some_and(|count| count > 1_000_000) {
        return Err("--users at most 1000000".into());
    }
    let (Some(names), Some(home_root)) = (args.users.names()?, &args.home_root) else {
        return Err("--write-users needs --user-pattern, --users and --home-root".into());
    };
    // The passwd-file needs absolute homes.
    let home_root =
        &std::path::absolute(home_root).map_err(|e| format!("{}: {e}", home_root.display()))?;
    owner.mkdir(home_root)?;
    let mut lines = String::new();
    for user in &names {
        let home = home_root.join(user);
        owner.mkdir(&home)?;
        let maildirs = if args.no_maildir {
            &[][..]
        } else {
            &args.maildir_name[..]
        };
        for name in maildirs {
            let maildir = home.join(name);
            owner.mkdir(&maildir)?;
            for sub in ["cur", "new", "tmp"] {
                owner.mkdir(&maildir.join(sub))?;
            }
            for (sub, file) in files {
                let (from, to) = (
                    args.template.join(sub).join(file),
                    maildir.join(sub).join(file),
                );
                fs::hard_link(&from, &to).map_err(|e| format!("link {}: {e}", to.display()))?;
            }
        }
        let id = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
        lines += &format!(
            "{user}:{{PLAIN}}{}:{}:{}::{}::\n",
            args.users.pass,
            id(args.uid),
            id(args.gid),
            home.display()
        );
    }
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(users_file)
        .map_err(|e| format!("{}: {e}", users_file.display()))?;
    file.write_all(lines.as_bytes())
        .map_err(|e| format!("{}: {e}", users_file.display()))?;
    Ok(names.len())
}

fn headers(i: usize, seed: u64) -> String {
    let s = i % 97;
    format!(
        "Return-Path: <sender{s}@example.org>\nFrom: Sender {s} <sender{s}@example.org>\n\
         To: bench@example.org\nSubject: pop3bench message {i}\n\
         Date: Tue, 14 Nov 2023 22:13:20 +0000\nMessage-ID: <{i}.{seed}@pop3bench.example>\n\
         MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n"
    )
}

/// About `size` octets: headers, then 76-octet text lines, every 50th starting with a dot.
fn plain(i: usize, size: usize, seed: u64) -> Vec<u8> {
    let mut message = headers(i, seed).into_bytes();
    let text = "The quick brown fox jumps over the lazy dog. Pack my box with five dozen jugs.";
    let mut n = 0;
    while message.len() < size || n == 0 {
        let line = if n % 50 == 49 {
            format!(".{i:06} {n:06} starts with a dot")
        } else {
            format!("{i:06} {n:06} {text}")
        };
        message.extend_from_slice(&line.as_bytes()[..line.len().min(76)]);
        message.push(b'\n');
        n += 1;
    }
    message
}

/// One of nine shapes by `i % 9`, each unique through its number.
fn tricky(i: usize, size: usize, seed: u64) -> Vec<u8> {
    let small = size.min(20_000);
    let mut message = match i % 9 {
        // CRLF line ends throughout.
        1 => String::from_utf8(plain(i, small, seed))
            .unwrap()
            .replace('\n', "\r\n")
            .into_bytes(),
        // Mixed: every other line CRLF.
        2 => {
            let lf = plain(i, small, seed);
            let mut out = Vec::new();
            for (n, line) in lf.split_inclusive(|&b| b == b'\n').enumerate() {
                if n % 2 == 0 {
                    out.extend_from_slice(&line[..line.len() - 1]);
                    out.extend_from_slice(b"\r\n");
                } else {
                    out.extend_from_slice(line);
                }
            }
            out
        }
        // No final newline.
        3 => {
            let mut m = plain(i, small, seed);
            m.pop();
            m
        }
        // Dot lines, including a lone dot (the terminator) and stuffed-looking ones.
        4 => {
            let mut m = headers(i, seed).into_bytes();
            m.extend_from_slice(b".\n..\n..x\n.x\n...\n. \nmiddle\n.\r\n.\n");
            m
        }
        // 8-bit and NUL octets.
        5 => {
            let mut m = headers(i, seed).into_bytes();
            m.extend_from_slice("Gr\u{fc}\u{df}e, na\u{ef}ve caf\u{e9}\n".as_bytes());
            m.extend((0x80..=0xffu8).chain([b'\n', 0, b'x', 0, b'\n']));
            m
        }
        // A 3000-octet line.
        6 => {
            let mut m = headers(i, seed).into_bytes();
            m.extend(std::iter::repeat_n(b'y', 3000));
            m.extend_from_slice(b"\nafter the long line\n");
            m
        }
        // No body at all.
        7 => headers(i, seed).into_bytes(),
        // A body that ends with lines the terminator would be confused with.
        8 => {
            let mut m = plain(i, small / 4, seed);
            m.extend_from_slice(b"\r\n.\r\n.\n");
            m
        }
        _ => plain(i, size, seed),
    };
    // Every message is unique: its number is in the headers.
    message.shrink_to_fit();
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_messages_have_the_asked_size_and_short_lines() {
        let m = plain(7, 10_000, 1);
        assert!(m.len() >= 10_000 && m.len() < 10_100);
        assert!(m.split(|&b| b == b'\n').all(|line| line.len() <= 76));
        assert!(m.ends_with(b"\n"));
    }

    #[test]
    fn tricky_messages_are_distinct() {
        let all: Vec<Vec<u8>> = (0..18).map(|i| tricky(i, 5000, 1)).collect();
        for (i, a) in all.iter().enumerate() {
            assert!(all[i + 1..].iter().all(|b| a != b), "message {i} repeats");
        }
        assert!(!tricky(3, 5000, 1).ends_with(b"\n"));
    }
}
