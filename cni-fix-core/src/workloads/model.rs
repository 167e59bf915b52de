//! The parts of Kubernetes objects that tell whether a workload talks to Docker Engine: owners,
//! pod templates, volumes, mounts, environment, commands and probes. Everything else (status,
//! managedFields, resources, …) is skipped without being kept.
//!
//! Fields are lenient where the API server is lenient in practice: a scalar of another type
//! where a string is expected is read as its text, so that one odd field in a large list does
//! not lose the whole input.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

/// A 1-based line and column (in characters) of a value in its input; `None` when the input
/// format carries no positions (JSON is read without them).
pub(crate) type Pos = Option<(usize, usize)>;

/// The position of a spanned value.
pub(crate) fn pos<T>(s: &Spanned<T>) -> Pos {
    let l = s.referenced;
    (l.line() > 0).then(|| (l.line() as usize, l.column() as usize))
}

/// Text: any scalar, as its text; null, mappings and sequences give nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Text(pub Option<String>);

impl Text {
    pub(crate) fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text(Some(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Text, D::Error> {
                d.deserialize_any(V)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Text, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Text, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A list that may be null or, leniently, not a list at all (then empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct List<T>(pub Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<List<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = s.next_element()? {
                    out.push(x);
                }
                Ok(List(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<List<T>, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(List(Vec::new()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<List<T>, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// One document of the input: an object (a mapping), or anything else, which is not a
/// Kubernetes object and is passed over.
#[derive(Debug, Clone)]
pub(crate) enum Doc {
    Object(Box<Object>),
    Other,
}

impl<'de> Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Doc;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Kubernetes object")
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Doc, A::Error> {
                Object::deserialize(de::value::MapAccessDeserializer::new(m))
                    .map(|o| Doc::Object(Box::new(o)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Doc, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Doc::Other)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Doc, D::Error> {
                d.deserialize_any(V)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Doc, E> {
                Ok(Doc::Other)
            }
            fn visit_none<E: de::Error>(self) -> Result<Doc, E> {
                Ok(Doc::Other)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Doc, E> {
                Ok(Doc::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Doc, E> {
                Ok(Doc::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Doc, E> {
                Ok(Doc::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Doc, E> {
                Ok(Doc::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Doc, E> {
                Ok(Doc::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// A Kubernetes object, or a list of them (`kind: List`, `PodList`, …).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Object {
    pub kind: Option<Spanned<Text>>,
    pub metadata: Meta,
    pub spec: Option<Spec>,
    pub items: List<Doc>,
}

/// `metadata`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Meta {
    pub name: Text,
    pub generate_name: Text,
    pub namespace: Text,
    pub labels: Option<std::collections::BTreeMap<String, Text>>,
    pub owner_references: List<OwnerRef>,
}

/// One of `metadata.ownerReferences`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct OwnerRef {
    pub kind: Text,
    pub name: Text,
    pub controller: Option<bool>,
}

/// A `spec`: the fields of a PodSpec and of every controller's spec at once (their names do
/// not overlap), so one type reads them all.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Spec {
    /// Deployment, DaemonSet, StatefulSet, ReplicaSet, ReplicationController, Job, PodTemplate
    /// (its `template` is at the top, handled by the caller).
    pub template: Option<Template>,
    /// CronJob: `jobTemplate.spec.template`.
    pub job_template: Option<Template>,
    pub volumes: List<Volume>,
    pub containers: List<Container>,
    pub init_containers: List<Container>,
    pub ephemeral_containers: List<Container>,
    pub host_network: Option<bool>,
}

/// A pod template (or a CronJob's job template, whose `spec` holds the pod template).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Template {
    pub metadata: Meta,
    pub spec: Option<Box<Spec>>,
}

/// A pod volume.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Volume {
    pub name: Text,
    pub host_path: Option<HostPath>,
    pub empty_dir: Option<IgnoredAny>,
}

/// `hostPath`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct HostPath {
    pub path: Option<Spanned<Text>>,
    #[serde(rename = "type")]
    pub kind: Text,
}

/// A container (regular, init or ephemeral).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Container {
    pub name: Option<Spanned<Text>>,
    pub image: Option<Spanned<Text>>,
    pub command: List<Spanned<Text>>,
    pub args: List<Spanned<Text>>,
    pub env: List<Env>,
    pub volume_mounts: List<Mount>,
    pub liveness_probe: Option<Handler>,
    pub readiness_probe: Option<Handler>,
    pub startup_probe: Option<Handler>,
    pub lifecycle: Option<Lifecycle>,
}

/// An environment variable.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Env {
    pub name: Text,
    pub value: Option<Spanned<Text>>,
    pub value_from: Option<EnvSource>,
}

/// `valueFrom`: only `fieldRef` matters (the node's IP).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct EnvSource {
    pub field_ref: Option<FieldRef>,
}

/// `fieldRef`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct FieldRef {
    pub field_path: Text,
}

/// A volume mount.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Mount {
    pub name: Text,
    pub mount_path: Option<Spanned<Text>>,
    pub sub_path: Text,
    pub sub_path_expr: Text,
}

/// A probe or lifecycle handler: only `exec` runs a command.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Handler {
    pub exec: Option<Exec>,
}

/// `exec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Exec {
    pub command: List<Spanned<Text>>,
}

/// `lifecycle`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Lifecycle {
    pub post_start: Option<Handler>,
    pub pre_stop: Option<Handler>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_survive_the_lenient_types() {
        let docs: Vec<Doc> = serde_saphyr::from_multiple(
            "kind: Pod\nmetadata: {name: p}\nspec:\n  volumes:\n  - name: s\n    hostPath:\n      path: /var/run/docker.sock\n---\n- a\n---\n42\n",
        )
        .unwrap();
        let Doc::Object(o) = &docs[0] else { panic!() };
        let v = &o.spec.as_ref().unwrap().volumes.0[0];
        let p = v.host_path.as_ref().unwrap().path.as_ref().unwrap();
        assert_eq!(p.value.as_str(), "/var/run/docker.sock");
        assert_eq!(pos(p), Some((7, 13)));
        assert!(matches!(docs[1], Doc::Other));
        assert!(matches!(docs[2], Doc::Other));
    }

    #[test]
    fn json_reads_without_positions() {
        let d: Doc = serde_json::from_str(
            r#"{"kind":"Pod","metadata":{"name":"p","labels":{"a":true}},"spec":{"containers":[{"name":"c","env":[{"name":"DOCKER_HOST","value":2375}]}]}}"#,
        )
        .unwrap();
        let Doc::Object(o) = d else { panic!() };
        let c = &o.spec.as_ref().unwrap().containers.0[0];
        assert_eq!(c.env.0[0].value.as_ref().unwrap().value.as_str(), "2375");
        assert_eq!(pos(c.name.as_ref().unwrap()), None);
        assert_eq!(o.metadata.labels.unwrap()["a"].as_str(), "true");
    }
}
