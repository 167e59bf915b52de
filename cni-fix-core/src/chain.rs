//! Which plugins a network runs: each plugin of its chain, the IPAM plugin each names, and the
//! plugins a meta plugin delegates to (flannel runs `delegate.type`, by default `bridge`, with
//! `host-local`). The version rules, the plugin lookup and the fixes all use this one
//! expansion.

use crate::conf::{NetworkList, PluginConf};

/// Why a network runs a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It is in the chain.
    Chain,
    /// A chain plugin runs it as its IPAM plugin.
    Ipam,
    /// A chain plugin delegates to it (flannel runs `delegate.type`, by default `bridge`,
    /// with `host-local` as IPAM, passing the network's cniVersion).
    Delegate,
}

/// A plugin a network runs, and the chain plugin that runs it.
#[derive(Debug, Clone, Copy)]
pub struct Executed<'a> {
    /// The plugin type.
    pub plugin_type: &'a str,
    /// The chain plugin that runs it (itself, for a chain plugin).
    pub runner: &'a PluginConf,
    /// Why it runs.
    pub role: Role,
}

/// Every plugin a network runs, once each, in chain order: each chain plugin, its IPAM
/// plugin, and what it delegates to.
pub fn executed(net: &NetworkList) -> Vec<Executed<'_>> {
    fn add<'a>(out: &mut Vec<Executed<'a>>, t: &'a str, runner: &'a PluginConf, role: Role) {
        if !t.is_empty() && !out.iter().any(|e| e.plugin_type == t) {
            out.push(Executed {
                plugin_type: t,
                runner,
                role,
            });
        }
    }
    let mut out = Vec::new();
    for p in &net.plugins {
        add(&mut out, &p.plugin_type, p, Role::Chain);
        add(&mut out, p.ipam_type(), p, Role::Ipam);
        if p.plugin_type == "flannel" {
            let delegate = p.delegate_type().unwrap_or("bridge");
            add(&mut out, delegate, p, Role::Delegate);
            add(&mut out, "host-local", p, Role::Delegate);
        }
    }
    out
}

/// The plugin types a network runs (see [`executed`]).
pub fn executed_types(net: &NetworkList) -> Vec<&str> {
    executed(net).into_iter().map(|e| e.plugin_type).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::{parse_conflist, LibcniGeneration};

    fn types(text: &str) -> Vec<(String, Role)> {
        let net = parse_conflist(text.as_bytes(), LibcniGeneration::Classic, None).unwrap();
        executed(&net)
            .into_iter()
            .map(|e| (e.plugin_type.to_string(), e.role))
            .collect()
    }

    #[test]
    fn chains_ipam_and_flannels_delegates() {
        assert_eq!(
            types(
                r#"{"name":"n","plugins":[{"type":"bridge","ipam":{"type":"host-local"}},{"type":"portmap"}]}"#
            ),
            [
                ("bridge".into(), Role::Chain),
                ("host-local".into(), Role::Ipam),
                ("portmap".into(), Role::Chain)
            ]
        );
        assert_eq!(
            types(
                r#"{"name":"n","plugins":[{"type":"flannel","delegate":{"hairpinMode":true}},{"type":"portmap"}]}"#
            ),
            [
                ("flannel".into(), Role::Chain),
                ("bridge".into(), Role::Delegate),
                ("host-local".into(), Role::Delegate),
                ("portmap".into(), Role::Chain)
            ]
        );
        assert_eq!(
            types(r#"{"name":"n","plugins":[{"type":"flannel","Delegate":{"type":"ipvlan"}}]}"#),
            [
                ("flannel".into(), Role::Chain),
                ("ipvlan".into(), Role::Delegate),
                ("host-local".into(), Role::Delegate)
            ]
        );
    }
}
