//! Conflist parsing with libcni's rules, and every rule of `check` on a one-file node: the
//! file as a .conflist, .conf or .json (with or without a healthy network beside it), checked
//! under releases chosen by the first byte. Never a panic; every finding names a file of the
//! node or the node itself.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cni_fix_fuzz::conflist::run(data));
