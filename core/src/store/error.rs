//! What can go wrong with the phone's store.

/// Why a store operation failed. Nothing was changed when this is returned
/// from [`Store::transaction`](super::Store::transaction): the transaction
/// was rolled back.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed (disk full, I/O error, a corrupt file, a busy lock that
    /// did not clear in time).
    #[error("the store failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database was written by a newer app version (its schema version
    /// is above every migration this build knows). Opening it anyway could
    /// misread it, so the store refuses.
    #[error("the store's schema version {found} is newer than this app's {known}")]
    NewerSchema {
        /// The file's `user_version`.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// A value in the store is not what this build wrote there (a changed
    /// file, a bug): named by table and key, never by content.
    #[error("the store holds a malformed value in {table} ({key})")]
    Malformed {
        /// The table.
        table: &'static str,
        /// The row's key.
        key: String,
    },
    /// The sealing key refused to seal or to open a personal-data record.
    #[error("personal data could not be sealed or opened: {0}")]
    Seal(#[from] super::sealed::SealError),
    /// The sealing key returned its input in the clear: the store refuses
    /// to write personal data unsealed.
    #[error("the sealing key did not encrypt; personal data is not stored in the clear")]
    NotSealed,
    /// The system random source failed (for a new idempotency key).
    #[error(transparent)]
    Random(#[from] crate::platform::RandomUnavailable),
}
