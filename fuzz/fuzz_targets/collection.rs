//! A collection archive (`cni-fix collect`): the input is the tar inside the gzip, so that
//! mutations reach the tar headers, the manifest and the files rather than gzip's checksum.
//! Read back bounded, then checked as the node. Never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cni_fix_fuzz::collection::run(data));
