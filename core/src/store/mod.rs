//! The phone's store: one SQLite database the core owns (the platform only
//! says where the file goes). Shared by the three apps (issue 8, "Phone
//! services: Store").
//!
//! - Versioned migrations (`migrations.rs`, the `user_version` pragma).
//! - WAL journal, `synchronous = FULL`, foreign keys on.
//! - Every change goes through [`Store::transaction`]: the closure's writes
//!   commit together or not at all, so a process killed at any write leaves
//!   the state before or after the whole change (tested by killing a child
//!   process at every write: `tests/tests/store_crash.rs`).
//! - Personal data only sealed ([`SealingKey`]): see `sealed.rs`.

mod error;
mod migrations;
mod sealed;
mod vault;

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::DateTime;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use zeroize::Zeroizing;

use crate::platform::{ClockOffset, IdempotencyKey};

pub use error::StoreError;
pub use sealed::{SealError, SealingKey};
pub use vault::{Vault, VaultError, VaultSpec};

/// How long a write waits for another connection's write to finish before
/// failing with "busy". A policy value: the apps' writes take milliseconds,
/// so waiting this long means something is stuck.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The phone's database. `Send + Sync`: hold it in an `Arc` and share it;
/// transactions run one at a time.
pub struct Store {
    conn: Mutex<Connection>,
    /// A crash test's hook ([`Store::with_write_observer`]); `None` in the
    /// apps.
    observer: Option<WriteObserver>,
}

/// Told of every transaction that changed a row, with `false` just before
/// its commit (killed there, the process leaves the state before the
/// change) and `true` just after it (the change is on disk:
/// `synchronous = FULL`). See [`Store::with_write_observer`].
type WriteObserver = Box<dyn Fn(bool) + Send + Sync>;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if need be) the database at `path` and brings its
    /// schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::set_up(Connection::open(path)?, migrations::MIGRATIONS)
    }

    /// A database in memory, for tests and previews; gone when dropped.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::set_up(Connection::open_in_memory()?, migrations::MIGRATIONS)
    }

    fn set_up(mut conn: Connection, migrations: &[&str]) -> Result<Self, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL: a crash never leaves a half-written page in the database,
        // and readers do not block the writer. (An in-memory database
        // answers "memory"; that is fine.)
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        // FULL: a committed change (a reservation the authority made) also
        // survives a power cut, not only a killed process; the apps write
        // rarely, so the extra fsync per commit costs nothing noticeable.
        conn.execute_batch(
            "PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA secure_delete = ON;",
        )?;
        migrations::migrate(&mut conn, migrations)?;
        Ok(Self {
            conn: Mutex::new(conn),
            observer: None,
        })
    }

    /// A crash test's hook: `observer` is called, with the store locked,
    /// just before the commit of every transaction that changed a row
    /// (`committed = false`) and just after it (`true`); read-only
    /// transactions are not reported. A test process stops there to be
    /// killed (`tests/tests/reset_faults.rs`). Without an observer,
    /// [`Store::transaction`] does nothing more than before. The apps never
    /// set one, and the bindings do not expose it.
    pub fn with_write_observer(mut self, observer: impl Fn(bool) + Send + Sync + 'static) -> Self {
        self.observer = Some(Box::new(observer));
        self
    }

    /// The schema version of the open database (the number of migrations run).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .lock()
            .query_row("PRAGMA user_version", [], |row| row.get(0))?)
    }

    /// Runs `change` in one transaction: committed if it returns `Ok`,
    /// rolled back if it returns `Err` or panics. The write lock is taken
    /// at the start (`BEGIN IMMEDIATE`), so a transaction never fails
    /// half-way for another writer.
    ///
    /// `E` is the caller's error type; store errors convert into it.
    ///
    /// `change` is synchronous on purpose: no request to an authority runs
    /// inside a transaction (it would hold the write lock for a network
    /// round trip, and an idempotency key must be committed before its
    /// request is sent). Do not call the store again from inside `change`:
    /// the store is locked until it returns.
    pub fn transaction<T, E>(
        &self,
        change: impl FnOnce(&StoreTx<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self.lock();
        // Only a crash test's observer needs to know whether rows changed.
        let changes_before = self.observer.as_ref().map(|_| conn.total_changes());
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let store_tx = StoreTx { tx };
        let value = change(&store_tx)?;
        let observer = self
            .observer
            .as_ref()
            .zip(changes_before)
            .filter(|(_, before)| store_tx.tx.total_changes() != *before)
            .map(|(observe, _)| observe);
        if let Some(observe) = observer {
            observe(false);
        }
        store_tx.tx.commit().map_err(StoreError::from)?;
        if let Some(observe) = observer {
            observe(true);
        }
        Ok(value)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic inside a transaction rolled it back as it unwound; the
        // connection itself is sound.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The store inside one transaction: every read and write of the apps.
pub struct StoreTx<'a> {
    tx: rusqlite::Transaction<'a>,
}

impl std::fmt::Debug for StoreTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreTx").finish_non_exhaustive()
    }
}

impl StoreTx<'_> {
    /// The transaction itself, for the apps' rooms in this crate to read and
    /// write their own tables (listed in `migrations.rs`).
    pub(crate) fn sql(&self) -> &rusqlite::Transaction<'_> {
        &self.tx
    }

    /// A setting (small app state; never personal data).
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .tx
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()?)
    }

    /// Sets a setting. Never personal data: that goes to
    /// [`StoreTx::put_sealed`].
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Removes a setting; whether there was one.
    pub fn remove_setting(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self
            .tx
            .execute("DELETE FROM settings WHERE key = ?1", [key])?
            > 0)
    }

    /// Stores personal data as the record `kind`/`id`, sealed by `key`
    /// (bound to `kind` and `id`, so the blob cannot be moved to another
    /// record). Refuses a key that returns the plaintext in the clear.
    pub fn put_sealed(
        &self,
        key: &dyn SealingKey,
        kind: &str,
        id: &str,
        plaintext: &[u8],
    ) -> Result<(), StoreError> {
        let blob = key.seal(plaintext, &seal_context(kind, id))?;
        if shows_plaintext(&blob, plaintext) {
            return Err(StoreError::NotSealed);
        }
        self.tx.execute(
            "INSERT INTO sealed_records (kind, id, blob) VALUES (?1, ?2, ?3)
             ON CONFLICT (kind, id) DO UPDATE SET blob = excluded.blob",
            params![kind, id, blob],
        )?;
        Ok(())
    }

    /// The personal data of record `kind`/`id`, opened by `key`; wiped from
    /// memory when dropped.
    pub fn sealed(
        &self,
        key: &dyn SealingKey,
        kind: &str,
        id: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let blob: Option<Vec<u8>> = self
            .tx
            .query_row(
                "SELECT blob FROM sealed_records WHERE kind = ?1 AND id = ?2",
                [kind, id],
                |row| row.get(0),
            )
            .optional()?;
        match blob {
            Some(blob) => Ok(Some(key.open(&blob, &seal_context(kind, id))?)),
            None => Ok(None),
        }
    }

    /// The ids of the sealed records of `kind`, in order.
    pub fn sealed_ids(&self, kind: &str) -> Result<Vec<String>, StoreError> {
        let mut statement = self
            .tx
            .prepare_cached("SELECT id FROM sealed_records WHERE kind = ?1 ORDER BY id")?;
        let ids = statement
            .query_map([kind], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// Removes a sealed record (its pages are overwritten: `secure_delete`);
    /// whether there was one.
    pub fn remove_sealed(&self, kind: &str, id: &str) -> Result<bool, StoreError> {
        Ok(self.tx.execute(
            "DELETE FROM sealed_records WHERE kind = ?1 AND id = ?2",
            [kind, id],
        )? > 0)
    }

    /// Keeps the clock offset last seen from `authority` (its base address
    /// or name), replacing the one before.
    pub fn record_clock_offset(
        &self,
        authority: &str,
        offset: &ClockOffset,
    ) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO clock_offsets (authority, authority_time_ms, local_time_ms)
             VALUES (?1, ?2, ?3)
             ON CONFLICT (authority) DO UPDATE SET
                 authority_time_ms = excluded.authority_time_ms,
                 local_time_ms = excluded.local_time_ms",
            params![
                authority,
                offset.authority_time().timestamp_millis(),
                offset.local_time().timestamp_millis()
            ],
        )?;
        Ok(())
    }

    /// The clock offset last seen from `authority`, to millisecond precision.
    pub fn clock_offset(&self, authority: &str) -> Result<Option<ClockOffset>, StoreError> {
        let row: Option<(i64, i64)> = self
            .tx
            .query_row(
                "SELECT authority_time_ms, local_time_ms FROM clock_offsets WHERE authority = ?1",
                [authority],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let Some((authority_ms, local_ms)) = row else {
            return Ok(None);
        };
        match (
            DateTime::from_timestamp_millis(authority_ms),
            DateTime::from_timestamp_millis(local_ms),
        ) {
            (Some(a), Some(l)) => Ok(Some(ClockOffset::observed(a, l))),
            _ => Err(StoreError::Malformed {
                table: "clock_offsets",
                key: authority.to_owned(),
            }),
        }
    }

    /// The idempotency key of the state-changing `operation` (a name the
    /// app chooses, e.g. `reset/reserve/<card>`): the key kept since the
    /// operation began, or a new one, kept from now on. Send every attempt
    /// of the operation with it, across retries and restarts, until
    /// [`StoreTx::finish_operation`]. Commit this transaction *before*
    /// sending, so that the key outlives a crash during the request.
    pub fn idempotency_key(&self, operation: &str) -> Result<IdempotencyKey, StoreError> {
        let kept: Option<String> = self
            .tx
            .query_row(
                "SELECT idempotency_key FROM pending_operations WHERE operation = ?1",
                [operation],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(kept) = kept {
            return IdempotencyKey::parse(&kept).map_err(|_| StoreError::Malformed {
                table: "pending_operations",
                key: operation.to_owned(),
            });
        }
        let key = IdempotencyKey::generate()?;
        self.tx.execute(
            "INSERT INTO pending_operations (operation, idempotency_key) VALUES (?1, ?2)",
            params![operation, key.as_str()],
        )?;
        Ok(key)
    }

    /// The operations begun and not finished (to resume after a restart).
    pub fn pending_operations(&self) -> Result<Vec<String>, StoreError> {
        let mut statement = self
            .tx
            .prepare_cached("SELECT operation FROM pending_operations ORDER BY operation")?;
        let operations = statement
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(operations)
    }

    /// Forgets `operation`'s key once its outcome is stored (in the same
    /// transaction as that outcome); whether it was pending. A later
    /// operation of the same name gets a new key.
    pub fn finish_operation(&self, operation: &str) -> Result<bool, StoreError> {
        Ok(self.tx.execute(
            "DELETE FROM pending_operations WHERE operation = ?1",
            [operation],
        )? > 0)
    }
}

/// What a sealed blob is bound to: its record's kind and id, unambiguously
/// joined (a length prefix, so `a`/`bc` and `ab`/`c` differ).
fn seal_context(kind: &str, id: &str) -> Vec<u8> {
    let mut context = b"mynakit-store/sealed/v1\0".to_vec();
    context.extend_from_slice(&(kind.len() as u64).to_be_bytes());
    context.extend_from_slice(kind.as_bytes());
    context.extend_from_slice(id.as_bytes());
    context
}

/// A tripwire against a key that does not encrypt: the blob contains the
/// plaintext. Only for plaintexts of 8 bytes or more, where a real cipher's
/// output containing them by chance is negligible (2^-64 per position).
fn shows_plaintext(blob: &[u8], plaintext: &[u8]) -> bool {
    plaintext.len() >= 8 && blob.windows(plaintext.len()).any(|w| w == plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    /// Not cryptography: a stand-in for the secure area's key that keeps
    /// the context in the clear and masks the data, so tests can see
    /// binding and round trips.
    struct MaskKey;

    impl SealingKey for MaskKey {
        fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
            let mut blob = (context.len() as u32).to_be_bytes().to_vec();
            blob.extend_from_slice(context);
            blob.extend(plaintext.iter().map(|b| b ^ 0xA5));
            Ok(blob)
        }

        fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
            let n = u32::from_be_bytes(sealed[..4].try_into().unwrap()) as usize;
            if sealed.get(4..4 + n) != Some(context) {
                return Err(SealError::DoesNotOpen);
            }
            Ok(Zeroizing::new(
                sealed[4 + n..].iter().map(|b| b ^ 0xA5).collect(),
            ))
        }
    }

    /// A "key" that does nothing: the store must refuse it.
    struct ClearKey;

    impl SealingKey for ClearKey {
        fn seal(&self, plaintext: &[u8], _: &[u8]) -> Result<Vec<u8>, SealError> {
            Ok(plaintext.to_vec())
        }
        fn open(&self, sealed: &[u8], _: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
            Ok(Zeroizing::new(sealed.to_vec()))
        }
    }

    #[derive(Debug, PartialEq)]
    enum AppError {
        Store(String),
        Declined,
    }

    impl From<StoreError> for AppError {
        fn from(e: StoreError) -> Self {
            Self::Store(e.to_string())
        }
    }

    fn value(store: &Store, key: &str) -> Option<String> {
        store.transaction(|tx| tx.setting(key)).unwrap()
    }

    #[test]
    fn a_new_store_is_at_the_newest_schema_with_foreign_keys_on() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            migrations::MIGRATIONS.len() as i64
        );
        let conn = store.lock();
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
    }

    #[test]
    fn a_file_store_uses_wal_and_keeps_its_data() {
        let dir = std::env::temp_dir().join(format!(
            "mynakit-store-test-{}",
            IdempotencyKey::generate().unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("phone.db");
        {
            let store = Store::open(&path).unwrap();
            let mode: String = store
                .lock()
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .unwrap();
            assert_eq!(mode, "wal");
            store
                .transaction(|tx| tx.set_setting("terms.version", "2026-04"))
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(value(&store, "terms.version").as_deref(), Some("2026-04"));
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_error_or_a_panic_rolls_the_whole_change_back() {
        let store = Store::open_in_memory().unwrap();
        store.transaction(|tx| tx.set_setting("a", "1")).unwrap();
        let declined: Result<(), AppError> = store.transaction(|tx| {
            tx.set_setting("a", "2")?;
            tx.set_setting("b", "2")?;
            Err(AppError::Declined)
        });
        assert_eq!(declined, Err(AppError::Declined));
        assert_eq!(value(&store, "a").as_deref(), Some("1"));
        assert_eq!(value(&store, "b"), None);

        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _: Result<(), StoreError> = store.transaction(|tx| {
                tx.set_setting("a", "3")?;
                panic!("the app failed mid-change");
            });
        }));
        assert!(panicked.is_err());
        // The store is still usable and unchanged.
        assert_eq!(value(&store, "a").as_deref(), Some("1"));
        assert!(store.transaction(|tx| tx.remove_setting("a")).unwrap());
        assert!(!store.transaction(|tx| tx.remove_setting("a")).unwrap());
    }

    #[test]
    fn migrations_run_once_in_order_and_a_failing_one_changes_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        let v1 = "CREATE TABLE one (x INTEGER) STRICT;";
        let broken = "CREATE TABLE two (x INTEGER) STRICT; THIS IS NOT SQL;";
        assert!(matches!(
            migrations::migrate(&mut conn, &[v1, broken]),
            Err(StoreError::Sqlite(_))
        ));
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 0);
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0, "the first migration was rolled back too");

        migrations::migrate(&mut conn, &[v1]).unwrap();
        conn.execute("INSERT INTO one VALUES (7)", []).unwrap();
        // An upgrade runs only the new migration.
        let v2 = "CREATE TABLE two (x INTEGER) STRICT;";
        migrations::migrate(&mut conn, &[v1, v2]).unwrap();
        migrations::migrate(&mut conn, &[v1, v2]).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 2);
        let kept: i64 = conn
            .query_row("SELECT x FROM one", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 7);

        // An older build refuses a newer file.
        assert!(matches!(
            migrations::migrate(&mut conn, &[v1]),
            Err(StoreError::NewerSchema { found: 2, known: 1 })
        ));
    }

    #[test]
    fn personal_data_is_stored_sealed_and_bound_to_its_record() {
        let store = Store::open_in_memory().unwrap();
        let name = "番号　花子".as_bytes();
        store
            .transaction(|tx| tx.put_sealed(&MaskKey, "holder", "card-1", name))
            .unwrap();
        // What is on disk is not the plaintext.
        let blob: Vec<u8> = store
            .lock()
            .query_row("SELECT blob FROM sealed_records", [], |r| r.get(0))
            .unwrap();
        assert!(!shows_plaintext(&blob, name));
        let opened = store
            .transaction(|tx| tx.sealed(&MaskKey, "holder", "card-1"))
            .unwrap()
            .unwrap();
        assert_eq!(&opened[..], name);
        assert_eq!(
            store.transaction(|tx| tx.sealed_ids("holder")).unwrap(),
            ["card-1"]
        );
        // A blob moved to another record does not open.
        store
            .lock()
            .execute("UPDATE sealed_records SET id = 'card-2'", [])
            .unwrap();
        assert!(matches!(
            store.transaction(|tx| tx.sealed(&MaskKey, "holder", "card-2")),
            Err(StoreError::Seal(SealError::DoesNotOpen))
        ));
        assert!(
            store
                .transaction(|tx| tx.remove_sealed("holder", "card-2"))
                .unwrap()
        );
        assert_eq!(
            store
                .transaction(|tx| tx.sealed(&MaskKey, "holder", "card-2"))
                .unwrap(),
            None
        );
    }

    #[test]
    fn a_key_that_does_not_encrypt_is_refused() {
        let store = Store::open_in_memory().unwrap();
        let result = store
            .transaction(|tx| tx.put_sealed(&ClearKey, "holder", "1", "東京都千代田区".as_bytes()));
        assert!(matches!(result, Err(StoreError::NotSealed)));
        let count: i64 = store
            .lock()
            .query_row("SELECT count(*) FROM sealed_records", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 0);
    }

    #[test]
    fn a_clock_offset_is_kept_per_authority() {
        let store = Store::open_in_memory().unwrap();
        let local = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let offset = ClockOffset::observed(local + chrono::TimeDelta::seconds(-42), local);
        store
            .transaction(|tx| tx.record_clock_offset("https://reset.example", &offset))
            .unwrap();
        let kept = store
            .transaction(|tx| tx.clock_offset("https://reset.example"))
            .unwrap();
        assert_eq!(kept, Some(offset));
        assert_eq!(kept.unwrap().offset(), chrono::TimeDelta::seconds(-42));
        assert_eq!(
            store.transaction(|tx| tx.clock_offset("other")).unwrap(),
            None
        );
        // A later one replaces it.
        let later = ClockOffset::observed(local, local);
        store
            .transaction(|tx| tx.record_clock_offset("https://reset.example", &later))
            .unwrap();
        assert_eq!(
            store
                .transaction(|tx| tx.clock_offset("https://reset.example"))
                .unwrap(),
            Some(later)
        );
        // A corrupt row is a typed error, not a panic.
        store
            .lock()
            .execute("UPDATE clock_offsets SET local_time_ms = ?1", [i64::MAX])
            .unwrap();
        assert!(matches!(
            store.transaction(|tx| tx.clock_offset("https://reset.example")),
            Err(StoreError::Malformed {
                table: "clock_offsets",
                ..
            })
        ));
    }

    #[test]
    fn a_write_observer_hears_of_each_writing_commit_before_and_after() {
        use std::sync::Arc;
        let heard = Arc::new(Mutex::new(Vec::new()));
        let log = heard.clone();
        let store = Store::open_in_memory()
            .unwrap()
            .with_write_observer(move |committed| log.lock().unwrap().push(committed));
        store.transaction(|tx| tx.set_setting("a", "1")).unwrap();
        // Read-only, and a write that changed no row: not reported.
        store.transaction(|tx| tx.setting("a")).unwrap();
        store.transaction(|tx| tx.remove_setting("none")).unwrap();
        // Rolled back: never reaches the commit.
        let _: Result<(), AppError> = store.transaction(|tx| {
            tx.set_setting("b", "2")?;
            Err(AppError::Declined)
        });
        store.transaction(|tx| tx.remove_setting("a")).unwrap();
        assert_eq!(*heard.lock().unwrap(), [false, true, false, true]);
    }

    #[test]
    fn an_operation_keeps_its_idempotency_key_until_finished() {
        let store = Store::open_in_memory().unwrap();
        let first = store
            .transaction(|tx| tx.idempotency_key("reset/reserve"))
            .unwrap();
        let retry = store
            .transaction(|tx| tx.idempotency_key("reset/reserve"))
            .unwrap();
        assert_eq!(first, retry);
        let other = store
            .transaction(|tx| tx.idempotency_key("wallet/issue"))
            .unwrap();
        assert_ne!(first, other);
        assert_eq!(
            store.transaction(|tx| tx.pending_operations()).unwrap(),
            ["reset/reserve", "wallet/issue"]
        );
        assert!(
            store
                .transaction(|tx| tx.finish_operation("reset/reserve"))
                .unwrap()
        );
        let next = store
            .transaction(|tx| tx.idempotency_key("reset/reserve"))
            .unwrap();
        assert_ne!(first, next);
    }
}
