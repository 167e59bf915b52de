//! The kubelet's unit, drop-in and environment files, its config file, kubeadm's flags file
//! and Docker's daemon.json (one input cut into files at the separator), read by the systemd
//! and kubelet parsers and then checked as a node. Never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cni_fix_fuzz::kubelet::run(data));
