//! The Go oracle (`tests/oracle/main.go`), built offline against Debian's libcni and go-cni
//! source (GOPATH mode over /usr/share/gocode). Shared by the differential tests and the speed
//! bench (`benches/speed.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Build the oracle into the target's temporary directory as `name`, and return its path.
pub fn build(name: &str) -> PathBuf {
    for pkg in [
        "/usr/share/gocode/src/github.com/containernetworking/cni/libcni",
        "/usr/share/gocode/src/github.com/containerd/go-cni",
    ] {
        assert!(
            Path::new(pkg).is_dir(),
            "{pkg} is missing: install golang-github-appc-cni-dev and golang-github-containerd-go-cni-dev (scripts/test.sh does)"
        );
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle");
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let bin = tmp.join(name);
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(&src)
        .env("GOPATH", "/usr/share/gocode")
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .env("GOCACHE", tmp.join("go-cache"))
        .output()
        .expect("go (golang-go) to build the oracle");
    assert!(
        out.status.success(),
        "building the oracle failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}
