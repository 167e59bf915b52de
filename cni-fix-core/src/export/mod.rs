//! Reports in the formats other tools read: Prometheus metrics for node_exporter's textfile
//! collector ([`prometheus`]), and SARIF 2.1.0 for code scanning ([`sarif`]).

pub mod prometheus;
pub mod sarif;
