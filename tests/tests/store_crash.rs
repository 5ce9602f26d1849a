//! Issue 8, "Phone services: Store": a process killed at any write leaves
//! the store consistent. Each case runs `store-crash-child` on a fresh
//! database, SIGKILLs it at one write (inside a transaction, or right after
//! a commit), then reopens the database and checks the invariants of
//! `mynakit_tests::store_crash`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use mynakit_tests::store_crash::{
    AT_KILL_POINT, CHANGES, LAST_KILL_POINT, WRITES_PER_CHANGE, check_invariants, initialise,
};

fn fresh_db(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("store-crash");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    initialise(&path).unwrap();
    path
}

fn child(path: &PathBuf, kill_at: u32) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_store-crash-child"))
        .arg(path)
        .arg(kill_at.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Changes committed when killed at `point`: a change counts once the
/// point right after its commit is reached (every `WRITES_PER_CHANGE + 1`th).
fn committed_at(point: u32) -> i64 {
    i64::from(point / (WRITES_PER_CHANGE + 1))
}

#[test]
fn a_child_killed_at_every_write_leaves_whole_changes_only() {
    for point in 1..=LAST_KILL_POINT {
        let path = fresh_db(&format!("kill-{point}"));
        let mut process = child(&path, point);
        let mut line = String::new();
        BufReader::new(process.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), format!("{AT_KILL_POINT} {point}"));
        // SIGKILL on Unix: no destructor, no rollback, no flush runs.
        process.kill().unwrap();
        let status = process.wait().unwrap();
        assert!(!status.success(), "the child was killed, not finished");
        let committed = check_invariants(&path)
            .unwrap_or_else(|wrong| panic!("killed at point {point}: {wrong}"));
        assert_eq!(committed, committed_at(point), "killed at point {point}");
    }
}

#[test]
fn a_child_that_is_not_killed_commits_every_change() {
    let path = fresh_db("no-kill");
    let status = child(&path, 0).wait().unwrap();
    assert!(status.success());
    assert_eq!(check_invariants(&path), Ok(i64::from(CHANGES)));
}

#[test]
fn the_kill_points_cover_both_changes_and_their_commits() {
    // Guards the loop above against a scenario that shrank.
    assert_eq!(committed_at(1), 0);
    assert_eq!(committed_at(WRITES_PER_CHANGE), 0);
    assert_eq!(committed_at(WRITES_PER_CHANGE + 1), 1);
    assert_eq!(committed_at(WRITES_PER_CHANGE + 2), 1);
    assert_eq!(committed_at(LAST_KILL_POINT), i64::from(CHANGES));
    assert_eq!(LAST_KILL_POINT, 14);
}
