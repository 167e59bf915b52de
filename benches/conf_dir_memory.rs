//! The memory of `cni-fix check` over a large conf dir: 1,000, 10,000 and 100,000 conflists
//! of about 4 KB (the speed bench's networks: a bridge and 24 portmap entries each), 1,000
//! conflists ten times that size that hold the same networks, and 100,000 two-plugin
//! networks (a bridge and a portmap, as most nodes have).
//!
//! Each check (`--probe none`, `--format json`, its output thrown away) runs in a process of
//! its own, once with containerd's default `max_conf_num` (1: the rest are shadowed) and once
//! with every network loaded (`--max-conf-num 0`), and its peak resident set is printed with
//! the peak per file. The claim is the last line: the file's size does not count, only the
//! entries the report keeps for it (its status, network name, version and plugin types, and
//! its findings).
//!
//! `cargo bench -p cni-fix-cli --bench conf_dir_memory`; the 100,000-file tree takes about
//! 400 MB of the temporary directory while it runs.

use std::ffi::OsString;
use std::path::Path;

#[path = "shared/conf_dir.rs"]
mod conf_dir;
#[path = "shared/rss.rs"]
mod rss;

/// Peak resident set, in KiB, of a check of the node at `root`.
fn check_peak(root: &Path, max_conf_num: u32) -> u64 {
    let args: Vec<OsString> = vec![
        "check".into(),
        "--root".into(),
        root.into(),
        "--containerd-version".into(),
        "1.7.20".into(),
        "--probe".into(),
        "none".into(),
        "--format".into(),
        "json".into(),
        "--max-conf-num".into(),
        max_conf_num.to_string().into(),
    ];
    rss::peak_rss(env!("CARGO_BIN_EXE_cni-fix").as_ref(), args)
}

/// One line of the table.
#[allow(clippy::print_stdout)]
fn row(what: &str, files: usize, bytes: u64, peaks: [u64; 2]) {
    let mib = |k: u64| k as f64 / 1024.0;
    println!(
        "  {what:<22} {files:>7} files  {:>7.1} MiB of files  peak {:>7.1} MiB ({:>4.1} KiB/file)  all loaded {:>7.1} MiB ({:>4.1} KiB/file)",
        bytes as f64 / 1048576.0,
        mib(peaks[0]),
        peaks[0] as f64 / files as f64,
        mib(peaks[1]),
        peaks[1] as f64 / files as f64,
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
        println!("conf-dir memory: peak resident set of cni-fix check --probe none --format json");
    }
    for &(n, portmaps, pad, what) in sizes {
        let tmp = tempfile::tempdir().unwrap();
        let files = conf_dir::conf_dir(tmp.path(), n, portmaps, pad);
        let bytes: u64 = files
            .iter()
            .map(|f| std::fs::metadata(f).unwrap().len())
            .sum();
        let peaks = [check_peak(tmp.path(), 1), check_peak(tmp.path(), 0)];
        row(what, n, bytes, peaks);
    }
}
