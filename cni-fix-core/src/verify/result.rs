//! CNI results as libcni reads, converts and passes them on: the three result types (`types020`
//! for 0.1.0/0.2.0, `types040` for 0.3.0–0.4.0, `types100` for 1.0.0), the version a result
//! is read as, and the conversions between them (libcni v1.1.2 `pkg/types/{020,040,100}`,
//! `pkg/types/internal/convert.go`). Go re-marshals a result from its type, so fields a type
//! does not know are dropped when it is passed on as `prevResult`, as here.

use serde::{Deserialize, Serialize};

use crate::spec::SpecVersion;

/// A route (`types.Route`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Destination.
    pub dst: String,
    /// Gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
}

/// DNS settings (`types.DNS`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    /// Name servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// Domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// Search domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// Options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
            && self.domain.is_empty()
            && self.search.is_empty()
            && self.options.is_empty()
    }
}

/// An interface (`Interface` of types040 and types100).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// MAC address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// The netns path, for interfaces in the pod.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
}

/// An address (`IPConfig`); `version` only in types040.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// `"4"` or `"6"` (types040 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Index into `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<i64>,
    /// Address with prefix.
    pub address: String,
    /// Gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// `types020.IPConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig020 {
    /// Address with prefix.
    pub ip: String,
    /// Gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Routes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
}

/// The families of result types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// 0.1.0 and 0.2.0.
    V020,
    /// 0.3.0, 0.3.1 and 0.4.0.
    V040,
    /// 1.0.0.
    V100,
}

impl Family {
    /// The family that reads `version` in a libcni whose highest spec is `max`, when it has
    /// one (libcni 1.2 reads 1.1.0 results with the 1.0.0 type).
    pub fn of(version: &str, max: SpecVersion) -> Option<Family> {
        let spec = SpecVersion::exact(version)?;
        if spec > max {
            return None;
        }
        Some(match spec {
            SpecVersion::V0_1_0 | SpecVersion::V0_2_0 => Family::V020,
            SpecVersion::V0_3_0 | SpecVersion::V0_3_1 | SpecVersion::V0_4_0 => Family::V040,
            _ => Family::V100,
        })
    }
}

/// A result, in the shape of the type it was read as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniResult {
    /// `cniVersion`.
    pub cni_version: String,
    /// Interfaces (none in 0.2.0).
    pub interfaces: Vec<Interface>,
    /// Addresses (0.2.0's `ip4`/`ip6` read as two).
    pub ips: Vec<IpConfig>,
    /// Routes.
    pub routes: Vec<Route>,
    /// DNS.
    pub dns: Dns,
    family: FamilyTag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FamilyTag(u8);

#[derive(Deserialize, Serialize)]
struct Wire020 {
    #[serde(
        rename = "cniVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    cni_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ip4: Option<IpConfig020>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ip6: Option<IpConfig020>,
    #[serde(default)]
    dns: Dns,
}

#[derive(Deserialize, Serialize)]
struct Wire {
    #[serde(
        rename = "cniVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    cni_version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    interfaces: Vec<Interface>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ips: Vec<IpConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    routes: Vec<Route>,
    #[serde(default)]
    dns: Dns,
}

fn family_of(tag: FamilyTag) -> Family {
    match tag.0 {
        0 => Family::V020,
        1 => Family::V040,
        _ => Family::V100,
    }
}

fn supported(family: Family, max: SpecVersion) -> &'static [&'static str] {
    match family {
        Family::V020 => &["0.1.0", "0.2.0"],
        Family::V040 => &["0.3.0", "0.3.1", "0.4.0"],
        Family::V100 if max >= SpecVersion::V1_1_0 => &["1.0.0", "1.1.0"],
        Family::V100 => &["1.0.0"],
    }
}

/// Go's `%v` of a `[]string`: `[a b]`.
fn go_list(items: &[&str]) -> String {
    format!("[{}]", items.join(" "))
}

/// Check the text forms Go's `net.IP` and `types.IPNet` accept.
fn check_cidr(s: &str) -> Result<(), String> {
    s.parse::<ipnet::IpNet>()
        .map(drop)
        .map_err(|_| format!("invalid CIDR address: {s}"))
}

fn check_ip(s: &Option<String>) -> Result<(), String> {
    match s {
        Some(ip) if ip.parse::<std::net::IpAddr>().is_err() => {
            Err(format!("invalid IP address: {ip}"))
        }
        _ => Ok(()),
    }
}

impl CniResult {
    /// The creator of `family` on `bytes` (`NewResult` of the type): unmarshal, then require
    /// the result's own `cniVersion` to be one the type supports.
    pub(crate) fn create(
        family: Family,
        bytes: &[u8],
        check_version: bool,
        max: SpecVersion,
    ) -> Result<CniResult, String> {
        let r = match family {
            Family::V020 => {
                let w: Wire020 = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
                let mut ips = Vec::new();
                let mut routes = Vec::new();
                for ip in [w.ip4, w.ip6].into_iter().flatten() {
                    check_cidr(&ip.ip)?;
                    check_ip(&ip.gateway)?;
                    routes.extend(ip.routes);
                    ips.push(IpConfig {
                        version: None,
                        interface: None,
                        address: ip.ip,
                        gateway: ip.gateway,
                    });
                }
                CniResult {
                    cni_version: w.cni_version,
                    interfaces: Vec::new(),
                    ips,
                    routes,
                    dns: w.dns,
                    family: FamilyTag(0),
                }
            }
            Family::V040 | Family::V100 => {
                let w: Wire = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
                for ip in &w.ips {
                    check_cidr(&ip.address)?;
                    check_ip(&ip.gateway)?;
                }
                for r in &w.routes {
                    check_cidr(&r.dst)?;
                    check_ip(&r.gw)?;
                }
                let mut ips = w.ips;
                if family == Family::V100 {
                    for ip in &mut ips {
                        ip.version = None;
                    }
                }
                CniResult {
                    cni_version: w.cni_version,
                    interfaces: w.interfaces,
                    ips,
                    routes: w.routes,
                    dns: w.dns,
                    family: FamilyTag(if family == Family::V040 { 1 } else { 2 }),
                }
            }
        };
        if check_version && !supported(family, max).contains(&r.cni_version.as_str()) {
            return Err(format!(
                "result type supports {} but unmarshalled CNIVersion is {:?}",
                go_list(supported(family, max)),
                r.cni_version
            ));
        }
        Ok(r)
    }

    /// The family this result was read as.
    pub(crate) fn family(&self) -> Family {
        family_of(self.family)
    }

    /// `GetAsVersion`: the result converted to `version` (`""` is 0.1.0), through libcni's
    /// registered converters.
    pub(crate) fn as_version(&self, version: &str, max: SpecVersion) -> Result<CniResult, String> {
        let to = if version.is_empty() { "0.1.0" } else { version };
        let from = if self.cni_version.is_empty() && self.family() != Family::V020 {
            // types040/100 GetAsVersion: an unset version is the type's own highest.
            supported(self.family(), max)
                .last()
                .copied()
                .unwrap_or("1.0.0")
        } else if self.cni_version.is_empty() {
            "0.2.0"
        } else {
            self.cni_version.as_str()
        };
        if from == to {
            return Ok(self.clone());
        }
        let no_converter = || format!("no converter for CNI result version {from} to {to}");
        let target = Family::of(to, max).ok_or_else(no_converter)?;
        Family::of(from, max).ok_or_else(no_converter)?;
        let mut out = self.clone();
        out.cni_version = to.to_string();
        out.family = FamilyTag(match target {
            Family::V020 => 0,
            Family::V040 => 1,
            Family::V100 => 2,
        });
        match target {
            Family::V100 => {
                for ip in &mut out.ips {
                    ip.version = None;
                }
            }
            Family::V040 => {
                for ip in &mut out.ips {
                    let v4 = ip
                        .address
                        .parse::<ipnet::IpNet>()
                        .map(|n| n.addr().is_ipv4())
                        .unwrap_or(false);
                    if ip.version.is_none() || self.family() != Family::V040 {
                        ip.version = Some(if v4 { "4" } else { "6" }.to_string());
                    }
                }
            }
            Family::V020 => {
                // Only the first address of each family; routes by destination family.
                let is4 = |s: &str| {
                    s.parse::<ipnet::IpNet>()
                        .map(|n| n.addr().is_ipv4())
                        .unwrap_or(false)
                };
                let first4 = self.ips.iter().find(|ip| is4(&ip.address)).cloned();
                let first6 = self.ips.iter().find(|ip| !is4(&ip.address)).cloned();
                if first4.is_none() && first6.is_none() {
                    return Err("cannot convert: no valid IP addresses".to_string());
                }
                out.interfaces.clear();
                out.ips = first4.into_iter().chain(first6).collect();
                for ip in &mut out.ips {
                    ip.version = None;
                    ip.interface = None;
                }
                out.routes.retain(|r| {
                    let v4 = is4(&r.dst);
                    out.ips.iter().any(|ip| is4(&ip.address) == v4)
                });
            }
        }
        Ok(out)
    }

    /// The JSON Go marshals for this result (what a plugin receives as `prevResult`, and the
    /// cache holds).
    pub fn to_json(&self) -> serde_json::Value {
        let value = match self.family() {
            Family::V020 => {
                let is4 = |s: &str| {
                    s.parse::<ipnet::IpNet>()
                        .map(|n| n.addr().is_ipv4())
                        .unwrap_or(false)
                };
                let mk = |ip: &IpConfig| IpConfig020 {
                    ip: ip.address.clone(),
                    gateway: ip.gateway.clone(),
                    routes: self
                        .routes
                        .iter()
                        .filter(|r| is4(&r.dst) == is4(&ip.address))
                        .cloned()
                        .collect(),
                };
                serde_json::to_value(Wire020 {
                    cni_version: self.cni_version.clone(),
                    ip4: self.ips.iter().find(|ip| is4(&ip.address)).map(mk),
                    ip6: self.ips.iter().find(|ip| !is4(&ip.address)).map(mk),
                    dns: self.dns.clone(),
                })
            }
            _ => serde_json::to_value(Wire {
                cni_version: self.cni_version.clone(),
                interfaces: self.interfaces.clone(),
                ips: self.ips.clone(),
                routes: self.routes.clone(),
                dns: self.dns.clone(),
            }),
        };
        let mut value = value.unwrap_or(serde_json::Value::Null);
        if let Some(obj) = value.as_object_mut() {
            // Go's omitempty does not drop an empty struct: `dns` is always written.
            if self.dns.is_empty() {
                obj.insert("dns".into(), serde_json::json!({}));
            }
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bridge_result() -> &'static [u8] {
        br#"{"cniVersion":"1.0.0","interfaces":[{"name":"cni0","mac":"aa:bb:cc:dd:ee:ff"},{"name":"eth0","mac":"aa:bb:cc:dd:ee:00","sandbox":"/proc/1/ns/net"}],"ips":[{"interface":1,"address":"10.88.0.2/16","gateway":"10.88.0.1"}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{}}"#
    }

    #[test]
    fn reads_and_converts_like_libcni() {
        let r =
            CniResult::create(Family::V100, bridge_result(), true, SpecVersion::V1_0_0).unwrap();
        let down = r.as_version("0.4.0", SpecVersion::V1_0_0).unwrap();
        assert_eq!(down.ips[0].version.as_deref(), Some("4"));
        assert_eq!(down.to_json()["ips"][0]["version"], "4");
        let old = r.as_version("0.2.0", SpecVersion::V1_0_0).unwrap();
        let json = old.to_json();
        assert_eq!(json["ip4"]["ip"], "10.88.0.2/16");
        assert_eq!(json["ip4"]["routes"][0]["dst"], "0.0.0.0/0");
        assert!(json.get("interfaces").is_none());
        // Back up again: 0.2.0 has no interfaces to give.
        let up = CniResult::create(
            Family::V020,
            json.to_string().as_bytes(),
            true,
            SpecVersion::V1_0_0,
        )
        .unwrap()
        .as_version("1.0.0", SpecVersion::V1_0_0)
        .unwrap();
        assert!(up.interfaces.is_empty());
        assert_eq!(up.ips[0].address, "10.88.0.2/16");
    }

    #[test]
    fn the_version_checks_and_errors_are_libcnis() {
        let e = CniResult::create(Family::V100, br#"{"ips":[]}"#, true, SpecVersion::V1_0_0)
            .unwrap_err();
        assert_eq!(
            e,
            r#"result type supports [1.0.0] but unmarshalled CNIVersion is """#
        );
        let e = CniResult::create(
            Family::V100,
            br#"{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.300/8"}]}"#,
            true,
            SpecVersion::V1_0_0,
        )
        .unwrap_err();
        assert_eq!(e, "invalid CIDR address: 10.0.0.300/8");
        let r = CniResult::create(
            Family::V100,
            br#"{"cniVersion":"1.0.0"}"#,
            true,
            SpecVersion::V1_0_0,
        )
        .unwrap();
        assert_eq!(
            r.as_version("0.2.0", SpecVersion::V1_0_0).unwrap_err(),
            "cannot convert: no valid IP addresses"
        );
        assert_eq!(
            r.as_version("1.1.0", SpecVersion::V1_0_0).unwrap_err(),
            "no converter for CNI result version 1.0.0 to 1.1.0"
        );
        assert_eq!(Family::of("1.0.0", SpecVersion::V0_4_0), None);
        assert_eq!(Family::of("1.1.0", SpecVersion::V1_1_0), Some(Family::V100));
    }
}
