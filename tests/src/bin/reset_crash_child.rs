//! The child process of the reset flow's crash test
//! (`tests/reset_faults.rs`): `reset-crash-child DIR KIND KILL_AT` runs a
//! whole reset of `KIND` (`signing_password` or `auth_pin`) on the files in
//! `DIR` (see `mynakit_tests::reset_crash`), printing every store write it
//! passes, and waits at write `KILL_AT` to be killed (0: runs to the end and
//! exits 0).

use mynakit_core::reset::ResetKind;

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(kind), Some(kill_at)) = (
        args.next(),
        args.next().as_deref().and_then(ResetKind::parse),
        args.next().and_then(|a| a.parse().ok()),
    ) else {
        eprintln!("usage: reset-crash-child DIR signing_password|auth_pin KILL_AT");
        return std::process::ExitCode::from(2);
    };
    let files = mynakit_tests::reset_crash::CrashFiles::new(dir);
    match mynakit_tests::reset_crash::run_child(&files, kind, kill_at) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reset-crash-child: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
