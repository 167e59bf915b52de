//! CNI specification versions.
//!
//! A network config's `cniVersion` is matched by plugins as an exact string against the list
//! they support (`pkg/version/reconcile.go`), so `"1.0"` parses as a version in libcni yet
//! every plugin rejects it. Only seven strings are spec versions.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// One of the seven published CNI spec versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpecVersion {
    /// 0.1.0 (2016)
    V0_1_0,
    /// 0.2.0
    V0_2_0,
    /// 0.3.0
    V0_3_0,
    /// 0.3.1 (2017)
    V0_3_1,
    /// 0.4.0 (2019): adds CHECK and the cached prevResult on DEL.
    V0_4_0,
    /// 1.0.0 (2021)
    V1_0_0,
    /// 1.1.0 (2024): adds GC, STATUS and `cniVersions`.
    V1_1_0,
}

impl SpecVersion {
    /// All spec versions, oldest first.
    pub const ALL: [SpecVersion; 7] = [
        SpecVersion::V0_1_0,
        SpecVersion::V0_2_0,
        SpecVersion::V0_3_0,
        SpecVersion::V0_3_1,
        SpecVersion::V0_4_0,
        SpecVersion::V1_0_0,
        SpecVersion::V1_1_0,
    ];

    /// The version string.
    pub fn as_str(self) -> &'static str {
        match self {
            SpecVersion::V0_1_0 => "0.1.0",
            SpecVersion::V0_2_0 => "0.2.0",
            SpecVersion::V0_3_0 => "0.3.0",
            SpecVersion::V0_3_1 => "0.3.1",
            SpecVersion::V0_4_0 => "0.4.0",
            SpecVersion::V1_0_0 => "1.0.0",
            SpecVersion::V1_1_0 => "1.1.0",
        }
    }

    /// The spec version spelled exactly `s`, or `None`.
    pub fn exact(s: &str) -> Option<SpecVersion> {
        SpecVersion::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Every spec version from `self` up to and including `max`.
    pub fn range_to(self, max: SpecVersion) -> Vec<SpecVersion> {
        SpecVersion::ALL
            .into_iter()
            .filter(|v| *v >= self && *v <= max)
            .collect()
    }
}

impl fmt::Display for SpecVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SpecVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The error for a string that is not one of the seven spec versions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a CNI spec version (one of 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0)")]
pub struct NotASpecVersion(pub String);

impl FromStr for SpecVersion {
    type Err = NotASpecVersion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SpecVersion::exact(s).ok_or_else(|| NotASpecVersion(s.to_string()))
    }
}

/// The version a plugin reads when a config declares none (`create.DecodeVersion`).
pub const IMPLICIT_VERSION: &str = "0.1.0";

/// libcni's `version.ParseVersion`, as of libcni v1.1.0 (an empty string is 0.1.0).
///
/// Numeric, lenient: `"1.0"` and `"1"` are 1.0.0. Used where libcni compares versions
/// (`GreaterThanOrEqualTo`), never where plugins match them.
pub fn parse_libcni_version(v: &str) -> Result<(i64, i64, i64), String> {
    if v.is_empty() {
        return Ok((0, 1, 0));
    }
    let parts: Vec<&str> = v.split('.').collect();
    if parts.len() >= 4 {
        return Err(format!("invalid version {v:?}: too many parts"));
    }
    let mut out = [0i64; 3];
    for (i, (part, label)) in parts.iter().zip(["major", "minor", "micro"]).enumerate() {
        out[i] = go_atoi(part)
            .ok_or_else(|| format!("failed to convert {label} version part {part:?}"))?;
    }
    Ok((out[0], out[1], out[2]))
}

/// Go's `strconv.Atoi` for the inputs that matter here: optional sign, decimal digits, 64 bits.
fn go_atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

/// Format a supported-versions list the way Go's `%q` prints a `[]string`:
/// `["0.1.0" "0.2.0"]`.
pub fn go_quote_list<S: AsRef<str>>(items: &[S]) -> String {
    let inner: Vec<String> = items.iter().map(|s| format!("{:?}", s.as_ref())).collect();
    format!("[{}]", inner.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_strings_only() {
        assert_eq!(SpecVersion::exact("1.0.0"), Some(SpecVersion::V1_0_0));
        for bad in ["1.0", "v1.0.0", "1.0.1", " 1.0.0", ""] {
            assert_eq!(SpecVersion::exact(bad), None, "{bad}");
        }
    }

    #[test]
    fn libcni_parse_matches_go() {
        assert_eq!(parse_libcni_version("1.0"), Ok((1, 0, 0)));
        assert_eq!(parse_libcni_version("1"), Ok((1, 0, 0)));
        assert_eq!(parse_libcni_version(""), Ok((0, 1, 0)));
        assert_eq!(
            parse_libcni_version("v1.0.0"),
            Err("failed to convert major version part \"v1\"".to_string())
        );
        assert_eq!(
            parse_libcni_version("1.0.0-rc1"),
            Err("failed to convert micro version part \"0-rc1\"".to_string())
        );
        assert_eq!(
            parse_libcni_version("1.2.3.4"),
            Err("invalid version \"1.2.3.4\": too many parts".to_string())
        );
    }

    #[test]
    fn go_list_quoting() {
        assert_eq!(go_quote_list(&["0.1.0", "0.4.0"]), r#"["0.1.0" "0.4.0"]"#);
    }
}
