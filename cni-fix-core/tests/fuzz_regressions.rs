//! Every input a fuzz target ever failed on, kept in `fuzz/regressions/TARGET/`, replayed
//! through the same target code (`fuzz/src/lib.rs`) on stable. Each is a test of its own.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code, missing_docs)]
mod fuzz;

use std::path::Path;

use libtest_mimic::{Arguments, Failed, Trial};

fn target(name: &str) -> Option<fn(&[u8])> {
    Some(match name {
        "json" => fuzz::json::run,
        "conflist" => fuzz::conflist::run,
        "containerd_config" => fuzz::containerd_config::run,
        "static_probe" => fuzz::static_probe::run,
        "edit" => fuzz::edit::run,
        "kubelet" => fuzz::kubelet::run,
        "workloads" => fuzz::workloads::run,
        "collection" => fuzz::collection::run,
        _ => return None,
    })
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let mut trials = Vec::new();
    for t in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let t = t.unwrap();
        let name = t.file_name().into_string().unwrap();
        let run =
            target(&name).unwrap_or_else(|| panic!("fuzz/regressions/{name}: no such fuzz target"));
        for input in std::fs::read_dir(t.path()).unwrap() {
            let path = input.unwrap().path();
            let label = format!("{name}/{}", path.file_name().unwrap().to_string_lossy());
            trials.push(Trial::test(label, move || {
                let bytes = std::fs::read(&path).map_err(|e| Failed::from(e.to_string()))?;
                run(&bytes);
                Ok(())
            }));
        }
    }
    assert!(
        !trials.is_empty(),
        "no regression input in {}",
        dir.display()
    );
    libtest_mimic::run(&Arguments::from_args(), trials).exit();
}
