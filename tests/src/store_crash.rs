//! The store's crash test (issue 8: "killing the process at any write leaves
//! a consistent state"). A child process (`store-crash-child`) makes two
//! multi-step changes, each in one transaction, and stops at a chosen write
//! (announcing it on standard output) until the test SIGKILLs it there. The
//! test then opens the database and checks that every change happened whole
//! or not at all.
//!
//! One change stands for an app's typical write: it begins an operation
//! (its idempotency key), moves 10 units between two settings, stores a
//! sealed personal-data record, bumps the generation, and finishes the
//! operation. Invariants after any kill: the two balances add up to 100;
//! the generation counts the changes committed, and the balances, the
//! sealed records and the pending operations agree with it.

use std::io::Write;

use mynakit_core::{SealError, SealingKey, Store, StoreError, StoreTx};
use zeroize::Zeroizing;

/// Changes the child makes, one transaction each.
pub const CHANGES: u32 = 2;
/// Writes per change (kill points inside its transaction), then one more
/// point right after its commit.
pub const WRITES_PER_CHANGE: u32 = 6;
/// Every kill point: `1..=LAST_KILL_POINT`.
pub const LAST_KILL_POINT: u32 = CHANGES * (WRITES_PER_CHANGE + 1);
/// What the child prints when it reaches the kill point it was given.
pub const AT_KILL_POINT: &str = "at kill point";

/// Not cryptography: a stand-in for the secure area's key (which arrives
/// with the wallet issue) that masks the data and keeps the context, so the
/// test can open what the child sealed and see it bound to its record.
#[derive(Debug)]
pub struct StandInKey;

impl SealingKey for StandInKey {
    fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
        let len = u32::try_from(context.len()).map_err(|_| SealError::DoesNotOpen)?;
        let mut blob = len.to_be_bytes().to_vec();
        blob.extend_from_slice(context);
        blob.extend(plaintext.iter().map(|b| b ^ 0x5C));
        Ok(blob)
    }

    fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let (len, rest) = sealed.split_at_checked(4).ok_or(SealError::DoesNotOpen)?;
        let len = u32::from_be_bytes(len.try_into().map_err(|_| SealError::DoesNotOpen)?);
        let (ctx, data) = rest
            .split_at_checked(len as usize)
            .ok_or(SealError::DoesNotOpen)?;
        if ctx != context {
            return Err(SealError::DoesNotOpen);
        }
        Ok(Zeroizing::new(data.iter().map(|b| b ^ 0x5C).collect()))
    }
}

/// The personal data change `n` stores (sample, not a real person).
pub fn holder_record(n: u32) -> Vec<u8> {
    format!("番号　花子 #{n}").into_bytes()
}

/// Sets up a fresh database at `path`: balances 100 and 0, generation 0.
pub fn initialise(path: &std::path::Path) -> Result<(), StoreError> {
    let store = Store::open(path)?;
    store.transaction(|tx| {
        tx.set_setting("balance.a", "100")?;
        tx.set_setting("balance.b", "0")?;
        tx.set_setting("generation", "0")
    })
}

fn number(tx: &StoreTx<'_>, key: &str) -> Result<i64, StoreError> {
    tx.setting(key)?
        .and_then(|v| v.parse().ok())
        .ok_or(StoreError::Malformed {
            table: "settings",
            key: key.to_owned(),
        })
}

/// The child's work: both changes, stopping for good at `kill_at` (a kill
/// point number; 0 runs to the end).
pub fn run_child(path: &std::path::Path, kill_at: u32) -> Result<(), StoreError> {
    let store = Store::open(path)?;
    let mut point = 0;
    let reached = |point: &mut u32| {
        *point += 1;
        if *point == kill_at {
            let mut out = std::io::stdout().lock();
            // The parent kills us as soon as it reads this; if it cannot be
            // written, the parent sees the child exit and fails the test.
            let _ = writeln!(out, "{AT_KILL_POINT} {kill_at}");
            let _ = out.flush();
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
    };
    for _ in 0..CHANGES {
        store.transaction(|tx| {
            let generation = number(tx, "generation")?;
            let operation = format!("move/{generation}");
            tx.idempotency_key(&operation)?;
            reached(&mut point);
            tx.set_setting("balance.a", &(number(tx, "balance.a")? - 10).to_string())?;
            reached(&mut point);
            tx.set_setting("balance.b", &(number(tx, "balance.b")? + 10).to_string())?;
            reached(&mut point);
            let n = u32::try_from(generation).unwrap_or(u32::MAX);
            tx.put_sealed(&StandInKey, "holder", &n.to_string(), &holder_record(n))?;
            reached(&mut point);
            tx.set_setting("generation", &(generation + 1).to_string())?;
            reached(&mut point);
            tx.finish_operation(&operation)?;
            reached(&mut point);
            Ok::<_, StoreError>(())
        })?;
        reached(&mut point);
    }
    Ok(())
}

/// Opens the database after the child died and checks the invariants;
/// returns the number of changes committed.
pub fn check_invariants(path: &std::path::Path) -> Result<i64, String> {
    let store = Store::open(path).map_err(|e| e.to_string())?;
    store
        .transaction(|tx| {
            let a = number(tx, "balance.a")?;
            let b = number(tx, "balance.b")?;
            let generation = number(tx, "generation")?;
            let mut wrong = Vec::new();
            if a + b != 100 {
                wrong.push(format!("balances {a} + {b} != 100"));
            }
            if a != 100 - 10 * generation {
                wrong.push(format!("balance.a {a} after {generation} changes"));
            }
            let ids = tx.sealed_ids("holder")?;
            let expected: Vec<String> = (0..generation).map(|n| n.to_string()).collect();
            if ids != expected {
                wrong.push(format!("sealed records {ids:?} after {generation} changes"));
            }
            for n in 0..u32::try_from(generation).unwrap_or(0) {
                let record = tx.sealed(&StandInKey, "holder", &n.to_string())?;
                if record.as_deref().map(Vec::as_slice) != Some(&holder_record(n)[..]) {
                    wrong.push(format!(
                        "sealed record {n} does not open to what was stored"
                    ));
                }
            }
            let pending = tx.pending_operations()?;
            if !pending.is_empty() {
                wrong.push(format!("operations left pending: {pending:?}"));
            }
            Ok::<_, StoreError>((generation, wrong))
        })
        .map_err(|e| e.to_string())
        .and_then(|(generation, wrong)| {
            if wrong.is_empty() {
                Ok(generation)
            } else {
                Err(wrong.join("; "))
            }
        })
}
