//! `cni-fix rewrite` and `cni-fix generate` as a provisioning script runs them, including
//! the faults: a read-only conf dir, a full file system, a process killed in the middle, a
//! backup directory that cannot be created.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{check_json, cni_fix, scenario, Run};

fn rewrite(root: &Path, args: &[&str]) -> Run {
    let mut all = vec!["rewrite", "--root", root.to_str().unwrap()];
    all.extend_from_slice(args);
    cni_fix(&all)
}

/// Every file under `dir`, with its bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), fs::read(e.path()).unwrap()))
        .collect()
}

const OLD: &[&str] = &["--containerd-version", "1.6.3", "--probe", "exec"];
const CONF: &str = "etc/cni/net.d/10-containerd-net.conflist";

#[test]
fn dry_run_changes_nothing_and_its_diff_applies_with_patch_and_git() {
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    let before = tree(&root);
    let mut args = OLD.to_vec();
    args.push("--dry-run");
    let dry = rewrite(&root, &args);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(
        tree(&root),
        before,
        "a dry run writes nothing, not even a backup"
    );
    assert!(dry
        .stdout
        .starts_with("diff --git a/etc/cni/net.d/10-containerd-net.conflist"));
    assert!(dry
        .stderr
        .contains("would rewrite  /etc/cni/net.d/10-containerd-net.conflist"));

    // The real run's result, in a second copy.
    let (_t2, real) = scenario("old-plugins-1.0.0-config");
    assert_eq!(rewrite(&real, OLD).code, 0);
    let expected = fs::read(real.join(CONF)).unwrap();

    let diff = root.join("../fix.diff");
    fs::write(&diff, &dry.stdout).unwrap();
    let (_t3, patched) = scenario("old-plugins-1.0.0-config");
    let status = Command::new("patch")
        .args(["-p1", "--quiet", "-i", diff.to_str().unwrap()])
        .current_dir(&patched)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(fs::read(patched.join(CONF)).unwrap(), expected);

    let (_t4, git) = scenario("old-plugins-1.0.0-config");
    let status = Command::new("git")
        .args(["apply", diff.to_str().unwrap()])
        .current_dir(&git)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(fs::read(git.join(CONF)).unwrap(), expected);
}

#[test]
fn exit_code_tells_provisioning_scripts_whether_to_act() {
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    let mut args = OLD.to_vec();
    args.extend(["--dry-run", "--exit-code"]);
    assert_eq!(rewrite(&root, &args).code, 1, "something to change");
    assert_eq!(rewrite(&root, OLD).code, 0);
    let again = rewrite(&root, &args);
    assert_eq!(again.code, 0, "nothing left: {}", again.stderr);
    assert!(again.stdout.is_empty());
}

#[test]
fn real_run_backs_up_rewrites_minimally_and_is_idempotent() {
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    let original = fs::read(root.join(CONF)).unwrap();
    let out = rewrite(
        &root,
        &[OLD, &["--backup-dir", "/var/tmp/cni-backup"]].concat(),
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(
            "rewrote  /etc/cni/net.d/10-containerd-net.conflist: cniVersion \"1.0.0\" → \"0.4.0\""
        ),
        "{}",
        out.stdout
    );
    assert!(out
        .stdout
        .contains("original kept in /var/tmp/cni-backup/etc/cni/net.d/10-containerd-net.conflist"));
    assert_eq!(
        fs::read(root.join("var/tmp/cni-backup").join(CONF)).unwrap(),
        original
    );
    let new = fs::read(root.join(CONF)).unwrap();
    let expected =
        String::from_utf8(original.clone())
            .unwrap()
            .replacen("\"1.0.0\"", "\"0.4.0\"", 1);
    assert_eq!(
        String::from_utf8(new).unwrap(),
        expected,
        "only the value's bytes changed"
    );
    // No temporary file is left in the conf dir.
    let names: Vec<_> = fs::read_dir(root.join("etc/cni/net.d"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["10-containerd-net.conflist"]);

    let again = rewrite(&root, OLD);
    assert_eq!(again.code, 0);
    assert!(
        again
            .stdout
            .contains("unchanged  /etc/cni/net.d/10-containerd-net.conflist"),
        "{}",
        again.stdout
    );
    // The default backup dir is a timestamped folder under /var/backups/cni-fix.
    assert!(
        !root.join("var/backups").exists(),
        "no backup when nothing changes"
    );
}

#[test]
fn repeated_runs_never_overwrite_an_earlier_backup() {
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    let first = fs::read(root.join(CONF)).unwrap();
    let args = [OLD, &["--backup-dir", "/var/tmp/b"]].concat();
    assert_eq!(rewrite(&root, &args).code, 0);
    // Someone puts the old file back; the next run backs up the new original beside the first.
    fs::write(root.join(CONF), &first).unwrap();
    let out = rewrite(&root, &args);
    assert!(
        out.stdout
            .contains("original kept in /var/tmp/b/etc/cni/net.d/10-containerd-net.conflist.1"),
        "{}",
        out.stdout
    );
    assert_eq!(fs::read(root.join("var/tmp/b").join(CONF)).unwrap(), first);
}

#[test]
fn default_backup_dir_is_timestamped_under_var_backups() {
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    assert_eq!(rewrite(&root, OLD).code, 0);
    let dirs: Vec<_> = fs::read_dir(root.join("var/backups/cni-fix"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(dirs.len(), 1);
    assert!(
        dirs[0].len() == 16 && dirs[0].ends_with('Z') && dirs[0].as_bytes()[8] == b'T',
        "{dirs:?}"
    );
}

#[test]
fn mode_owner_and_selinux_label_survive() {
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    let conf = root.join(CONF);
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(&conf, Some(1234), Some(2345)).unwrap();
    let label = b"system_u:object_r:container_file_t:s0\0";
    xattr_set(&conf, "security.selinux", label);
    xattr_set(&conf, "user.cni-fix-test", b"kept");
    assert_eq!(rewrite(&root, OLD).code, 0);
    let m = fs::metadata(&conf).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o640, 1234, 2345));
    assert_eq!(xattr_get(&conf, "security.selinux"), label);
    assert_eq!(xattr_get(&conf, "user.cni-fix-test"), b"kept");
}

fn xattr_set(p: &Path, name: &str, value: &[u8]) {
    let status = Command::new("python3")
        .args([
            "-c",
            "import os,sys; os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]))",
        ])
        .args([p.to_str().unwrap(), name, &hex(value)])
        .status()
        .unwrap();
    assert!(status.success(), "setxattr {name}");
}

fn xattr_get(p: &Path, name: &str) -> Vec<u8> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import os,sys; sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2]).hex())",
        ])
        .args([p.to_str().unwrap(), name])
        .output()
        .unwrap();
    let h = String::from_utf8(out.stdout).unwrap();
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn a_symlinked_config_is_rewritten_at_its_target() {
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    fs::create_dir_all(root.join("var/lib/cni-configs")).unwrap();
    fs::rename(
        root.join(CONF),
        root.join("var/lib/cni-configs/net.conflist"),
    )
    .unwrap();
    symlink("/var/lib/cni-configs/net.conflist", root.join(CONF)).unwrap();
    let mut dry_args = OLD.to_vec();
    dry_args.push("--dry-run");
    let dry = rewrite(&root, &dry_args);
    assert!(
        dry.stdout.starts_with(
            "diff --git a/var/lib/cni-configs/net.conflist b/var/lib/cni-configs/net.conflist"
        ),
        "{}",
        dry.stdout
    );
    let out = rewrite(&root, OLD);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        fs::symlink_metadata(root.join(CONF))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link stays"
    );
    assert_eq!(
        fs::read_link(root.join(CONF)).unwrap(),
        Path::new("/var/lib/cni-configs/net.conflist")
    );
    let text = fs::read_to_string(root.join("var/lib/cni-configs/net.conflist")).unwrap();
    assert!(text.contains("\"cniVersion\": \"0.4.0\""), "{text}");
}

/// old-plugins plus a shadowed file that also needs a fix.
fn two_files() -> (tempfile::TempDir, PathBuf) {
    let (t, root) = scenario("old-plugins-1.0.0-config");
    fs::write(
        root.join("etc/cni/net.d/20-extra.conflist"),
        "{\n  \"name\": \"extra\",\n  \"plugins\": [{\"type\": \"bridge\"}]\n}\n",
    )
    .unwrap();
    (t, root)
}

#[test]
fn scope_loaded_all_or_named() {
    let extra = "etc/cni/net.d/20-extra.conflist";
    let (_t, root) = two_files();
    let before = fs::read(root.join(extra)).unwrap();
    assert_eq!(rewrite(&root, OLD).code, 0);
    assert_eq!(
        fs::read(root.join(extra)).unwrap(),
        before,
        "shadowed files are left alone by default"
    );

    let (_t, root) = two_files();
    assert_eq!(rewrite(&root, &[OLD, &["--all"]].concat()).code, 0);
    assert!(fs::read_to_string(root.join(extra))
        .unwrap()
        .contains("\"cniVersion\": \"0.4.0\""));

    let (_t, root) = two_files();
    let main_before = fs::read(root.join(CONF)).unwrap();
    let out = rewrite(&root, &[OLD, &["20-extra.conflist"]].concat());
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(fs::read_to_string(root.join(extra))
        .unwrap()
        .contains("\"cniVersion\": \"0.4.0\""));
    assert_eq!(
        fs::read(root.join(CONF)).unwrap(),
        main_before,
        "only the named file"
    );

    let out = rewrite(
        &root,
        &[OLD, &["/etc/cni/net.d/99-missing.conflist"]].concat(),
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(
            "/etc/cni/net.d/99-missing.conflist: no such file in the conf dir /etc/cni/net.d"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn requested_versions_are_refused_when_a_plugin_lacks_them() {
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    let before = tree(&root);
    let out = rewrite(&root, &[OLD, &["--cni-version", "1.0.0"]].concat());
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("not fixable  /etc/cni/net.d/10-containerd-net.conflist: cniVersion 1.0.0 is refused: bridge (/opt/cni/bin/bridge) supports only 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0"), "{}", out.stdout);
    assert_eq!(
        tree(&root),
        before,
        "a file that cannot be fixed stays byte-identical"
    );

    let out = rewrite(&root, &[OLD, &["--cni-version", "0.3.1"]].concat());
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(fs::read_to_string(root.join(CONF))
        .unwrap()
        .contains("\"cniVersion\": \"0.3.1\""));

    let (_t, root) = scenario("spec-1.1.0");
    let out = rewrite(
        &root,
        &[
            "--containerd-version",
            "1.7.13",
            "--probe",
            "exec",
            "--cni-version",
            "1.1.0",
        ],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains(
            "cniVersion 1.1.0 is refused: containerd 1.7.13 reads results only up to 1.0.0"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn upgrade_raises_working_versions_and_single_confs_get_their_own() {
    let (_t, root) = scenario("single-conf");
    let args = [
        "--containerd-version",
        "1.7.20",
        "--probe",
        "exec",
        "--max-conf-num",
        "0",
    ];
    let before = tree(&root);
    let out = rewrite(&root, &args);
    assert_eq!(out.code, 0);
    assert_eq!(tree(&root), before, "nothing to fix without --upgrade");
    let out = rewrite(&root, &[&args[..], &["--upgrade"]].concat());
    assert_eq!(out.code, 0, "{}", out.stdout);
    let mynet = fs::read_to_string(root.join("etc/cni/net.d/10-mynet.conf")).unwrap();
    assert!(
        mynet.starts_with("{\n\t\"cniVersion\": \"1.0.0\",\n\t\"name\": \"mynet\","),
        "{mynet}"
    );
    assert!(
        fs::read_to_string(root.join("etc/cni/net.d/20-cilium.json"))
            .unwrap()
            .contains("\"cniVersion\": \"1.0.0\"")
    );
    let (_, report) = check_json(&[
        "--root",
        root.to_str().unwrap(),
        "--containerd-version",
        "1.7.20",
        "--probe",
        "exec",
        "--max-conf-num",
        "0",
    ]);
    assert_eq!(report["summary"]["errors"], 0);
}

fn plugin(root: &Path, name: &str, versions: &[&str]) {
    let list: Vec<String> = versions.iter().map(|v| format!("\"{v}\"")).collect();
    let p = root.join("opt/cni/bin").join(name);
    fs::write(
        &p,
        format!(
            "#!/bin/sh\necho '{{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[{}]}}'\n",
            list.join(",")
        ),
    )
    .unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn no_common_version_names_the_upgrade() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir_all(root.join("etc/cni/net.d")).unwrap();
    fs::create_dir_all(root.join("opt/cni/bin")).unwrap();
    // plugins v1.0.0's firewall and bandwidth share no version.
    plugin(root, "firewall", &["0.4.0"]);
    plugin(root, "bandwidth", &["0.3.0", "0.3.1", "1.0.0"]);
    plugin(
        root,
        "bridge",
        &["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"],
    );
    plugin(
        root,
        "loopback",
        &["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"],
    );
    let text = b"{\"cniVersion\":\"0.3.1\",\"name\":\"n\",\"plugins\":[{\"type\":\"bridge\"},{\"type\":\"firewall\"},{\"type\":\"bandwidth\"}]}";
    fs::write(root.join("etc/cni/net.d/10-n.conflist"), text).unwrap();
    let out = rewrite(root, &["--containerd-version", "1.7.20", "--probe", "exec"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("not fixable  /etc/cni/net.d/10-n.conflist: no cniVersion works for every plugin in the chain: upgrade"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("to containernetworking/plugins v1.0.1 or later"),
        "{}",
        out.stdout
    );
    assert_eq!(
        fs::read(root.join("etc/cni/net.d/10-n.conflist")).unwrap(),
        text
    );
}

#[test]
fn unknown_versions_are_never_guessed() {
    let (_t, root) = scenario("flannel-no-version");
    let before = tree(&root);
    let args = ["--containerd-version", "1.6.2", "--probe", "none"];
    let out = rewrite(&root, &args);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("needs input  /etc/cni/net.d/10-flannel.conflist: the spec versions of flannel, bridge, host-local, portmap are unknown (flannel: no probe was made (--probe none); "), "{}", out.stdout);
    assert!(out.stdout.contains("cni-fix does not guess: pass --cni-version V, --assume-plugins-release R (the containernetworking/plugins release on the node), or --probe exec on a machine that can run the plugins"), "{}", out.stdout);
    assert_eq!(tree(&root), before);
    let out = rewrite(&root, &[&args[..], &["--cni-version", "0.3.1"]].concat());
    assert_eq!(out.code, 0, "{}", out.stdout);
}

#[test]
fn a_read_only_conf_dir_fails_cleanly() {
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    let dir = root.join("etc/cni/net.d");
    let before = fs::read(root.join(CONF)).unwrap();
    let _mount = Mount::bind_read_only(&dir);
    let out = rewrite(&root, OLD);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("failed  /etc/cni/net.d/10-containerd-net.conflist: read-only file system; the file is as it was"), "{}", out.stdout);
    assert_eq!(fs::read(root.join(CONF)).unwrap(), before);
}

#[test]
fn a_full_file_system_leaves_the_file_intact() {
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    let dir = root.join("etc/cni/net.d");
    let before = fs::read(root.join(CONF)).unwrap();
    let _mount = Mount::tmpfs(&dir, "64k");
    fs::write(root.join(CONF), &before).unwrap();
    // Fill the file system to the last byte.
    let mut filler = fs::File::create(dir.join("filler")).unwrap();
    let chunk = vec![0u8; 1024];
    while std::io::Write::write_all(&mut filler, &chunk).is_ok() {}
    while std::io::Write::write_all(&mut filler, &chunk[..1]).is_ok() {}
    drop(filler);
    let out = rewrite(&root, OLD);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("no space left on device"),
        "{}",
        out.stdout
    );
    assert_eq!(fs::read(root.join(CONF)).unwrap(), before);
    let names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| !n.ends_with(".tmp")),
        "temporary file left: {names:?}"
    );
}

#[test]
fn an_unusable_backup_dir_means_nothing_is_written() {
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    let before = tree(&root);
    let out = rewrite(
        &root,
        &[
            OLD,
            &["--backup-dir", "/etc/containerd/config.toml/backups"],
        ]
        .concat(),
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("backup directory /etc/containerd/config.toml/backups: /etc/containerd/config.toml is not a directory; nothing was written"), "{}", out.stderr);
    assert_eq!(tree(&root), before);
    let out = rewrite(
        &root,
        &[OLD, &["--backup-dir", "/etc/cni/net.d/old"]].concat(),
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("inside the conf dir"), "{}", out.stderr);
    assert_eq!(tree(&root), before);
}

#[test]
fn a_kill_at_any_moment_leaves_old_or_new_files_never_torn() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir_all(root.join("etc/cni/net.d")).unwrap();
    fs::create_dir_all(root.join("opt/cni/bin")).unwrap();
    for p in ["bridge", "loopback"] {
        plugin(root, p, &["0.3.1", "0.4.0", "1.0.0"]);
    }
    let old = |i: usize| {
        format!("{{\n  \"name\": \"net{i}\",\n  \"plugins\": [{{\"type\": \"bridge\", \"pad\": \"{}\"}}]\n}}\n", "x".repeat(2000))
    };
    let new = |i: usize| old(i).replacen("{\n", "{\n  \"cniVersion\": \"1.0.0\",\n", 1);
    let n = 400;
    for i in 0..n {
        fs::write(root.join(format!("etc/cni/net.d/{i:03}.conflist")), old(i)).unwrap();
    }
    let args = [
        "rewrite",
        "--root",
        root.to_str().unwrap(),
        "--containerd-version",
        "1.7.20",
        "--assume-plugins-release",
        "1.1.1",
        "--max-conf-num",
        "0",
    ];
    let read =
        |i: usize| fs::read_to_string(root.join(format!("etc/cni/net.d/{i:03}.conflist"))).unwrap();
    let count_new = || (0..n).filter(|&i| read(i) == new(i)).count();
    // Kill once the writes are under way (and a little later each round), so that kills land
    // between and during the renames, not only while cni-fix is still reading.
    let mut mid_run_kills = 0;
    for round in 0..6 {
        let start = count_new();
        if start == n {
            break;
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_cni-fix"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let goal = start + 1 + round * 15;
        loop {
            if child.try_wait().unwrap().is_some() || count_new() >= goal {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = child.kill();
        let _ = child.wait();
        let mut rewritten = 0;
        for i in 0..n {
            let got = read(i);
            assert!(
                got == old(i) || got == new(i),
                "file {i} is torn after a kill in round {round}"
            );
            rewritten += usize::from(got == new(i));
        }
        if rewritten > start && rewritten < n {
            mid_run_kills += 1;
        }
    }
    assert!(
        mid_run_kills > 0,
        "no kill landed while files were being rewritten"
    );
    let out = cni_fix(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let leftovers: Vec<_> = fs::read_dir(root.join("etc/cni/net.d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files of killed runs remain: {leftovers:?}"
    );
    for i in 0..n {
        assert_eq!(
            fs::read_to_string(root.join(format!("etc/cni/net.d/{i:03}.conflist"))).unwrap(),
            new(i)
        );
    }
}

/// A mount for one test, undone on drop.
struct Mount(PathBuf);

impl Mount {
    fn run(args: &[&str]) {
        let out = Command::new("mount").args(args).output().expect("mount(8)");
        assert!(
            out.status.success(),
            "mount {args:?} failed (these fault tests run as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn bind_read_only(dir: &Path) -> Mount {
        let d = dir.to_str().unwrap();
        Mount::run(&["--bind", d, d]);
        Mount::run(&["-o", "remount,bind,ro", d]);
        Mount(dir.to_path_buf())
    }

    fn tmpfs(dir: &Path, size: &str) -> Mount {
        Mount::run(&[
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size}"),
            "tmpfs",
            dir.to_str().unwrap(),
        ]);
        Mount(dir.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn generate_prints_writes_and_checks_clean() {
    let out = cni_fix(&["generate"]);
    assert_eq!(out.code, 0);
    assert!(out
        .stdout
        .starts_with("{\n  \"cniVersion\": \"1.0.0\",\n  \"name\": \"containerd-net\","));
    assert_eq!(
        cni_fix(&["generate"]).stdout,
        out.stdout,
        "stable byte for byte"
    );

    // Into a node with current plugins: check is clean.
    let (_t, root) = scenario("clean");
    let conf = root.join(CONF);
    fs::remove_file(&conf).unwrap();
    let w = cni_fix(&["generate", "--output", conf.to_str().unwrap()]);
    assert_eq!(w.code, 0, "{}", w.stderr);
    assert_eq!(fs::read_to_string(&conf).unwrap(), out.stdout);
    assert_eq!(fs::metadata(&conf).unwrap().mode() & 0o777, 0o644);
    let (check, report) = check_json(&[
        "--root",
        root.to_str().unwrap(),
        "--containerd-version",
        "1.7.20",
        "--probe",
        "exec",
    ]);
    assert_eq!(
        report["findings"],
        serde_json::json!([]),
        "{}",
        check.stdout
    );

    // Over an existing file: backed up, mode kept.
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o600)).unwrap();
    let backups = root.join("backups");
    let w = cni_fix(&[
        "generate",
        "--subnet",
        "10.244.0.0/16",
        "--output",
        conf.to_str().unwrap(),
        "--backup-dir",
        backups.to_str().unwrap(),
    ]);
    assert_eq!(w.code, 0, "{}", w.stderr);
    assert_eq!(fs::metadata(&conf).unwrap().mode() & 0o777, 0o600);
    assert!(fs::read_to_string(&conf).unwrap().contains("10.244.0.0/16"));
    let backup = backups.join(conf.strip_prefix("/").unwrap());
    assert_eq!(fs::read_to_string(&backup).unwrap(), out.stdout);

    // The same network again: nothing is written, nothing backed up.
    let again = cni_fix(&[
        "generate",
        "--subnet",
        "10.244.0.0/16",
        "--output",
        conf.to_str().unwrap(),
        "--backup-dir",
        backups.to_str().unwrap(),
    ]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.starts_with("unchanged  "), "{}", again.stdout);
    let mut numbered = backup.into_os_string();
    numbered.push(".1");
    assert!(!Path::new(&numbered).exists(), "no second backup");
}

#[test]
fn generate_passes_check_against_the_real_debian_plugins() {
    assert!(
        Path::new("/usr/lib/cni/bridge").exists(),
        "install containernetworking-plugins (scripts/test.sh does)"
    );
    let conf = tempfile::tempdir().unwrap();
    let w = cni_fix(&[
        "generate",
        "--output",
        conf.path()
            .join("10-containerd-net.conflist")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(w.code, 0);
    let (check, report) = check_json(&[
        "--conf-dir",
        conf.path().to_str().unwrap(),
        "--bin-dir",
        "/usr/lib/cni",
        "--containerd-version",
        "1.6.20",
        "--probe",
        "exec",
    ]);
    assert_eq!(report["summary"]["errors"], 0, "{}", check.stdout);
    assert_eq!(report["summary"]["warnings"], 0, "{}", check.stdout);
}

#[test]
fn generate_rejects_bad_subnets_clearly() {
    for (args, want) in [
        (
            vec!["--subnet", "10.88.0.1/16"],
            "--subnet: subnet 10.88.0.1/16 has host bits set; the network is 10.88.0.0/16",
        ),
        (
            vec!["--subnet", "10.0.0.0/8", "--subnet", "10.88.0.0/16"],
            "--subnet: subnets 10.0.0.0/8 and 10.88.0.0/16 overlap",
        ),
        (
            vec!["--subnet", "10.0.0.0/16", "--subnet", "10.1.0.0/16"],
            "are both IPv4",
        ),
        (
            vec!["--subnet", "fd00::/64", "--subnet", "fd01::/64"],
            "are both IPv6",
        ),
        (vec!["--subnet", "banana"], "is not a CIDR"),
        (vec!["--name", "pod net"], "is not a valid network name"),
        (vec!["--cni-version", "1.0"], "is not a CNI spec version"),
    ] {
        let mut all = vec!["generate"];
        all.extend(args.iter().copied());
        let out = cni_fix(&all);
        assert_eq!(out.code, 2, "{args:?}");
        assert!(out.stderr.contains(want), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty());
    }
}

/// Every entry under `dir`, directories included.
fn entries(dir: &Path) -> Vec<PathBuf> {
    if !dir.exists() {
        return Vec::new();
    }
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap().path().to_path_buf())
        .collect()
}

#[test]
fn generate_output_refuses_devices_and_pipes_before_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let backups = tmp.path().join("backups");
    let fifo = tmp.path().join("pipe.conflist");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let link = tmp.path().join("zero.conflist");
    symlink("/dev/zero", &link).unwrap();
    for target in [
        Path::new("/dev/zero"),
        Path::new("/dev/urandom"),
        Path::new("/dev/null"),
        &fifo,
        &link,
    ] {
        let start = std::time::Instant::now();
        let out = cni_fix(&[
            "generate",
            "--output",
            target.to_str().unwrap(),
            "--backup-dir",
            backups.to_str().unwrap(),
        ]);
        assert_eq!(out.code, 2, "{}: {}", target.display(), out.stderr);
        assert!(
            out.stderr.contains("not a regular file"),
            "{}: {}",
            target.display(),
            out.stderr
        );
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{}",
            target.display()
        );
        assert!(!backups.exists(), "{}: nothing written", target.display());
    }
    // `-` is standard output, not a file named `-`.
    let out = Command::new(env!("CARGO_BIN_EXE_cni-fix"))
        .args(["generate", "--output", "-"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"cniVersion\": \"1.0.0\""));
    assert!(!tmp.path().join("-").exists());
}

#[test]
fn a_full_backup_disk_leaves_no_partial_backup() {
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    let backups = root.join("var/backups/full");
    fs::create_dir_all(&backups).unwrap();
    let before = tree(&root.join("etc"));
    {
        let _mount = Mount::tmpfs(&backups, "16k");
        let mut filler = fs::File::create(backups.join("filler")).unwrap();
        let chunk = vec![0u8; 1024];
        while std::io::Write::write_all(&mut filler, &chunk).is_ok() {}
        while std::io::Write::write_all(&mut filler, &chunk[..1]).is_ok() {}
        drop(filler);
        let out = rewrite(
            &root,
            &[OLD, &["--backup-dir", "/var/backups/full/run"]].concat(),
        );
        assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("no space left on device"),
            "{}",
            out.stderr
        );
        assert_eq!(
            entries(&backups),
            [backups.join("filler")],
            "no partial backup, no directory left"
        );
        assert_eq!(tree(&root.join("etc")), before);
    }
    // The next run's backup is the first one, not `.1`.
    let out = rewrite(
        &root,
        &[OLD, &["--backup-dir", "/var/backups/full/run"]].concat(),
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(backups.join("run").join(CONF).exists());
    assert!(!backups.join("run").join(format!("{CONF}.1")).exists());
}

#[test]
fn a_backup_dir_that_leads_into_the_conf_dir_is_refused() {
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    fs::create_dir_all(root.join("var")).unwrap();
    symlink("/etc/cni/net.d", root.join("var/backups")).unwrap();
    let before = tree(&root.join("etc"));
    let out = rewrite(
        &root,
        &[OLD, &["--backup-dir", "/var/backups/cni-fix/x"]].concat(),
    );
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("inside the conf dir"), "{}", out.stderr);
    assert_eq!(tree(&root.join("etc")), before);
}

#[test]
fn backups_keep_the_originals_mode_and_owner() {
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    let conf = root.join(CONF);
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(&conf, Some(4242), Some(4343)).unwrap();
    let out = rewrite(&root, &[OLD, &["--backup-dir", "/var/backups/b"]].concat());
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let backup = fs::metadata(root.join("var/backups/b").join(CONF)).unwrap();
    assert_eq!(
        (backup.mode() & 0o7777, backup.uid(), backup.gid()),
        (0o640, 4242, 4343)
    );
    let dir = fs::metadata(root.join("var/backups/b")).unwrap();
    assert_eq!(dir.mode() & 0o777, 0o700, "the backup dir stays private");
}

#[test]
fn restore_puts_the_originals_back_and_refuses_changed_files() {
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    let conf = root.join(CONF);
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o640)).unwrap();
    let original = fs::read(&conf).unwrap();
    let out = rewrite(
        &root,
        &[
            OLD,
            &["--backup-dir", "/var/backups/cni-fix/20260101T000000Z"],
        ]
        .concat(),
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let rewritten = fs::read(&conf).unwrap();
    assert_ne!(rewritten, original);
    let root_s = root.to_str().unwrap();

    // Dry run: a diff back to the original, nothing written.
    let dry = cni_fix(&["restore", "--root", root_s, "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout
            .starts_with("diff --git a/etc/cni/net.d/10-containerd-net.conflist"),
        "{}",
        dry.stdout
    );
    assert!(dry
        .stderr
        .contains("would restore  /etc/cni/net.d/10-containerd-net.conflist"));
    assert_eq!(fs::read(&conf).unwrap(), rewritten);

    // The newest backup directory is the default.
    let out = cni_fix(&["restore", "--root", root_s]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("restored  /etc/cni/net.d/10-containerd-net.conflist"),
        "{}",
        out.stdout
    );
    assert_eq!(fs::read(&conf).unwrap(), original);
    assert_eq!(fs::metadata(&conf).unwrap().mode() & 0o7777, 0o640);
    let again = cni_fix(&["restore", "--root", root_s]);
    assert_eq!(again.code, 0);
    assert!(again
        .stdout
        .contains("unchanged  /etc/cni/net.d/10-containerd-net.conflist: already the original"));

    // A file changed since the rewrite is left alone.
    let out = rewrite(
        &root,
        &[
            OLD,
            &["--backup-dir", "/var/backups/cni-fix/20260102T000000Z"],
        ]
        .concat(),
    );
    assert_eq!(out.code, 0);
    fs::write(&conf, b"{\"edited\": \"by hand\"}").unwrap();
    let out = cni_fix(&[
        "restore",
        "--root",
        root_s,
        "/var/backups/cni-fix/20260102T000000Z",
    ]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("left alone  /etc/cni/net.d/10-containerd-net.conflist: it changed since cni-fix wrote it"), "{}", out.stdout);
    assert_eq!(fs::read(&conf).unwrap(), b"{\"edited\": \"by hand\"}");
    // A directory without a manifest is not a backup of a run.
    let out = cni_fix(&["restore", "--root", root_s, "/etc"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("holds no cni-fix manifest"),
        "{}",
        out.stderr
    );
}

#[test]
fn files_left_alone_keep_no_backup() {
    use cni_fix_core::rewrite::{plan, RewriteOptions};
    use cni_fix_core::write::{apply, Written};
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    let options = RewriteOptions::new(
        cni_fix_core::CheckOptions::for_root(&root)
            .containerd_version(cni_fix_core::ContainerdVersion::parse("1.6.3").unwrap())
            .probe(cni_fix_core::ProbeMode::Exec),
    );
    let p = plan(&options).unwrap();
    // Someone else rewrites the file between the plan and the write.
    fs::write(root.join(CONF), b"{\"cniVersion\":\"0.4.0\"}").unwrap();
    let report = apply(&p, Path::new("/var/backups/race")).unwrap();
    assert_eq!(report.files[0].1, Written::ChangedMeanwhile);
    assert_eq!(
        entries(&root.join("var/backups/race")),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn dry_run_exit_codes_tell_change_from_needs_input() {
    let (_t, root) = scenario("flannel-no-version");
    let args = [
        "--containerd-version",
        "1.6.2",
        "--probe",
        "none",
        "--dry-run",
        "--exit-code",
    ];
    let out = rewrite(&root, &args);
    assert_eq!(out.code, 3, "needs input: {}", out.stderr);
    let out = rewrite(&root, &[&args[..], &["--cni-version", "0.3.1"]].concat());
    assert_eq!(out.code, 1, "would change: {}", out.stderr);
}

#[test]
fn rewrite_json_reports_each_file() {
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    let dry = rewrite(&root, &[OLD, &["--dry-run", "--format", "json"]].concat());
    let v: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(v["schema"], "cni-fix.rewrite/v1");
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["files"][0]["outcome"], "would-rewrite");
    assert_eq!(v["files"][0]["from"], "1.0.0");
    assert_eq!(v["files"][0]["to"], "0.4.0");
    assert_eq!(
        v["files"][0]["fixes"],
        serde_json::json!(["incompatible-version"])
    );
    let real = rewrite(
        &root,
        &[OLD, &["--format", "json", "--backup-dir", "/var/backups/j"]].concat(),
    );
    let v: serde_json::Value = serde_json::from_str(&real.stdout).unwrap();
    assert_eq!(v["files"][0]["outcome"], "rewritten");
    assert_eq!(v["backup_dir"], "/var/backups/j");
    assert_eq!(
        v["files"][0]["backup"],
        "/var/backups/j/etc/cni/net.d/10-containerd-net.conflist"
    );
    assert_eq!(v["status"], 0);
    assert_eq!(real.code, 0);
}

#[test]
fn the_cni_versions_warning_clears_once_rewritten() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir_all(root.join("etc/cni/net.d")).unwrap();
    fs::create_dir_all(root.join("opt/cni/bin")).unwrap();
    for p in ["bridge", "host-local", "loopback"] {
        plugin(root, p, &["0.3.1", "0.4.0", "1.0.0", "1.1.0"]);
    }
    fs::write(
        root.join("etc/cni/net.d/10-n.conflist"),
        "{\n  \"cniVersion\": \"1.0.0\",\n  \"cniVersions\": [\"0.4.0\", \"1.0.0\", \"1.1.0\"],\n  \"name\": \"n\",\n  \"plugins\": [{\"type\": \"bridge\", \"ipam\": {\"type\": \"host-local\"}}]\n}\n",
    )
    .unwrap();
    let args = [
        "--root",
        root.to_str().unwrap(),
        "--containerd-version",
        "1.7.20",
        "--probe",
        "exec",
    ];
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, v) = check_json(&args);
    assert_eq!(ids(&v), ["unsupported-spec-version"]);
    assert!(
        v["findings"][0]["fix"].is_object(),
        "a fixable finding carries its fix"
    );
    let out = rewrite(root, &[&args[2..], &["--all"]].concat());
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let (run, v) = check_json(&[&args[..], &["--fail-on", "warning"]].concat());
    assert_eq!(ids(&v), Vec::<String>::new(), "cleared");
    assert_eq!(run.code, 0);
}

#[test]
fn the_example_node_with_an_assumed_release_never_asks_for_that_flag_again() {
    let tmp = tempfile::tempdir().unwrap();
    common::copy_node(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/example-node"),
        tmp.path(),
    );
    let out = rewrite(
        tmp.path(),
        &[
            "--containerd-version",
            "1.6.3",
            "--assume-plugins-release",
            "0.8.7",
            "--dry-run",
        ],
    );
    assert!(
        !out.stderr.contains("--assume-plugins-release"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "would rewrite  /etc/cni/net.d/10-flannel.conflist: cniVersion none → \"0.4.0\""
        ),
        "{}",
        out.stderr
    );
}
