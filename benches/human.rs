//! The human report's cost as findings grow, beside the JSON report of the same findings (the
//! baseline): both must grow linearly. A conf dir of many files each with a finding, and as
//! many findings about the node, is the worst case for grouping findings under their files.
//!
//! `cargo bench -p cni-fix-cli -- --save-baseline before`, then `-- --baseline before`.

use std::hint::black_box;
use std::sync::Arc;

use cni_fix_core::snapshot::Snapshot;
use cni_fix_core::source::{MemNode, SystemProber};
use cni_fix_core::{
    CheckOptions, ContainerdVersion, Finding, FindingId, ProbeMode, Report, Severity,
};
use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};

/// A report with `n` findings: half on `n / 2` files of an in-memory node, half about the node.
fn report(n: usize) -> Report {
    let mut node = MemNode::new();
    for i in 0..n / 2 {
        node.file(
            format!("/etc/cni/net.d/{i:06}-net.conflist"),
            format!(r#"{{"cniVersion":"1.0.0","name":"net-{i}","plugins":[{{"type":"bridge"}},{{"type":"portmap"}}]}}"#),
            0o644,
        );
    }
    let options = CheckOptions::default()
        .containerd_version(ContainerdVersion::parse("1.7.20").unwrap())
        .probe(ProbeMode::None)
        .max_conf_num(0);
    let snap = Snapshot::gather_from(&options, Arc::new(node), &SystemProber).unwrap();
    let findings: Vec<Finding> = (0..n)
        .map(|i| {
            let mut f = Finding::new(
                FindingId::ShadowedConfig,
                Severity::Warning,
                format!("finding {i}"),
                "do something",
            );
            if i % 2 == 0 {
                f.file = Some(format!("/etc/cni/net.d/{:06}-net.conflist", i / 2));
            }
            f
        })
        .collect();
    Report::new(&snap, findings)
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
