//! The workload reader: YAML or JSON Kubernetes objects (lists, multi-document streams,
//! controllers and pods) through every workloads rule. Never a panic, every input accounted
//! for in the report, and the report serialises.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cni_fix_fuzz::workloads::run(data));
