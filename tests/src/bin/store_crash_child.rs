//! The child process of the store's crash test (`tests/store_crash.rs`):
//! `store-crash-child DB KILL_POINT` makes the changes of
//! `mynakit_tests::store_crash` and waits at `KILL_POINT` to be killed
//! (0: runs to the end and exits 0).

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(kill_at)) = (args.next(), args.next().and_then(|a| a.parse().ok()))
    else {
        eprintln!("usage: store-crash-child DB KILL_POINT");
        return std::process::ExitCode::from(2);
    };
    match mynakit_tests::store_crash::run_child(std::path::Path::new(&path), kill_at) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("store-crash-child: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
