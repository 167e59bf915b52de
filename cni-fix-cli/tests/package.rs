//! The release artifacts `scripts/package.sh` builds: the static binary, the Debian package and
//! the container image, each used as an operator would use it.
//!
//! These tests build the artifacts once (a release build in `target/package/cargo`) and need
//! root, `cargo-deb`, `lintian`, `buildah` and `readelf`; the README's test command installs them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::copy_node;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What `scripts/package.sh` built.
struct Artifacts {
    binary: PathBuf,
    deb: PathBuf,
    image: PathBuf,
}

/// Run `scripts/package.sh` once for every test here.
fn artifacts() -> &'static Artifacts {
    static BUILT: OnceLock<Artifacts> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = Command::new(repo().join("scripts/package.sh"))
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .expect("run scripts/package.sh");
        assert!(
            out.status.success(),
            "scripts/package.sh failed (it needs cargo-deb and buildah; the README's test \
             command installs them):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let dir = repo().join("target/package");
        let built = Artifacts {
            binary: dir.join("cni-fix"),
            deb: dir.join(format!("cni-fix_{VERSION}-1_amd64.deb")),
            image: dir.join(format!("cni-fix-{VERSION}.oci.tar")),
        };
        for path in [&built.binary, &built.deb, &built.image] {
            assert!(
                path.is_file(),
                "scripts/package.sh made no {}",
                path.display()
            );
        }
        built
    })
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("{:?}: {e}", cmd.get_program()))
}

fn text(out: &Output) -> String {
    let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&out.stderr));
    said
}

/// The shared libraries and the interpreter an ELF executable asks for, as `readelf` reads them.
fn dynamic_needs(binary: &Path) -> Vec<String> {
    let dynamic = run(Command::new("readelf").arg("--dynamic").arg(binary));
    let headers = run(Command::new("readelf").arg("--program-headers").arg(binary));
    assert!(dynamic.status.success() && headers.status.success());
    let mut needs: Vec<String> = text(&dynamic)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .map(|l| l.trim().to_string())
        .collect();
    needs.extend(
        text(&headers)
            .lines()
            .filter(|l| l.contains("program interpreter"))
            .map(|l| l.trim().to_string()),
    );
    needs
}

#[test]
fn the_static_binary_needs_no_shared_library() {
    let a = artifacts();
    assert_eq!(dynamic_needs(&a.binary), Vec::<String>::new());
    // The ordinary build does need libc and its loader: the test can tell them apart.
    let ordinary = dynamic_needs(Path::new(env!("CARGO_BIN_EXE_cni-fix")));
    assert!(
        ordinary.iter().any(|n| n.contains("libc.so")),
        "{ordinary:?}"
    );
}

/// The summary line and exit status of `check` on the example node, run by `cni-fix` at `program`
/// with `root` as the node's root, in `chroot` when given.
fn summary(chroot: Option<&Path>, program: &Path, root: &Path) -> (i32, String) {
    let check = [
        "check",
        "--root",
        root.to_str().unwrap(),
        "--probe",
        "static",
        "--containerd-version",
        "1.6.3",
        "--format",
        "summary",
    ];
    let out = match chroot {
        Some(dir) => run(Command::new("chroot").arg(dir).arg(program).args(check)),
        None => run(Command::new(program).args(check)),
    };
    (out.status.code().unwrap_or(-1), text(&out))
}

#[test]
fn the_static_binary_runs_in_an_empty_tree() {
    let a = artifacts();
    let empty = tempfile::tempdir().unwrap();
    std::fs::copy(&a.binary, empty.path().join("cni-fix")).unwrap();
    let node = empty.path().join("node");
    std::fs::create_dir(&node).unwrap();
    copy_node(&repo().join("testdata/example-node"), &node);

    // Nothing but the binary and a node tree: no libc, no loader, no /proc, no /etc.
    let version = run(Command::new("chroot")
        .arg(empty.path())
        .args(["/cni-fix", "--version"]));
    assert!(version.status.success(), "{}", text(&version));
    assert_eq!(text(&version), format!("cni-fix {VERSION}\n"));

    let inside = summary(
        Some(empty.path()),
        Path::new("/cni-fix"),
        Path::new("/node"),
    );
    let outside = summary(None, Path::new(env!("CARGO_BIN_EXE_cni-fix")), &node);
    assert_eq!(inside, outside);
    assert_eq!(inside.0, 1, "the example node has an error: {}", inside.1);
    assert!(inside.1.contains("missing-version"), "{}", inside.1);
}

#[test]
fn the_package_holds_the_binary_the_manuals_the_completions_and_the_explain_pages() {
    let a = artifacts();
    let listing = run(Command::new("dpkg-deb").arg("--contents").arg(&a.deb));
    assert!(listing.status.success(), "{}", text(&listing));
    let files: Vec<String> = text(&listing)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| p.trim_start_matches('.').to_string())
        .collect();
    let explain_pages = std::fs::read_dir(repo().join("cni-fix-core/src/explain"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".md"))
        .collect::<Vec<_>>();
    let mut wanted: Vec<String> = [
        "/usr/bin/cni-fix",
        "/usr/share/man/man1/cni-fix.1.gz",
        "/usr/share/man/man1/cni-fix-check.1.gz",
        "/usr/share/man/man1/cni-fix-rewrite.1.gz",
        "/usr/share/man/man1/cni-fix-scan.1.gz",
        "/usr/share/bash-completion/completions/cni-fix",
        "/usr/share/zsh/vendor-completions/_cni-fix",
        "/usr/share/fish/vendor_completions.d/cni-fix.fish",
        "/usr/share/doc/cni-fix/copyright",
        "/usr/share/doc/cni-fix/changelog.gz",
        "/usr/share/doc/cni-fix/changelog.Debian.gz",
        "/usr/share/doc/cni-fix/examples/deploy/daemonset.yaml",
        "/usr/share/doc/cni-fix/examples/deploy/node-problem-detector/cni-fix-monitor.json",
    ]
    .map(String::from)
    .to_vec();
    wanted.extend(
        explain_pages
            .iter()
            .map(|p| format!("/usr/share/doc/cni-fix/explain/{p}")),
    );
    assert!(explain_pages.len() > 30, "{explain_pages:?}");
    let missing: Vec<_> = wanted.iter().filter(|w| !files.contains(w)).collect();
    assert!(missing.is_empty(), "missing {missing:?} in {files:#?}");

    // The package's binary is the static one, stripped.
    let extracted = tempfile::tempdir().unwrap();
    let x = run(Command::new("dpkg-deb")
        .arg("--extract")
        .arg(&a.deb)
        .arg(extracted.path()));
    assert!(x.status.success(), "{}", text(&x));
    let packaged = extracted.path().join("usr/bin/cni-fix");
    assert_eq!(dynamic_needs(&packaged), Vec::<String>::new());
    let sections = run(Command::new("readelf")
        .arg("--section-headers")
        .arg(&packaged));
    assert!(
        !text(&sections).contains(".symtab") && !text(&sections).contains(".debug_info"),
        "the packaged binary keeps its symbols:\n{}",
        text(&sections)
    );
    // Its control file names this version and no dependency (an empty Depends prints nothing).
    let control = run(Command::new("dpkg-deb")
        .arg("--field")
        .arg(&a.deb)
        .args(["Package", "Version", "Depends"]));
    assert_eq!(
        text(&control),
        format!("Package: cni-fix\nVersion: {VERSION}-1\n")
    );
}

#[test]
fn lintian_finds_no_error_and_no_unexplained_warning() {
    let a = artifacts();
    // The overrides shipped in the package explain the warnings a static binary draws; any
    // other warning or error fails.
    let out = run(Command::new("lintian")
        .args(["--fail-on", "error,warning", "--tag-display-limit", "0"])
        .arg(&a.deb));
    assert!(out.status.success(), "lintian:\n{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        !said
            .lines()
            .any(|l| l.starts_with("E:") || l.starts_with("W:")),
        "{said}"
    );
}

/// Removes the package when dropped, so that a failing test leaves the machine as it was.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "cni-fix"]).output();
    }
}

fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "cni-fix"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

#[test]
fn the_package_installs_checks_the_example_and_removes_cleanly() {
    let a = artifacts();
    assert!(
        !installed(),
        "a cni-fix package is installed on this machine already; remove it (dpkg -r cni-fix) \
         so that this test can install and remove its own"
    );
    let install = run(Command::new("dpkg").arg("-i").arg(&a.deb));
    let guard = Installed;
    assert!(install.status.success(), "dpkg -i:\n{}", text(&install));
    assert!(installed());

    // The README's first command, with the installed binary.
    let example = repo().join("testdata/example-node");
    let check = run(Command::new("/usr/bin/cni-fix")
        .arg("check")
        .arg("--root")
        .arg(&example)
        .args(["--containerd-version", "1.6.3", "--probe", "exec"]));
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(text(&check).contains("missing-version"), "{}", text(&check));
    for path in [
        "/usr/share/man/man1/cni-fix-check.1.gz",
        "/usr/share/bash-completion/completions/cni-fix",
        "/usr/share/doc/cni-fix/explain/missing-version.md",
    ] {
        assert!(Path::new(path).is_file(), "{path} not installed");
    }

    let remove = run(Command::new("dpkg").args(["-r", "cni-fix"]));
    assert!(remove.status.success(), "dpkg -r:\n{}", text(&remove));
    drop(guard);
    assert!(!installed());
    for path in ["/usr/bin/cni-fix", "/usr/share/man/man1/cni-fix.1.gz"] {
        assert!(!Path::new(path).exists(), "{path} left behind");
    }
}

#[test]
fn the_image_runs_from_its_archive() {
    let a = artifacts();
    // A store of its own, on vfs: the image comes from the OCI archive alone.
    let store = tempfile::tempdir().unwrap();
    let buildah = || {
        let mut cmd = Command::new("buildah");
        cmd.arg("--root")
            .arg(store.path().join("storage"))
            .arg("--runroot")
            .arg(store.path().join("run"))
            .args(["--storage-driver", "vfs"]);
        cmd
    };
    let from = run(buildah()
        .args(["from", "--quiet", "--pull-never"])
        .arg(format!("oci-archive:{}", a.image.display())));
    assert!(from.status.success(), "buildah from:\n{}", text(&from));
    let container = String::from_utf8_lossy(&from.stdout).trim().to_string();

    let config = run(buildah()
        .args([
            "inspect",
            "--type",
            "container",
            "--format",
            "{{.OCIv1.Config.Entrypoint}} {{.OCIv1.Config.Cmd}}",
        ])
        .arg(&container));
    assert_eq!(
        text(&config).trim(),
        "[/usr/bin/cni-fix] [check --root=/host --probe=static]"
    );

    let version = run(buildah()
        .args(["run", "--isolation", "chroot"])
        .arg(&container)
        .args(["--", "/usr/bin/cni-fix", "--version"]));
    // The example node at /host, read-only, as the DaemonSet mounts the node's /.
    let example = repo().join("testdata/example-node");
    let check = run(buildah()
        .args(["run", "--isolation", "chroot", "--volume"])
        .arg(format!("{}:/host:ro", example.display()))
        .arg(&container)
        .args([
            "--",
            "/usr/bin/cni-fix",
            "check",
            "--root=/host",
            "--probe=static",
            "--format=summary",
        ]));
    let _ = buildah().args(["rm", &container]).output();

    assert!(version.status.success(), "{}", text(&version));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("cni-fix {VERSION}\n")
    );
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(
        String::from_utf8_lossy(&check.stdout).starts_with("FAIL: "),
        "{}",
        text(&check)
    );
}
