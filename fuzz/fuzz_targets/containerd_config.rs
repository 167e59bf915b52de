//! containerd's TOML config: parsed as each release reads it, then as the config of a node
//! with a healthy network, every rule run over it. Never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cni_fix_fuzz::containerd_config::run(data));
