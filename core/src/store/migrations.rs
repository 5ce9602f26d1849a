//! The store's schema, one migration per version. The file's `user_version`
//! pragma says how many have run. A migration is never edited once released:
//! a change is a new migration at the end.
//!
//! Every table is `STRICT` (SQLite checks column types). Personal data
//! lives only in `sealed_records.blob`, sealed by the platform's key
//! (`sealed.rs`); no other column may hold a name, an address, a birth date,
//! the My Number, a photo or a certificate's personal attributes.

use rusqlite::Connection;

use super::StoreError;

/// The migrations, in order: index `i` brings the schema to version `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the shared foundations (issue 8, "Phone services").
    "
    -- App settings and small state: never personal data.
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
    ) STRICT;

    -- Personal data, sealed by the platform's key: the blob is the only
    -- place it may be, and it is never the plaintext.
    CREATE TABLE sealed_records (
        kind TEXT NOT NULL,
        id   TEXT NOT NULL,
        blob BLOB NOT NULL,
        PRIMARY KEY (kind, id)
    ) STRICT;

    -- The offset last seen from each authority's clock (issue 8, Clock).
    CREATE TABLE clock_offsets (
        authority         TEXT PRIMARY KEY NOT NULL,
        authority_time_ms INTEGER NOT NULL,
        local_time_ms     INTEGER NOT NULL
    ) STRICT;

    -- State-changing operations begun and not yet finished, with the
    -- idempotency key every retry of each must send (a retry after a lost
    -- answer or a restart must not create anything twice).
    CREATE TABLE pending_operations (
        operation       TEXT PRIMARY KEY NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE
    ) STRICT;
    ",
    // 2: the PIN-reset app's reservations (issue 8), as the authority last
    // described them. No personal data: an id, a kind, times and chains.
    "
    CREATE TABLE reset_reservations (
        authority  TEXT NOT NULL,
        id         TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        body       TEXT NOT NULL,
        PRIMARY KEY (authority, id)
    ) STRICT;
    ",
    // 3: the wallet's records (issue 9) as the phone last knew them. No
    // personal data: the record itself (the mdoc, whose elements are the
    // holder's) and the holder token are sealed records; here are ids,
    // times, states and counts.
    "
    CREATE TABLE wallet_records (
        record_id                     TEXT PRIMARY KEY NOT NULL,
        authority                     TEXT NOT NULL,
        device_key_alias              TEXT NOT NULL,
        issued_at                     INTEGER NOT NULL,
        valid_from                    INTEGER NOT NULL,
        valid_until                   INTEGER NOT NULL,
        status_uri                    TEXT NOT NULL,
        status_idx                    INTEGER NOT NULL,
        signing_certificate_not_after INTEGER NOT NULL,
        uses                          INTEGER NOT NULL DEFAULT 0,
        state                         TEXT NOT NULL,
        reason                        TEXT,
        replaced_by                   TEXT
    ) STRICT;

    -- Status list tokens as fetched (public data, signed by the issuer),
    -- reused within their ttl.
    CREATE TABLE wallet_status_lists (
        uri        TEXT PRIMARY KEY NOT NULL,
        token      BLOB NOT NULL,
        fetched_at INTEGER NOT NULL
    ) STRICT;

    -- Notices from the issuer (no personal data: ids, kinds, times).
    CREATE TABLE wallet_notices (
        authority TEXT NOT NULL,
        id        TEXT NOT NULL,
        body      TEXT NOT NULL,
        PRIMARY KEY (authority, id)
    ) STRICT;
    ",
];

/// Brings the schema to the newest version of `migrations`, all pending
/// migrations in one transaction: a crash or a failing migration leaves the
/// file at the version it had.
pub(super) fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<(), StoreError> {
    let known = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > known {
        return Err(StoreError::NewerSchema { found, known });
    }
    let pending = migrations.iter().skip(usize::try_from(found).unwrap_or(0));
    for migration in pending {
        tx.execute_batch(migration)?;
    }
    if found < known {
        // Pragmas take no bound parameters; `known` is our own number.
        tx.execute_batch(&format!("PRAGMA user_version = {known}"))?;
    }
    tx.commit()?;
    Ok(())
}
