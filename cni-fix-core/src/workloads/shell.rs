//! Whether a container's command runs the `docker` client: as the program itself
//! (`["docker", "ps"]`), or inside a shell script (`["sh", "-c", "docker ps | grep x"]`).
//!
//! Scripts are split into simple commands the way a shell would (`;`, `&&`, `||`, `|`, `&`,
//! newlines, `$(…)`, backquotes, parentheses and braces), with quotes honoured, and a command
//! counts when its program (after variable assignments and wrappers such as `sudo`, `exec`,
//! `env`, `xargs`, `nohup`, `timeout`) is `docker` and it names a Docker subcommand. A word
//! that merely contains "docker" (an image, `docker-entrypoint.sh`, `dockerd`) never counts.

/// Docker CLI commands (`docker --help` of Docker 20.10 to 27, management and top-level
/// commands).
const SUBCOMMANDS: &[&str] = &[
    "attach",
    "build",
    "builder",
    "buildx",
    "checkpoint",
    "commit",
    "compose",
    "config",
    "container",
    "context",
    "cp",
    "create",
    "diff",
    "events",
    "exec",
    "export",
    "history",
    "image",
    "images",
    "import",
    "info",
    "inspect",
    "kill",
    "load",
    "login",
    "logout",
    "logs",
    "manifest",
    "network",
    "node",
    "pause",
    "plugin",
    "port",
    "ps",
    "pull",
    "push",
    "rename",
    "restart",
    "rm",
    "rmi",
    "run",
    "save",
    "search",
    "secret",
    "service",
    "stack",
    "start",
    "stats",
    "stop",
    "swarm",
    "system",
    "tag",
    "top",
    "trust",
    "unpause",
    "update",
    "version",
    "volume",
    "wait",
];

/// Programs that run the rest of their command line as a command.
const WRAPPERS: &[&str] = &[
    "sudo", "exec", "env", "xargs", "nohup", "time", "timeout", "nice", "ionice", "chroot",
    "nsenter", "command", "busybox", "watch", "flock", "setsid", "stdbuf",
];

/// Shells whose `-c` argument is a script.
const SHELLS: &[&str] = &["sh", "bash", "ash", "dash", "zsh", "ksh"];

/// A `docker` invocation found in a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerCall {
    /// The subcommand, for example `ps`.
    pub subcommand: String,
    /// The call as written, for example `docker ps -q` (up to the end of its simple command).
    pub text: String,
}

fn base(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// The first `docker` call of an argument vector (a container's command followed by its args,
/// or an exec probe's command).
pub fn in_argv(argv: &[&str]) -> Option<DockerCall> {
    let words: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    if let Some(call) = in_words(&words) {
        return Some(call);
    }
    // A shell's script: `sh -c SCRIPT`, options before it allowed (`bash -ec`, `-x -c`).
    let program = argv.first().map(|w| base(w))?;
    if !SHELLS.contains(&program) {
        return None;
    }
    let mut i = 1;
    while let Some(w) = argv.get(i) {
        if w.starts_with('-') && w.contains('c') && !w.starts_with("--") {
            return argv.get(i + 1).and_then(|script| in_script(script));
        }
        if !w.starts_with('-') {
            return None;
        }
        i += 1;
    }
    None
}

/// The first `docker` call in a shell script.
pub fn in_script(script: &str) -> Option<DockerCall> {
    for cmd in simple_commands(script) {
        if let Some(call) = in_words(&cmd) {
            return Some(call);
        }
        // A nested shell: `sh -c 'docker ps'`.
        let argv: Vec<&str> = cmd.iter().map(String::as_str).collect();
        if argv.first().is_some_and(|p| SHELLS.contains(&base(p))) {
            if let Some(call) = in_argv(&argv) {
                return Some(call);
            }
        }
    }
    None
}

/// The docker call of one simple command's words, if its program is docker.
fn in_words(words: &[String]) -> Option<DockerCall> {
    let mut i = 0;
    // Assignments, keywords and wrappers (with their options) before the program.
    while let Some(w) = words.get(i) {
        let is_assignment = w.split_once('=').is_some_and(|(n, _)| {
            !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        let keyword = matches!(
            w.as_str(),
            "if" | "then" | "else" | "elif" | "do" | "while" | "until" | "!" | "time"
        );
        if is_assignment || keyword || w.starts_with('-') {
            i += 1;
            continue;
        }
        if WRAPPERS.contains(&base(w)) {
            i += 1;
            // `timeout 10 docker ps`: a duration after timeout.
            if base(w) == "timeout"
                && words
                    .get(i)
                    .is_some_and(|d| d.starts_with(|c: char| c.is_ascii_digit()))
            {
                i += 1;
            }
            continue;
        }
        break;
    }
    let program = words.get(i)?;
    if base(program) != "docker" {
        return None;
    }
    // Global options (`-H unix:///…`, `--host=…`, `--context x`) before the subcommand.
    let mut j = i + 1;
    while let Some(w) = words.get(j) {
        if let Some(opt) = w.strip_prefix('-') {
            let takes_value = matches!(
                opt,
                "H" | "-host"
                    | "c"
                    | "-context"
                    | "l"
                    | "-log-level"
                    | "-config"
                    | "-tlscacert"
                    | "-tlscert"
                    | "-tlskey"
            );
            j += if takes_value { 2 } else { 1 };
            continue;
        }
        break;
    }
    let sub = words.get(j)?;
    SUBCOMMANDS.contains(&sub.as_str()).then(|| DockerCall {
        subcommand: sub.clone(),
        text: words[i..].join(" "),
    })
}

/// A script's simple commands, as word lists.
fn simple_commands(script: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut cmd: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = script.chars().peekable();
    let flush_word = |cmd: &mut Vec<String>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            cmd.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                    word.push(d);
                }
            }
            '"' => {
                in_word = true;
                while let Some(d) = chars.next() {
                    match d {
                        '"' => break,
                        '\\' => {
                            if let Some(e) = chars.next() {
                                word.push(e);
                            }
                        }
                        d => word.push(d),
                    }
                }
            }
            '\\' => {
                if let Some(e) = chars.next() {
                    if e != '\n' {
                        in_word = true;
                        word.push(e);
                    }
                }
            }
            '#' if !in_word => {
                // A comment to the end of the line.
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
                flush_word(&mut cmd, &mut word, &mut in_word);
                out.push(std::mem::take(&mut cmd));
            }
            c if c.is_whitespace() && c != '\n' => flush_word(&mut cmd, &mut word, &mut in_word),
            '\n' | ';' | '&' | '|' | '(' | ')' | '`' | '{' | '}' => {
                flush_word(&mut cmd, &mut word, &mut in_word);
                out.push(std::mem::take(&mut cmd));
            }
            '$' if chars.peek() == Some(&'(') => {
                chars.next();
                flush_word(&mut cmd, &mut word, &mut in_word);
                out.push(std::mem::take(&mut cmd));
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    flush_word(&mut cmd, &mut word, &mut in_word);
    out.push(cmd);
    out.retain(|c| !c.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(argv: &[&str]) -> Option<String> {
        in_argv(argv).map(|c| c.subcommand)
    }

    #[test]
    fn docker_as_the_program() {
        assert_eq!(sub(&["docker", "ps"]).as_deref(), Some("ps"));
        assert_eq!(
            sub(&[
                "/usr/bin/docker",
                "-H",
                "unix:///h/docker.sock",
                "logs",
                "-f",
                "x"
            ])
            .as_deref(),
            Some("logs")
        );
        assert_eq!(sub(&["docker", "--version"]), None);
        assert_eq!(sub(&["dockerd", "--host=tcp://0.0.0.0:2375"]), None);
        assert_eq!(sub(&["/docker-entrypoint.sh", "ps"]), None);
    }

    #[test]
    fn docker_in_scripts() {
        for (script, want) in [
            ("docker ps | grep -q agent", "ps"),
            (
                "set -e; for c in $(docker ps -q); do docker inspect $c; done",
                "ps",
            ),
            (
                "until docker info >/dev/null 2>&1; do sleep 1; done",
                "info",
            ),
            ("X=1 sudo -E docker exec -it c sh", "exec"),
            ("echo hi && timeout 5 docker top c", "top"),
            (
                "[ -S /var/run/docker.sock ] && docker system prune -af",
                "system",
            ),
            ("sh -c 'docker logs app'", "logs"),
            ("`docker images -q`", "images"),
        ] {
            assert_eq!(
                sub(&["/bin/sh", "-c", script]).as_deref(),
                Some(want),
                "{script}"
            );
            assert_eq!(
                sub(&["bash", "-ec", script]).as_deref(),
                Some(want),
                "{script}"
            );
        }
        for script in [
            "echo docker ps",
            "grep docker /etc/group",
            "cp /docker-entrypoint.sh /x",
            "dockerd --host=unix:///var/run/docker.sock",
            "# docker ps\nexit 0",
            "echo 'docker ps'",
            "docker-compose up",
        ] {
            assert_eq!(sub(&["sh", "-c", script]), None, "{script}");
        }
        assert_eq!(sub(&["python", "-c", "docker ps"]), None);
    }
}
