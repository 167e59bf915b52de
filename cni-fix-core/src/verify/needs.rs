//! What each plugin needs from the node beyond its config, as data: the plugins that cannot
//! work in a throwaway namespace (they call a daemon, an agent or the API server, or read state
//! an agent writes), and the config keys that name a device the plugin takes from the host.

/// What keeps a plugin from running in isolation, or what it takes from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// It talks to something that does not exist in a throwaway namespace.
    Agent {
        /// What it needs.
        needs: &'static str,
        /// What would let it run.
        to_run: &'static str,
    },
    /// It takes a link from the host, named by one of these config keys; verify makes a dummy
    /// link of that name in the stand-in host.
    HostLink {
        /// The keys that name the link, in the order the plugin reads them.
        keys: &'static [&'static str],
        /// Keys that name a device another way (a MAC address, a PCI address, a kernel path),
        /// which a dummy cannot stand in for.
        other_keys: &'static [&'static str],
    },
}

/// One plugin's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginNeed {
    /// The binary's name (`type`, or `ipam.type`).
    pub plugin: &'static str,
    /// What it needs.
    pub need: Need,
    /// Where that comes from.
    pub source: &'static str,
}

const fn agent(
    plugin: &'static str,
    needs: &'static str,
    to_run: &'static str,
    source: &'static str,
) -> PluginNeed {
    PluginNeed {
        plugin,
        need: Need::Agent { needs, to_run },
        source,
    }
}

const fn link(
    plugin: &'static str,
    keys: &'static [&'static str],
    other_keys: &'static [&'static str],
    source: &'static str,
) -> PluginNeed {
    PluginNeed {
        plugin,
        need: Need::HostLink { keys, other_keys },
        source,
    }
}

/// The plugins verify knows to need more than their config.
pub static PLUGIN_NEEDS: &[PluginNeed] = &[
    agent(
        "dhcp",
        "the dhcp daemon (`dhcp daemon`) on /run/cni/dhcp.sock and a DHCP server on the network",
        "verify it on the node itself, with the daemon running, or use host-local or static IPAM",
        "containernetworking/plugins v1.1.1 plugins/ipam/dhcp/main.go (socketPath)",
    ),
    agent(
        "calico",
        "calico-node and its datastore (the Kubernetes API or etcd), through the kubeconfig calico-node writes",
        "run calico's own diagnostics (calicoctl node status) while calico-node runs",
        "projectcalico/calico cni-plugin/pkg/plugin/plugin.go",
    ),
    agent(
        "calico-ipam",
        "calico's datastore (the Kubernetes API or etcd)",
        "run calico's own diagnostics (calicoctl ipam check)",
        "projectcalico/calico cni-plugin/pkg/ipamplugin/ipam_plugin.go",
    ),
    agent(
        "cilium-cni",
        "the cilium-agent's API on /var/run/cilium/cilium.sock",
        "run `cilium status` while the agent runs",
        "cilium/cilium plugins/cilium-cni/cmd/cmd.go",
    ),
    agent(
        "flannel",
        "/run/flannel/subnet.env, which flanneld writes, and flanneld's routes",
        "run it while flanneld runs; the plugin it delegates to (usually bridge) can be verified alone",
        "flannel-io/cni-plugin flannel.go (defaultSubnetFile)",
    ),
    agent(
        "aws-cni",
        "the aws-node agent's ipamd on 127.0.0.1:50051 and the instance's ENIs",
        "use the amazon-vpc-cni-k8s support script on the node",
        "aws/amazon-vpc-cni-k8s cmd/routed-eni-cni-plugin/cni.go (ipamdAddress)",
    ),
    agent(
        "multus",
        "the Kubernetes API (its kubeconfig) to read the pod's network annotations",
        "verify the networks multus delegates to, which are ordinary configs",
        "k8snetworkplumbingwg/multus-cni pkg/multus/multus.go",
    ),
    agent(
        "multus-shim",
        "the multus daemon's socket (/run/multus/multus.sock)",
        "verify the networks multus delegates to, which are ordinary configs",
        "k8snetworkplumbingwg/multus-cni cmd/multus-shim/main.go",
    ),
    agent(
        "weave-net",
        "the weave router on 127.0.0.1:6784 and its bridge",
        "run `weave status` while the router runs",
        "weaveworks/weave plugin/net/cni.go",
    ),
    agent(
        "antrea",
        "the antrea-agent's CNI server on /var/run/antrea/cni.sock",
        "run `antctl` diagnostics while the agent runs",
        "antrea-io/antrea cmd/antrea-cni/main.go",
    ),
    agent(
        "kube-ovn",
        "the kube-ovn-cni daemon on /run/openvswitch/kube-ovn-daemon.sock",
        "use kube-ovn's kubectl-ko diagnostics",
        "kubeovn/kube-ovn cmd/cni/cni.go",
    ),
    link(
        "macvlan",
        &["master"],
        &[],
        "containernetworking/plugins v1.1.1 plugins/main/macvlan/macvlan.go (master)",
    ),
    link(
        "ipvlan",
        &["master"],
        &[],
        "containernetworking/plugins v1.1.1 plugins/main/ipvlan/ipvlan.go (master)",
    ),
    link(
        "vlan",
        &["master"],
        &[],
        "containernetworking/plugins v1.1.1 plugins/main/vlan/vlan.go (master)",
    ),
    link(
        "host-device",
        &["device"],
        &["hwaddr", "kernelpath", "pciBusID"],
        "containernetworking/plugins v1.1.1 plugins/main/host-device/host-device.go",
    ),
];

/// A plugin bug verify recognises in a step's error, so that the report can say it is the
/// plugin's and which release fixes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct KnownBug {
    /// The plugin.
    pub plugin: &'static str,
    /// The command it fails.
    pub command: &'static str,
    /// A text its error contains.
    pub error_contains: &'static str,
    /// What goes wrong.
    pub what: &'static str,
    /// The first release of its project that fixes it.
    pub fixed_in: &'static str,
    /// Where the fix is.
    pub source: &'static str,
}

/// Known plugin bugs.
pub static KNOWN_BUGS: &[KnownBug] = &[KnownBug {
    plugin: "portmap",
    command: "CHECK",
    error_contains: "could not check ipv6 dnat",
    what: "portmap checks its ip6tables chain for every address, so CHECK fails for a pod without IPv6 wherever ip6tables works",
    fixed_in: "1.3.0",
    source: "containernetworking/plugins fb5d195f (v1.3.0) plugins/meta/portmap/portmap.go checkPorts",
}];

/// The known bug an error of `plugin` in `command` is, if any.
pub fn known_bug(plugin: &str, command: &str, error: &str) -> Option<&'static KnownBug> {
    KNOWN_BUGS
        .iter()
        .find(|b| b.plugin == plugin && b.command == command && error.contains(b.error_contains))
}

/// The entry for a plugin binary, when it has one.
pub fn need_of(plugin: &str) -> Option<&'static PluginNeed> {
    PLUGIN_NEEDS.iter().find(|n| n.plugin == plugin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_plugin() {
        let mut names: Vec<_> = PLUGIN_NEEDS.iter().map(|n| n.plugin).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
        assert!(matches!(
            need_of("dhcp").map(|n| n.need),
            Some(Need::Agent { .. })
        ));
        assert_eq!(need_of("bridge"), None);
    }
}
