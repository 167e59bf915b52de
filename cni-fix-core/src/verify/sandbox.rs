//! The throwaway node a network is verified on.
//!
//! A dedicated thread leaves the host's namespaces: it unshares a network namespace (the
//! stand-in host, where bridges, veths, routes and iptables rules are made) and a mount
//! namespace (made private first, so nothing propagates back), puts fresh tmpfs directories
//! over the plugins' state and a sysfs of the stand-in host over `/sys`. A second thread
//! unshares the pod's network namespace and holds it while the plugins run; the plugins reach
//! it through `/proc/<pid>/task/<tid>/ns/net`, as dockershim passed `/proc/<pid>/ns/net`.
//!
//! Nothing is bind-mounted on the host, so the kernel tears everything down when the threads
//! end, however they end: on return, on a panic, or when the process is killed. Plugins are
//! started with `PR_SET_PDEATHSIG` so that they die with the thread that started them, and in
//! their own process group, which a timeout kills.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

use super::netlink::Rtnl;
use crate::probe::{self, Output, ProbeError};

/// Why the sandbox could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The process lacks the rights to make namespaces and mounts.
    #[error(
        "verify needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to make network and mount namespaces: {0}"
    )]
    NotPermitted(String),
    /// A state directory cannot be covered without hiding what the node needs.
    #[error("cannot isolate {path}: {reason}")]
    CannotIsolate {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A step of the set-up failed.
    #[error("{what}: {message}")]
    Setup {
        /// The step.
        what: String,
        /// The error.
        message: String,
    },
}

/// What a sandbox must provide.
#[derive(Debug, Clone, Default)]
pub(crate) struct Isolation {
    /// Directories where plugins keep state: each gets a fresh tmpfs (over its nearest
    /// existing ancestor when it does not exist, since creating it would touch the host).
    pub state_dirs: Vec<PathBuf>,
    /// Paths that must stay visible though a tmpfs covers them (the plugin directories).
    pub keep_visible: Vec<PathBuf>,
    /// Dummy links to create in the stand-in host (the devices plugins take from the host).
    pub dummies: Vec<String>,
}

/// Inside the sandbox.
pub(crate) struct Inside {
    /// The pod's network namespace, as a path plugins can open.
    pub pod_netns: String,
    /// rtnetlink in the stand-in host.
    pub host: Rtnl,
    /// What the set-up could not do, for the report.
    pub notes: Vec<String>,
}

/// Directories never covered by a tmpfs: hiding them breaks the plugins themselves.
const NEVER_COVER: &[&str] = &[
    "/", "/usr", "/etc", "/proc", "/sys", "/dev", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
    "/libx32", "/boot",
];

fn setup_error(what: &str, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Setup {
        what: what.to_string(),
        message: e.to_string(),
    }
}

/// Run `body` in a fresh sandbox on its own thread; everything made there is gone when this
/// returns.
pub(crate) fn isolated<T: Send>(
    iso: &Isolation,
    body: impl FnOnce(&mut Inside) -> T + Send,
) -> Result<T, SandboxError> {
    std::thread::scope(|s| {
        s.spawn(|| enter_and_run(iso, body))
            .join()
            .unwrap_or_else(|_| Err(setup_error("sandbox", "the sandbox thread panicked")))
    })
}

fn enter_and_run<T>(
    iso: &Isolation,
    body: impl FnOnce(&mut Inside) -> T,
) -> Result<T, SandboxError> {
    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWNET).map_err(|e| match e {
        nix::errno::Errno::EPERM | nix::errno::Errno::EACCES => {
            SandboxError::NotPermitted(e.desc().to_string())
        }
        e => setup_error("unshare", e.desc()),
    })?;
    // A shared root would carry every mount below back to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| setup_error("making the mount namespace private", e.desc()))?;
    let mut notes = Vec::new();
    for target in cover_targets(&iso.state_dirs)? {
        cover(&target, &iso.keep_visible)?;
    }
    // /sys shows the namespace of whoever mounted it: mount one of the stand-in host's.
    if let Err(e) = mount(
        Some("sysfs"),
        "/sys",
        Some("sysfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    ) {
        notes.push(format!(
            "/sys still shows the host's links (mounting a sysfs failed: {})",
            e.desc()
        ));
    }
    let mut host = Rtnl::open().map_err(|e| setup_error("rtnetlink", e))?;
    let links = host.links().map_err(|e| setup_error("listing links", e))?;
    if let Some(lo) = links.iter().find(|l| l.name == "lo") {
        host.set_up(lo.index)
            .map_err(|e| setup_error("bringing up lo", e))?;
    }
    for (i, name) in iso.dummies.iter().enumerate() {
        let kind = host
            .add_stand_in(name, &format!("cni-fix-peer{i}"))
            .map_err(|e| setup_error(&format!("creating a stand-in link {name}"), e))?;
        if kind != "dummy" {
            notes.push(format!(
                "this kernel has no dummy links: {name} is one end of a veth pair"
            ));
        }
    }
    // The pod: a thread in a network namespace of its own, held until the body is done.
    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        s.spawn(move || {
            let answer = unshare(CloneFlags::CLONE_NEWNET)
                .map(|()| nix::unistd::gettid().as_raw())
                .map_err(|e| e.desc().to_string());
            let ok = answer.is_ok();
            let _ = ready_tx.send(answer);
            if ok {
                let _ = done_rx.recv();
            }
        });
        let tid = ready_rx
            .recv()
            .map_err(|e| setup_error("pod namespace", e))?
            .map_err(|e| setup_error("pod namespace", e))?;
        let mut inside = Inside {
            pod_netns: format!("/proc/{}/task/{tid}/ns/net", std::process::id()),
            host,
            notes,
        };
        let out = body(&mut inside);
        drop(done_tx);
        Ok(out)
    })
}

/// The directories to cover: each state directory, or its nearest existing ancestor; none
/// inside another; none that would hide the system.
fn cover_targets(state_dirs: &[PathBuf]) -> Result<Vec<PathBuf>, SandboxError> {
    let mut targets: Vec<PathBuf> = Vec::new();
    for dir in state_dirs {
        let mut at = dir.as_path();
        let existing = loop {
            match std::fs::canonicalize(at) {
                Ok(p) if p.is_dir() => break p,
                _ => match at.parent() {
                    Some(parent) => at = parent,
                    None => break PathBuf::from("/"),
                },
            }
        };
        if NEVER_COVER.iter().any(|n| Path::new(n) == existing) {
            return Err(SandboxError::CannotIsolate {
                path: dir.clone(),
                reason: format!(
                    "it does not exist, and covering its nearest existing ancestor {} would hide the system",
                    existing.display()
                ),
            });
        }
        targets.push(existing);
    }
    targets.sort();
    targets.dedup();
    let outer: Vec<PathBuf> = targets
        .iter()
        .filter(|t| !targets.iter().any(|o| o != *t && t.starts_with(o)))
        .cloned()
        .collect();
    Ok(outer)
}

/// Put a tmpfs over `target`, then bind back the paths that must stay visible below it.
fn cover(target: &Path, keep_visible: &[PathBuf]) -> Result<(), SandboxError> {
    let kept: Vec<(PathBuf, File)> = keep_visible
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .filter(|p| p.starts_with(target) && p != target)
        .filter_map(|p| File::open(&p).ok().map(|f| (p, f)))
        .collect();
    mount(
        Some("tmpfs"),
        target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755,size=64m"),
    )
    .map_err(|e| setup_error(&format!("a tmpfs over {}", target.display()), e.desc()))?;
    for (path, file) in kept {
        std::fs::create_dir_all(&path)
            .map_err(|e| setup_error(&format!("keeping {} visible", path.display()), e))?;
        let source = format!("/proc/thread-self/fd/{}", file.as_raw_fd());
        mount(
            Some(source.as_str()),
            &path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| setup_error(&format!("keeping {} visible", path.display()), e.desc()))?;
    }
    Ok(())
}

/// Run one plugin inside the sandbox, as libcni's `RawExec` does: the config on stdin, the
/// runtime's environment with the `CNI_*` variables, output bounded, a deadline. Call it only
/// from the sandbox thread.
pub(crate) fn exec_plugin(
    path: &Path,
    env: &[(&'static str, String)],
    stdin: Vec<u8>,
    timeout: Duration,
) -> Result<Output, ProbeError> {
    let mut cmd = Command::new(path);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CNI_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    die_with_parent(&mut cmd);
    probe::run_bounded_with_input(cmd, Some(stdin), timeout)
}

/// Have the child killed when the thread that started it ends, whatever ends it.
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs between fork and exec, and makes only async-signal-safe system
    // calls (prctl, getppid); it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
                .map_err(io::Error::from)?;
            // The parent may have died before the call above: then no signal will come.
            if rustix::process::getppid() != Some(parent) {
                return Err(io::Error::other("the parent exited"));
            }
            Ok(())
        });
    }
}
