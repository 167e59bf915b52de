//! Differential tests: cni-fix against libcni and go-cni themselves.
//!
//! `tests/oracle/main.go` is built offline against Debian's libcni and go-cni source (GOPATH
//! mode over /usr/share/gocode; `scripts/test.sh` installs the packages). It prints libcni's
//! verdict on every config file of a directory and go-cni's load of a directory. cni-fix must
//! agree on acceptance, the error, the name, the cniVersion, the plugin types and the loaded
//! networks, for every file in `testdata/`, in the real-world corpus, and in 1500 generated
//! variations of them.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use cni_fix_core::conf::{parse_conflist, parse_single_conf, FileForm, LibcniGeneration};
use cni_fix_core::{CheckOptions, ContainerdVersion, ProbeMode, Snapshot};
use serde_json::{json, Value};

#[path = "shared/oracle.rs"]
mod oracle_build;

/// The oracle binary, built once per test run.
fn oracle() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| oracle_build::build("cni-fix-oracle"))
}

#[derive(Debug, Clone, PartialEq)]
struct Verdict {
    ok: bool,
    error: String,
    name: String,
    cni_version: String,
    types: Vec<String>,
}

/// Run the oracle; its stdout, which must come with success.
fn run_oracle(args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let out = Command::new(oracle()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "oracle {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn oracle_files(dir: &Path) -> BTreeMap<String, Verdict> {
    String::from_utf8(run_oracle(&["files".as_ref(), dir.as_os_str()]))
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["file"].as_str().unwrap().to_string(),
                Verdict {
                    ok: v["ok"].as_bool().unwrap(),
                    error: v["error"].as_str().unwrap_or("").to_string(),
                    name: v["name"].as_str().unwrap().to_string(),
                    cni_version: v["cniVersion"].as_str().unwrap().to_string(),
                    types: serde_json::from_value(v["types"].clone()).unwrap(),
                },
            )
        })
        .collect()
}

fn ours(path: &Path) -> Verdict {
    let bytes = fs::read(path).unwrap();
    let name = path.file_name().unwrap().as_encoded_bytes();
    let shown = path.display().to_string();
    let result = match FileForm::of_name(name).unwrap() {
        FileForm::ConfList => {
            parse_conflist(&bytes, LibcniGeneration::Classic, None).map_err(|e| e.message)
        }
        FileForm::SingleConf => parse_single_conf(&bytes).map_err(|e| e.inner().message.clone()),
    };
    match result {
        Ok(n) => Verdict {
            ok: true,
            error: String::new(),
            name: n.name,
            cni_version: n.cni_version,
            types: n
                .plugins
                .into_iter()
                .map(|p| p.plugin_type.into())
                .collect(),
        },
        Err(e) => Verdict {
            ok: false,
            error: e.replace("{path}", &shown),
            name: String::new(),
            cni_version: String::new(),
            types: Vec::new(),
        },
    }
}

/// Compare every file in `dir`; returns the disagreements.
fn compare_dir(dir: &Path) -> (usize, Vec<String>) {
    let theirs = oracle_files(dir);
    let mut bad = Vec::new();
    for (file, t) in &theirs {
        let o = ours(&dir.join(file));
        let same = o.ok == t.ok
            && o.name == t.name
            && o.cni_version == t.cni_version
            && o.types == t.types
            && o.error == t.error;
        if !same {
            bad.push(format!("{file}:\n  libcni:  {t:?}\n  cni-fix: {o:?}"));
        }
    }
    (theirs.len(), bad)
}

fn assert_agree(dir: &Path, at_least: usize) {
    let (n, bad) = compare_dir(dir);
    assert!(n >= at_least, "only {n} files compared");
    assert!(
        bad.is_empty(),
        "{} of {n} files disagree:\n{}",
        bad.len(),
        bad.iter().take(15).cloned().collect::<Vec<_>>().join("\n")
    );
}

fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/real-world");
    assert!(
        dir.join("INDEX.md").is_file(),
        "the real-world corpus is missing: {}",
        dir.display()
    );
    dir
}

/// Every regular file of a loadable name under `testdata/`.
fn testdata_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| {
            e.file_type().is_file() && FileForm::of_name(e.file_name().as_encoded_bytes()).is_some()
        })
        .map(|e| e.into_path())
        .collect()
}

fn corpus_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "INDEX.md")
        .collect();
    v.sort();
    v
}

#[test]
fn testdata_and_corpus_agree_with_libcni() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for f in testdata_files() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        fs::copy(&f, dir.path().join(format!("{n:04}-{name}"))).unwrap();
        n += 1;
    }
    for f in corpus_files() {
        // Every corpus file both ways: as a list and as a single plugin.
        for ext in ["conflist", "conf", "json"] {
            fs::copy(&f, dir.path().join(format!("{n:04}.{ext}"))).unwrap();
            n += 1;
        }
    }
    assert_agree(dir.path(), 60);
}

/// SplitMix64: deterministic variations, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
    fn choose<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn random_value(rng: &mut Rng) -> Value {
    match rng.below(9) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(42),
        3 => json!(1.5),
        4 => json!("text"),
        5 => json!([]),
        6 => json!(["a", 1]),
        7 => json!({}),
        _ => json!({"type": "host-local"}),
    }
}

fn random_version(rng: &mut Rng) -> Value {
    let versions = [
        "0.1.0",
        "0.2.0",
        "0.3.0",
        "0.3.1",
        "0.4.0",
        "1.0.0",
        "1.1.0",
        "1.0",
        "v1.0.0",
        "",
        "1.0.0-rc1",
        " 1.0.0",
    ];
    match rng.below(10) {
        0 => json!(1.0),
        1 => Value::Null,
        _ => json!(rng.pick(&versions)),
    }
}

/// The number of objects a mutation can target: the top level and each plugin object.
fn object_count(v: &Value) -> usize {
    let plugins = v
        .get("plugins")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter(|p| p.is_object()).count())
        .unwrap_or(0);
    usize::from(v.is_object()) + plugins
}

/// Object `k`: 0 is the top level, then each plugin object.
fn nth_object(v: &mut Value, k: usize) -> Option<&mut serde_json::Map<String, Value>> {
    if k == 0 {
        return v.as_object_mut();
    }
    v.get_mut("plugins")?
        .as_array_mut()?
        .iter_mut()
        .filter_map(Value::as_object_mut)
        .nth(k - 1)
}

fn structural(rng: &mut Rng, mut v: Value) -> Value {
    let ops = 1 + rng.below(3);
    for _ in 0..ops {
        let count = object_count(&v);
        if count == 0 {
            break;
        }
        let k = rng.below(count);
        let obj = nth_object(&mut v, k).expect("an object");
        let keys: Vec<String> = obj.keys().cloned().collect();
        match rng.below(8) {
            0 if !keys.is_empty() => {
                let key = rng.choose(&keys).clone();
                obj.shift_remove(&key);
            }
            1 if !keys.is_empty() => {
                let key = rng.choose(&keys).clone();
                obj.insert(key, random_value(rng));
            }
            2 => {
                obj.insert("cniVersion".into(), random_version(rng));
            }
            3 if !keys.is_empty() => {
                let key = rng.choose(&keys).clone();
                let value = obj.shift_remove(&key).unwrap();
                let renamed = match rng.below(3) {
                    0 => key.to_uppercase(),
                    1 => {
                        let mut c = key.chars();
                        c.next()
                            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                            .unwrap_or_default()
                    }
                    _ => key.replace('s', "\u{17F}"),
                };
                obj.insert(renamed, value);
            }
            4 => {
                let field = rng.pick(&[
                    "ipam",
                    "dns",
                    "capabilities",
                    "prevResult",
                    "disableCheck",
                    "cniVersions",
                ]);
                let value = match (field, rng.below(3)) {
                    ("dns", 0) => json!({"nameservers": [1]}),
                    ("dns", _) => json!({"nameservers": ["10.0.0.10"], "search": "x"}),
                    ("capabilities", 0) => json!({"portMappings": "yes"}),
                    ("prevResult", 0) => json!({"n": 1e300}),
                    ("cniVersions", 0) => json!(["0.4.0", "1.0.0"]),
                    ("disableCheck", 0) => json!("true"),
                    _ => random_value(rng),
                };
                obj.insert(field.into(), value);
            }
            5 => {
                obj.insert(
                    "plugins".into(),
                    match rng.below(5) {
                        0 => json!([]),
                        1 => json!({}),
                        2 => json!(["bridge"]),
                        3 => json!([null]),
                        _ => json!([{"type": ""}]),
                    },
                );
            }
            6 => {
                obj.insert(
                    "type".into(),
                    json!(rng.pick(&["bridge", "", "portmap", "a/b"])),
                );
            }
            _ => {
                obj.insert(
                    "name".into(),
                    match rng.below(4) {
                        0 => json!("bad name!"),
                        1 => Value::Null,
                        2 => json!(""),
                        _ => json!("net"),
                    },
                );
            }
        }
    }
    v
}

fn render(rng: &mut Rng, v: &Value) -> Vec<u8> {
    if rng.below(2) == 0 {
        serde_json::to_vec(v).unwrap()
    } else {
        serde_json::to_vec_pretty(v).unwrap()
    }
}

fn textual(rng: &mut Rng, mut b: Vec<u8>) -> Vec<u8> {
    let object = b.first() == Some(&b'{');
    match rng.below(12) {
        0 => {
            let at = rng.below(b.len().max(1));
            b.truncate(at);
        }
        1 => {
            b.extend_from_slice(rng.pick(&[&b"x"[..], b"}", b",", b"\0", b" \n\t", b"{}", b"\xff"]))
        }
        2 => b
            .splice(0..0, b"\xef\xbb\xbf".iter().copied())
            .for_each(drop),
        3 => {
            // Invalid UTF-8 inside the first string.
            if let Some(q) = b.iter().position(|&c| c == b'"') {
                let bad: &[u8] = rng.pick(&[
                    &b"\xff"[..],
                    b"\xe9",
                    b"\xe2\x82",
                    b"\xed\xa0\x80",
                    b"\xc0\xaf",
                ]);
                b.splice(q + 1..q + 1, bad.iter().copied()).for_each(drop);
            }
        }
        4 if object => {
            // A duplicate member at the start of the top-level object.
            let dup: &[u8] = rng.pick(&[
                &br#""name":"dup","#[..],
                br#""cniVersion":"0.3.1","#,
                br#""plugins":[],"#,
                br#""name":7,"#,
                br#""type":"bridge","#,
            ]);
            b.splice(1..1, dup.iter().copied()).for_each(drop);
        }
        5 => {
            // Nesting around Go's 10000-level limit.
            let depth = 9_995 + rng.below(10);
            if b.first() == Some(&b'{') {
                let deep = format!("\"deep\":{}{},", "[".repeat(depth), "]".repeat(depth));
                b.splice(1..1, deep.into_bytes()).for_each(drop);
            }
        }
        6 => {
            b = rng
                .pick(&[&b""[..], b" ", b"\n", b"null", b"[]", b"{}", b"\"x\"", b"0"])
                .to_vec()
        }
        7 if object => {
            let esc: &[u8] = rng.pick(&[
                &br#""x":"\ud800","#[..],
                br#""name":"\udc00\u0041","#,
                br#""x":"\ud83d\ude00","#,
            ]);
            b.splice(1..1, esc.iter().copied()).for_each(drop);
        }
        8 if object => {
            let num: &[u8] = rng.pick(&[
                &br#""x":1e400,"#[..],
                br#""x":-1e309,"#,
                br#""x":1e-400,"#,
                br#""x":01,"#,
                br#""x":1.,"#,
            ]);
            b.splice(1..1, num.iter().copied()).for_each(drop);
        }
        9 => {
            if let Some(p) = b.iter().position(|&c| c == b':') {
                b.insert(p + 1, b'\x01');
            }
        }
        _ => {}
    }
    b
}

fn seeds() -> Vec<Value> {
    let mut out = Vec::new();
    for f in testdata_files().into_iter().chain(corpus_files()) {
        if let Ok(v) = serde_json::from_slice::<Value>(&fs::read(f).unwrap()) {
            if v.is_object() {
                out.push(v);
            }
        }
    }
    assert!(out.len() >= 20, "too few seeds: {}", out.len());
    out
}

/// Write `count` variations into `dir`, named with random loadable extensions.
fn variations(dir: &Path, count: usize, seed: u64) -> Vec<PathBuf> {
    let mut rng = Rng(seed);
    let seeds = seeds();
    (0..count)
        .map(|i| {
            let base = rng.choose(&seeds).clone();
            let v = if rng.below(4) == 0 {
                base
            } else {
                structural(&mut rng, base)
            };
            let mut bytes = render(&mut rng, &v);
            if rng.below(3) == 0 {
                bytes = textual(&mut rng, bytes);
            }
            let ext = rng.pick(&["conflist", "conflist", "conf", "json"]);
            let p = dir.join(format!("{i:05}.{ext}"));
            fs::write(&p, bytes).unwrap();
            p
        })
        .collect()
}

#[test]
fn generated_variations_agree_with_libcni() {
    let dir = tempfile::tempdir().unwrap();
    let made = variations(dir.path(), 1500, 0x00C0_FFEE);
    assert_eq!(made.len(), 1500);
    let theirs = oracle_files(dir.path());
    let accepted = theirs.values().filter(|v| v.ok).count();
    // Both outcomes are well represented, or the test proves little.
    assert!(
        accepted > 200 && accepted < 1300,
        "libcni accepted {accepted} of 1500"
    );
    assert_agree(dir.path(), 1500);
}

#[test]
fn go_cni_loads_what_cni_fix_says_it_loads() {
    let pool = tempfile::tempdir().unwrap();
    let files = variations(pool.path(), 400, 0x0BAD_F00D);
    let mut rng = Rng(7);
    for round in 0..300 {
        let dir = tempfile::tempdir().unwrap();
        // Every tenth directory is large, so that cni-fix reads it on several threads.
        let count = if round % 10 == 9 {
            65 + rng.below(250)
        } else {
            rng.below(5)
        };
        for _ in 0..count {
            let f = rng.choose(&files);
            let ext = f.extension().unwrap().to_str().unwrap();
            let name = format!("{:02}-{}.{ext}", rng.below(100), rng.below(1000));
            fs::copy(f, dir.path().join(name)).unwrap();
        }
        let max = rng.below(4) as i64;
        let max_s = max.to_string();
        let out = run_oracle(&["load".as_ref(), dir.path().as_os_str(), max_s.as_ref()]);
        let theirs: Value = serde_json::from_slice(&out).unwrap();

        let snap = Snapshot::gather(
            &CheckOptions::default()
                .conf_dir(dir.path().to_path_buf())
                .bin_dir(PathBuf::from("/nonexistent"))
                .max_conf_num(max)
                .containerd_version(ContainerdVersion::parse("1.6.20").unwrap())
                .probe(ProbeMode::None),
        )
        .unwrap();
        let loaded: Vec<Value> = snap
            .load
            .loaded
            .iter()
            .map(|&i| {
                let n = snap.files[i].network().unwrap();
                json!({"name": n.name, "cniVersion": n.cni_version, "types": n.plugins.iter().map(|p| &p.plugin_type).collect::<Vec<_>>()})
            })
            .collect();
        let listing: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            theirs["networks"],
            json!(loaded),
            "round {round}, max {max}, files {listing:?}"
        );
        match (theirs["error"].as_str(), &snap.load.error) {
            (None, None) => {}
            (Some(t), Some(o)) => assert!(
                t.contains(o.as_str()),
                "round {round}: go-cni says {t}\ncni-fix says {o}"
            ),
            (t, o) => {
                panic!("round {round}, files {listing:?}: go-cni error {t:?}, cni-fix error {o:?}")
            }
        }
    }
}

/// libcni's `ValidateNetworkList` of `file` against the real plugins in /usr/lib/cni.
fn validate(file: &Path) -> Result<(), String> {
    assert!(
        Path::new("/usr/lib/cni/bridge").exists(),
        "install containernetworking-plugins (scripts/test.sh does)"
    );
    let out = Command::new(oracle())
        .arg("validate")
        .arg(file)
        .arg("/usr/lib/cni")
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

#[test]
fn generated_networks_pass_validate_network_list() {
    use cni_fix_core::generate::GenerateOptions;
    use cni_fix_core::SpecVersion;
    let dir = tempfile::tempdir().unwrap();
    let mut variants = vec![GenerateOptions::default()];
    for v in [
        SpecVersion::V0_3_0,
        SpecVersion::V0_3_1,
        SpecVersion::V0_4_0,
    ] {
        variants.push(GenerateOptions {
            cni_version: v,
            ..GenerateOptions::default()
        });
    }
    variants.push(GenerateOptions {
        name: "pods".into(),
        bridge: "br-pods".into(),
        subnets: vec!["10.244.0.0/16".parse().unwrap()],
        external_set_mark_chain: None,
        ..GenerateOptions::default()
    });
    variants.push(GenerateOptions {
        subnets: vec!["fd00:10::/64".parse().unwrap()],
        ..GenerateOptions::default()
    });
    for (i, options) in variants.iter().enumerate() {
        let path = dir.path().join(format!("{i}.conflist"));
        fs::write(&path, options.render().unwrap()).unwrap();
        validate(&path).unwrap_or_else(|e| panic!("{options:?}: {e}"));
    }
}

#[test]
fn rewritten_configs_pass_validate_network_list() {
    use cni_fix_core::rewrite::{plan, RewriteOptions, Scope};
    let conf = tempfile::tempdir().unwrap();
    let d = conf.path();
    // Broken networks made of the plugins Debian ships.
    let k8s =
        fs::read_to_string(corpus_dir().join("kubernetes-website__10-containerd-net.conflist"))
            .unwrap();
    let files: Vec<(&str, String)> = vec![
        (
            "10-no-version.conflist",
            k8s.replacen("\"cniVersion\": \"1.0.0\",", "", 1),
        ),
        (
            "11-short-version.conflist",
            k8s.replacen("\"1.0.0\"", "\"1.0\"", 1),
        ),
        (
            "12-spec-1.1.conflist",
            k8s.replacen(
                "\"cniVersion\": \"1.0.0\",",
                "\"cniVersion\": \"1.1.0\",\n \"cniVersions\": [\"0.4.0\", \"1.1.0\"],",
                1,
            ),
        ),
        (
            "13-podman.conflist",
            fs::read_to_string(corpus_dir().join("podman__87-podman-bridge.conflist"))
                .unwrap()
                .replace("\"0.4.0\"", "\"0.3.1\""),
        ),
        (
            "14-readme.conf",
            fs::read_to_string(corpus_dir().join("cni-readme__10-mynet.conf"))
                .unwrap()
                .replace("\t\"cniVersion\": \"0.2.0\",\n", ""),
        ),
        (
            "15-crio.conflist",
            fs::read_to_string(
                corpus_dir().join("cri-o__11-crio-ipv4-bridge.conflist.2022-v0.3.1"),
            )
            .unwrap(),
        ),
        (
            "16-kube-router.conflist",
            fs::read_to_string(corpus_dir().join("kube-router__10-kuberouter.conflist")).unwrap(),
        ),
    ];
    for (name, text) in &files {
        fs::write(d.join(name), text).unwrap();
    }
    // Several do not validate as they are.
    let broken = files
        .iter()
        .filter(|(n, _)| validate(&d.join(n)).is_err())
        .count();
    assert!(
        broken >= 3,
        "only {broken} files fail validation before the rewrite"
    );

    let options = RewriteOptions::new(
        CheckOptions::default()
            .conf_dir(d.to_path_buf())
            .bin_dir(PathBuf::from("/usr/lib/cni"))
            .containerd_version(ContainerdVersion::parse("1.6.20").unwrap())
            .probe(ProbeMode::Exec),
    )
    .scope(Scope::All)
    .upgrade(true);
    let p = plan(&options).unwrap();
    let backups = tempfile::tempdir().unwrap();
    let report = cni_fix_core::write::apply(&p, backups.path()).unwrap();
    let outcomes: Vec<String> = p
        .files
        .iter()
        .map(|f| match &f.outcome {
            cni_fix_core::rewrite::Outcome::Rewrite { to, .. } => {
                format!("{}: rewrite to {to}", f.path.display())
            }
            other => format!("{}: {other:?}", f.path.display()),
        })
        .collect();
    assert_eq!(
        report.files.len(),
        files.len(),
        "every file is rewritten: {outcomes:#?}"
    );
    for (name, _) in &files {
        validate(&d.join(name)).unwrap_or_else(|e| panic!("{name} after rewrite: {e}"));
    }
}

/// A plugin double that answers VERSION with `versions` (and fails everything else).
fn plugin_double(dir: &Path, plugin: &str, versions: &[&str]) {
    use std::os::unix::fs::PermissionsExt;
    let list: Vec<String> = versions.iter().map(|v| format!("\"{v}\"")).collect();
    let path = dir.join(plugin);
    fs::write(
        &path,
        format!(
            "#!/bin/sh\nif [ \"$CNI_COMMAND\" = VERSION ]; then\n  echo '{{\"cniVersion\":\"0.4.0\",\"supportedVersions\":[{}]}}'\n  exit 0\nfi\nexit 1\n",
            list.join(",")
        ),
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn cri_dockerd_uses_the_network_cni_fix_says_it_uses() {
    const TYPES: &[&str] = &[
        "bridge",
        "host-local",
        "portmap",
        "flannel",
        "loopback",
        "calico",
        "calico-ipam",
        "firewall",
        "bandwidth",
        "tuning",
        "macvlan",
        "ptp",
        "weave-net",
        "cilium-cni",
    ];
    const OLD: &[&str] = &["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0"];
    const NEW: &[&str] = &["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"];
    const NEWEST: &[&str] = &[
        "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
    ];
    let pool = tempfile::tempdir().unwrap();
    let files = variations(pool.path(), 400, 0x5EED_D0C4);
    let mut rng = Rng(11);
    let mut chosen = BTreeMap::<String, usize>::new();
    // The doubles are written once, before any round runs one: a script still open for
    // writing in a forked child cannot be executed (ETXTBSY). Rounds link to them.
    let doubles = tempfile::tempdir().unwrap();
    let variants: Vec<PathBuf> = [OLD, NEW, NEWEST]
        .iter()
        .enumerate()
        .map(|(i, versions)| {
            let d = doubles.path().join(i.to_string());
            fs::create_dir(&d).unwrap();
            for t in TYPES {
                plugin_double(&d, t, versions);
            }
            d
        })
        .collect();
    for round in 0..150 {
        let dir = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        for t in TYPES {
            let pick = rng.below(4);
            if pick > 0 {
                std::os::unix::fs::symlink(variants[pick - 1].join(t), bin.path().join(t)).unwrap();
            }
        }
        for _ in 0..rng.below(6) {
            let f = rng.choose(&files);
            let ext = f.extension().unwrap().to_str().unwrap();
            let name = format!("{:02}-{}.{ext}", rng.below(100), rng.below(1000));
            fs::copy(f, dir.path().join(name)).unwrap();
        }
        let out = run_oracle(&[
            "shimload".as_ref(),
            dir.path().as_os_str(),
            bin.path().as_os_str(),
        ]);
        let theirs: Value = serde_json::from_slice(&out).unwrap();
        let snap = Snapshot::gather(
            &CheckOptions::default()
                .conf_dir(dir.path().to_path_buf())
                .bin_dir(bin.path().to_path_buf())
                .cri_dockerd_version(ContainerdVersion::parse("0.3.1").unwrap())
                .probe(ProbeMode::Exec),
        )
        .unwrap();
        let ours = snap
            .load
            .loaded
            .first()
            .map(|&i| snap.files[i].name.to_string_lossy().into_owned());
        let listing: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            theirs["file"].as_str(),
            ours.as_deref(),
            "round {round}, files {listing:?}"
        );
        let their_error = theirs["error"]
            .as_str()
            .map(|e| e.replace(&*dir.path().to_string_lossy(), "<dir>"));
        let our_error = snap
            .load
            .error
            .as_ref()
            .map(|e| e.replace(&*dir.path().to_string_lossy(), "<dir>"));
        assert_eq!(their_error, our_error, "round {round}, files {listing:?}");
        *chosen
            .entry(
                match (&ours, snap.load.rejected.is_empty()) {
                    (Some(_), true) => "first file",
                    (Some(_), false) => "after skipping",
                    (None, _) => "none",
                }
                .to_string(),
            )
            .or_default() += 1;
    }
    // The generated rounds exercise every outcome.
    assert_eq!(chosen.len(), 3, "{chosen:?}");
}
