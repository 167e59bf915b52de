//! Host paths as the node sees them: lexical normalisation, `/var/run` as the link to `/run`
//! it is on current distributions, and where Docker Engine keeps its socket and its data.

/// Docker Engine's socket, as its packages install it (`/var/run/docker.sock`, which is
/// `/run/docker.sock` where `/var/run` links to `/run`).
pub const DOCKER_SOCKET: &str = "/run/docker.sock";

/// Docker Engine's data root (`--data-root`, default `/var/lib/docker`): images, containers
/// and the json-file container logs under `containers/`.
pub const DOCKER_DATA: &str = "/var/lib/docker";

/// `path` made absolute and lexical: `//` and `/./` collapse, a trailing `/` goes, `..` takes
/// a component off (never above `/`). A relative path is taken from `/`, as the kubelet's
/// bind mount would resolve nothing else.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// `path` normalised, with `/var/run` read as `/run`.
pub fn canonical(path: &str) -> String {
    let n = normalize(path);
    match n.strip_prefix("/var/run") {
        Some("") => "/run".to_string(),
        Some(rest) if rest.starts_with('/') => format!("/run{rest}"),
        _ => n,
    }
}

/// Whether normalised `dir` is `path` or one of its ancestors (component-wise).
pub fn contains(dir: &str, path: &str) -> bool {
    dir == "/"
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// `rest` (relative, may be empty) joined under normalised `base`, normalised.
pub fn join(base: &str, rest: &str) -> String {
    if rest.is_empty() {
        normalize(base)
    } else {
        normalize(&format!("{base}/{rest}"))
    }
}

/// What a host path is to Docker Engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostPathClass {
    /// Docker's socket itself.
    Socket,
    /// A directory the socket is in: `/`, `/run` (or `/var/run`), and `/var` (which holds the
    /// socket where `/var/run` is a directory rather than the link to `/run`).
    SocketParent,
    /// Docker's data root or something in it.
    Data,
    /// Nothing of Docker's.
    Other,
}

/// Classify host path `path` (as written in a manifest).
pub fn classify(path: &str) -> HostPathClass {
    let n = normalize(path);
    let c = canonical(path);
    if c == DOCKER_SOCKET {
        HostPathClass::Socket
    } else if contains(&c, DOCKER_SOCKET) || n == "/var" {
        HostPathClass::SocketParent
    } else if contains(DOCKER_DATA, &n) {
        HostPathClass::Data
    } else {
        HostPathClass::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_forms_of_the_socket() {
        for p in [
            "/var/run/docker.sock",
            "/run/docker.sock",
            "//var//run/docker.sock",
            "/var/./run/docker.sock/",
            "/var/run/../run/docker.sock",
        ] {
            assert_eq!(classify(p), HostPathClass::Socket, "{p}");
        }
        for p in ["/", "/var/run", "/run/", "/var", "//"] {
            assert_eq!(classify(p), HostPathClass::SocketParent, "{p}");
        }
        for p in [
            "/var/lib/docker",
            "/var/lib/docker/containers",
            "/var/lib/docker/",
        ] {
            assert_eq!(classify(p), HostPathClass::Data, "{p}");
        }
        for p in [
            "/run/containerd/containerd.sock",
            "/var/run/cri-dockerd.sock",
            "/var/run/docker.sock.d",
            "/var/lib/docker-data",
            "/var/lib",
            "/var/log",
            "/var/run/scope/plugins",
            "/run/user/1000/docker.sock",
        ] {
            assert_eq!(classify(p), HostPathClass::Other, "{p}");
        }
    }

    proptest! {
        /// Spelling a path with extra slashes, `.` components, a trailing slash or
        /// `/var/run` for `/run` never changes what it is.
        #[test]
        fn spelling_never_changes_the_class(
            parts in proptest::collection::vec(
                prop_oneof!["var", "run", "lib", "docker", "docker.sock", "containers", "x"], 0..5),
            noise in proptest::collection::vec(0u8..4, 0..6),
        ) {
            let plain = format!("/{}", parts.join("/"));
            let mut noisy = String::new();
            for (i, p) in parts.iter().enumerate() {
                noisy.push('/');
                match noise.get(i).copied().unwrap_or(0) {
                    1 => noisy.push('/'),
                    2 => noisy.push_str("./"),
                    3 => noisy.push_str("x/../"),
                    _ => {}
                }
                noisy.push_str(p);
            }
            if noise.first() == Some(&1) { noisy.push('/'); }
            prop_assert_eq!(classify(&plain), classify(&noisy), "{} vs {}", plain, noisy);
            prop_assert_eq!(canonical(&plain), canonical(&noisy));
        }
    }
}
