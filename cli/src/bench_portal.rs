//! `mynakit bench insurer-view`: what the sandbox insurer's view (rules
//! §6, `docs/portal-protocol.md` "The insurer's view") costs at 10^5 and
//! 10^6 members: building the members (one transaction), the clock's sweep
//! every request pays, the first page of the insurer's and an employer's
//! view (with the totals, counted in SQLite), and a walk over every page —
//! each with its wall time and the process's peak resident memory.
//!
//! The portal's store is a file in the temporary directory (as `mynakit
//! sandbox serve` keeps it), removed afterwards. The view is asked through
//! `handle_sandbox`, the same function the served sandbox answers with, so
//! JSON encoding is included.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use clap::Args;
use mynakit_core::ManualClock;
use mynakit_sandbox::portal::insurance::{
    EmployerView, InsurerView, SAMPLE_EMPLOYERS, VIEW_PAGE_MAX, add_synthetic_members,
};
use mynakit_sandbox::portal::{DEFAULT_BASE_URL, PortalAuthority, handle_sandbox};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::CmdResult;
use crate::failure::Failure;
use crate::output::Output;

/// Options of `bench insurer-view`.
#[derive(Debug, Args)]
pub struct InsurerViewBenchArgs {
    /// Member counts to measure.
    #[arg(long, value_delimiter = ',', default_values_t = [100_000u64, 1_000_000])]
    members: Vec<u64>,
}

/// One size's measurements.
#[derive(Debug, Clone, Serialize)]
pub struct InsurerViewCost {
    /// Members in the view (the synthetic ones and the sandbox's four).
    pub members: u64,
    /// The store's size on disk after building, bytes.
    pub store_bytes: u64,
    /// Adding the synthetic members in one transaction, ms.
    pub build_ms: f64,
    /// One empty request's transaction (the clock's sweeps), ms.
    pub sweep_ms: f64,
    /// The insurer's first page (1000 rows, totals counted), ms.
    pub first_page_ms: f64,
    /// Its JSON, bytes.
    pub first_page_bytes: usize,
    /// An employer's first page (reminders only, totals counted), ms.
    pub employer_page_ms: f64,
    /// Walking every page of the insurer's view at the largest page size, ms.
    pub walk_ms: f64,
    /// Of which inside the portal (`handle_sandbox`: query, rows, JSON
    /// encoding); the rest is the benchmark decoding the pages.
    pub walk_served_ms: f64,
    /// Pages walked.
    pub walk_pages: u64,
    /// Rows, 紐付勧奨 and 再交付勧奨 entries seen in the walk.
    pub walk_rows: u64,
    /// 紐付勧奨 entries in the walk (equal to the first page's total).
    pub link_reminders: u64,
    /// 再交付勧奨 entries in the walk (equal to the first page's total).
    pub renewal_reminders: u64,
    /// Peak resident memory while building, MiB (Linux; 0 elsewhere).
    pub build_peak_mib: f64,
    /// Peak resident memory during the views and the walk, MiB.
    pub view_peak_mib: f64,
}

thread_local! {
    /// Time spent inside `handle_sandbox` (the portal's side), ns.
    static SERVED_NS: std::cell::Cell<u128> = const { std::cell::Cell::new(0) };
}

fn millis(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// Resets the kernel's peak-RSS mark of this process (Linux ≥ 4.0);
/// elsewhere nothing.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The peak RSS since the last reset, MiB (0 where unknown).
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn get<T: DeserializeOwned>(portal: &PortalAuthority, target: &str) -> Result<(T, usize), String> {
    let start = Instant::now();
    let answer = handle_sandbox(portal, "GET", target, &[], &[]);
    SERVED_NS.with(|c| c.set(c.get() + start.elapsed().as_nanos()));
    if answer.status != 200 {
        return Err(format!(
            "{target}: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        ));
    }
    let value = serde_json::from_slice(&answer.body).map_err(|e| format!("{target}: {e}"))?;
    Ok((value, answer.body.len()))
}

fn remove_store(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

/// Measures the insurer's view over a fresh portal with `members`
/// synthetic members added to the sandbox's own.
pub fn insurer_view(members: u64) -> Result<InsurerViewCost, String> {
    let path = std::env::temp_dir().join(format!(
        "mynakit-bench-insurer-{}-{members}.db",
        std::process::id()
    ));
    remove_store(&path);
    let outcome = measure(&path, members);
    remove_store(&path);
    outcome
}

fn measure(path: &Path, members: u64) -> Result<InsurerViewCost, String> {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let portal = PortalAuthority::open(path, clock, DEFAULT_BASE_URL).map_err(|e| e.to_string())?;
    reset_peak();
    let start = Instant::now();
    add_synthetic_members(&portal, members).map_err(|e| e.to_string())?;
    let build_ms = millis(start);
    let build_peak_mib = peak_mib();
    let store_bytes = ["", "-wal"]
        .iter()
        .filter_map(|s| {
            let mut name = path.as_os_str().to_owned();
            name.push(s);
            std::fs::metadata(PathBuf::from(name)).ok()
        })
        .map(|m| m.len())
        .sum();

    reset_peak();
    // A view of an employer that does not exist: a whole request (its
    // transaction and the clock's sweeps) refused before any reading.
    let start = Instant::now();
    let _ = handle_sandbox(
        &portal,
        "GET",
        "/v1/sandbox/insurer/view?employer=none",
        &[],
        &[],
    );
    let sweep_ms = millis(start);

    let start = Instant::now();
    let (first, first_page_bytes): (InsurerView, usize) = get(&portal, "/v1/sandbox/insurer/view")?;
    let first_page_ms = millis(start);
    let totals = first.totals.ok_or("the first page has no totals")?;

    let employer = SAMPLE_EMPLOYERS.first().copied().unwrap_or("E001");
    let start = Instant::now();
    let _: (EmployerView, usize) = get(
        &portal,
        &format!("/v1/sandbox/insurer/view?employer={employer}"),
    )?;
    let employer_page_ms = millis(start);

    SERVED_NS.with(|c| c.set(0));
    let start = Instant::now();
    let (mut after, mut pages, mut rows, mut link, mut renewal) = (0u64, 0u64, 0u64, 0u64, 0u64);
    loop {
        let (page, _): (InsurerView, usize) = get(
            &portal,
            &format!("/v1/sandbox/insurer/view?after={after}&limit={VIEW_PAGE_MAX}"),
        )?;
        pages += 1;
        rows += page.rows.len() as u64;
        link += page.link_reminders.len() as u64;
        renewal += page.renewal_reminders.len() as u64;
        match page.next_after {
            Some(next) => after = next,
            None => break,
        }
    }
    let walk_ms = millis(start);
    let walk_served_ms = SERVED_NS.with(|c| c.get()) as f64 / 1e6;
    let view_peak_mib = peak_mib();
    if (rows, link, renewal)
        != (
            totals.members,
            totals.link_reminders,
            totals.renewal_reminders,
        )
    {
        return Err(format!(
            "the walk saw {rows}/{link}/{renewal} rows/link/renewal, the totals say {}/{}/{}",
            totals.members, totals.link_reminders, totals.renewal_reminders
        ));
    }
    Ok(InsurerViewCost {
        members: totals.members,
        store_bytes,
        build_ms,
        sweep_ms,
        first_page_ms,
        first_page_bytes,
        employer_page_ms,
        walk_ms,
        walk_served_ms,
        walk_pages: pages,
        walk_rows: rows,
        link_reminders: link,
        renewal_reminders: renewal,
        build_peak_mib,
        view_peak_mib,
    })
}

/// Runs `bench insurer-view`.
pub fn run(args: &InsurerViewBenchArgs, out: &Output) -> CmdResult {
    let mut costs = Vec::new();
    for &members in &args.members {
        costs.push(insurer_view(members).map_err(Failure::Other)?);
    }
    out.result(&costs, || {
        let mut lines = vec![
            "| members | store | build | sweep | first page | employer page | walk (pages; portal's part) | peak build / view |".to_owned(),
            "|---:|---:|---:|---:|---:|---:|---:|---:|".to_owned(),
        ];
        for c in &costs {
            lines.push(format!(
                "| {} | {:.0} MiB | {:.0} ms | {:.2} ms | {:.1} ms ({} B) | {:.1} ms | {:.0} ms ({}; {:.0} ms) | {:.0} / {:.0} MiB |",
                c.members,
                c.store_bytes as f64 / 1_048_576.0,
                c.build_ms,
                c.sweep_ms,
                c.first_page_ms,
                c.first_page_bytes,
                c.employer_page_ms,
                c.walk_ms,
                c.walk_pages,
                c.walk_served_ms,
                c.build_peak_mib,
                c.view_peak_mib,
            ));
        }
        lines.join("\n")
    });
    Ok(())
}
