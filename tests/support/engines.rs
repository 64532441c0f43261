//! The engines and registries users have, made on loopback for a test and
//! stopped when dropped (also when the test fails): a TLS front of the
//! shared engine that requires a client certificate (stunnel, with
//! certificates openssl makes), Docker contexts written as `docker context
//! create` writes them, and a registry that wants a login (docker-registry
//! with bcrypt htpasswd entries). `scripts/test` installs stunnel4, openssl
//! and apache2-utils (htpasswd).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::docker::{ENGINE_SOCKET, docker};
use crate::{Bounded, Spawned, WAIT, wait_until};

/// A free loopback port (bound, then released for the server to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[track_caller]
fn run(cmd: &mut Command) {
    let out = cmd.stdin(Stdio::null()).run();
    assert_eq!(out.code, 0, "{cmd:?} failed: {}", out.stderr);
}

/// A CA and certificates it signed, in one folder.
pub struct Certificates {
    /// The folder.
    pub dir: PathBuf,
}

impl Certificates {
    /// A new CA in `dir` (created), with a server certificate for
    /// 127.0.0.1 (`server.pem`, `server-key.pem`) and a client certificate
    /// laid out as `DOCKER_CERT_PATH` wants it (`ca.pem`, `cert.pem`, `key.pem`).
    pub fn new(dir: &Path) -> Certificates {
        std::fs::create_dir_all(dir).unwrap();
        let openssl = |args: &[&str]| run(Command::new("openssl").args(args).current_dir(dir));
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        openssl(
            &[
                &["req", "-x509"][..],
                &key,
                &["-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2", "-subj", "/CN=mono-test-ca"],
            ]
            .concat(),
        );
        for (name, ext) in [
            (
                "server",
                "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
            ),
            ("client", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"),
        ] {
            std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
            let (keyfile, csr) = (format!("{name}-key.pem"), format!("{name}.csr"));
            openssl(
                &[
                    &["req"][..],
                    &key,
                    &["-keyout", &keyfile, "-out", &csr, "-subj", &format!("/CN=mono-test-{name}")],
                ]
                .concat(),
            );
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &format!("{name}.pem"),
                "-extfile",
                &format!("{name}.ext"),
            ]);
        }
        std::fs::copy(dir.join("client.pem"), dir.join("cert.pem")).unwrap();
        std::fs::copy(dir.join("client-key.pem"), dir.join("key.pem")).unwrap();
        Certificates { dir: dir.to_path_buf() }
    }
}

/// `tcp://127.0.0.1:PORT` with TLS in front of the shared engine's socket:
/// only clients with a certificate of `certs`' CA get through (stunnel;
/// socat's TLS cannot take a client that resumes its session).
pub struct TlsFront {
    _child: Spawned,
    /// The port.
    pub port: u16,
}

impl TlsFront {
    /// Starts stunnel on a free loopback port.
    pub fn start(certs: &Certificates) -> TlsFront {
        let port = free_port();
        let d = certs.dir.display();
        let config = certs.dir.join("stunnel.conf");
        std::fs::write(
            &config,
            format!(
                "foreground = yes\npid =\n[docker]\naccept = 127.0.0.1:{port}\nconnect = {ENGINE_SOCKET}\n\
                 cert = {d}/server.pem\nkey = {d}/server-key.pem\nCAfile = {d}/ca.pem\nverifyChain = yes\nrequireCert = yes\n"
            ),
        )
        .unwrap();
        crate::require_program("stunnel", "stunnel4");
        let child = Command::new("stunnel")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .start();
        let front = TlsFront { _child: child, port };
        wait_until(WAIT, "the TLS front", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        front
    }

    /// Its `DOCKER_HOST`.
    pub fn docker_host(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
}

/// Writes Docker context `name` (endpoint `host`) into the configuration
/// folder `config_dir`, as `docker context create` does.
pub fn write_context(config_dir: &Path, name: &str, host: &str) {
    let hash: String = Sha256::digest(name.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let dir = config_dir.join("contexts/meta").join(hash);
    std::fs::create_dir_all(&dir).unwrap();
    let meta = serde_json::json!({
        "Name": name,
        "Metadata": {"Description": "a mono test"},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}},
    });
    std::fs::write(dir.join("meta.json"), meta.to_string()).unwrap();
}

/// A registry on a loopback port that serves pulls only to `user` with
/// `password` (bcrypt htpasswd), holding the images given to [`Self::start`].
pub struct AuthRegistry {
    _child: Spawned,
    /// The port.
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl AuthRegistry {
    /// Pushes `images` (tags of local images, `127.0.0.1:PORT/...` made
    /// with [`Self::reserve`]'s port) into an open registry, then serves
    /// the same storage with authentication.
    pub fn start(port: u16, images: &[&str], user: &str, password: &str) -> AuthRegistry {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let open = dir.path().join("open.yml");
        let storage =
            format!("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n", data.display());
        std::fs::write(&open, format!("{storage}http:\n  addr: 127.0.0.1:{port}\n")).unwrap();
        let mut seeding = AuthRegistry { _child: serve(&open, port), port, _dir: dir };
        for image in images {
            let (ok, _, err) = docker(["push", image]);
            assert!(ok, "push of {image} to the local registry failed: {err}");
        }

        let htpasswd = seeding._dir.path().join("htpasswd");
        crate::require_program("htpasswd", "apache2-utils");
        let mut child = Command::new("htpasswd")
            .args(["-i", "-B", "-c", htpasswd.to_str().unwrap(), user])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .start();
        child.stdin.take().unwrap().write_all(password.as_bytes()).unwrap();
        assert_eq!(child.wait_code(), 0, "htpasswd failed");
        let auth = seeding._dir.path().join("auth.yml");
        std::fs::write(
            &auth,
            format!(
                "{storage}http:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: mono-test\n    path: {}\n",
                htpasswd.display()
            ),
        )
        .unwrap();
        // The open registry stops (dropped) before this one takes its port.
        seeding._child.stop();
        seeding._child = serve(&auth, port);
        seeding
    }

    /// A port for a registry to come.
    pub fn reserve() -> u16 {
        free_port()
    }
}

/// Starts `docker-registry serve CONFIG` and waits until it listens on `port`.
pub fn serve(config: &Path, port: u16) -> Spawned {
    crate::require_program("docker-registry", "docker-registry");
    let child = Command::new("docker-registry")
        .args(["serve", config.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .start();
    wait_until(WAIT, "the local registry", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    child
}
