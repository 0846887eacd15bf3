//! What one password verification costs, per scheme, at the parameters Dovecot and the common
//! tools use by default, and what a hit of the authentication cache costs instead: CPU time
//! of this thread per verification (its own clock, so other load on the machine slows the
//! run but does not inflate the figure), and the verifications one core does per second.
//! The same `password_schemes` code the plugins verify with.

use crate::report::Report;
use password_schemes::{AuthCache, AuthCacheSettings, Credential, Subject};
use rustix::time::{clock_gettime, ClockId};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// How long to verify each scheme (at least 3 verifications each).
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

/// Hashes of "password": (report key, parameters, field).
const SCHEMES: &[(&str, &str, &str)] = &[
    ("plain", "PLAIN", "{PLAIN}password"),
    // The fixture's `openssl passwd -6 -salt saltsalt password`: 5000 rounds, the default of
    // glibc, openssl and Dovecot.
    ("sha512_crypt", "SHA512-CRYPT, 5000 rounds",
     "{SHA512-CRYPT}$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/"),
    // glibc crypt(3), Python's crypt.mksalt(METHOD_BLOWFISH, rounds=32): cost 5 is Dovecot's
    // default, cost 10 that of htpasswd -B and PHP.
    ("blf_crypt_5", "BLF-CRYPT, cost 5",
     "{BLF-CRYPT}$2b$05$3tIIk2csOjjSkrQhI6YEI.FragMwzyAKzJeNLzd8IeP9A6HcsYLXK"),
    ("blf_crypt_10", "BLF-CRYPT, cost 10",
     "{BLF-CRYPT}$2b$10$i8.BYJ8k1OynLPtHtXxQnuRZk4/anrc.5AlmhTZak3yxAs5u9RmBe"),
    // `argon2 pop3hostbenchsalt -id -t 2 -k 65536 -p 1 -e`: libsodium's "interactive" limits,
    // which Dovecot's ARGON2ID uses.
    ("argon2id", "ARGON2ID, m=64 MiB t=2 p=1",
     "{ARGON2ID}$argon2id$v=19$m=65536,t=2,p=1$cG9wM2hvc3RiZW5jaHNhbHQ$gHN27axHEiHrrXw1E4uaIV3mVg68DvRB2W4GJIyHkAA"),
];

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    let now = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Runs `verify` for about `run_for` (at least 3 times); CPU time per call.
fn cost(run_for: Duration, mut verify: impl FnMut() -> bool) -> Result<Duration, String> {
    let (started, cpu_started) = (Instant::now(), thread_cpu());
    let mut calls = 0u32;
    while calls < 3 || started.elapsed() < run_for {
        if !verify() {
            return Err("the password did not verify".into());
        }
        calls += 1;
    }
    Ok((thread_cpu() - cpu_started) / calls)
}

pub fn run(args: Args) -> Result<Report, String> {
    let run_for = crate::logins::seconds(args.seconds)?;
    let mut report = Report::new("password schemes: CPU per verification");
    let mut row = |key: &str, label: &str, per_call: Duration| {
        let ms = per_call.as_secs_f64() * 1000.0;
        report.number(&format!("{key}_ms"), ms, 4, &format!("ms ({label})"));
        report.number(
            &format!("{key}_per_s"),
            1.0 / per_call.as_secs_f64().max(1e-9),
            0,
            "/s per core",
        );
    };
    for (key, label, field) in SCHEMES {
        let credential = Credential::parse(field).map_err(|e| format!("{label}: {e}"))?;
        let per_call =
            cost(run_for, || credential.verify("password")).map_err(|e| format!("{label}: {e}"))?;
        row(key, label, per_call);
    }
    // A hit: what a remembered SHA512-CRYPT login costs instead of its verification.
    let settings = AuthCacheSettings {
        size: 10_000,
        ttl_seconds: 600,
    };
    let cache = AuthCache::new(Some(&settings))?;
    let credential = Credential::parse(SCHEMES[1].2).map_err(|e| e.to_string())?;
    cache.verify("bench", "user", &credential, "password");
    let subject = Subject {
        source: "bench",
        login: "user",
        credential: Some(&credential),
    };
    let per_call = cost(run_for, || cache.remembers(subject, "password"))?;
    row("auth_cache_hit", "a hit, SHA512-CRYPT user", per_call);
    Ok(report)
}
