//! Conversion of a compose document into the typed [`super::model`]:
//! strict the way compose is. An unknown key is an error with its key
//! path; keys compose knows but mono cannot honour become [`Note`]s so the
//! plan can warn about them by name; nothing is dropped silently.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use super::configs;
use super::keypath::{At, Problem};
use super::plan::{Condition, HealthPlan, Protocol};
use super::syntax::{self, PortRange, WrittenProtocol};
use super::value::{
    boolean, dict, entries, integer, is_extension, kind, mapping, mapping_or_null, opt_string, sequence,
    string, string_list, string_or_list, unknown_key, wrong_type,
};

use super::model::{
    Build, Definitions, DependsOn, EnvFile, Link, MountSource, Network, Note, PortSpec, RESOLVED_VALUE,
    Secret, SecretRef, SecretSource, Service, ServiceNetwork, TmpfsMount, Volume, VolumeMount,
};

const TOP_LEVEL_KEYS: [&str; 9] =
    ["services", "networks", "volumes", "secrets", "configs", "name", "version", "include", "models"];

/// Converts an interpolated, extended document.
pub(crate) fn convert(root: &Value) -> Result<Definitions, Problem> {
    convert_with(root, true)
}

/// Checks the keys and values of one file of several on their own, so that
/// a problem is reported in that file: what only the merged project must
/// have (services, an image or a build) is not required.
pub(crate) fn check_part(root: &Value) -> Result<(), Problem> {
    if root.is_null() {
        return Ok(());
    }
    convert_with(root, false).map(drop)
}

fn convert_with(root: &Value, whole: bool) -> Result<Definitions, Problem> {
    let at = At::ROOT;
    let top = match root {
        Value::Mapping(m) => m,
        Value::Null => {
            return Err(at.problem("the file is empty; a compose file needs a `services:` section"));
        }
        other => return Err(wrong_type(at, "a mapping with a `services:` section", other)),
    };
    let mut defs = Definitions::default();
    let mut services = None;
    for (key, value) in entries(top, at)? {
        let here = at.key(&key);
        match key.as_str() {
            "services" => services = Some(value),
            "networks" => defs.networks = definitions(value, here, network)?,
            "volumes" => defs.volumes = definitions(value, here, volume)?,
            "secrets" => defs.secrets = definitions(value, here, secret)?,
            "name" => defs.name = opt_string(value, here)?,
            // Obsolete since compose v2; compose ignores it too.
            "version" => {}
            "configs" => defs.configs = definitions(value, here, configs::config)?,
            "models" => defs.notes.push(Note::new(here, "models are not supported and are ignored")),
            // Imported before conversion (module `project`).
            "include" => {}
            k if is_extension(k) => {}
            k => return Err(unknown_key(at, k, &TOP_LEVEL_KEYS)),
        }
    }
    let at = at.key("services");
    let services = services.and_then(|v| mapping_or_null(v, at).transpose()).transpose()?;
    let Some(services) = services.filter(|m| !m.is_empty()) else {
        if whole {
            // Valid for compose too (a file of networks or volumes, or one
            // whose services all come from elsewhere); nothing starts.
            defs.notes.push(Note::new(at, "the file defines no services; nothing is started"));
        }
        return Ok(defs);
    };
    for (name, value) in entries(services, at)? {
        defs.services.push(service(&name, value, at.key(&name), whole)?);
    }
    Ok(defs)
}

fn definitions<T>(
    v: &Value,
    at: At<'_>,
    one: fn(&str, &Value, At<'_>) -> Result<T, Problem>,
) -> Result<Vec<T>, Problem> {
    let Some(m) = mapping_or_null(v, at)? else {
        return Ok(Vec::new());
    };
    entries(m, at)?.into_iter().map(|(key, value)| one(&key, value, at.key(&key))).collect()
}

/// Service keys mono honours.
const SERVICE_KEYS: [&str; 39] = [
    "build",
    "cap_add",
    "cap_drop",
    "command",
    "container_name",
    "depends_on",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "extra_hosts",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "labels",
    "network_mode",
    "networks",
    "platform",
    "ports",
    "privileged",
    "profiles",
    "restart",
    "secrets",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "sysctls",
    "tmpfs",
    "tty",
    "user",
    "volumes",
    "working_dir",
    "scale",
    "read_only",
    "links",
    "provider",
    "configs",
];

const RESOURCES: &str = "resource limits are not applied";
const NOT_PASSED: &str = "mono does not pass it to the container";

/// Service keys compose knows and mono does not honour: the shape compose
/// requires of their values (still checked, so a typo is reported as compose
/// reports it) and what not honouring them means.
const SERVICE_UNSUPPORTED: [(&str, Shape, &str); 52] = [
    ("annotations", Shape::Dict, NOT_PASSED),
    ("attach", Shape::Bool, "mono does not attach to service output"),
    ("blkio_config", Shape::Mapping, RESOURCES),
    ("cgroup", Shape::Text, NOT_PASSED),
    ("cgroup_parent", Shape::Text, NOT_PASSED),
    ("cpu_count", Shape::Number, RESOURCES),
    ("cpu_percent", Shape::Number, RESOURCES),
    ("cpu_period", Shape::Number, RESOURCES),
    ("cpu_quota", Shape::Number, RESOURCES),
    ("cpu_rt_period", Shape::Text, RESOURCES),
    ("cpu_rt_runtime", Shape::Text, RESOURCES),
    ("cpu_shares", Shape::Number, RESOURCES),
    ("cpus", Shape::Number, RESOURCES),
    ("cpuset", Shape::Text, RESOURCES),
    ("credential_spec", Shape::Mapping, NOT_PASSED),
    (
        "deploy",
        Shape::Mapping,
        "replicas, resources and placement are not applied; mono runs one container per service",
    ),
    ("develop", Shape::Mapping, "watch mode is not supported"),
    ("device_cgroup_rules", Shape::List, NOT_PASSED),
    ("devices", Shape::List, "host devices are not passed to the container"),
    ("dns", Shape::TextOrList, "the container uses the engine's DNS settings"),
    ("dns_opt", Shape::List, "the container uses the engine's DNS settings"),
    ("dns_search", Shape::TextOrList, "the container uses the engine's DNS settings"),
    ("domainname", Shape::Text, NOT_PASSED),
    ("external_links", Shape::List, "services reach other containers only through the project's networks"),
    ("gpus", Shape::Any, "GPUs are not passed to the container"),
    ("group_add", Shape::List, NOT_PASSED),
    ("ipc", Shape::Text, "IPC namespaces are not shared"),
    ("isolation", Shape::Text, NOT_PASSED),
    ("label_file", Shape::TextOrList, "read labels with `labels:` instead"),
    ("logging", Shape::Mapping, "the engine's default logging driver is used"),
    ("mac_address", Shape::Text, "addresses are chosen by the engine so environments never clash"),
    ("mem_limit", Shape::Bytes, RESOURCES),
    ("mem_reservation", Shape::Bytes, RESOURCES),
    ("mem_swappiness", Shape::Number, RESOURCES),
    ("memswap_limit", Shape::Bytes, RESOURCES),
    ("models", Shape::Any, "models are not supported"),
    ("oom_kill_disable", Shape::Bool, RESOURCES),
    ("oom_score_adj", Shape::Number, RESOURCES),
    ("pid", Shape::Text, "PID namespaces are not shared"),
    ("pids_limit", Shape::Number, RESOURCES),
    ("post_start", Shape::List, "lifecycle hooks are not run"),
    ("pre_stop", Shape::List, "lifecycle hooks are not run"),
    ("pull_policy", Shape::Text, "images are pulled only when the engine lacks them"),
    ("runtime", Shape::Text, "the engine's default runtime is used"),
    ("security_opt", Shape::List, NOT_PASSED),
    ("shm_size", Shape::Bytes, RESOURCES),
    ("storage_opt", Shape::Mapping, NOT_PASSED),
    ("ulimits", Shape::Mapping, RESOURCES),
    ("use_api_socket", Shape::Bool, NOT_PASSED),
    ("userns_mode", Shape::Text, NOT_PASSED),
    ("uts", Shape::Text, NOT_PASSED),
    ("volumes_from", Shape::List, "mount the volumes by name instead"),
];

fn known_service_keys() -> Vec<&'static str> {
    SERVICE_KEYS.iter().copied().chain(SERVICE_UNSUPPORTED.iter().map(|(k, _, _)| *k)).collect()
}

/// True for names compose accepts for services (letters, digits, `_`, `.`
/// and `-`, in any position: compose v2 runs `_a` and `-b`); they become
/// part of container names (`<project>-<service>-1`) and DNS names.
fn valid_service_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn service(name: &str, v: &Value, at: At<'_>, whole: bool) -> Result<Service, Problem> {
    if !valid_service_name(name) {
        return Err(at.problem(format!(
            "{name:?} is not a valid service name; use letters, digits, `_`, `.` and `-`"
        )));
    }
    let empty = Mapping::new();
    let m = mapping_or_null(v, at)?.unwrap_or(&empty);
    let mut s = Service { name: name.to_string(), ..Service::default() };
    let mut empty_image = false;
    if m.contains_key("provider") {
        return Err(at.key("provider").problem(format!(
            "service {name} is a provider service, run by a Docker Compose plugin rather than from an image; mono \
             does not support provider services: remove it, or run the project with docker compose"
        )));
    }
    for (key, value) in entries(m, at)? {
        let here = at.key(&key);
        match key.as_str() {
            "image" => {
                s.image = opt_string(value, here)?;
                if s.image.as_deref() == Some("") {
                    s.image = None;
                    empty_image = true;
                }
            }
            "build" => s.build = build(value, here, &mut s.notes)?,
            "command" => s.command = command(value, here)?,
            "entrypoint" => s.entrypoint = command(value, here)?,
            "environment" => s.environment = dict(value, here)?,
            "env_file" => s.env_files = env_files(value, here)?,
            "ports" => s.ports = ports(value, here, &mut s.notes)?,
            "expose" => s.expose = expose(value, here, &mut s.notes)?,
            "volumes" => s.volumes = volume_mounts(value, here, &mut s.notes)?,
            "tmpfs" => s.tmpfs = tmpfs(value, here, &mut s.notes)?,
            "networks" => s.networks = Some(service_networks(value, here, &mut s.notes)?),
            "network_mode" => s.network_mode = opt_string(value, here)?,
            "container_name" => s.container_name = opt_string(value, here)?,
            "depends_on" => s.depends_on = depends_on(value, here)?,
            "healthcheck" => s.healthcheck = healthcheck(value, here)?,
            "restart" => {
                // `restart: ""` (often an unset variable) is no policy, as in compose.
                s.restart = opt_string(value, here)?.filter(|p| !p.is_empty());
                if let Some(policy) = &s.restart {
                    syntax::restart(policy).map_err(|e| here.problem(e))?;
                }
            }
            "user" => s.user = opt_string(value, here)?,
            "working_dir" => s.working_dir = opt_string(value, here)?,
            "labels" => s.labels = labels(value, here)?,
            "hostname" => s.hostname = opt_string(value, here)?,
            "stop_signal" => s.stop_signal = opt_string(value, here)?,
            "stop_grace_period" => s.stop_grace_period = opt_duration(value, here)?,
            "cap_add" => s.cap_add = string_list(value, here)?,
            "cap_drop" => s.cap_drop = string_list(value, here)?,
            "extra_hosts" => s.extra_hosts = extra_hosts(value, here)?,
            "secrets" => s.secrets = secret_refs(value, here, &mut s.notes)?,
            "configs" => s.configs = configs::config_refs(value, here)?,
            "profiles" => s.profiles = string_list(value, here)?,
            "init" => s.init = opt_bool(value, here)?,
            "privileged" => s.privileged = opt_bool(value, here)?.unwrap_or(false),
            "tty" => s.tty = opt_bool(value, here)?.unwrap_or(false),
            "stdin_open" => s.stdin_open = opt_bool(value, here)?.unwrap_or(false),
            "sysctls" => s.sysctls = labels(value, here)?,
            "platform" => s.platform = opt_string(value, here)?,
            "scale" => {
                if !value.is_null() && integer::<u32>(value, here)? != 1 {
                    s.notes.push(Note::new(here, "mono runs one container per service"));
                }
            }
            "read_only" => {
                if opt_bool(value, here)?.unwrap_or(false) {
                    s.notes.push(Note::new(here, "the container's root filesystem stays writable"));
                }
            }
            "extends" => {
                // Resolved before conversion; a leftover is a service that
                // could not be read as a mapping, reported above.
            }
            k if is_extension(k) => {}
            "links" => s.links = links(value, here)?,
            k => match SERVICE_UNSUPPORTED.iter().find(|(key, _, _)| *key == k) {
                Some((_, shape, why)) => {
                    shape.check(value, here)?;
                    s.notes.push(Note::new(here, format!("not supported: {why}")));
                }
                None => return Err(unknown_key(at, k, &known_service_keys())),
            },
        }
    }
    // A service this one links to, shares a namespace with or takes volumes
    // from is also a dependency, as in compose (which sets `restart` for all
    // but `volumes_from`).
    let implied = implied_dependencies(m, &s, at)?;
    for (service, restart) in implied {
        if !s.depends_on.iter().any(|d| d.service == service) {
            s.depends_on.push(DependsOn { service, condition: Condition::Started, required: true, restart });
        }
    }
    if whole && s.image.is_none() && s.build.is_none() && empty_image {
        return Err(at.key("image").problem(format!(
            "service {name} has an empty `image` (an unset variable?) and no `build`; set the variable or write \
             the image name"
        )));
    }
    if whole && s.image.is_none() && s.build.is_none() {
        return Err(at.problem(format!(
            "service {name} has neither `image` nor `build`; add `image: NAME` to run an image or `build: DIR` to \
             build one"
        )));
    }
    if let (Some(platform), Some(platforms)) =
        (&s.platform, m.get("build").and_then(|b| b.get("platforms")).and_then(Value::as_sequence))
        && !platforms.is_empty()
        && !platforms.iter().any(|p| p.as_str() == Some(platform.as_str()))
    {
        return Err(at.key("build").key("platforms").problem(format!(
            "service {name} runs on platform {platform:?}, which build.platforms does not list (compose refuses \
             it too); add it to build.platforms or change platform"
        )));
    }
    if whole && s.network_mode.is_some() && s.networks.is_some() {
        return Err(at.key("network_mode").problem(
            "network_mode and networks cannot be combined (compose refuses it too); remove one of them",
        ));
    }
    Ok(s)
}

fn opt_bool(v: &Value, at: At<'_>) -> Result<Option<bool>, Problem> {
    match v {
        Value::Null => Ok(None),
        other => boolean(other, at).map(Some),
    }
}

fn opt_duration(v: &Value, at: At<'_>) -> Result<Option<Duration>, Problem> {
    match v {
        Value::Null => Ok(None),
        other => syntax::duration(&string(other, at)?).map(Some).map_err(|e| at.problem(e)),
    }
}

fn labels(v: &Value, at: At<'_>) -> Result<BTreeMap<String, String>, Problem> {
    Ok(dict(v, at)?.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect())
}

const BUILD_KEYS: [&str; 5] = ["context", "dockerfile", "dockerfile_inline", "target", "args"];
const BUILD_UNSUPPORTED: [&str; 19] = [
    "additional_contexts",
    "cache_from",
    "cache_to",
    "entitlements",
    "extra_hosts",
    "isolation",
    "labels",
    "network",
    "no_cache",
    "platforms",
    "privileged",
    "provenance",
    "pull",
    "sbom",
    "secrets",
    "shm_size",
    "ssh",
    "tags",
    "ulimits",
];

fn build(v: &Value, at: At<'_>, notes: &mut Vec<Note>) -> Result<Option<Build>, Problem> {
    let m = match v {
        Value::Null => return Ok(None),
        Value::String(context) => {
            return Ok(Some(Build {
                context: context.clone(),
                dockerfile: None,
                dockerfile_inline: None,
                target: None,
                args: Vec::new(),
            }));
        }
        other => mapping(other, at)?,
    };
    let mut b = Build {
        context: ".".to_string(),
        dockerfile: None,
        dockerfile_inline: None,
        target: None,
        args: Vec::new(),
    };
    for (key, value) in entries(m, at)? {
        let here = at.key(&key);
        match key.as_str() {
            "context" => b.context = opt_string(value, here)?.unwrap_or_else(|| ".".to_string()),
            // Empty (an unset variable) is the default, as in compose.
            "dockerfile" => b.dockerfile = opt_string(value, here)?.filter(|d| !d.is_empty()),
            "target" => b.target = opt_string(value, here)?,
            "args" => b.args = dict(value, here)?,
            "dockerfile_inline" => b.dockerfile_inline = opt_string(value, here)?.filter(|d| !d.is_empty()),
            k if is_extension(k) => {}
            k if BUILD_UNSUPPORTED.contains(&k) => {
                notes.push(Note::new(here, "not supported by mono's builds and ignored"));
            }
            k => {
                let known: Vec<&str> = BUILD_KEYS.iter().chain(&BUILD_UNSUPPORTED).copied().collect();
                return Err(unknown_key(at, k, &known));
            }
        }
    }
    if b.dockerfile.is_some() && b.dockerfile_inline.is_some() {
        return Err(at.problem(
            "dockerfile and dockerfile_inline cannot be combined (compose refuses it too); remove one of them",
        ));
    }
    Ok(Some(b))
}

fn command(v: &Value, at: At<'_>) -> Result<Option<Vec<String>>, Problem> {
    match v {
        Value::Null => Ok(None),
        Value::Sequence(_) => string_list(v, at).map(Some),
        other => {
            let text = string(other, at)?;
            shell_words::split(&text).map(Some).map_err(|e| {
                at.problem(format!(
                    "cannot split {text:?} like a shell ({e}); check its quotes or write it as a list"
                ))
            })
        }
    }
}

fn env_files(v: &Value, at: At<'_>) -> Result<Vec<EnvFile>, Problem> {
    let items: Vec<(usize, &Value)> = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Sequence(items) => items.iter().enumerate().collect(),
        other => vec![(0, other)],
    };
    items
        .into_iter()
        .map(|(index, item)| {
            let here = if v.is_sequence() { at.index(index) } else { at };
            match item {
                Value::Mapping(m) => {
                    let mut file = EnvFile { index, path: String::new(), required: true, raw: false };
                    for (key, value) in entries(m, here)? {
                        let field = here.key(&key);
                        match key.as_str() {
                            "path" => file.path = string(value, field)?,
                            "required" => file.required = boolean(value, field)?,
                            "format" => match string(value, field)?.as_str() {
                                "raw" => file.raw = true,
                                other => {
                                    return Err(field.problem(format!(
                                        "unknown env_file format {other:?}; leave it out, or use raw"
                                    )));
                                }
                            },
                            k => return Err(unknown_key(here, k, &["path", "required", "format"])),
                        }
                    }
                    if file.path.is_empty() {
                        return Err(here.problem("env_file entry has no `path`; add path: FILE"));
                    }
                    Ok(file)
                }
                other => Ok(EnvFile { index, path: string(other, here)?, required: true, raw: false }),
            }
        })
        .collect()
}

fn supported(protocol: WrittenProtocol, at: At<'_>, notes: &mut Vec<Note>, what: &str) -> Option<Protocol> {
    match protocol {
        WrittenProtocol::Supported(p) => Some(p),
        WrittenProtocol::Sctp => {
            notes.push(Note::new(at, format!("SCTP is not supported; the port is not {what}")));
            None
        }
    }
}

fn ports(v: &Value, at: At<'_>, notes: &mut Vec<Note>) -> Result<Vec<PortSpec>, Problem> {
    if v.is_null() {
        return Ok(Vec::new());
    }
    let items = sequence(v, at).map_err(|_| {
        at.problem(format!(
            "expected a list of ports, found {}; write one port per item, e.g. `- \"8080:80\"`",
            kind(v)
        ))
    })?;
    let mut out = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let here = at.index(index);
        let spec = match item {
            Value::Number(_) => {
                let target = PortRange::single(port_number(item, here)?);
                Some(PortSpec { index, host_ip: None, published: None, target, protocol: Protocol::Tcp })
            }
            Value::String(text) => {
                let short = syntax::short_port(text).map_err(|e| here.problem(e))?;
                supported(short.protocol, here, notes, "published").map(|protocol| PortSpec {
                    index,
                    host_ip: short.host_ip,
                    published: short.published,
                    target: short.target,
                    protocol,
                })
            }
            Value::Mapping(m) => long_port(m, here, index, notes)?,
            other => {
                return Err(here.problem(format!(
                    "expected a port (\"8080:80\", 80 or a mapping with target:), found {}",
                    kind(other)
                )));
            }
        };
        out.extend(spec);
    }
    Ok(out)
}

fn port_number(v: &Value, at: At<'_>) -> Result<u16, Problem> {
    match integer::<u16>(v, at)? {
        0 => Err(at.problem("port 0 is not a port; use 1 to 65535")),
        port => Ok(port),
    }
}

fn port_field(v: &Value, at: At<'_>) -> Result<Option<PortRange>, Problem> {
    match v {
        Value::Null => Ok(None),
        Value::Number(_) => Ok(Some(PortRange::single(port_number(v, at)?))),
        Value::String(s) if s.is_empty() => Ok(None),
        other => syntax::port_range(&string(other, at)?).map(Some).map_err(|e| at.problem(e)),
    }
}

fn long_port(
    m: &Mapping,
    at: At<'_>,
    index: usize,
    notes: &mut Vec<Note>,
) -> Result<Option<PortSpec>, Problem> {
    let mut target = None;
    let mut published = None;
    let mut host_ip = None;
    let mut protocol = WrittenProtocol::Supported(Protocol::Tcp);
    for (key, value) in entries(m, at)? {
        let here = at.key(&key);
        match key.as_str() {
            "target" => target = port_field(value, here)?,
            "published" => published = port_field(value, here)?,
            "host_ip" => host_ip = opt_string(value, here)?.filter(|ip| !ip.is_empty()),
            "protocol" => {
                if let Some(p) = opt_string(value, here)? {
                    protocol = syntax::protocol(&p).map_err(|e| here.problem(e))?;
                }
            }
            // Swarm's routing mode and descriptive metadata: they change
            // nothing for a single engine, so there is nothing to honour.
            "mode" | "name" | "app_protocol" => {}
            k if is_extension(k) => {}
            k => {
                return Err(unknown_key(
                    at,
                    k,
                    &["target", "published", "host_ip", "protocol", "mode", "name", "app_protocol"],
                ));
            }
        }
    }
    let target = target
        .ok_or_else(|| at.problem("the port has no `target` (the container port); add target: PORT"))?;
    syntax::check_ranges(published, target).map_err(|e| at.problem(e))?;
    Ok(supported(protocol, at, notes, "published").map(|protocol| PortSpec {
        index,
        host_ip,
        published,
        target,
        protocol,
    }))
}

fn expose(v: &Value, at: At<'_>, notes: &mut Vec<Note>) -> Result<Vec<(u16, Protocol)>, Problem> {
    if v.is_null() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (index, item) in sequence(v, at)?.iter().enumerate() {
        let here = at.index(index);
        let (range, protocol) = match item {
            Value::Number(_) => {
                (PortRange::single(port_number(item, here)?), WrittenProtocol::Supported(Protocol::Tcp))
            }
            other => syntax::expose(&string(other, here)?).map_err(|e| here.problem(e))?,
        };
        if let Some(protocol) = supported(protocol, here, notes, "exposed") {
            out.extend(range.ports().map(|p| (p, protocol)).filter(|e| !out.contains(e)).collect::<Vec<_>>());
        }
    }
    Ok(out)
}

fn empty_source_note(at: At<'_>, target: &str) -> Note {
    Note::new(
        at,
        format!(
            "the source is empty (an unset variable?); an anonymous volume is mounted at {target} instead: set \
             the variable to mount a host path"
        ),
    )
}

fn volume_mounts(v: &Value, at: At<'_>, notes: &mut Vec<Note>) -> Result<Vec<VolumeMount>, Problem> {
    if v.is_null() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (index, item) in sequence(v, at)?.iter().enumerate() {
        let here = at.index(index);
        let mount = match item {
            Value::String(text) => {
                let short = syntax::short_volume(text).map_err(|e| here.problem(e))?;
                if !short.unsupported.is_empty() {
                    notes.push(Note::new(
                        here,
                        format!("volume option(s) {} not supported and ignored", short.unsupported.join(",")),
                    ));
                }
                let source = match short.source {
                    None => MountSource::Anonymous,
                    Some(s) if s.is_empty() => {
                        return Err(here.problem(format!(
                            "{text:?}: the source before `:` is empty (an unset variable?); compose refuses it \
                             too: set the variable, or write `{}` for an anonymous volume",
                            short.target
                        )));
                    }
                    Some(s) if syntax::is_host_path(&s) => MountSource::Bind(s),
                    Some(name) => MountSource::Volume(name),
                };
                Some(VolumeMount { index, source, target: short.target, read_only: short.read_only })
            }
            Value::Mapping(m) => long_volume(m, here, index, notes)?,
            other => {
                return Err(here.problem(format!(
                    "expected a volume (\"SOURCE:/path\" or a mapping with type: and target:), found {}",
                    kind(other)
                )));
            }
        };
        out.extend(mount);
    }
    Ok(out)
}

fn long_volume(
    m: &Mapping,
    at: At<'_>,
    index: usize,
    notes: &mut Vec<Note>,
) -> Result<Option<VolumeMount>, Problem> {
    let mut mount_type = None;
    let mut source = None;
    let mut target = None;
    let mut read_only = false;
    let mut size = None;
    for (key, value) in entries(m, at)? {
        let here = at.key(&key);
        match key.as_str() {
            "type" => mount_type = Some(string(value, here)?),
            "source" => source = opt_string(value, here)?,
            "target" => target = Some(string(value, here)?),
            "read_only" => read_only = boolean(value, here)?,
            // A no-op on Linux engines.
            "consistency" => {}
            "bind" => {
                for (key, value) in entries(mapping(value, here)?, here)? {
                    let field = here.key(&key);
                    match key.as_str() {
                        // Honoured as the engine does for binds mono creates.
                        "create_host_path" => {
                            boolean(value, field)?;
                        }
                        "propagation" | "selinux" => {
                            notes.push(Note::new(field, "not supported and ignored"))
                        }
                        k if is_extension(k) => {}
                        k => {
                            return Err(unknown_key(
                                here,
                                k,
                                &["create_host_path", "propagation", "selinux"],
                            ));
                        }
                    }
                }
            }
            "volume" => {
                for (key, _) in entries(mapping(value, here)?, here)? {
                    let field = here.key(&key);
                    match key.as_str() {
                        "nocopy" | "subpath" => notes.push(Note::new(field, "not supported and ignored")),
                        k if is_extension(k) => {}
                        k => return Err(unknown_key(here, k, &["nocopy", "subpath"])),
                    }
                }
            }
            "tmpfs" => {
                for (key, value) in entries(mapping(value, here)?, here)? {
                    let field = here.key(&key);
                    match key.as_str() {
                        "size" => size = Some(size_value(value, field)?),
                        "mode" => notes.push(Note::new(field, "not supported and ignored")),
                        k if is_extension(k) => {}
                        k => return Err(unknown_key(here, k, &["size", "mode"])),
                    }
                }
            }
            "image" => {}
            k if is_extension(k) => {}
            k => {
                return Err(unknown_key(
                    at,
                    k,
                    &[
                        "type",
                        "source",
                        "target",
                        "read_only",
                        "consistency",
                        "bind",
                        "volume",
                        "tmpfs",
                        "image",
                    ],
                ));
            }
        }
    }
    if let Some(other @ ("npipe" | "cluster" | "image")) = mount_type.as_deref() {
        let why = match other {
            "npipe" => "named pipes (type: npipe) exist only on Windows engines",
            "cluster" => "cluster volumes (type: cluster) exist only in swarm mode",
            _ => "image mounts (type: image) are not supported",
        };
        notes.push(Note::new(
            at,
            format!("{why}; nothing is mounted at {}", target.as_deref().unwrap_or("the target")),
        ));
        return Ok(None);
    }
    let target = target.filter(|t| t.starts_with('/')).ok_or_else(|| {
        at.problem("the volume needs an absolute `target` (the container path); add target: /path")
    })?;
    let source = match mount_type.as_deref() {
        Some("volume") => match source {
            None => MountSource::Anonymous,
            Some(s) if s.is_empty() => MountSource::Anonymous,
            Some(name) => MountSource::Volume(name),
        },
        Some("bind") => match source {
            Some(s) if !s.is_empty() => MountSource::Bind(s),
            _ => {
                notes.push(empty_source_note(at, &target));
                MountSource::Anonymous
            }
        },
        Some("tmpfs") => MountSource::Tmpfs { size },
        Some(other) => {
            return Err(at
                .key("type")
                .problem(format!("unknown volume type {other:?}; use volume, bind or tmpfs")));
        }
        None => return Err(at.problem("the volume has no `type`; add type: volume, bind or tmpfs")),
    };
    Ok(Some(VolumeMount { index, source, target, read_only }))
}

fn size_value(v: &Value, at: At<'_>) -> Result<u64, Problem> {
    match v {
        Value::Number(_) => integer::<u64>(v, at),
        other => syntax::byte_size(&string(other, at)?).map_err(|e| at.problem(e)),
    }
}

fn tmpfs(v: &Value, at: At<'_>, notes: &mut Vec<Note>) -> Result<Vec<TmpfsMount>, Problem> {
    let entries = string_or_list(v, at)?;
    let mut out = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let here = if v.is_sequence() { at.index(index) } else { at };
        let (target, options) = entry.split_once(':').unwrap_or((entry, ""));
        if !target.starts_with('/') {
            return Err(
                here.problem(format!("the tmpfs path {target:?} is not absolute; write /path[:size=64m]"))
            );
        }
        let mut mount = TmpfsMount { target: target.to_string(), size: None, read_only: false };
        for option in options.split(',').filter(|o| !o.is_empty()) {
            match option.split_once('=') {
                Some(("size", size)) => {
                    mount.size = Some(syntax::byte_size(size).map_err(|e| here.problem(e))?)
                }
                None if option == "ro" => mount.read_only = true,
                None if option == "rw" => mount.read_only = false,
                _ => notes
                    .push(Note::new(here, format!("tmpfs option {option:?} is not supported and ignored"))),
            }
        }
        out.push(mount);
    }
    Ok(out)
}

const SERVICE_NETWORK_UNSUPPORTED: [&str; 8] = [
    "ipv4_address",
    "ipv6_address",
    "link_local_ips",
    "mac_address",
    "priority",
    "gw_priority",
    "driver_opts",
    "interface_name",
];

fn service_networks(v: &Value, at: At<'_>, notes: &mut Vec<Note>) -> Result<Vec<ServiceNetwork>, Problem> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(_) => Ok(string_list(v, at)?
            .into_iter()
            .map(|name| ServiceNetwork { name, aliases: Vec::new() })
            .collect()),
        Value::Mapping(m) => {
            let mut out = Vec::new();
            for (name, value) in entries(m, at)? {
                let here = at.key(&name);
                let mut network = ServiceNetwork { name: name.clone(), aliases: Vec::new() };
                if let Some(fields) = mapping_or_null(value, here)? {
                    for (key, value) in entries(fields, here)? {
                        let field = here.key(&key);
                        match key.as_str() {
                            "aliases" => network.aliases = string_list(value, field)?,
                            k if SERVICE_NETWORK_UNSUPPORTED.contains(&k) => notes.push(Note::new(
                                field,
                                "not supported: addresses and interfaces are chosen by the engine so environments \
                                 never clash",
                            )),
                            k if is_extension(k) => {}
                            k => {
                                let known: Vec<&str> =
                                    ["aliases"].into_iter().chain(SERVICE_NETWORK_UNSUPPORTED).collect();
                                return Err(unknown_key(here, k, &known));
                            }
                        }
                    }
                }
                out.push(network);
            }
            Ok(out)
        }
        other => Err(wrong_type(at, "a list of network names or a mapping", other)),
    }
}

/// The services `s` depends on without saying so in `depends_on`: those it
/// links to, those whose namespace it joins (`network_mode: service:X`,
/// `ipc: service:X`) and those it takes volumes from (`volumes_from: [X]`,
/// not `container:X`), each with compose's `restart` flag.
fn implied_dependencies(m: &Mapping, s: &Service, at: At<'_>) -> Result<Vec<(String, bool)>, Problem> {
    let mut implied: Vec<(String, bool)> = s.links.iter().map(|l| (l.service.clone(), true)).collect();
    let namespace_of = |mode: Option<&str>| mode.and_then(|m| m.strip_prefix("service:")).map(str::to_string);
    implied.extend(namespace_of(s.network_mode.as_deref()).map(|x| (x, true)));
    if let Some(ipc) = m.get("ipc") {
        implied.extend(namespace_of(opt_string(ipc, at.key("ipc"))?.as_deref()).map(|x| (x, true)));
    }
    if let Some(from) = m.get("volumes_from").filter(|v| !v.is_null()) {
        let here = at.key("volumes_from");
        for (i, item) in sequence(from, here)?.iter().enumerate() {
            let text = string(item, here.index(i))?;
            let source = text.split(':').next().unwrap_or_default();
            if source != "container" && !source.is_empty() {
                implied.push((source.to_string(), false));
            }
        }
    }
    Ok(implied)
}

fn links(v: &Value, at: At<'_>) -> Result<Vec<Link>, Problem> {
    if v.is_null() {
        return Ok(Vec::new());
    }
    sequence(v, at)?
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let here = at.index(i);
            let text = string(item, here)?;
            let (service, alias) = text.split_once(':').unwrap_or((&text, &text));
            if service.is_empty() || alias.is_empty() {
                return Err(here.problem(format!("{text:?} is not SERVICE or SERVICE:ALIAS")));
            }
            Ok(Link { service: service.to_string(), alias: alias.to_string() })
        })
        .collect()
}

/// The shape compose requires of a value, for keys mono reads only to check.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Any,
    Bool,
    /// A number, or a string that reads as one.
    Number,
    /// A byte size: a number or `512m`-like text.
    Bytes,
    Text,
    TextOrList,
    List,
    Mapping,
    Dict,
}

impl Shape {
    fn check(self, v: &Value, at: At<'_>) -> Result<(), Problem> {
        if v.is_null() {
            return Ok(());
        }
        match self {
            Shape::Any => Ok(()),
            Shape::Bool => boolean(v, at).map(drop),
            Shape::Number => match v {
                Value::Number(_) => Ok(()),
                Value::String(text) if text.trim().parse::<f64>().is_ok() => Ok(()),
                other => {
                    Err(at.problem(format!("expected a number, found {}", super::value::describe(other))))
                }
            },
            Shape::Bytes => size_value(v, at).map(drop),
            Shape::Text => string(v, at).map(drop),
            Shape::TextOrList => string_or_list(v, at).map(drop),
            Shape::List => sequence(v, at).map(drop),
            Shape::Mapping => mapping(v, at).map(drop),
            Shape::Dict => dict(v, at).map(drop),
        }
    }
}

fn depends_on(v: &Value, at: At<'_>) -> Result<Vec<DependsOn>, Problem> {
    let started = |service: String| DependsOn {
        service,
        condition: Condition::Started,
        required: true,
        restart: false,
    };
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(_) => Ok(string_list(v, at)?.into_iter().map(started).collect()),
        Value::Mapping(m) => {
            let mut out = Vec::new();
            for (name, value) in entries(m, at)? {
                let here = at.key(&name);
                let mut dep = started(name.clone());
                if let Some(fields) = mapping_or_null(value, here)? {
                    for (key, value) in entries(fields, here)? {
                        let field = here.key(&key);
                        match key.as_str() {
                            "condition" => {
                                dep.condition = match string(value, field)?.as_str() {
                                    "service_started" => Condition::Started,
                                    "service_healthy" => Condition::Healthy,
                                    "service_completed_successfully" => Condition::CompletedSuccessfully,
                                    other => {
                                        return Err(field.problem(format!(
                                            "unknown condition {other:?}; use service_started, service_healthy or \
                                             service_completed_successfully"
                                        )));
                                    }
                                }
                            }
                            "required" => dep.required = boolean(value, field)?,
                            "restart" => dep.restart = boolean(value, field)?,
                            k if is_extension(k) => {}
                            k => return Err(unknown_key(here, k, &["condition", "required", "restart"])),
                        }
                    }
                }
                out.push(dep);
            }
            Ok(out)
        }
        other => Err(wrong_type(at, "a list of service names or a mapping", other)),
    }
}

fn healthcheck(v: &Value, at: At<'_>) -> Result<Option<HealthPlan>, Problem> {
    let Some(m) = mapping_or_null(v, at)? else {
        return Ok(None);
    };
    let mut h = HealthPlan {
        test: Vec::new(),
        interval: None,
        timeout: None,
        retries: None,
        start_period: None,
        start_interval: None,
    };
    let mut disable = false;
    for (key, value) in entries(m, at)? {
        let here = at.key(&key);
        match key.as_str() {
            "test" => {
                h.test = match value {
                    Value::Null => Vec::new(),
                    Value::Sequence(_) => {
                        let test = string_list(value, here)?;
                        match test.first().map(String::as_str) {
                            Some("NONE" | "CMD" | "CMD-SHELL") => test,
                            _ => {
                                return Err(here.problem(
                                    "a test list must start with \"CMD\", \"CMD-SHELL\" or \"NONE\", e.g. [\"CMD\", \
                                     \"pg_isready\"]",
                                ));
                            }
                        }
                    }
                    other => vec!["CMD-SHELL".to_string(), string(other, here)?],
                }
            }
            "interval" => h.interval = opt_duration(value, here)?,
            "timeout" => h.timeout = opt_duration(value, here)?,
            "start_period" => h.start_period = opt_duration(value, here)?,
            "start_interval" => h.start_interval = opt_duration(value, here)?,
            "retries" => h.retries = if value.is_null() { None } else { Some(integer::<u32>(value, here)?) },
            "disable" => disable = boolean(value, here)?,
            k if is_extension(k) => {}
            k => {
                return Err(unknown_key(
                    at,
                    k,
                    &["test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"],
                ));
            }
        }
    }
    if disable {
        return Ok(Some(HealthPlan {
            test: vec!["NONE".to_string()],
            interval: None,
            timeout: None,
            retries: None,
            start_period: None,
            start_interval: None,
        }));
    }
    Ok(Some(h))
}

fn extra_hosts(v: &Value, at: At<'_>) -> Result<Vec<String>, Problem> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let here = at.index(i);
                let text = string(item, here)?;
                // `host=ip` is unambiguous with IPv6; `host:ip` splits at the
                // first colon.
                let (host, ip) = text.split_once('=').or_else(|| text.split_once(':')).ok_or_else(|| {
                    here.problem(format!("{text:?} is not HOST:IP; write e.g. myhost:10.0.0.1"))
                })?;
                Ok(format!("{host}:{ip}"))
            })
            .collect(),
        Value::Mapping(m) => {
            let mut out = Vec::new();
            for (host, value) in entries(m, at)? {
                let here = at.key(&host);
                for ip in string_or_list(value, here)? {
                    out.push(format!("{host}:{ip}"));
                }
            }
            Ok(out)
        }
        other => Err(wrong_type(at, "a list of HOST:IP strings or a mapping", other)),
    }
}

fn secret_refs(v: &Value, at: At<'_>, notes: &mut Vec<Note>) -> Result<Vec<SecretRef>, Problem> {
    if v.is_null() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (index, item) in sequence(v, at)?.iter().enumerate() {
        let here = at.index(index);
        let secret = match item {
            Value::Mapping(m) => {
                let mut secret = SecretRef { index, source: String::new(), target: None };
                for (key, value) in entries(m, here)? {
                    let field = here.key(&key);
                    match key.as_str() {
                        "source" => secret.source = string(value, field)?,
                        "target" => secret.target = opt_string(value, field)?,
                        "uid" | "gid" | "mode" => notes.push(Note::new(
                            field,
                            "not supported: the secret is a read-only bind mount with the file's own owner and mode",
                        )),
                        k if is_extension(k) => {}
                        k => return Err(unknown_key(here, k, &["source", "target", "uid", "gid", "mode"])),
                    }
                }
                if secret.source.is_empty() {
                    return Err(here.problem("the secret has no `source`; add source: NAME"));
                }
                secret
            }
            other => SecretRef { index, source: string(other, here)?, target: None },
        };
        out.push(secret);
    }
    Ok(out)
}

/// `external: true`, or the legacy `external: {name: N}`: whether external,
/// and the legacy name.
fn external(v: &Value, at: At<'_>) -> Result<(bool, Option<String>), Problem> {
    match v {
        Value::Mapping(m) => {
            let mut name = None;
            for (key, value) in entries(m, at)? {
                match key.as_str() {
                    "name" => name = opt_string(value, at.key("name"))?,
                    k if is_extension(k) => {}
                    k => return Err(unknown_key(at, k, &["name"])),
                }
            }
            Ok((true, name))
        }
        Value::Null => Ok((false, None)),
        other => Ok((boolean(other, at)?, None)),
    }
}

fn driver_opts(v: &Value, at: At<'_>) -> Result<BTreeMap<String, String>, Problem> {
    let Some(m) = mapping_or_null(v, at)? else {
        return Ok(BTreeMap::new());
    };
    entries(m, at)?.into_iter().map(|(k, v)| Ok((k.clone(), string(v, at.key(&k))?))).collect()
}

const NETWORK_KEYS: [&str; 10] = [
    "driver",
    "driver_opts",
    "external",
    "name",
    "internal",
    "attachable",
    "enable_ipv6",
    "enable_ipv4",
    "ipam",
    "labels",
];

fn network(key: &str, v: &Value, at: At<'_>) -> Result<Network, Problem> {
    let mut n = Network { key: key.to_string(), ..Network::default() };
    let Some(m) = mapping_or_null(v, at)? else {
        return Ok(n);
    };
    for (field, value) in entries(m, at)? {
        let here = at.key(&field);
        match field.as_str() {
            "driver" => n.driver = opt_string(value, here)?,
            "driver_opts" => n.driver_opts = driver_opts(value, here)?,
            "external" => {
                let (external, legacy) = external(value, here)?;
                n.external = external;
                n.name = n.name.take().or(legacy);
            }
            "name" => n.name = opt_string(value, here)?.or(n.name.take()),
            "internal" => n.internal = opt_bool(value, here)?.unwrap_or(false),
            "labels" => n.labels = labels(value, here)?,
            "attachable" | "enable_ipv6" => {
                if opt_bool(value, here)?.unwrap_or(false) {
                    n.notes.push(Note::new(here, "not supported and ignored"));
                }
            }
            "enable_ipv4" => {
                if !opt_bool(value, here)?.unwrap_or(true) {
                    n.notes.push(Note::new(here, "not supported: the network keeps IPv4"));
                }
            }
            "ipam" => n.notes.push(Note::new(
                here,
                "not supported: fixed subnets cannot be shared by two environments; the engine picks a free subnet",
            )),
            k if is_extension(k) => {}
            k => return Err(unknown_key(at, k, &NETWORK_KEYS)),
        }
    }
    Ok(n)
}

fn volume(key: &str, v: &Value, at: At<'_>) -> Result<Volume, Problem> {
    let mut vol = Volume { key: key.to_string(), ..Volume::default() };
    let Some(m) = mapping_or_null(v, at)? else {
        return Ok(vol);
    };
    for (field, value) in entries(m, at)? {
        let here = at.key(&field);
        match field.as_str() {
            "driver" => vol.driver = opt_string(value, here)?,
            "driver_opts" => vol.driver_opts = driver_opts(value, here)?,
            "external" => {
                let (external, legacy) = external(value, here)?;
                vol.external = external;
                vol.name = vol.name.take().or(legacy);
            }
            "name" => vol.name = opt_string(value, here)?.or(vol.name.take()),
            "labels" => vol.labels = labels(value, here)?,
            k if is_extension(k) => {}
            k => return Err(unknown_key(at, k, &["driver", "driver_opts", "external", "name", "labels"])),
        }
    }
    Ok(vol)
}

const SECRET_KEYS: [&str; 9] = [
    "file",
    "environment",
    "external",
    "name",
    "labels",
    "driver",
    "driver_opts",
    "template_driver",
    "content",
];

fn secret(key: &str, v: &Value, at: At<'_>) -> Result<Secret, Problem> {
    let m = mapping(v, at)?;
    let mut source = None;
    let mut resolved = None;
    let mut notes = Vec::new();
    for (field, value) in entries(m, at)? {
        let here = at.key(&field);
        match field.as_str() {
            "file" => source = Some(SecretSource::File(string(value, here)?)),
            "environment" => source = Some(SecretSource::Environment(string(value, here)?)),
            RESOLVED_VALUE => resolved = Some(string(value, here)?),
            "external" => {
                if external(value, here)?.0 {
                    source = Some(SecretSource::External);
                }
            }
            "content" => {
                return Err(here.problem(
                    "inline secret content is not supported; write it to a file and use `file:` instead",
                ));
            }
            "name" | "labels" | "driver" | "driver_opts" | "template_driver" => {
                notes.push(Note::new(here, "not supported for file secrets and ignored"));
            }
            k if is_extension(k) => {}
            k => return Err(unknown_key(at, k, &SECRET_KEYS)),
        }
    }
    let source = match (source, resolved) {
        (Some(SecretSource::Environment(_)), Some(value)) => SecretSource::Resolved(value),
        (Some(source), _) => source,
        (None, _) => {
            return Err(at.problem(format!(
                "secret {key} has no source; add `file: PATH` (mono mounts it at /run/secrets/{key})"
            )));
        }
    };
    Ok(Secret { key: key.to_string(), source, notes })
}
