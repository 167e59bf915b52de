//! The memory of `cni-fix check` over a large conf dir: 1,000, 10,000 and 100,000 conflists
//! of about 4 KB (the speed bench's networks: a bridge and 24 portmap entries each), 1,000
//! conflists ten times that size that hold the same networks, and 100,000 two-plugin
//! networks (a bridge and a portmap, as most nodes have).
//!
//! Each check (`--probe none`, its output thrown away) runs in a process of its own and its
//! peak resident set is printed with the peak per file:
//! - `--format human` (the default) and `--format ndjson`, written as the check goes, with
//!   containerd's default `max_conf_num` (1: the rest are shadowed). The claim: their peak
//!   does not grow with the number of files, nor with their size; what they keep of each file
//!   is its name in the sorted listing.
//! - `--format json`, the whole report held until it is written: it grows with the number of
//!   files (the entries the report keeps for each: status, network name, version, plugin
//!   types and findings), not with their size.
//! - both with every network loaded (`--max-conf-num 0`): every file is then a network the
//!   runtime loads and the rules check, so both hold them all.
//!
//! `cargo bench -p cni-fix-cli --bench conf_dir_memory`; the 100,000-file tree takes about
//! 400 MB of the temporary directory while it runs.

use std::ffi::OsString;
use std::path::Path;

#[path = "shared/conf_dir.rs"]
mod conf_dir;
#[path = "shared/rss.rs"]
mod rss;

/// Peak resident set, in KiB, of a check of the node at `root` in `format`.
fn check_peak(root: &Path, format: &str, max_conf_num: u32) -> u64 {
    let args: Vec<OsString> = vec![
        "check".into(),
        "--root".into(),
        root.into(),
        "--containerd-version".into(),
        "1.7.20".into(),
        "--probe".into(),
        "none".into(),
        "--format".into(),
        format.into(),
        "--max-conf-num".into(),
        max_conf_num.to_string().into(),
    ];
    rss::peak_rss(env!("CARGO_BIN_EXE_cni-fix").as_ref(), args)
}

/// One line of the table: the peaks of human, ndjson and json, then of ndjson and json with
/// every network loaded.
#[allow(clippy::print_stdout)]
fn row(what: &str, files: usize, bytes: u64, peaks: [u64; 5]) {
    let mib = |k: u64| k as f64 / 1024.0;
    println!(
        "  {what:<22} {files:>7} files {:>6.1} MiB of files  human {:>6.1} MiB  ndjson {:>6.1} MiB  json {:>6.1} MiB ({:>4.1} KiB/file)  all loaded: ndjson {:>6.1} MiB, json {:>6.1} MiB",
        bytes as f64 / 1048576.0,
        mib(peaks[0]),
        mib(peaks[1]),
        mib(peaks[2]),
        peaks[2] as f64 / files as f64,
        mib(peaks[3]),
        mib(peaks[4]),
    );
}

fn main() {
    if rss::is_child() {
        rss::measure_child();
        return;
    }
    // Under `cargo test --benches` the bench only builds its smallest tree and checks once.
    let real = std::env::args().any(|a| a == "--bench");
    let sizes: &[(usize, usize, usize, &str)] = if real {
        &[
            (1_000, 24, 0, "4 KB conflists"),
            (10_000, 24, 0, "4 KB conflists"),
            (100_000, 24, 0, "4 KB conflists"),
            (1_000, 24, 36_000, "40 KB conflists"),
            (100_000, 1, 0, "two-plugin conflists"),
        ]
    } else {
        &[(100, 24, 0, "4 KB conflists")]
    };
    #[allow(clippy::print_stdout)]
    {
        println!("conf-dir memory: peak resident set of cni-fix check --probe none");
    }
    for &(n, portmaps, pad, what) in sizes {
        let tmp = tempfile::tempdir().unwrap();
        let files = conf_dir::conf_dir(tmp.path(), n, portmaps, pad);
        let bytes: u64 = files
            .iter()
            .map(|f| std::fs::metadata(f).unwrap().len())
            .sum();
        let peaks = [
            check_peak(tmp.path(), "human", 1),
            check_peak(tmp.path(), "ndjson", 1),
            check_peak(tmp.path(), "json", 1),
            check_peak(tmp.path(), "ndjson", 0),
            check_peak(tmp.path(), "json", 0),
        ];
        row(what, n, bytes, peaks);
    }
}
