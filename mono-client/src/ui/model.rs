//! What the dashboard shows and what a key asks for: plain state and pure
//! functions, so the rules (selection kept across refreshes, which log is
//! followed, the destroy confirmation) are unit-tested without a terminal.

use std::collections::VecDeque;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use mono_proto::{EnvInfo, EnvStatus, Mode};

/// Lines the log pane keeps (older ones are dropped).
pub const LOG_LINES: usize = 1000;
/// Bytes of a line without a newline that the pane keeps.
const MAX_LINE: usize = 4096;

/// Whose output the log pane follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The environment's session output.
    Session,
    /// A docker-mode service's container logs.
    Service(String),
}

/// What a key asks the dashboard to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing beyond redrawing.
    None,
    /// Leave.
    Quit,
    /// Follow the selected environment's [`Model::source`] afresh.
    Follow,
    /// Start the run script of the workspace at this path.
    Run(String),
    /// Stop the run of the workspace at this path.
    Stop(String),
    /// Enter this tmux session.
    Attach(String),
    /// Open this URL in the browser.
    Open(String),
    /// Destroy the environment of the workspace at this path (confirmed).
    Destroy(String),
}

/// The dashboard's state.
pub struct Model {
    /// Every environment, as of the last `env.list`.
    pub envs: Vec<EnvInfo>,
    /// When that list was read (idle ages grow from there).
    pub fetched: Instant,
    /// The index of the selected environment.
    pub selected: usize,
    /// What the log pane follows.
    pub source: Source,
    /// The log pane's lines.
    pub log: LogBuffer,
    /// An environment whose destroy waits for `y`.
    pub confirm: Option<String>,
    /// The last outcome, shown on the bottom line.
    pub message: String,
    /// Whether the daemon's event stream is open.
    pub connected: bool,
}

impl Model {
    /// An empty dashboard.
    pub fn new() -> Model {
        Model {
            envs: Vec::new(),
            fetched: Instant::now(),
            selected: 0,
            source: Source::Session,
            log: LogBuffer::default(),
            confirm: None,
            message: String::new(),
            connected: false,
        }
    }

    /// The selected environment.
    pub fn current(&self) -> Option<&EnvInfo> {
        self.envs.get(self.selected)
    }

    /// Takes a fresh list, keeping the selection on the same workspace;
    /// `true` when the selected environment (or its service) changed, so
    /// the log pane must follow another one.
    pub fn set_envs(&mut self, mut envs: Vec<EnvInfo>) -> bool {
        envs.sort_by(|a, b| a.name.cmp(&b.name));
        let before = self.current().map(|e| e.path.clone());
        self.selected = before
            .as_ref()
            .and_then(|path| envs.iter().position(|e| &e.path == path))
            .unwrap_or_else(|| self.selected.min(envs.len().saturating_sub(1)));
        self.envs = envs;
        self.fetched = Instant::now();
        let after = self.current().map(|e| e.path.clone());
        let mut changed = before != after;
        if let Source::Service(name) = &self.source {
            let still = self.current().is_some_and(|e| e.containers.iter().any(|c| &c.service == name));
            if !still {
                self.source = Source::Session;
                changed = true;
            }
        }
        if changed {
            self.log.clear();
        }
        changed
    }

    /// Handles a key press.
    pub fn key(&mut self, key: KeyEvent) -> Action {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        if let Some(name) = self.confirm.take() {
            let Some(env) = self.envs.iter().find(|e| e.name == name) else { return Action::None };
            if key.code == KeyCode::Char('y') {
                self.message = format!("destroying {name}…");
                return Action::Destroy(env.path.clone());
            }
            self.message = format!("{name} kept");
            return Action::None;
        }
        let Some(env) = self.current().cloned() else {
            return if matches!(key.code, KeyCode::Char('q') | KeyCode::Esc) {
                Action::Quit
            } else {
                Action::None
            };
        };
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => Action::Quit,
            KeyCode::Down | KeyCode::Char('j') => self.select(self.selected + 1),
            KeyCode::Up | KeyCode::Char('k') => self.select(self.selected.saturating_sub(1)),
            KeyCode::Tab | KeyCode::Char('l') => {
                self.source = next_source(&env, &self.source);
                self.log.clear();
                Action::Follow
            }
            KeyCode::Char('r') => Action::Run(env.path),
            KeyCode::Char('s') => Action::Stop(env.path),
            KeyCode::Char('a') if env.status == EnvStatus::Running => Action::Attach(env.session),
            KeyCode::Char('a') => {
                self.message = format!("{}: its session is not running ({})", env.name, env.status);
                Action::None
            }
            KeyCode::Char('o') => match env.urls.iter().find(|u| u.service.is_none()).or(env.urls.first()) {
                Some(url) => Action::Open(url.url.clone()),
                None => {
                    self.message =
                        format!("{} has no URL (the router is off or nothing is published)", env.name);
                    Action::None
                }
            },
            KeyCode::Char('d') => {
                self.message = format!("destroy {}? y to confirm, any other key keeps it", env.name);
                self.confirm = Some(env.name);
                Action::None
            }
            _ => Action::None,
        }
    }

    fn select(&mut self, index: usize) -> Action {
        let index = index.min(self.envs.len().saturating_sub(1));
        if index == self.selected {
            return Action::None;
        }
        self.selected = index;
        self.source = Source::Session;
        self.log.clear();
        Action::Follow
    }
}

/// The source after `now`: the session, then each service in turn.
fn next_source(env: &EnvInfo, now: &Source) -> Source {
    let mut services: Vec<&str> = env.containers.iter().map(|c| c.service.as_str()).collect();
    services.dedup();
    if env.mode != Mode::Docker || services.is_empty() {
        return Source::Session;
    }
    let next = match now {
        Source::Session => services.first(),
        Source::Service(s) => services.iter().skip_while(|n| *n != s).nth(1),
    };
    next.map_or(Source::Session, |s| Source::Service(s.to_string()))
}

/// The log pane's last [`LOG_LINES`] lines, as plain text: escape
/// sequences removed, `\r` redraws collapsed to what was drawn last.
#[derive(Default)]
pub struct LogBuffer {
    lines: VecDeque<String>,
    partial: String,
}

impl LogBuffer {
    /// Adds output as it came.
    pub fn push(&mut self, text: &str) {
        let mut rest = text;
        while let Some(end) = rest.find('\n') {
            self.partial.push_str(&rest[..end]);
            let line = std::mem::take(&mut self.partial);
            self.lines.push_back(plain(&line));
            if self.lines.len() > LOG_LINES {
                self.lines.pop_front();
            }
            rest = &rest[end + 1..];
        }
        if self.partial.len() + rest.len() <= MAX_LINE {
            self.partial.push_str(rest);
        }
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.lines.clear();
        self.partial.clear();
    }

    /// The last `n` lines, the unfinished one included.
    pub fn last(&self, n: usize) -> Vec<String> {
        let partial = (!self.partial.is_empty()).then(|| plain(&self.partial));
        let total = self.lines.len() + usize::from(partial.is_some());
        let skip = total.saturating_sub(n);
        self.lines.iter().cloned().chain(partial).skip(skip).collect()
    }
}

fn plain(line: &str) -> String {
    let line = line.strip_suffix('\r').unwrap_or(line);
    strip_ansi_escapes::strip_str(line.rsplit('\r').next().unwrap_or(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str, services: &[&str]) -> EnvInfo {
        let containers = services
            .iter()
            .map(|s| {
                serde_json::json!({"service": s, "name": format!("{name}-{s}-1"), "state": "running", "health": ""})
            })
            .collect::<Vec<_>>();
        serde_json::from_value(serde_json::json!({
            "id": 1, "name": name, "path": format!("/w/{name}"), "status": "running",
            "mode": if services.is_empty() { "simple" } else { "docker" },
            "project": "p", "workspace": name, "session": format!("mono-{name}"), "data_dir": "/d",
            "port_base": 19100, "created_at": "2026-12-03T00:00:00Z", "containers": containers,
            "activity": {"state": "idle"}, "urls": [],
        }))
        .unwrap()
    }

    fn press(m: &mut Model, c: char) -> Action {
        m.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
    }

    #[test]
    fn the_selection_stays_on_its_workspace_when_others_come_and_go() {
        let mut m = Model::new();
        assert!(m.set_envs(vec![env("b", &[]), env("c", &[])]));
        assert_eq!(press(&mut m, 'j'), Action::Follow);
        assert_eq!(m.current().unwrap().name, "c");
        assert!(!m.set_envs(vec![env("c", &[]), env("a", &[]), env("b", &[])]));
        assert_eq!(m.current().unwrap().name, "c");
        // Gone: the selection moves to a neighbour and the log follows it.
        assert!(m.set_envs(vec![env("a", &[])]));
        assert_eq!(m.current().unwrap().name, "a");
    }

    #[test]
    fn the_log_cycles_through_the_session_and_each_service() {
        let mut m = Model::new();
        m.set_envs(vec![env("d", &["db", "web"])]);
        let mut seen = Vec::new();
        for _ in 0..3 {
            assert_eq!(press(&mut m, 'l'), Action::Follow);
            seen.push(m.source.clone());
        }
        assert_eq!(seen, [Source::Service("db".into()), Source::Service("web".into()), Source::Session]);
        press(&mut m, 'l');
        // The followed service went away: back to the session.
        assert!(m.set_envs(vec![env("d", &["web"])]));
        assert_eq!(m.source, Source::Session);
    }

    #[test]
    fn destroy_waits_for_y_and_any_other_key_keeps_it() {
        let mut m = Model::new();
        m.set_envs(vec![env("e", &[])]);
        assert_eq!(press(&mut m, 'd'), Action::None);
        assert!(m.message.contains("destroy e? y to confirm"));
        assert_eq!(press(&mut m, 'n'), Action::None);
        assert_eq!(m.message, "e kept");
        press(&mut m, 'd');
        assert_eq!(press(&mut m, 'y'), Action::Destroy("/w/e".into()));
        assert_eq!(press(&mut m, 'r'), Action::Run("/w/e".into()));
        assert_eq!(press(&mut m, 'a'), Action::Attach("mono-e".into()));
    }

    #[test]
    fn the_log_keeps_plain_last_lines() {
        let mut log = LogBuffer::default();
        log.push("\x1b[32mone\x1b[0m\r\n10%\r100%\ntw");
        log.push("o");
        assert_eq!(log.last(10), ["one", "100%", "two"]);
        for i in 0..2000 {
            log.push(&format!("{i}\n"));
        }
        assert_eq!(log.last(2), ["1998", "1999"]);
        assert_eq!(log.lines.len(), LOG_LINES);
    }
}
