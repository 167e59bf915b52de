//! `cni-fix generate`: a correct reference network, bridge + portmap, in the form of the
//! Kubernetes documentation's example.

use std::fmt::Write as _;

use ipnet::IpNet;

use crate::spec::SpecVersion;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// The network name.
    pub name: String,
    /// The bridge interface.
    pub bridge: String,
    /// The pod subnets, at most one per address family.
    pub subnets: Vec<IpNet>,
    /// The network's cniVersion.
    pub cni_version: SpecVersion,
    /// portmap's `externalSetMarkChain`, or `None` to leave it out.
    pub external_set_mark_chain: Option<String>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            name: "containerd-net".into(),
            bridge: "cni0".into(),
            subnets: vec![
                "10.88.0.0/16".parse().expect("valid default"),
                "2001:db8:4860::/64".parse().expect("valid default"),
            ],
            cni_version: SpecVersion::V1_0_0,
            external_set_mark_chain: Some("KUBE-MARK-MASQ".into()),
        }
    }
}

/// Why the options cannot make a valid network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// A subnet is not a CIDR.
    #[error("subnet {0:?} is not a CIDR such as 10.88.0.0/16 or 2001:db8:4860::/64")]
    NotACidr(String),
    /// A subnet has host bits set.
    #[error("subnet {given} has host bits set; the network is {network}")]
    HostBits {
        /// As given.
        given: String,
        /// The network it lies in.
        network: String,
    },
    /// Two subnets overlap.
    #[error("subnets {0} and {1} overlap")]
    Overlap(String, String),
    /// Two subnets of one family.
    #[error("subnets {0} and {1} are both {2}: give at most one subnet per address family")]
    SameFamily(String, String, &'static str),
    /// No subnet.
    #[error("at least one subnet is needed")]
    NoSubnet,
    /// A name plugins reject.
    #[error("{0:?} is not a valid network name: it must start with a letter or digit and contain only letters, digits, '_', '.' and '-'")]
    BadName(String),
    /// An interface name Linux rejects.
    #[error("{0:?} is not a valid interface name: 1 to 15 printable ASCII characters, without '/', ':', '\"' or '\\'")]
    BadBridge(String),
    /// A version too old for a chain.
    #[error("cniVersion {0} cannot chain plugins (portmap needs spec 0.3.0 or later)")]
    TooOld(SpecVersion),
    /// A chain name that is not a plain identifier.
    #[error("{0:?} is not an iptables chain name")]
    BadChain(String),
}

/// Parse and validate `--subnet` values.
pub fn parse_subnets(values: &[String]) -> Result<Vec<IpNet>, GenerateError> {
    let mut nets: Vec<(String, IpNet)> = Vec::new();
    for v in values {
        let net: IpNet = v
            .trim()
            .parse()
            .map_err(|_| GenerateError::NotACidr(v.clone()))?;
        if net.trunc() != net {
            return Err(GenerateError::HostBits {
                given: v.clone(),
                network: net.trunc().to_string(),
            });
        }
        for (prev_text, prev) in &nets {
            if prev.contains(&net) || net.contains(prev) {
                return Err(GenerateError::Overlap(prev_text.clone(), v.clone()));
            }
            let family = |n: &IpNet| matches!(n, IpNet::V4(_));
            if family(prev) == family(&net) {
                let name = if family(&net) { "IPv4" } else { "IPv6" };
                return Err(GenerateError::SameFamily(
                    prev_text.clone(),
                    v.clone(),
                    name,
                ));
            }
        }
        nets.push((v.clone(), net));
    }
    if nets.is_empty() {
        return Err(GenerateError::NoSubnet);
    }
    Ok(nets.into_iter().map(|(_, n)| n).collect())
}

impl GenerateOptions {
    /// Check the options.
    pub fn validate(&self) -> Result<(), GenerateError> {
        let mut name = self.name.chars();
        let name_ok = name.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && name.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !name_ok {
            return Err(GenerateError::BadName(self.name.clone()));
        }
        let b = &self.bridge;
        if b.is_empty()
            || b.len() > 15
            || b == "."
            || b == ".."
            || !b
                .chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '/' | ':' | '"' | '\\'))
        {
            return Err(GenerateError::BadBridge(b.clone()));
        }
        if self.cni_version < SpecVersion::V0_3_0 {
            return Err(GenerateError::TooOld(self.cni_version));
        }
        if let Some(chain) = &self.external_set_mark_chain {
            if chain.is_empty()
                || chain.len() > 28
                || !chain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            {
                return Err(GenerateError::BadChain(chain.clone()));
            }
        }
        if self.subnets.is_empty() {
            return Err(GenerateError::NoSubnet);
        }
        let texts: Vec<String> = self.subnets.iter().map(ToString::to_string).collect();
        parse_subnets(&texts).map(|_| ())
    }

    /// The network's text: stable byte for byte for the same options.
    pub fn render(&self) -> Result<String, GenerateError> {
        self.validate()?;
        let mut s = String::new();
        let q = |v: &str| format!("{v:?}");
        let _ = writeln!(s, "{{");
        let _ = writeln!(s, "  \"cniVersion\": \"{}\",", self.cni_version);
        let _ = writeln!(s, "  \"name\": {},", q(&self.name));
        let _ = writeln!(s, "  \"plugins\": [");
        let _ = writeln!(s, "    {{");
        let _ = writeln!(s, "      \"type\": \"bridge\",");
        let _ = writeln!(s, "      \"bridge\": {},", q(&self.bridge));
        let _ = writeln!(s, "      \"isGateway\": true,");
        let _ = writeln!(s, "      \"ipMasq\": true,");
        let _ = writeln!(s, "      \"promiscMode\": true,");
        let _ = writeln!(s, "      \"ipam\": {{");
        let _ = writeln!(s, "        \"type\": \"host-local\",");
        let _ = writeln!(s, "        \"ranges\": [");
        for (i, net) in self.subnets.iter().enumerate() {
            let comma = if i + 1 < self.subnets.len() { "," } else { "" };
            let _ = writeln!(s, "          [{{");
            let _ = writeln!(s, "            \"subnet\": \"{net}\"");
            let _ = writeln!(s, "          }}]{comma}");
        }
        let _ = writeln!(s, "        ],");
        let _ = writeln!(s, "        \"routes\": [");
        for (i, net) in self.subnets.iter().enumerate() {
            let comma = if i + 1 < self.subnets.len() { "," } else { "" };
            let dst = match net {
                IpNet::V4(_) => "0.0.0.0/0",
                IpNet::V6(_) => "::/0",
            };
            let _ = writeln!(s, "          {{ \"dst\": \"{dst}\" }}{comma}");
        }
        let _ = writeln!(s, "        ]");
        let _ = writeln!(s, "      }}");
        let _ = writeln!(s, "    }},");
        let _ = writeln!(s, "    {{");
        let _ = writeln!(s, "      \"type\": \"portmap\",");
        match &self.external_set_mark_chain {
            Some(chain) => {
                let _ = writeln!(s, "      \"capabilities\": {{\"portMappings\": true}},");
                let _ = writeln!(s, "      \"externalSetMarkChain\": {}", q(chain));
            }
            None => {
                let _ = writeln!(s, "      \"capabilities\": {{\"portMappings\": true}}");
            }
        }
        let _ = writeln!(s, "    }}");
        let _ = writeln!(s, "  ]");
        let _ = writeln!(s, "}}");
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::{parse_conflist, LibcniGeneration};

    #[test]
    fn default_is_the_kubernetes_example() {
        let text = GenerateOptions::default().render().unwrap();
        let net = parse_conflist(text.as_bytes(), LibcniGeneration::Classic, None).unwrap();
        assert_eq!(
            (net.name.as_str(), net.cni_version.as_str()),
            ("containerd-net", "1.0.0")
        );
        let types: Vec<_> = net.plugins.iter().map(|p| p.plugin_type.as_str()).collect();
        assert_eq!(types, ["bridge", "portmap"]);
        assert_eq!(net.plugins[0].ipam_type(), "host-local");
        insta::assert_snapshot!(text);
    }

    #[test]
    fn subnet_validation() {
        let p = |v: &[&str]| parse_subnets(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(p(&["10.88.0.0/16", "fd00::/64"]).is_ok());
        assert_eq!(
            p(&["10.88.0.1/16"]).unwrap_err().to_string(),
            "subnet 10.88.0.1/16 has host bits set; the network is 10.88.0.0/16"
        );
        assert!(matches!(
            p(&["10.0.0.0/8", "10.88.0.0/16"]),
            Err(GenerateError::Overlap(..))
        ));
        assert!(matches!(
            p(&["10.0.0.0/16", "10.1.0.0/16"]),
            Err(GenerateError::SameFamily(..))
        ));
        assert!(matches!(p(&["10.0.0.0"]), Err(GenerateError::NotACidr(_))));
        assert!(matches!(p(&[]), Err(GenerateError::NoSubnet)));
    }

    #[test]
    fn options_are_validated() {
        let bad = |f: fn(&mut GenerateOptions)| {
            let mut o = GenerateOptions::default();
            f(&mut o);
            o.render().unwrap_err()
        };
        assert!(matches!(
            bad(|o| o.name = "pod net".into()),
            GenerateError::BadName(_)
        ));
        assert!(matches!(
            bad(|o| o.bridge = "a-very-long-bridge".into()),
            GenerateError::BadBridge(_)
        ));
        assert!(matches!(
            bad(|o| o.bridge = "br\u{e9}".into()),
            GenerateError::BadBridge(_)
        ));
        assert!(matches!(
            bad(|o| o.bridge = "a\"b".into()),
            GenerateError::BadBridge(_)
        ));
        assert!(matches!(
            bad(|o| o.cni_version = SpecVersion::V0_2_0),
            GenerateError::TooOld(_)
        ));
        assert!(matches!(
            bad(|o| o.external_set_mark_chain = Some("a b".into())),
            GenerateError::BadChain(_)
        ));
    }
}
