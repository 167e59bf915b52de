//! The human report's cost as findings grow, beside the JSON report of the same findings (the
//! baseline): both must grow linearly. A conf dir of many files each with a finding, and as
//! many findings about the node, is the worst case for grouping findings under their files.
//!
//! `cargo bench -p cni-fix-cli -- --save-baseline before`, then `-- --baseline before`.

use std::hint::black_box;

use cni_fix_core::report::{FileReport, NodeReport, Report, RuntimeReport, Summary};
use cni_fix_core::snapshot::{FileStatus, RuntimeSource};
use cni_fix_core::{Finding, FindingId, Severity};
use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};

/// A report with `n` findings: half on `n / 2` files, half about the node.
fn report(n: usize) -> Report {
    let files: Vec<FileReport> = (0..n / 2)
        .map(|i| FileReport {
            path: format!("/etc/cni/net.d/{i:06}-net.conflist"),
            path_bytes: None,
            status: FileStatus::Shadowed,
            name: Some(format!("net-{i}")),
            cni_version: Some("1.0.0".into()),
            plugins: vec!["bridge".into(), "portmap".into()],
        })
        .collect();
    let findings: Vec<Finding> = (0..n)
        .map(|i| Finding {
            id: FindingId::ShadowedConfig,
            severity: Severity::Warning,
            file: (i % 2 == 0).then(|| files[i / 2].path.clone()),
            plugin: None,
            message: format!("finding {i}"),
            runtime_error: None,
            remedy: "do something".into(),
            fixable: false,
            fix: None,
            files: Vec::new(),
            location: None,
        })
        .collect();
    Report {
        schema: cni_fix_core::SCHEMA,
        node: NodeReport {
            root: "/".into(),
            conf_dir: "/etc/cni/net.d".into(),
            bin_dirs: vec!["/opt/cni/bin".into()],
            max_conf_num: 1,
            containerd_config: None,
            runtime: RuntimeReport {
                name: "containerd",
                version: Some("1.7.20".into()),
                source: RuntimeSource::Flag,
                libcni: Some("1.1.2".into()),
                loopback_cni_version: Some("0.3.1"),
            },
            load_error: None,
        },
        files,
        plugins: Vec::new(),
        summary: Summary {
            errors: 0,
            warnings: n,
            infos: 0,
        },
        findings,
        incomplete: Vec::new(),
    }
}

fn output(c: &mut Criterion) {
    let mut group = c.benchmark_group("report");
    group.sample_size(10);
    for n in [7_500usize, 15_000, 30_000, 60_000] {
        let r = report(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("human", n), &r, |b, r| {
            b.iter(|| {
                let mut out = Vec::with_capacity(n * 200);
                cni_fix_cli::human::render(&mut out, black_box(r), false).unwrap();
                out
            })
        });
        group.bench_with_input(BenchmarkId::new("json-baseline", n), &r, |b, r| {
            b.iter(|| serde_json::to_vec_pretty(black_box(r)).unwrap())
        });
    }
    group.finish();
}

// The macro generates an undocumented `benches` function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::output);
}
criterion_main!(group::benches);
