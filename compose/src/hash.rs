//! The config hash of a service: hex SHA-256 of a canonical encoding of its
//! resolved plan, so an unchanged service hashes the same on every run and
//! any change to what the container gets changes the hash.
//!
//! The encoding is length-prefixed and tagged, so no two different plans
//! share one. Structs are destructured without `..`: a field added to the
//! plan fails to compile here until it is hashed (or deliberately skipped).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::CONFIG_HASH_LABEL;
use super::plan::{
    BuildPlan, Condition, Dependency, FilePlan, HealthPlan, ImageSource, MountKind, MountPlan, PortBinding,
    Protocol, ServicePlan,
};

/// The hash of `service`, ignoring its `config_hash` and the label that
/// carries it.
pub(crate) fn config_hash(service: &ServicePlan) -> String {
    let ServicePlan {
        name,
        container_name,
        image,
        command,
        entrypoint,
        environment,
        ports,
        expose,
        mounts,
        files,
        networks,
        links,
        depends_on,
        healthcheck,
        restart,
        user,
        working_dir,
        labels,
        hostname,
        stop_signal,
        stop_grace_period,
        cap_add,
        cap_drop,
        extra_hosts,
        init,
        privileged,
        tty,
        stdin_open,
        sysctls,
        platform,
        config_hash: _,
    } = service;
    let labels: BTreeMap<&String, &String> = labels.iter().filter(|(k, _)| *k != CONFIG_HASH_LABEL).collect();
    let mut h = Hasher(Sha256::new());
    h.field("name", name);
    h.field("container_name", container_name);
    h.field("image", image);
    h.field("command", command);
    h.field("entrypoint", entrypoint);
    h.field("environment", environment);
    h.field("ports", ports);
    h.field("expose", expose);
    h.field("mounts", mounts);
    // Only when there are any, so the hashes of other services stay as they were.
    if !files.is_empty() {
        h.field("files", files);
    }
    h.field("networks", networks);
    // Fed only when set, so a plan without links keeps the hash it had
    // before links were planned (its containers are not recreated).
    if !links.is_empty() {
        h.field("links", links);
    }
    h.field("depends_on", depends_on);
    h.field("healthcheck", healthcheck);
    h.field("restart", restart);
    h.field("user", user);
    h.field("working_dir", working_dir);
    h.field("labels", &labels);
    h.field("hostname", hostname);
    h.field("stop_signal", stop_signal);
    h.field("stop_grace_period", stop_grace_period);
    h.field("cap_add", cap_add);
    h.field("cap_drop", cap_drop);
    h.field("extra_hosts", extra_hosts);
    h.field("init", init);
    h.field("privileged", privileged);
    h.field("tty", tty);
    h.field("stdin_open", stdin_open);
    h.field("sysctls", sysctls);
    h.field("platform", platform);
    format!("{:x}", h.0.finalize())
}

struct Hasher(Sha256);

impl Hasher {
    fn field(&mut self, name: &str, value: &impl Canonical) {
        name.feed(self);
        value.feed(self);
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.len(bytes.len());
        self.0.update(bytes);
    }

    fn len(&mut self, len: usize) {
        self.0.update((len as u64).to_le_bytes());
    }

    fn tag(&mut self, tag: u8) {
        self.0.update([tag]);
    }
}

/// A value with one canonical byte encoding.
trait Canonical {
    fn feed(&self, h: &mut Hasher);
}

impl<T: Canonical + ?Sized> Canonical for &T {
    fn feed(&self, h: &mut Hasher) {
        (**self).feed(h);
    }
}

impl Canonical for str {
    fn feed(&self, h: &mut Hasher) {
        h.bytes(self.as_bytes());
    }
}

impl Canonical for String {
    fn feed(&self, h: &mut Hasher) {
        self.as_str().feed(h);
    }
}

impl Canonical for PathBuf {
    fn feed(&self, h: &mut Hasher) {
        h.bytes(self.as_os_str().as_encoded_bytes());
    }
}

impl Canonical for bool {
    fn feed(&self, h: &mut Hasher) {
        h.tag(u8::from(*self));
    }
}

impl Canonical for u16 {
    fn feed(&self, h: &mut Hasher) {
        h.0.update(self.to_le_bytes());
    }
}

impl Canonical for u32 {
    fn feed(&self, h: &mut Hasher) {
        h.0.update(self.to_le_bytes());
    }
}

impl Canonical for u64 {
    fn feed(&self, h: &mut Hasher) {
        h.0.update(self.to_le_bytes());
    }
}

impl Canonical for Duration {
    fn feed(&self, h: &mut Hasher) {
        h.0.update(self.as_nanos().to_le_bytes());
    }
}

impl<T: Canonical> Canonical for Option<T> {
    fn feed(&self, h: &mut Hasher) {
        match self {
            None => h.tag(0),
            Some(v) => {
                h.tag(1);
                v.feed(h);
            }
        }
    }
}

impl<T: Canonical> Canonical for Vec<T> {
    fn feed(&self, h: &mut Hasher) {
        h.len(self.len());
        for item in self {
            item.feed(h);
        }
    }
}

impl<K: Canonical, V: Canonical> Canonical for BTreeMap<K, V> {
    fn feed(&self, h: &mut Hasher) {
        h.len(self.len());
        for (k, v) in self {
            k.feed(h);
            v.feed(h);
        }
    }
}

impl<A: Canonical, B: Canonical> Canonical for (A, B) {
    fn feed(&self, h: &mut Hasher) {
        self.0.feed(h);
        self.1.feed(h);
    }
}

impl Canonical for Protocol {
    fn feed(&self, h: &mut Hasher) {
        self.as_str().feed(h);
    }
}

impl Canonical for Condition {
    fn feed(&self, h: &mut Hasher) {
        h.tag(match self {
            Condition::Started => 0,
            Condition::Healthy => 1,
            Condition::CompletedSuccessfully => 2,
        });
    }
}

impl Canonical for ImageSource {
    fn feed(&self, h: &mut Hasher) {
        match self {
            ImageSource::Pull(image) => {
                h.tag(0);
                image.feed(h);
            }
            ImageSource::Build(BuildPlan { context, dockerfile, dockerfile_inline, target, args, tag }) => {
                h.tag(1);
                context.feed(h);
                dockerfile.feed(h);
                // Only when set, so the hashes of other builds stay as they were.
                if let Some(text) = dockerfile_inline {
                    text.feed(h);
                }
                target.feed(h);
                args.feed(h);
                tag.feed(h);
            }
        }
    }
}

impl Canonical for PortBinding {
    fn feed(&self, h: &mut Hasher) {
        let PortBinding { container_port, protocol, host_ip, host_port } = self;
        container_port.feed(h);
        protocol.feed(h);
        host_ip.feed(h);
        host_port.feed(h);
    }
}

impl Canonical for MountPlan {
    fn feed(&self, h: &mut Hasher) {
        let MountPlan { kind, target, read_only } = self;
        match kind {
            MountKind::Bind { source } => {
                h.tag(0);
                source.feed(h);
            }
            MountKind::Volume { name } => {
                h.tag(1);
                name.feed(h);
            }
            MountKind::Anonymous => h.tag(2),
            MountKind::Tmpfs { size } => {
                h.tag(3);
                size.feed(h);
            }
        }
        target.feed(h);
        read_only.feed(h);
    }
}

impl Canonical for FilePlan {
    fn feed(&self, h: &mut Hasher) {
        let FilePlan { target, content, mode, uid, gid } = self;
        target.feed(h);
        content.feed(h);
        mode.feed(h);
        uid.feed(h);
        gid.feed(h);
    }
}

impl Canonical for Dependency {
    fn feed(&self, h: &mut Hasher) {
        let Dependency { service, condition, required } = self;
        service.feed(h);
        condition.feed(h);
        required.feed(h);
    }
}

impl Canonical for HealthPlan {
    fn feed(&self, h: &mut Hasher) {
        let HealthPlan { test, interval, timeout, retries, start_period, start_interval } = self;
        test.feed(h);
        interval.feed(h);
        timeout.feed(h);
        retries.feed(h);
        start_period.feed(h);
        start_interval.feed(h);
    }
}
