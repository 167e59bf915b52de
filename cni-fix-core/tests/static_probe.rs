//! The static probe on real binaries: Debian's plugins are in the CLI's real-component tests;
//! here, small Go fixtures built offline (see tests/fixtures/static/README.md), and mutated
//! binaries that must never make the parser panic.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use cni_fix_core::probe::probe_one;
use cni_fix_core::static_probe::{probe_bytes, read_buildinfo, Confidence, StaticError};
use proptest::prelude::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/static")
}

/// `go build` with the given environment, into the test's temporary directory.
fn go_build(name: &str, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let out = tmp.join("static-fixtures").join(name);
    let mut cmd = Command::new("go");
    cmd.arg("build").args(args).arg("-o").arg(&out);
    cmd.current_dir(dir)
        .env("GOCACHE", tmp.join("go-cache"))
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .env("GOSUMDB", "off")
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let result = cmd
        .output()
        .expect("go (golang-go; scripts/test.sh installs it)");
    assert!(
        result.status.success(),
        "building {name}: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    out
}

struct Built {
    skel: PathBuf,
    skel_stripped: PathBuf,
    skel_arm64: PathBuf,
    skel_386: PathBuf,
    old_check: PathBuf,
    old_nocheck: PathBuf,
    new_skel: PathBuf,
    module_ldflags: PathBuf,
    module_dep: PathBuf,
}

fn built() -> &'static Built {
    static B: OnceLock<Built> = OnceLock::new();
    B.get_or_init(|| {
        assert!(
            Path::new("/usr/share/gocode/src/github.com/containernetworking/cni/pkg/skel").is_dir(),
            "install golang-github-appc-cni-dev (scripts/test.sh does)"
        );
        let debian = [("GOPATH", "/usr/share/gocode"), ("GO111MODULE", "off")];
        let skel_dir = fixtures().join("skel-plugin");
        let old = fixtures().join("gopath-old");
        let old_s = old.to_str().unwrap().to_string();
        let old_env = [("GOPATH", old_s.as_str()), ("GO111MODULE", "off")];
        let module = fixtures().join("module/plugin");
        let mod_env = [("GO111MODULE", "on"), ("GOFLAGS", "-mod=mod")];
        Built {
            skel: go_build("skel", &skel_dir, &debian, &["-trimpath"]),
            skel_stripped: go_build("skel-stripped", &skel_dir, &debian, &["-trimpath", "-ldflags=-s -w"]),
            skel_arm64: go_build("skel-arm64", &skel_dir, &[debian[0], debian[1], ("GOARCH", "arm64")], &[]),
            skel_386: go_build("skel-386", &skel_dir, &[debian[0], debian[1], ("GOARCH", "386")], &[]),
            old_check: go_build("old-check", &old.join("src/fixture/old-check"), &old_env, &[]),
            old_nocheck: go_build("old-nocheck", &old.join("src/fixture/old-nocheck"), &old_env, &[]),
            new_skel: go_build("new-skel", &old.join("src/fixture/new-skel"), &old_env, &[]),
            // Without -trimpath, so that Go records -ldflags in the build information.
            module_ldflags: go_build(
                "module-ldflags",
                &module,
                &mod_env,
                &["-ldflags=-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=v0.9.1"],
            ),
            module_dep: go_build("module-dep", &module, &mod_env, &["-trimpath"]),
        }
    })
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn a_real_skel_plugin_static_agrees_with_exec() {
    let b = built();
    for path in [&b.skel, &b.skel_stripped] {
        let exec = probe_one(path, std::time::Duration::from_secs(5)).unwrap();
        for name in ["bridge", "some-third-party-plugin"] {
            let s = probe_bytes(&read(path), name).unwrap();
            assert_eq!(
                s.versions,
                exec,
                "{} as {name}: static {:?} vs exec {exec:?}",
                path.display(),
                s.versions
            );
            assert_eq!(s.confidence, Confidence::Medium);
            assert!(s.evidence.contains("pkg/types/100"), "{}", s.evidence);
        }
    }
}

#[test]
fn binaries_of_other_architectures_are_read_not_run() {
    let b = built();
    let native = probe_bytes(&read(&b.skel), "bridge").unwrap().versions;
    for path in [&b.skel_arm64, &b.skel_386] {
        let s = probe_bytes(&read(path), "bridge").unwrap();
        assert_eq!(s.versions, native, "{}", path.display());
    }
    let info = read_buildinfo(&read(&b.skel_386)).unwrap().unwrap();
    assert!(
        info.settings
            .iter()
            .any(|(k, v)| k == "GOARCH" && v == "386"),
        "{info:?}"
    );
}

#[test]
fn package_markers_of_each_libcni_era() {
    let b = built();
    let v = |p: &Path, t: &str| probe_bytes(&read(p), t).unwrap();
    assert_eq!(
        v(&b.old_check, "bridge").versions,
        ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0"]
    );
    assert_eq!(v(&b.old_check, "firewall").versions, ["0.4.0"]);
    assert_eq!(
        v(&b.old_nocheck, "bridge").versions,
        ["0.1.0", "0.2.0", "0.3.0", "0.3.1"]
    );
    let new = v(&b.new_skel, "bridge");
    assert_eq!(new.versions.last().map(String::as_str), Some("1.1.0"));
    assert_eq!(new.confidence, Confidence::Medium);
}

#[test]
fn go_build_information_wins_over_markers() {
    let b = built();
    let s = probe_bytes(&read(&b.module_ldflags), "firewall").unwrap();
    assert_eq!(s.confidence, Confidence::High);
    assert_eq!(s.versions, ["0.4.0"]);
    assert!(
        s.evidence.contains("containernetworking/plugins v0.9.1"),
        "{}",
        s.evidence
    );
    let s = probe_bytes(&read(&b.module_dep), "bandwidth").unwrap();
    assert_eq!(s.confidence, Confidence::High);
    assert_eq!(s.versions, ["0.3.0", "0.3.1", "0.4.0"]);
    assert!(
        s.evidence
            .contains("github.com/containernetworking/cni v0.8.1"),
        "{}",
        s.evidence
    );
    // A third-party plugin on the same libcni: version.All of it, with less certainty.
    let s = probe_bytes(&read(&b.module_dep), "calico").unwrap();
    assert_eq!((s.confidence, s.versions.len()), (Confidence::Medium, 5));
}

#[test]
fn non_plugins() {
    assert!(matches!(
        probe_bytes(&read(Path::new("/bin/sh")), "bridge"),
        Err(StaticError::NoCni)
    ));
    assert_eq!(
        probe_bytes(b"#!/bin/sh\n", "bridge"),
        Err(StaticError::NotElf("a script"))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Fuzzing: flipped bytes in the headers, the section table and the build information,
    /// and truncations, never make the parser panic or read out of bounds.
    #[test]
    fn mutated_binaries_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        region in 0usize..3,
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let base = read(&built().skel);
        let mut data = base.clone();
        let bi = memchr::memmem::find(&data, b"\xff Go buildinf:").unwrap_or(0);
        let shoff = u64::from_le_bytes(data[0x28..0x30].try_into().unwrap()) as usize;
        let (start, len) = match region {
            0 => (0, 128),
            1 => (bi, 64),
            _ => (shoff.min(data.len() - 1), (data.len() - shoff.min(data.len() - 1)).min(4096)),
        };
        for (i, byte) in flips {
            let at = start + i.index(len.max(1));
            if at < data.len() {
                data[at] ^= byte | 1;
            }
        }
        if let Some(c) = cut {
            data.truncate(c.index(data.len()));
        }
        let _ = read_buildinfo(&data);
        let _ = probe_bytes(&data, "bridge");
    }

    #[test]
    fn arbitrary_bytes_after_an_elf_header_never_panic(tail in prop::collection::vec(any::<u8>(), 0..4096), class in 1u8..3, order in 1u8..3) {
        let mut data = vec![0x7f, b'E', b'L', b'F', class, order];
        data.extend(tail);
        let _ = read_buildinfo(&data);
        let _ = probe_bytes(&data, "bridge");
    }
}
