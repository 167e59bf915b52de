//! The minimal editor: set a network's cniVersion in its own bytes. For any file it accepts,
//! the edits apply, the result still parses, nothing but the version keys changed (plugin-level
//! `cniVersion`, the `cniVersions` list), libcni reads the target version where it read the
//! file before, and a second edit is empty.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cni_fix_fuzz::edit::run(data));
