//! The real-world corpus in `../shared/corpus/real-world`: every file as upstream ships it,
//! read with libcni's rules. The corpus must be present: a missing corpus fails the test.

use std::path::PathBuf;

use cni_fix_core::conf::{parse_conflist, parse_single_conf, LibcniGeneration};
use cni_fix_core::rules::find_placeholder;

fn corpus() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/real-world");
    assert!(
        dir.join("INDEX.md").is_file(),
        "the real-world corpus is missing: expected {} (shared/ beside the repository)",
        dir.display()
    );
    dir
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(corpus().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_corpus_file_as_libcni_reads_it() {
    // (file, read as a conflist?, expected: Ok((name, cniVersion, types)) or Err(substring))
    type Expect = Result<(&'static str, &'static str, &'static [&'static str]), &'static str>;
    let cases: &[(&str, bool, Expect)] = &[
        (
            "containerd__10-containerd-net.conflist",
            true,
            Ok(("containerd-net", "1.0.0", &["bridge", "portmap"])),
        ),
        (
            "containerd__10-containerd-net.conflist.v1.5.11",
            true,
            Ok(("containerd-net", "0.4.0", &["bridge", "portmap"])),
        ),
        (
            "kubernetes-website__10-containerd-net.conflist",
            true,
            Ok(("containerd-net", "1.0.0", &["bridge", "portmap"])),
        ),
        (
            "flannel__10-flannel.conflist",
            true,
            Ok(("cbr0", "0.3.1", &["flannel", "portmap"])),
        ),
        (
            "flannel__10-flannel.conflist.v0.11.0-no-cniVersion",
            true,
            Ok(("cbr0", "", &["flannel", "portmap"])),
        ),
        (
            "calico__10-calico.conflist.template",
            true,
            Err("invalid character '_' looking for beginning of value"),
        ),
        (
            "cilium__05-cilium-cni.conf",
            false,
            Ok(("cilium", "0.3.1", &["cilium-cni"])),
        ),
        (
            "weave__10-weave.conflist.template",
            true,
            Err("invalid character '$' looking for beginning of value"),
        ),
        (
            "aws-vpc-cni__10-aws.conflist",
            true,
            Ok(("aws-cni", "0.4.0", &["aws-cni", "egress-cni", "portmap"])),
        ),
        (
            "podman__87-podman-bridge.conflist",
            true,
            Ok((
                "podman",
                "0.4.0",
                &["bridge", "portmap", "firewall", "tuning"],
            )),
        ),
        (
            "antrea__10-antrea.conflist",
            true,
            Ok(("antrea", "0.3.0", &["antrea", "portmap", "bandwidth"])),
        ),
        (
            "kube-router__10-kuberouter.conflist",
            true,
            Ok(("mynet", "0.3.0", &["bridge"])),
        ),
        (
            "multus__70-multus.conf.daemonset",
            false,
            Ok(("multus-cni-network", "", &["multus"])),
        ),
        (
            "cri-o__10-crio-bridge.conflist",
            true,
            Ok(("crio", "1.0.0", &["bridge"])),
        ),
        (
            "cri-o__11-crio-ipv4-bridge.conflist.2022-v0.3.1",
            true,
            Ok(("crio", "0.3.1", &["bridge"])),
        ),
        (
            "cni-readme__10-mynet.conf",
            false,
            Ok(("mynet", "0.2.0", &["bridge"])),
        ),
        (
            "cni-spec__example-dbnet.v1.1.0.jsonc",
            true,
            Err("invalid character '/' looking for beginning of object key string"),
        ),
        (
            "containerd__contrib-gce-cni.template",
            true,
            Err("invalid character '{' looking for beginning of object key string"),
        ),
    ];
    let listed: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "INDEX.md")
        .collect();
    for name in &listed {
        assert!(
            cases.iter().any(|(c, _, _)| c == name),
            "corpus file {name} has no expectation"
        );
    }
    for (name, list, expect) in cases {
        let bytes = read(name);
        let got = if *list {
            parse_conflist(&bytes, LibcniGeneration::Classic, None).map_err(|e| e.message)
        } else {
            parse_single_conf(&bytes).map_err(|e| e.inner().message.clone())
        };
        match (expect, got) {
            (Ok((n, v, types)), Ok(net)) => {
                assert_eq!(
                    (net.name.as_str(), net.cni_version.as_str()),
                    (*n, *v),
                    "{name}"
                );
                let got: Vec<&str> = net.plugins.iter().map(|p| p.plugin_type.as_str()).collect();
                assert_eq!(&got, types, "{name}");
            }
            (Err(want), Err(message)) => assert!(message.contains(want), "{name}: {message}"),
            (want, got) => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn templates_in_the_corpus_are_recognised() {
    for (name, placeholder) in [
        (
            "calico__10-calico.conflist.template",
            "__KUBERNETES_NODE_NAME__",
        ),
        ("weave__10-weave.conflist.template", "$2"),
        ("aws-vpc-cni__10-aws.conflist", "__VETHPREFIX__"),
        (
            "containerd__contrib-gce-cni.template",
            "{{range $i, $range := .PodCIDRRanges}}",
        ),
    ] {
        assert_eq!(
            find_placeholder(&read(name)).as_deref(),
            Some(placeholder),
            "{name}"
        );
    }
    for name in [
        "containerd__10-containerd-net.conflist",
        "flannel__10-flannel.conflist",
        "podman__87-podman-bridge.conflist",
    ] {
        assert_eq!(find_placeholder(&read(name)), None, "{name}");
    }
}
