//! Service units for monod: a systemd user service with socket activation,
//! or a launchd LaunchAgent, filled in for this machine and written where
//! the service manager looks (`mono daemon install|uninstall`).
//!
//! The units are templates kept in the repository (`systemd/`, `launchd/`)
//! and compiled into the client, so the files a user installs are the files
//! reviewed there. Their `@NAME@` words are replaced with absolute paths and
//! the variables monod reads, each escaped for where it lands: systemd's
//! specifiers (`%` → `%%`), quoting and `$` expansion (systemd.syntax(7),
//! systemd.service(5)), or XML in the plist. A value that cannot be written
//! safely (a newline, a path that is not UTF-8) is refused rather than
//! mangled: a unit that silently starts another program is worse than none.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The systemd service unit template.
const SYSTEMD_SERVICE: &str = include_str!("../../systemd/monod.service");
/// The systemd socket unit template.
const SYSTEMD_SOCKET: &str = include_str!("../../systemd/monod.socket");
/// The LaunchAgent template.
const LAUNCHD_PLIST: &str = include_str!("../../launchd/dev.mono.monod.plist");

/// The LaunchAgent's label (and, with `.plist`, its file name).
pub const LAUNCHD_LABEL: &str = "dev.mono.monod";
/// The systemd units' names.
pub const SYSTEMD_UNITS: [&str; 2] = ["monod.service", "monod.socket"];

/// Variables monod reads besides `MONO_HOME`, copied into the unit when set
/// at install time: a service manager starts monod with its own minimal
/// environment, in which tmux (e.g. Homebrew's) or a `DOCKER_HOST` or Docker
/// context the user relies on would be missing (monod's own endpoint, for
/// status, doctor and callers that forward no environment).
const CAPTURED_VARS: [&str; 8] = [
    "PATH",
    "TMUX_TMPDIR",
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_CONFIG",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "MONO_LOG",
];

/// Which service manager the units are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Platform {
    /// systemd user units (Linux): monod.service and monod.socket.
    Systemd,
    /// A launchd LaunchAgent (macOS).
    Launchd,
}

impl Platform {
    /// The service manager of the platform mono was built for.
    pub fn current() -> Platform {
        if cfg!(target_os = "macos") { Platform::Launchd } else { Platform::Systemd }
    }
}

/// What the templates are filled in with.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The absolute path of monod.
    pub monod: PathBuf,
    /// The absolute `MONO_HOME`.
    pub home: PathBuf,
    /// Variables set for monod, `MONO_HOME` first.
    pub env: Vec<(String, String)>,
}

impl Inputs {
    /// The inputs for this monod and home, with the captured variables of
    /// the current environment.
    pub fn new(monod: PathBuf, home: PathBuf) -> anyhow::Result<Inputs> {
        let home_str = text(&home, "MONO_HOME")?.to_string();
        let mut env = vec![(mono_proto::paths::MONO_HOME_VAR.to_string(), home_str)];
        for var in CAPTURED_VARS {
            match std::env::var(var) {
                Ok(v) if !v.is_empty() => env.push((var.to_string(), v)),
                Ok(_) | Err(std::env::VarError::NotPresent) => {}
                Err(std::env::VarError::NotUnicode(_)) => {
                    bail!("${var} is not UTF-8; it cannot be written into a service unit")
                }
            }
        }
        Ok(Inputs { monod, home, env })
    }
}

/// One file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFile {
    /// Its file name in the unit directory.
    pub name: String,
    /// Its content.
    pub text: String,
}

/// The unit files of `platform`, filled in.
pub fn render(platform: Platform, inputs: &Inputs) -> anyhow::Result<Vec<UnitFile>> {
    let monod = text(&inputs.monod, "monod's path")?;
    let home = text(&inputs.home, "MONO_HOME")?;
    for (name, value) in &inputs.env {
        check_value(value, &format!("${name}"))?;
    }
    let files = match platform {
        Platform::Systemd => {
            let environment = inputs
                .env
                .iter()
                .map(|(k, v)| format!("Environment={}", systemd_quote(&format!("{k}={v}"), false)))
                .collect::<Vec<_>>()
                .join("\n");
            let service = fill(
                SYSTEMD_SERVICE,
                &[("@MONOD@", systemd_quote(monod, true)), ("@ENVIRONMENT@", environment)],
            )?;
            let socket = fill(SYSTEMD_SOCKET, &[("@MONO_HOME@", systemd_specifiers(home))])?;
            vec![
                UnitFile { name: SYSTEMD_UNITS[0].to_string(), text: service },
                UnitFile { name: SYSTEMD_UNITS[1].to_string(), text: socket },
            ]
        }
        Platform::Launchd => {
            let environment = inputs
                .env
                .iter()
                .map(|(k, v)| format!("    <key>{}</key>\n    <string>{}</string>", xml(k), xml(v)))
                .collect::<Vec<_>>()
                .join("\n");
            let plist = fill(
                LAUNCHD_PLIST,
                &[("@MONOD@", xml(monod)), ("@MONO_HOME@", xml(home)), ("@ENVIRONMENT@", environment)],
            )?;
            vec![UnitFile { name: format!("{LAUNCHD_LABEL}.plist"), text: plist }]
        }
    };
    Ok(files)
}

/// Where the service manager looks for the user's units: systemd's
/// `${XDG_CONFIG_HOME:-~/.config}/systemd/user` (a relative
/// `XDG_CONFIG_HOME` is ignored, as the XDG spec says), launchd's
/// `~/Library/LaunchAgents`.
pub fn unit_dir(
    platform: Platform,
    home: Option<OsString>,
    xdg_config: Option<OsString>,
) -> anyhow::Result<PathBuf> {
    let home = || {
        home.filter(|h| !h.is_empty()).map(PathBuf::from).context("cannot find your home directory: set HOME")
    };
    Ok(match platform {
        Platform::Systemd => {
            let config = match xdg_config.map(PathBuf::from) {
                Some(dir) if dir.is_absolute() => dir,
                _ => home()?.join(".config"),
            };
            config.join("systemd").join("user")
        }
        Platform::Launchd => home()?.join("Library").join("LaunchAgents"),
    })
}

/// Quotes `s` as one word of a systemd setting: inside double quotes `\`
/// and `"` are escaped, `%` doubled (specifiers are expanded before quotes
/// are removed) and, on command lines (`exec`), `$` doubled, since
/// `ExecStart=` expands `$VAR` even inside quotes.
fn systemd_quote(s: &str, exec: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' if exec => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A value systemd takes literally but for specifiers (`ListenStream=`).
fn systemd_specifiers(s: &str) -> String {
    s.replace('%', "%%")
}

/// Escapes text for XML content.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Quotes a word for a POSIX shell, for the commands mono prints.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:@,=".contains(c)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A path as UTF-8 text fit for a unit file.
fn text<'a>(path: &'a Path, what: &str) -> anyhow::Result<&'a str> {
    let s = path.to_str().with_context(|| {
        format!("{what} {} is not UTF-8; it cannot be written into a service unit", path.display())
    })?;
    check_value(s, what)?;
    Ok(s)
}

/// Refuses control characters: a newline would end the setting (systemd)
/// and most of them are not allowed in XML.
fn check_value(value: &str, what: &str) -> anyhow::Result<()> {
    if value.chars().any(char::is_control) {
        bail!("{what} ({value:?}) contains a control character; it cannot be written into a service unit");
    }
    Ok(())
}

/// Replaces each placeholder, which must occur in the template.
fn fill(template: &str, values: &[(&str, String)]) -> anyhow::Result<String> {
    let mut out = template.to_string();
    for (key, value) in values {
        if !out.contains(key) {
            bail!("the unit template lacks {key}");
        }
        out = out.replace(key, value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(monod: &str, home: &str) -> Inputs {
        Inputs {
            monod: monod.into(),
            home: home.into(),
            env: vec![("MONO_HOME".into(), home.into()), ("PATH".into(), "/usr/bin:/a $b".into())],
        }
    }

    fn line<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    #[test]
    fn systemd_units_are_filled_and_escaped() {
        let files =
            render(Platform::Systemd, &inputs("/opt/my bin/100%/mo\"n$d", "/h/a b%h\\x/.mono")).unwrap();
        assert_eq!(files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), SYSTEMD_UNITS);
        let service = &files[0].text;
        assert_eq!(line(service, "ExecStart="), [r#"ExecStart="/opt/my bin/100%%/mo\"n$$d""#]);
        assert_eq!(
            line(service, "Environment="),
            [r#"Environment="MONO_HOME=/h/a b%%h\\x/.mono""#, r#"Environment="PATH=/usr/bin:/a $b""#]
        );
        assert_eq!(line(service, "KillMode="), ["KillMode=process"]);
        assert_eq!(line(service, "Type="), ["Type=notify"]);
        let socket = &files[1].text;
        assert_eq!(line(socket, "ListenStream="), [r"ListenStream=/h/a b%%h\x/.mono/monod.sock"]);
        assert_eq!(line(socket, "SocketMode="), ["SocketMode=0600"]);
        for f in &files {
            assert!(!f.text.contains("@MONO") && !f.text.contains("@ENV"), "{}", f.text);
        }
    }

    #[test]
    fn socket_unit_listens_where_clients_look() {
        let home = Path::new("/h/x/.mono");
        let files = render(Platform::Systemd, &inputs("/bin/monod", "/h/x/.mono")).unwrap();
        let listen = line(&files[1].text, "ListenStream=")[0].trim_start_matches("ListenStream=");
        assert_eq!(Path::new(listen), mono_proto::paths::socket_path(home));
    }

    #[test]
    fn plist_is_filled_and_escaped() {
        let files = render(Platform::Launchd, &inputs("/a&b/<monod>", "/h/'q\"&<")).unwrap();
        assert_eq!(files[0].name, "dev.mono.monod.plist");
        let plist = &files[0].text;
        assert!(plist.contains("<string>/a&amp;b/&lt;monod&gt;</string>"), "{plist}");
        assert!(
            plist.contains("<key>MONO_HOME</key>\n    <string>/h/&apos;q&quot;&amp;&lt;</string>"),
            "{plist}"
        );
        assert!(plist.contains("<string>/h/&apos;q&quot;&amp;&lt;/monod.log</string>"), "{plist}");
        assert!(!plist.contains("@MONO") && !plist.contains("@ENV"), "{plist}");
    }

    #[test]
    fn control_characters_and_missing_placeholders_are_refused() {
        let err = render(Platform::Systemd, &inputs("/bin/mon\nod", "/h")).unwrap_err();
        assert!(err.to_string().contains("control character"), "{err}");
        let mut bad = inputs("/bin/monod", "/h");
        bad.env.push(("DOCKER_HOST".into(), "unix:///x\r".into()));
        assert!(render(Platform::Launchd, &bad).is_err());
        assert!(fill("no placeholder", &[("@X@", String::new())]).is_err());
    }

    #[test]
    fn unit_directories() {
        let home = Some(OsString::from("/home/u"));
        let dir = |p, h: &Option<OsString>, x: Option<&str>| unit_dir(p, h.clone(), x.map(OsString::from));
        assert_eq!(dir(Platform::Systemd, &home, None).unwrap(), Path::new("/home/u/.config/systemd/user"));
        assert_eq!(dir(Platform::Systemd, &home, Some("/x/cfg")).unwrap(), Path::new("/x/cfg/systemd/user"));
        assert_eq!(
            dir(Platform::Systemd, &home, Some("rel")).unwrap(),
            Path::new("/home/u/.config/systemd/user")
        );
        assert_eq!(
            dir(Platform::Launchd, &home, Some("/x")).unwrap(),
            Path::new("/home/u/Library/LaunchAgents")
        );
        assert!(dir(Platform::Launchd, &None, None).is_err());
        assert_eq!(dir(Platform::Systemd, &None, Some("/x")).unwrap(), Path::new("/x/systemd/user"));
    }

    #[test]
    fn shell_quoting_for_printed_commands() {
        assert_eq!(sh_quote("/a/b.plist"), "/a/b.plist");
        assert_eq!(sh_quote("/a b/it's"), r"'/a b/it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }
}
