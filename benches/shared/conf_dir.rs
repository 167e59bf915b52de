//! A large generated conf dir: real-world networks padded with plugins.

use std::path::{Path, PathBuf};

/// `n` conflists in `root/etc/cni/net.d`: a bridge network and `portmaps` portmap entries
/// (24 make about 4 KB), each `pad` bytes larger by a string the parser skips; their paths.
pub fn conf_dir(root: &Path, n: usize, portmaps: usize, pad: usize) -> Vec<PathBuf> {
    let dir = root.join("etc/cni/net.d");
    std::fs::create_dir_all(&dir).unwrap();
    let padding = "x".repeat(pad);
    let mut files = Vec::with_capacity(n);
    for i in 0..n {
        let mut chain = vec![serde_json::json!({
            "type": "bridge", "bridge": format!("cni{i}"), "isGateway": true, "ipMasq": true,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": format!("10.{}.{}.0/24", i / 256 % 256, i % 256)}]],
                     "routes": [{"dst": "0.0.0.0/0"}]},
            "padding": padding,
        })];
        for j in 0..portmaps {
            chain.push(serde_json::json!({
                "type": "portmap", "capabilities": {"portMappings": true},
                "snat": j % 2 == 0, "conditionsV4": ["-s", format!("10.{j}.0.0/16")]
            }));
        }
        let net = serde_json::json!({"cniVersion": "1.0.0", "name": format!("net-{i}"), "plugins": chain});
        let path = dir.join(format!("{i:06}-net.conflist"));
        std::fs::write(&path, serde_json::to_vec_pretty(&net).unwrap()).unwrap();
        files.push(path);
    }
    files
}
