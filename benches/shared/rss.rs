//! The peak resident set of one command, measured from a process of its own so that nothing
//! else the bench did counts.

use std::ffi::OsStr;
use std::process::{Command, Stdio};

/// Set in the process that runs and measures the command.
pub const RSS_CHILD: &str = "CNI_FIX_BENCH_RSS_CHILD";

/// Whether this process is the measuring one: then the bench's `main` calls
/// [`measure_child`] and does nothing else.
pub fn is_child() -> bool {
    std::env::var_os(RSS_CHILD).is_some()
}

/// The peak resident set, in KiB, of `program args`, run (its output thrown away) by a copy
/// of the bench started for it.
pub fn peak_rss<I, S>(program: &OsStr, args: I) -> u64
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new(std::env::current_exe().unwrap())
        .env(RSS_CHILD, "1")
        .arg(program)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("run the measuring process");
    let said = String::from_utf8_lossy(&out.stdout);
    said.trim()
        .parse()
        .unwrap_or_else(|_| panic!("the measuring process said {said:?}"))
}

/// In the measuring process: run the command in the arguments, throw its output away, and
/// print the peak resident set of it (the only child). Exit 0 or 1 (findings) is a run.
pub fn measure_child() {
    let mut args = std::env::args_os().skip(1);
    let program = args.next().expect("a program to measure");
    let status = Command::new(&program)
        .args(args)
        .stdout(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("run {program:?}: {e}"));
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "{program:?}: {status}"
    );
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    // Linux gives ru_maxrss in KiB.
    #[allow(clippy::print_stdout)]
    {
        println!("{}", usage.max_rss());
    }
}
