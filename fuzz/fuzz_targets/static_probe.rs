//! The static probe: ELF section headers, Go's build info and the package markers in a
//! plugin binary. Never a panic, and a reading of the same bytes is the same.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cni_fix_fuzz::static_probe::run(data));
