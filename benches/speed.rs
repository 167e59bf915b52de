//! Speed at the limit, each beside what bounds it; the claims are the ratios.
//!
//! - `probe`: a check of a node holding Debian's 16 plugins (containernetworking-plugins, in
//!   /usr/lib/cni) and a network that uses them all, with `--probe none` (the baseline),
//!   `--probe static` and `--probe exec`; beside it, the 16 plugins launched at once from a
//!   shell (`CNI_COMMAND=VERSION`, the floor of any exec probe) and libcni's own
//!   `ValidateNetworkList` of the network (the Go oracle the tests build).
//! - `conf-dir`: a conf dir of 5,000 conflists (about 20 MB) on a healthy node (its plugins
//!   present, their versions from the release table), loaded by `check` (`--probe none`,
//!   every network loaded, under `--root` as a DaemonSet reads `/host`), beside `cat` of the
//!   same files (the I/O floor), libcni's `ConfListFromFile` of each file and go-cni's `Load`
//!   of the directory (the Go oracle). Beside them, the default load (`max_conf_num` 1, the
//!   rest shadowed) checked whole (`check`) and streamed (`stream::check_each`).
//!
//! The Go oracle is built here as the tests build it (Debian's golang-go and the libcni and
//! go-cni sources). `cargo bench -p cni-fix-core --bench speed -- --save-baseline main`, then
//! `-- --baseline-lenient main` after a change (lenient: a benchmark newer than the baseline
//! is measured without a comparison).

use std::hint::black_box;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cni_fix_core::{check, CheckOptions, ContainerdVersion, PluginsRelease, ProbeMode};
use criterion::{criterion_main, Criterion, Throughput};

const DEBIAN_PLUGINS: &str = "/usr/lib/cni";

#[path = "../cni-fix-core/tests/shared/oracle.rs"]
mod oracle_build;

#[path = "shared/conf_dir.rs"]
mod conf_dir;

/// The Go oracle of the tests, built into the bench's temporary directory.
fn oracle() -> PathBuf {
    oracle_build::build("cni-fix-oracle-bench")
}

fn run_quiet(cmd: &mut Command) {
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?}: {status}");
}

/// A node whose bin dir holds Debian's 16 plugins and whose one network uses all of them.
fn plugin_node(root: &Path) -> (Vec<PathBuf>, PathBuf) {
    let bin = root.join("opt/cni/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(root.join("etc/cni/net.d")).unwrap();
    let mut plugins = Vec::new();
    for entry in std::fs::read_dir(DEBIAN_PLUGINS)
        .unwrap_or_else(|e| panic!("{DEBIAN_PLUGINS}: {e}; install containernetworking-plugins"))
    {
        let from = entry.unwrap().path();
        let to = bin.join(from.file_name().unwrap());
        std::fs::copy(&from, &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).unwrap();
        plugins.push(to);
    }
    plugins.sort();
    assert_eq!(
        plugins.len(),
        16,
        "Debian's containernetworking-plugins ships 16"
    );
    let ipam = ["host-local", "static", "dhcp"];
    let mut chain: Vec<serde_json::Value> = Vec::new();
    let mut ipams = ipam.iter();
    for p in &plugins {
        let t = p.file_name().unwrap().to_str().unwrap();
        if ipam.contains(&t) {
            continue;
        }
        let mut conf = serde_json::json!({ "type": t });
        if matches!(t, "bridge" | "macvlan" | "ipvlan") {
            conf["ipam"] = serde_json::json!({ "type": ipams.next().unwrap() });
        }
        chain.push(conf);
    }
    let net = serde_json::json!({"cniVersion": "1.0.0", "name": "all", "plugins": chain});
    let conflist = root.join("etc/cni/net.d/10-all.conflist");
    std::fs::write(&conflist, serde_json::to_vec_pretty(&net).unwrap()).unwrap();
    (plugins, conflist)
}

fn probe(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (plugins, conflist) = plugin_node(root);
    let oracle = oracle();
    let options = |mode| {
        CheckOptions::for_root(root)
            .containerd_version(ContainerdVersion::parse("1.7.20").unwrap())
            .probe(mode)
    };
    let mut g = c.benchmark_group("probe");
    g.sample_size(30);
    for (name, mode) in [
        ("none (baseline)", ProbeMode::None),
        ("static", ProbeMode::Static),
        ("exec", ProbeMode::Exec),
    ] {
        let o = options(mode);
        g.bench_function(name, |b| b.iter(|| black_box(check(&o).unwrap())));
    }
    // The floor of an exec probe: every plugin started at once and waited for.
    let script =
        "for p in \"$@\"; do CNI_COMMAND=VERSION \"$p\" </dev/null >/dev/null 2>&1 & done; wait";
    g.bench_function("16 plugins at once from sh", |b| {
        b.iter(|| run_quiet(Command::new("sh").args(["-c", script, "sh"]).args(&plugins)))
    });
    g.bench_function("libcni ValidateNetworkList", |b| {
        b.iter(|| {
            run_quiet(
                Command::new(&oracle)
                    .arg("validate")
                    .arg(&conflist)
                    .arg(root.join("opt/cni/bin")),
            )
        })
    });
    g.finish();
}

fn load(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let files = conf_dir::conf_dir(root, 5_000, 24, 0);
    // A healthy node: the plugins are there and their versions known (from the release
    // table), so that what is measured is the load, not thousands of findings.
    let bin = root.join("opt/cni/bin");
    std::fs::create_dir_all(&bin).unwrap();
    for p in ["bridge", "host-local", "portmap", "loopback"] {
        std::fs::write(bin.join(p), b"").unwrap();
        std::fs::set_permissions(bin.join(p), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    let oracle = oracle();
    let options = CheckOptions::for_root(root)
        .containerd_version(ContainerdVersion::parse("1.7.20").unwrap())
        .max_conf_num(0)
        .assume_plugins_release(PluginsRelease::parse("1.1.1").unwrap())
        .probe(ProbeMode::None);
    let dir = root.join("etc/cni/net.d");
    let mut g = c.benchmark_group("conf-dir");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("check, every network loaded", |b| {
        b.iter(|| {
            let report = check(&options).unwrap();
            assert_eq!(report.files.len(), 5_000);
            black_box(report)
        })
    });
    // The default load (one network; the rest shadowed), whole and streamed.
    let one = options.clone().max_conf_num(1);
    g.bench_function("check, max_conf_num 1", |b| {
        b.iter(|| black_box(check(&one).unwrap()))
    });
    g.bench_function("check_each (streamed), max_conf_num 1", |b| {
        b.iter(|| {
            let mut files = 0;
            cni_fix_core::stream::check_each(&one, |e| {
                files += usize::from(matches!(e, cni_fix_core::stream::Event::File { .. }));
                black_box(e);
                Ok(())
            })
            .unwrap();
            assert_eq!(files, 5_000);
        })
    });
    g.bench_function("cat (baseline)", |b| {
        b.iter(|| run_quiet(Command::new("cat").args(&files)))
    });
    g.bench_function("libcni ConfListFromFile of each", |b| {
        b.iter(|| run_quiet(Command::new(&oracle).arg("files").arg(&dir)))
    });
    g.bench_function("go-cni Load", |b| {
        b.iter(|| run_quiet(Command::new(&oracle).arg("load").arg(&dir).arg("0")))
    });
    g.finish();
}

// The macro generates an undocumented `benches` function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::probe, super::load);
}
criterion_main!(group::benches);
