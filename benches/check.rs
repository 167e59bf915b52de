//! Benchmarks of the hot paths, each beside a named baseline.
//!
//! - `json`: cni-fix's Go-compatible parser against `serde_json` (the baseline) on every file of
//!   the real-world corpus in `../shared/corpus/real-world`;
//! - `libcni`: parsing those files with libcni's rules;
//! - `check`: a whole check of a node whose conf dir holds 200 networks, with plugin versions
//!   taken from the release table (no process is spawned), and the rewrite plan of the same
//!   node beside it;
//! - `static`: the static probe of Debian's bridge plugin (/usr/lib/cni, from
//!   containernetworking-plugins) against one substring scan of the same bytes (the baseline).
//!
//! Compare a change against the code before it with criterion's named baselines:
//! `cargo bench -p cni-fix-core -- --save-baseline before`, then, after the change,
//! `cargo bench -p cni-fix-core -- --baseline before`.

use std::hint::black_box;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use cni_fix_core::conf::{parse_conflist, LibcniGeneration};
use cni_fix_core::{check, CheckOptions, ContainerdVersion, PluginsRelease};
use criterion::{criterion_main, Criterion, Throughput};

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/real-world");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the real-world corpus is missing at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "INDEX.md"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn json(c: &mut Criterion) {
    let files = corpus();
    let bytes: u64 = files.iter().map(|(_, b)| b.len() as u64).sum();
    let mut g = c.benchmark_group("json");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("cni-fix", |b| {
        b.iter(|| {
            for (_, f) in &files {
                let _ = black_box(cni_fix_core::json::parse(black_box(f)));
            }
        })
    });
    g.bench_function("serde_json (baseline)", |b| {
        b.iter(|| {
            for (_, f) in &files {
                let _ = black_box(serde_json::from_slice::<serde_json::Value>(black_box(f)));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("libcni");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("parse_conflist", |b| {
        b.iter(|| {
            for (_, f) in &files {
                let _ = black_box(parse_conflist(
                    black_box(f),
                    LibcniGeneration::Classic,
                    None,
                ));
            }
        })
    });
    g.finish();
}

fn whole_check(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("etc/cni/net.d")).unwrap();
    std::fs::create_dir_all(root.join("opt/cni/bin")).unwrap();
    for p in [
        "bridge",
        "host-local",
        "loopback",
        "portmap",
        "firewall",
        "tuning",
    ] {
        let f = root.join("opt/cni/bin").join(p);
        std::fs::write(&f, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let files = corpus();
    for i in 0..200 {
        let (name, bytes) = &files[i % files.len()];
        std::fs::write(
            root.join(format!("etc/cni/net.d/{i:03}-{name}.conflist")),
            bytes,
        )
        .unwrap();
    }
    let options = CheckOptions::for_root(root)
        .max_conf_num(0)
        .containerd_version(ContainerdVersion::parse("1.6.3").unwrap())
        .assume_plugins_release(PluginsRelease::parse("0.9.1").unwrap());
    let mut g = c.benchmark_group("check");
    g.sample_size(30);
    g.bench_function("200 networks", |b| {
        b.iter(|| black_box(check(black_box(&options)).unwrap()))
    });
    let rewrite = cni_fix_core::rewrite::RewriteOptions::new(options.clone())
        .scope(cni_fix_core::rewrite::Scope::All)
        .upgrade(true);
    g.bench_function("rewrite plan, 200 networks", |b| {
        b.iter(|| black_box(cni_fix_core::rewrite::plan(black_box(&rewrite)).unwrap()))
    });
    g.finish();
}

fn static_probe(c: &mut Criterion) {
    let path = "/usr/lib/cni/bridge";
    let bytes = std::fs::read(path)
        .unwrap_or_else(|e| panic!("{path}: {e}; install containernetworking-plugins"));
    let mut g = c.benchmark_group("static");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("probe bridge", |b| {
        b.iter(|| {
            black_box(cni_fix_core::static_probe::probe_bytes(black_box(&bytes), "bridge").unwrap())
        })
    });
    g.bench_function("one marker scan (baseline)", |b| {
        b.iter(|| {
            black_box(memchr::memmem::find(
                black_box(&bytes),
                b"github.com/containernetworking/cni/pkg/types/100",
            ))
        })
    });
    g.finish();
}

// The macro generates an undocumented `benches` function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(
        benches,
        super::json,
        super::whole_check,
        super::static_probe
    );
}
criterion_main!(group::benches);
