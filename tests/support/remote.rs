//! A second machine made on this one, for the remote-engine tests: a
//! network namespace with its own address on a private /30, running an
//! sshd and a dockerd of its own (`tests/support/remote-host.sh`). The
//! host reaches it only over that address, as `ssh://root@ADDR`, with a key
//! and an ssh config the fixture made; processes started with
//! [`RemoteHost::path`] as `PATH` use that config through an `ssh` wrapper,
//! so nothing is written to `~/.ssh`. Dropped, it stops everything it
//! started, also when the test fails.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Bounded;

/// A running remote host.
pub struct RemoteHost {
    dir: PathBuf,
    vars: HashMap<String, String>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("support/remote-host.sh")
}

impl RemoteHost {
    /// Starts one in `dir` (an empty folder of the test's), with `images`
    /// of the host's engine copied into its engine.
    #[track_caller]
    pub fn up(dir: &Path, images: &[&str]) -> RemoteHost {
        std::fs::create_dir_all(dir).unwrap();
        let mut host = RemoteHost { dir: dir.to_path_buf(), vars: HashMap::new() };
        let out = Command::new(script()).arg("up").arg(dir).args(images).stdin(Stdio::null()).run();
        assert_eq!(out.code, 0, "the remote host did not come up: {}{}", out.stdout, out.stderr);
        let env = std::fs::read_to_string(dir.join("env")).expect("the remote host's env file");
        for line in env.lines() {
            let line = line.trim().trim_start_matches("export ");
            if let Some((k, v)) = line.split_once('=') {
                host.vars.insert(k.to_string(), v.trim_matches(|c| c == '"' || c == '\'').to_string());
            }
        }
        host
    }

    /// `ssh://root@ADDR`.
    pub fn docker_host(&self) -> String {
        self.vars["DOCKER_HOST"].clone()
    }

    /// Its address.
    pub fn addr(&self) -> String {
        self.vars["ADDR"].clone()
    }

    /// `PATH` with the ssh wrapper first.
    pub fn path(&self) -> String {
        format!("{}:{}", self.vars["SSH_BIN_DIR"], std::env::var("PATH").unwrap_or_default())
    }

    /// Runs `docker ARGS` against its engine: (success, stdout, stderr).
    #[track_caller]
    pub fn docker(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", self.docker_host())
            .env("PATH", self.path())
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null())
            .run();
        (out.code == 0, out.stdout, out.stderr)
    }

    /// Names of its containers, networks and volumes labelled `label`.
    pub fn labelled(&self, label: &str) -> Vec<String> {
        let filter = format!("label={label}");
        let mut all = Vec::new();
        for kind in [
            ["ps", "-a", "--format", "{{.Names}}"],
            ["network", "ls", "--format", "{{.Name}}"],
            ["volume", "ls", "--format", "{{.Name}}"],
        ] {
            let mut args = kind.to_vec();
            args.extend(["--filter", &filter]);
            let (ok, out, err) = self.docker(&args);
            assert!(ok, "docker {args:?} on the remote host: {err}");
            all.extend(out.lines().map(str::to_string));
        }
        all
    }

    /// Takes the host's end of the link down (`up: false`): the network
    /// goes silent, with no FIN and no RST, as when a laptop changes Wi-Fi;
    /// or brings it back.
    #[track_caller]
    pub fn link(&self, up: bool) {
        let dev = format!("{}h", self.vars["NS"]);
        let state = if up { "up" } else { "down" };
        let out = Command::new("ip").args(["link", "set", &dev, state]).stdin(Stdio::null()).run();
        assert_eq!(out.code, 0, "ip link set {dev} {state}: {}", out.stderr);
    }

    /// Ends every SSH connection to it, as a network drop would.
    #[track_caller]
    pub fn drop_ssh(&self) {
        let out = Command::new(script()).arg("drop-ssh").arg(&self.dir).stdin(Stdio::null()).run();
        assert_eq!(out.code, 0, "drop-ssh: {}", out.stderr);
    }
}

impl Drop for RemoteHost {
    fn drop(&mut self) {
        let out = Command::new(script()).arg("down").arg(&self.dir).stdin(Stdio::null()).run();
        if out.code != 0 {
            eprintln!("remote host teardown failed: {}", out.stderr);
        }
    }
}
