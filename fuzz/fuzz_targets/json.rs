//! The Go-compatible JSON reader, differentially against serde_json: never a panic; whatever
//! serde_json accepts is read the same; whatever it rejects and we accept is one of Go's
//! documented differences (invalid UTF-8, lone surrogates, nesting beyond serde_json's 128,
//! numbers beyond f64).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cni_fix_fuzz::json::run(data));
