//! Checking a fleet: 1,000 and 10,000 generated node trees.
//!
//! - Time: `fleet::scan` with a job per core, beside the same nodes checked one after another
//!   with `check` (the baseline). Scan's time per node should be the baseline's divided by the
//!   cores, and the same at 10,000 nodes as at 1,000.
//! - Memory: the peak resident set of `cni-fix scan --format json --from LIST` over each set of
//!   trees (its output thrown away), each run measured in a process of its own. Memory is flat
//!   when the 10,000-node peak is the 1,000-node one: the list is read as nodes are checked,
//!   reports are written as they are made, and only the per-id tally is kept. Printed after
//!   criterion's results, with `cargo bench`.
//!
//! The trees are written once per run into a temporary directory: five kinds of node in turn
//! (a healthy bridge network, flannel's old config without a cniVersion, a spec 0.3.1 network,
//! a file libcni rejects, and two networks of which one is shadowed), checked as containerd
//! 1.6.3 with plugins v1.1.1 known from the release table, so no process is spawned.
//!
//! `cargo bench -p cni-fix-cli --bench fleet -- --save-baseline before`, then
//! `-- --baseline before` after a change.

use std::hint::black_box;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cni_fix_core::fleet::{scan, ScanOptions};
use cni_fix_core::{check, CheckOptions, ContainerdVersion, PluginsRelease, ProbeMode};
use criterion::{BenchmarkId, Criterion, Throughput};

const SIZES: [usize; 2] = [1_000, 10_000];

#[path = "shared/rss.rs"]
mod rss;

const HEALTHY: &str = r#"{"cniVersion":"1.0.0","name":"net","plugins":[{"type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.88.0.0/16"}]]}},{"type":"portmap","capabilities":{"portMappings":true}}]}"#;
const FLANNEL: &str = r#"{"name":"cbr0","plugins":[{"type":"flannel","delegate":{"hairpinMode":true,"isDefaultGateway":true}},{"type":"portmap","capabilities":{"portMappings":true}}]}"#;
const OLD: &str = r#"{"cniVersion":"0.3.1","name":"k8s-pod-network","plugins":[{"type":"bridge","ipam":{"type":"host-local","subnet":"10.22.0.0/16"}},{"type":"portmap","capabilities":{"portMappings":true}}]}"#;
const BROKEN: &str = r#"{"cniVersion":"1.0.0","name":"net","plugins":[{"type":"bridge""#;
const CONTAINERD: &str = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = \"/opt/cni/bin\"\n  conf_dir = \"/etc/cni/net.d\"\n";

fn write(path: &Path, bytes: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Node tree `i` under `dir`.
fn node(dir: &Path, i: usize) -> PathBuf {
    let root = dir.join(format!("node-{i:05}"));
    write(&root.join("etc/containerd/config.toml"), CONTAINERD);
    let net = root.join("etc/cni/net.d");
    match i % 5 {
        0 => write(&net.join("10-net.conflist"), HEALTHY),
        1 => write(&net.join("10-flannel.conflist"), FLANNEL),
        2 => write(&net.join("10-net.conflist"), OLD),
        3 => write(&net.join("10-net.conflist"), BROKEN),
        _ => {
            write(&net.join("10-net.conflist"), HEALTHY);
            write(&net.join("20-old.conflist"), OLD);
        }
    }
    for p in ["bridge", "host-local", "portmap", "loopback", "flannel"] {
        let f = root.join("opt/cni/bin").join(p);
        write(&f, "#!/bin/sh\n");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    root
}

fn options() -> CheckOptions {
    CheckOptions::default()
        .containerd_version(ContainerdVersion::parse("1.6.3").unwrap())
        .probe(ProbeMode::None)
        .assume_plugins_release(PluginsRelease::parse("1.1.1").unwrap())
}

/// The same options on `cni-fix scan`'s command line.
const SCAN_ARGS: [&str; 9] = [
    "scan",
    "--format",
    "json",
    "--containerd-version",
    "1.6.3",
    "--probe",
    "none",
    "--assume-plugins-release",
    "1.1.1",
];

fn time(c: &mut Criterion, trees: &[PathBuf]) {
    let mut g = c.benchmark_group("fleet");
    g.sample_size(10);
    for n in SIZES {
        let inputs = &trees[..n];
        g.throughput(Throughput::Elements(n as u64));
        let scan_options = ScanOptions::new(options());
        g.bench_with_input(BenchmarkId::new("scan", n), inputs, |b, inputs| {
            b.iter(|| {
                let mut problems = 0usize;
                scan(inputs.iter().cloned(), &scan_options, |o| {
                    problems += o.result.as_ref().is_ok_and(|r| !r.findings.is_empty()) as usize
                });
                black_box(problems)
            })
        });
        g.bench_with_input(
            BenchmarkId::new("serial check (baseline)", n),
            inputs,
            |b, inputs| {
                b.iter(|| {
                    let mut problems = 0usize;
                    for root in inputs {
                        let mut o = options();
                        o.root = root.clone();
                        problems += check(&o).is_ok_and(|r| !r.findings.is_empty()) as usize;
                    }
                    black_box(problems)
                })
            },
        );
    }
    g.finish();
}

/// The peak resident set, in KiB, of `cni-fix scan --from LIST` over `inputs`.
fn peak_rss(dir: &Path, inputs: &[PathBuf]) -> u64 {
    let list = dir.join(format!("nodes-{}.txt", inputs.len()));
    let mut text = String::new();
    for p in inputs {
        text.push_str(p.to_str().unwrap());
        text.push('\n');
    }
    std::fs::write(&list, text).unwrap();
    let mut args: Vec<std::ffi::OsString> = SCAN_ARGS.iter().map(Into::into).collect();
    args.extend(["--from".into(), list.into_os_string()]);
    rss::peak_rss(env!("CARGO_BIN_EXE_cni-fix").as_ref(), args)
}

fn main() {
    if rss::is_child() {
        rss::measure_child();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let largest = *SIZES.iter().max().unwrap();
    let trees: Vec<PathBuf> = (0..largest).map(|i| node(dir.path(), i)).collect();

    let mut c = Criterion::default().configure_from_args();
    time(&mut c, &trees);
    c.final_summary();

    // Under `cargo test --benches` criterion runs each benchmark once; memory is measured
    // only in a real run.
    if std::env::args().any(|a| a == "--bench") {
        let peaks: Vec<(usize, u64)> = SIZES
            .iter()
            .map(|&n| (n, peak_rss(dir.path(), &trees[..n])))
            .collect();
        let first = peaks[0].1 as f64;
        #[allow(clippy::print_stdout)]
        {
            println!("\nfleet/peak memory of cni-fix scan --format json --from LIST");
            for (n, kib) in &peaks {
                println!(
                    "  {n:>6} nodes  {:>8.1} MiB  ({:.2}x the {} node peak)",
                    *kib as f64 / 1024.0,
                    *kib as f64 / first,
                    peaks[0].0
                );
            }
        }
    }
}
