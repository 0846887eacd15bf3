//! The server's memory: proportional set size (Pss) and resident set size (Rss) from
//! /proc/PID/smaps_rollup, summed over its processes (one for pop3host; for Dovecot the master
//! and every child: login, auth and mail processes), and its open file descriptors.

use std::fs;
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone, Debug, Default)]
pub struct ServerArgs {
    /// The server's process; repeatable.
    #[arg(long)]
    pub server_pid: Vec<u32>,
    /// Also count every descendant of --server-pid (Dovecot: the master's pid).
    #[arg(long)]
    pub with_children: bool,
    /// Also count every process whose program name starts with NAME (e.g. `dovecot`, which
    /// matches `/usr/sbin/dovecot` and the `dovecot/pop3` children).
    #[arg(long, value_name = "NAME")]
    pub server_pids_from_name: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    pub pss_kb: u64,
    pub rss_kb: u64,
    pub processes: usize,
    pub threads: usize,
    pub fds: usize,
}

impl ServerArgs {
    pub fn wanted(&self) -> bool {
        !self.server_pid.is_empty() || self.server_pids_from_name.is_some()
    }

    /// The server's processes now.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = self.server_pid.clone();
        if self.with_children || self.server_pids_from_name.is_some() {
            let table = processes();
            if self.with_children {
                let mut i = 0;
                while i < pids.len() {
                    let parent = pids[i];
                    for &(pid, ppid, _) in &table {
                        if ppid == parent && !pids.contains(&pid) {
                            pids.push(pid);
                        }
                    }
                    i += 1;
                }
            }
            if let Some(name) = &self.server_pids_from_name {
                for (pid, _, program) in &table {
                    let base = program.rsplit('/').next().unwrap_or_default();
                    let named = base.starts_with(name.as_str()) || program.starts_with(name);
                    if named && !pids.contains(pid) {
                        pids.push(*pid);
                    }
                }
            }
        }
        pids
    }

    /// Memory and descriptors of the server's processes; `None` when none is running.
    pub fn sample(&self) -> Option<Sample> {
        let mut sample = Sample::default();
        for pid in self.pids() {
            let Ok(text) = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
                continue; // gone meanwhile
            };
            sample.pss_kb += field_kb(&text, "Pss:");
            sample.rss_kb += field_kb(&text, "Rss:");
            sample.processes += 1;
            sample.threads += fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|status| {
                    let line = status.lines().find(|l| l.starts_with("Threads:"))?;
                    line[8..].trim().parse::<usize>().ok()
                })
                .unwrap_or(1);
            sample.fds += fs::read_dir(format!("/proc/{pid}/fd"))
                .map(|d| d.count())
                .unwrap_or(0);
        }
        (sample.processes > 0).then_some(sample)
    }

    /// Waits until the server holds no more descriptors and threads than `baseline` (the
    /// sessions are gone on its side too, and idle pool threads have exited: tokio's blocking
    /// pool keeps them 10 s), then until Pss stops moving (two samples 500 ms apart within
    /// 1%), for at most `deadline`; returns the last sample.
    pub async fn settled(&self, baseline: &Sample, deadline: Duration) -> Option<Sample> {
        let started = Instant::now();
        let mut last = self.sample()?;
        while (last.fds > baseline.fds || last.threads > baseline.threads)
            && started.elapsed() < deadline
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
            last = self.sample()?;
        }
        while started.elapsed() < deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = self.sample()?;
            let moved = now.pss_kb.abs_diff(last.pss_kb);
            last = now;
            if moved * 100 <= now.pss_kb {
                break;
            }
        }
        Some(last)
    }
}

/// (pid, parent pid, program name from argv[0]) of every process.
fn processes() -> Vec<(u32, u32, String)> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name is in parentheses and may contain anything: parse after the last.
        let after = &stat[stat.rfind(')')? + 2..];
        let ppid = after.split(' ').nth(1)?.parse().ok()?;
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
        Some((pid, ppid, String::from_utf8_lossy(argv0).into_owned()))
    })
    .collect()
}

fn field_kb(smaps: &str, name: &str) -> u64 {
    smaps
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_process() {
        let me = ServerArgs {
            server_pid: vec![std::process::id()],
            ..ServerArgs::default()
        };
        let sample = me.sample().expect("this process runs");
        assert!(sample.pss_kb > 0 && sample.rss_kb >= sample.pss_kb);
        assert_eq!(sample.processes, 1);
        assert!(sample.fds >= 3);
    }

    #[test]
    fn fields_of_smaps_rollup() {
        let text = "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:  1234 kB\nPss:   567 kB\n";
        assert_eq!(field_kb(text, "Rss:"), 1234);
        assert_eq!(field_kb(text, "Pss:"), 567);
        assert_eq!(field_kb(text, "Swap:"), 0);
    }
}
