//! Printing: live progress, tables and JSON.

use std::io::Write;

use mono_proto::{Activity, ActivityState, EnvInfo, OpOutput, OpStream};

/// Prints one line of operation progress. mono's own steps go to stderr;
/// script output keeps its stream, except with `--json`, where stdout is
/// reserved for the result.
pub fn progress(line: &OpOutput, json: bool) {
    match line.stream {
        OpStream::Out if !json => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", line.line);
        }
        OpStream::Out | OpStream::Err => eprintln!("{}", line.line),
        OpStream::Log => eprintln!("[mono] {}", line.line),
    }
}

/// Prints an event as one JSON line on stderr (beside the progress lines
/// of `--json`, which keep stdout for the result).
pub fn event_line(event: &mono_proto::Event) {
    if let Ok(line) = serde_json::to_string(event) {
        eprintln!("{line}");
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn json<T: serde::Serialize>(value: &T) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, value);
    let _ = writeln!(out);
}

/// `/home/u/x` → `~/x`.
pub fn tilde(path: &str) -> String {
    match std::env::var("HOME") {
        Ok(home) if !home.is_empty() && home != "/" => match path.strip_prefix(&home) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("~{rest}"),
            _ => path.to_string(),
        },
        _ => path.to_string(),
    }
}

/// `2/3 running, 1 unhealthy` for a docker-mode environment, `-` otherwise.
pub fn services(e: &EnvInfo) -> String {
    if e.docker_project.is_none() {
        return "-".to_string();
    }
    let running = e.containers.iter().filter(|c| c.state == "running").count();
    let mut text = format!("{running}/{} running", e.containers.len());
    let unhealthy = e.containers.iter().filter(|c| c.health == "unhealthy").count();
    if unhealthy > 0 {
        text.push_str(&format!(", {unhealthy} unhealthy"));
    }
    text
}

/// `active`, `idle 3m` (quiet for 3 minutes) or `-` (never printed).
pub fn activity(a: &Activity) -> String {
    match (a.state, a.quiet_ms) {
        (ActivityState::Active, _) => "active".to_string(),
        (ActivityState::Idle, Some(ms)) => format!("idle {}", age(ms)),
        (ActivityState::Idle, None) => "-".to_string(),
    }
}

/// `12s`, `3m`, `5h`, `2d`.
pub fn age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// The `mono list` table.
pub fn table(envs: &[EnvInfo]) {
    let rows: Vec<[String; 6]> = envs
        .iter()
        .map(|e| {
            [
                e.name.clone(),
                e.id.to_string(),
                tilde(&e.path),
                e.status.to_string(),
                activity(&e.activity),
                services(e),
            ]
        })
        .collect();
    let header = ["NAME", "ID", "PATH", "STATUS", "ACTIVITY", "SERVICES"].map(str::to_string);
    let mut widths = header.clone().map(|h| h.len());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    for r in std::iter::once(&header).chain(&rows) {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {:<w4$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4]
        );
    }
}

/// The `mono status` view.
pub fn status(e: &EnvInfo) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "name:      {}", e.name);
    let _ = writeln!(out, "id:        {}", e.id);
    let _ = writeln!(out, "path:      {}", e.path);
    let _ = writeln!(out, "status:    {}", e.status);
    if let Some(failure) = &e.failure {
        let _ = writeln!(out, "failure:   {failure}");
    }
    let _ =
        writeln!(out, "mode:      {}", if e.mode == mono_proto::Mode::Docker { "docker" } else { "simple" });
    let _ = writeln!(out, "session:   {}", e.session);
    let _ = writeln!(out, "data dir:  {}", e.data_dir);
    let _ = writeln!(out, "ports:     {}-{}", e.port_base, u32::from(e.port_base) + 99);
    for u in &e.urls {
        let what = u.service.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
        let _ = writeln!(out, "url:       {}{what} -> 127.0.0.1:{}", u.url, u.port);
    }
    let _ = writeln!(out, "created:   {}", e.created_at);
    let last = e.activity.last_output.as_deref().map(|t| format!(" (last output {t})")).unwrap_or_default();
    let _ = writeln!(out, "activity:  {}{last}", activity(&e.activity));
    if let Some(run) = &e.run {
        let _ = writeln!(out, "run:       {} (pid {}, pane {})", run.run, run.pid, run.pane);
    }
    if let Some(project) = &e.docker_project {
        let _ = writeln!(out, "project:   {project}");
        for c in &e.containers {
            let health = if c.health.is_empty() { String::new() } else { format!(" ({})", c.health) };
            let _ = writeln!(out, "  {:<12} {:<28} {}{health}", c.service, c.name, c.state);
        }
        let published: Vec<_> =
            e.containers.iter().flat_map(|c| c.ports.iter().map(move |p| (&c.service, p))).collect();
        if !published.is_empty() {
            let _ = writeln!(out, "published:");
            let width = published.iter().map(|(s, _)| s.chars().count()).max().unwrap_or(0);
            let targets: Vec<String> =
                published.iter().map(|(_, p)| format!("{}/{}", p.container_port, p.protocol)).collect();
            let tw = targets.iter().map(String::len).max().unwrap_or(0);
            for ((service, p), target) in published.iter().zip(&targets) {
                let vars = p.vars.join(" ");
                let bound = match &p.forward {
                    None => format!("{}:{}", p.host_ip, p.host_port),
                    Some(f) => {
                        let state = match (f.up, &f.detail) {
                            (true, _) => String::new(),
                            (false, Some(why)) => format!(" (down: {why})"),
                            (false, None) => " (down)".to_string(),
                        };
                        format!("remote {}:{} -> local {}{state}", p.host_ip, p.host_port, f.local)
                    }
                };
                let line = format!("  {service:<width$}  {target:<tw$} -> {bound}  {vars}");
                let _ = writeln!(out, "{}", line.trim_end());
            }
        }
    }
}
