//! Benchmarks of `cni-fix workloads`, each beside a named baseline:
//!
//! - `pods-json`: scanning `kubectl get pods -A -o json` of a 5,000-pod cluster (generated:
//!   DaemonSet pods with managedFields and status, as the API server returns them), against
//!   `serde_json::from_slice` into a `serde_json::Value` of the same bytes (the baseline: what
//!   reading the list at all costs);
//! - `manifests-yaml`: scanning every manifest of `testdata/workloads` 50 times over (YAML with
//!   positions), against serde-saphyr reading the same documents into `serde_json::Value`.
//!
//! Compare a change against the code before it with criterion's named baselines:
//! `cargo bench -p cni-fix-core --bench workloads -- --save-baseline before`, then
//! `cargo bench -p cni-fix-core --bench workloads -- --baseline before`.

use std::hint::black_box;
use std::path::PathBuf;

use cni_fix_core::workloads::{scan, Input};
use criterion::{criterion_main, Criterion, Throughput};
use serde_json::json;

fn pod_list(n: usize) -> Vec<u8> {
    let items: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {
                    "name": format!("agent-{i:05}"), "namespace": format!("ns-{}", i % 40),
                    "uid": format!("6c1f2a8e-{i:08}"), "labels": {"app": "agent", "controller-revision-hash": "7d9f8"},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": format!("agent-{}", i % 40), "uid": "u", "controller": true}],
                    "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:containers": {"k:{\"name\":\"agent\"}": {".": {}, "f:image": {}, "f:env": {}}}}}}]
                },
                "spec": {
                    "containers": [{"name": "agent", "image": "example.com/agent:7.50.3",
                        "command": ["sh", "-c", "exec /opt/agent run --config /etc/agent"],
                        "env": [{"name": "NODE_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}, {"name": "DOCKER_HOST", "value": "unix:///host/var/run/docker.sock"}],
                        "volumeMounts": [{"name": "run", "mountPath": "/host/var/run", "readOnly": true}, {"name": "proc", "mountPath": "/host/proc"}],
                        "livenessProbe": {"httpGet": {"path": "/live", "port": 5555}}}],
                    "volumes": [{"name": "run", "hostPath": {"path": "/var/run", "type": ""}}, {"name": "proc", "hostPath": {"path": "/proc"}}],
                    "nodeName": format!("node-{i}")
                },
                "status": {"phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.244.0.1",
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [{"name": "agent", "ready": true, "restartCount": 0, "image": "example.com/agent:7.50.3", "imageID": "sha256:abc"}]}
            })
        })
        .collect();
    serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "List", "items": items})).unwrap()
}

fn manifests() -> Vec<Input> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/workloads");
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(&dir).sort_by_file_name() {
        let e = e.unwrap();
        let name = e.path().to_string_lossy().into_owned();
        if e.file_type().is_file() && name.ends_with(".yaml") && !name.contains("hostile") {
            out.push(Input {
                name,
                bytes: std::fs::read(e.path()).unwrap(),
            });
        }
    }
    out
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();

    let list = pod_list(5_000);
    let mut g = c.benchmark_group("pods-json");
    g.throughput(Throughput::Bytes(list.len() as u64));
    g.sample_size(10);
    g.bench_function("serde_json-value (baseline)", |b| {
        b.iter(|| black_box(serde_json::from_slice::<serde_json::Value>(&list).unwrap()))
    });
    let input = [Input {
        name: "-".into(),
        bytes: list.clone(),
    }];
    g.bench_function("scan", |b| b.iter(|| black_box(scan(&input))));
    g.finish();

    let files = manifests();
    let many: Vec<Input> = (0..50).flat_map(|_| files.iter().cloned()).collect();
    let bytes: usize = many.iter().map(|i| i.bytes.len()).sum();
    let mut g = c.benchmark_group("manifests-yaml");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.sample_size(10);
    g.bench_function("serde-saphyr-value (baseline)", |b| {
        b.iter(|| {
            for i in &many {
                let text = std::str::from_utf8(&i.bytes).unwrap();
                black_box(serde_saphyr::from_multiple::<serde_json::Value>(text).unwrap());
            }
        })
    });
    g.bench_function("scan", |b| b.iter(|| black_box(scan(&many))));
    g.finish();
}

criterion_main!(benches);
