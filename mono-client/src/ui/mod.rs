//! `mono ui`: a live terminal dashboard of every environment.
//!
//! It is only a client of the public API: `env.list` for the table,
//! `events.subscribe` to know when to read it again (no polling), and
//! `logs.follow` / `logs.services` for the log pane. Keys call `env.run`,
//! `env.stop` and `env.destroy` in the background, so the screen stays
//! live while they work. When the daemon goes away (a restart, an
//! upgrade) the dashboard says so and reconnects, resuming the events
//! with `since` the last one it saw; it never starts a daemon itself
//! after the first connection, so `mono daemon stop` is not undone.

mod model;
mod view;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures_util::{FutureExt, StreamExt};
use jsonrpsee::core::client::{Client, Subscription};
use mono_proto::api::MonoApiClient;
use mono_proto::{EnvInfo, Event, LogItem, ServiceLogItem};
use tokio::sync::mpsc;

use crate::connect::Endpoint;
use crate::error::from_rpc;
use model::{Action, Model, Source};

/// Lines of kept output the log pane starts with.
const BACKLOG: u64 = 200;
/// How often the screen is redrawn while nothing happens (idle ages).
const TICK: Duration = Duration::from_secs(1);
/// How long to wait between attempts to reach a daemon that went away.
const RECONNECT: Duration = Duration::from_millis(500);
/// How long the dashboard waits for a list or a subscription: a daemon
/// that takes longer is taken as gone (and reconnected to), so the screen
/// and its keys never freeze behind a stopped or hung one.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Outcomes of background actions waiting to be shown.
const OUTCOMES: usize = 16;

/// Runs the dashboard until `q`.
pub fn run() -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        anyhow::bail!("mono ui needs a terminal; `mono list` and `mono events` print the same for scripts");
    }
    let ep = Endpoint::from_env()?;
    ep.ensure()?;
    // Two workers beside the screen's loop: connecting (whose first steps
    // block while a daemon is checked on) runs there, so keys and drawing
    // never wait for it.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    let result = runtime.block_on(App::new(ep).run(&mut terminal));
    ratatui::restore();
    result
}

/// The open connection to the daemon.
struct Link {
    client: Arc<Client>,
    events: Subscription<Event>,
}

/// The log pane's subscription.
enum Follow {
    Session(Subscription<LogItem>),
    Service(Subscription<ServiceLogItem>),
}

struct App {
    ep: Arc<Endpoint>,
    model: Model,
    link: Option<Link>,
    connecting: Option<tokio::task::JoinHandle<Option<Link>>>,
    follow: Option<Follow>,
    last_seq: Option<u64>,
    outcomes: (mpsc::Sender<String>, mpsc::Receiver<String>),
}

impl App {
    fn new(ep: Endpoint) -> App {
        App {
            ep: Arc::new(ep),
            model: Model::new(),
            link: None,
            connecting: None,
            follow: None,
            last_seq: None,
            outcomes: mpsc::channel(OUTCOMES),
        }
    }

    async fn run(mut self, terminal: &mut ratatui::DefaultTerminal) -> anyhow::Result<()> {
        let mut keys = EventStream::new();
        let mut tick = tokio::time::interval(TICK);
        let mut retry = tokio::time::interval(RECONNECT);
        loop {
            terminal.draw(|frame| view::draw(frame, &self.model)).context("cannot draw")?;
            tokio::select! {
                key = keys.next() => match key {
                    Some(Ok(TermEvent::Key(key))) if key.kind == KeyEventKind::Press => {
                        let action = self.model.key(key);
                        if !self.act(action, terminal).await? {
                            return Ok(());
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e).context("cannot read the terminal"),
                    None => return Ok(()),
                },
                event = next_event(&mut self.link) => match event {
                    Some(event) => self.on_event(event).await,
                    None => self.disconnected(),
                },
                text = next_log(&mut self.follow) => match text {
                    Some(text) => self.model.log.push(&text),
                    None => self.follow = None,
                },
                Some(outcome) = self.outcomes.1.recv() => self.model.message = outcome,
                linked = joined(&mut self.connecting) => {
                    self.connecting = None;
                    if let Some(link) = linked {
                        self.link = Some(link);
                        self.model.connected = true;
                        self.refresh().await;
                    }
                }
                _ = retry.tick(), if self.link.is_none() && self.connecting.is_none() => {
                    self.connecting = Some(tokio::spawn(connect(self.ep.clone(), self.last_seq)));
                }
                _ = tick.tick() => {}
            }
        }
    }

    fn disconnected(&mut self) {
        self.link = None;
        self.follow = None;
        self.model.connected = false;
    }

    async fn on_event(&mut self, event: Event) {
        if event.seq > 0 {
            self.last_seq = Some(event.seq);
        }
        // A burst (containers starting) is one refresh.
        while let Some(Some(Ok(more))) = self.link.as_mut().and_then(|l| l.events.next().now_or_never()) {
            if more.seq > 0 {
                self.last_seq = Some(more.seq);
            }
        }
        self.refresh().await;
    }

    /// Reads the list again; follows another log when the selection moved.
    async fn refresh(&mut self) {
        let Some(link) = &self.link else { return };
        let envs: Vec<EnvInfo> = match tokio::time::timeout(CALL_TIMEOUT, link.client.env_list()).await {
            Ok(Ok(envs)) => envs,
            Ok(Err(e)) => {
                self.model.message = one_line(from_rpc(e));
                return;
            }
            Err(_) => return self.disconnected(),
        };
        if self.model.set_envs(envs) || self.follow.is_none() {
            self.follow().await;
        }
    }

    /// Follows the selected environment's log source from its backlog.
    async fn follow(&mut self) {
        self.follow = None;
        self.model.log.clear();
        let (Some(link), Some(env)) = (&self.link, self.model.current()) else { return };
        let path = env.path.clone();
        let followed = async {
            match &self.model.source {
                Source::Session => {
                    link.client.logs_follow(path, Some(BACKLOG), Some(true)).await.map(Follow::Session)
                }
                Source::Service(s) => link
                    .client
                    .logs_services(path, s.clone(), Some(BACKLOG), Some(true))
                    .await
                    .map(Follow::Service),
            }
        };
        match tokio::time::timeout(CALL_TIMEOUT, followed).await {
            Ok(Ok(f)) => self.follow = Some(f),
            Ok(Err(e)) => self.model.message = one_line(from_rpc(e)),
            Err(_) => self.disconnected(),
        }
    }

    /// Carries out `action`; `false` to quit.
    async fn act(&mut self, action: Action, terminal: &mut ratatui::DefaultTerminal) -> anyhow::Result<bool> {
        let client = self.link.as_ref().map(|l| l.client.clone());
        let outcomes = self.outcomes.0.clone();
        let background = |call: std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send>>| {
            tokio::spawn(async move {
                let _ = outcomes.send(call.await).await;
            })
        };
        match action {
            Action::None => {}
            Action::Quit => return Ok(false),
            Action::Follow => self.follow().await,
            Action::Open(url) => self.model.message = open(&url),
            Action::Attach(session) => self.model.message = attach(&session, terminal)?,
            Action::Run(path) | Action::Stop(path) | Action::Destroy(path) if client.is_none() => {
                self.model.message = format!("monod is not answering; {path} is left as it is");
            }
            Action::Run(path) => {
                let client = client.expect("checked");
                background(Box::pin(async move {
                    match client.env_run(path, Some(crate::commands::caller_env())).await {
                        Ok(s) => format!("{}: run {} started", s.name, s.run.run),
                        Err(e) => one_line(from_rpc(e)),
                    }
                }));
            }
            Action::Stop(path) => {
                let client = client.expect("checked");
                background(Box::pin(async move {
                    match client.env_stop(path).await {
                        Ok(s) => match s.exit {
                            Some(exit) => {
                                format!("{}: run {} stopped ({})", s.name, exit.run, exit.describe())
                            }
                            None => format!("{}: no run in progress", s.name),
                        },
                        Err(e) => one_line(from_rpc(e)),
                    }
                }));
            }
            Action::Destroy(path) => {
                let client = client.expect("checked");
                background(Box::pin(async move {
                    match client.env_destroy(path, Some(crate::commands::caller_env()), None).await {
                        Ok(d) => format!("{} destroyed", d.name),
                        Err(e) => one_line(from_rpc(e)),
                    }
                }));
            }
        }
        Ok(true)
    }
}

/// Connects and subscribes to the events, resuming after `since`; `None`
/// when the daemon does not answer (yet).
async fn connect(ep: Arc<Endpoint>, since: Option<u64>) -> Option<Link> {
    let client = Arc::new(tokio::time::timeout(CALL_TIMEOUT, ep.websocket()).await.ok()?.ok()?);
    let subscribe = client.events_subscribe(since, None, None, Some(true), None);
    let events = tokio::time::timeout(CALL_TIMEOUT, subscribe).await.ok()?.ok()?;
    Some(Link { client, events })
}

/// The outcome of the connection attempt, or never without one.
async fn joined(connecting: &mut Option<tokio::task::JoinHandle<Option<Link>>>) -> Option<Link> {
    match connecting {
        Some(handle) => handle.await.ok().flatten(),
        None => std::future::pending().await,
    }
}

/// The next event, or never without a connection; `None` when it closed.
async fn next_event(link: &mut Option<Link>) -> Option<Event> {
    let Some(link) = link else { return std::future::pending().await };
    loop {
        match link.events.next().await? {
            Ok(event) if event.kind == mono_proto::event_kinds::LAGGED => return None,
            Ok(event) => return Some(event),
            Err(_) => {}
        }
    }
}

/// The next text for the log pane, or never without a subscription;
/// `None` when it ended.
async fn next_log(follow: &mut Option<Follow>) -> Option<String> {
    let Some(follow) = follow else { return std::future::pending().await };
    loop {
        match follow {
            Follow::Session(sub) => match sub.next().await? {
                Ok(LogItem::Output { data }) => return Some(data),
                Ok(LogItem::RunExited(exit)) => {
                    return Some(format!("[mono] run {} exited ({})\n", exit.run, exit.describe()));
                }
                Ok(LogItem::End { reason }) => return Some(format!("[mono] {reason}\n")),
                Err(_) => {}
            },
            Follow::Service(sub) => match sub.next().await? {
                Ok(ServiceLogItem::Line { data, .. }) if data.ends_with('\n') => return Some(data),
                Ok(ServiceLogItem::Line { data, .. }) => return Some(format!("{data}\n")),
                Ok(ServiceLogItem::End { reason }) => return Some(format!("[mono] {reason}\n")),
                Ok(ServiceLogItem::Services { .. }) | Err(_) => {}
            },
        }
    }
}

/// Enters the session: `switch-client` inside tmux (the dashboard stays in
/// its pane), else the terminal is handed to `tmux attach` until it detaches.
fn attach(session: &str, terminal: &mut ratatui::DefaultTerminal) -> anyhow::Result<String> {
    let target = format!("={session}");
    let inside = std::env::var_os("TMUX").is_some_and(|v| !v.is_empty());
    if inside {
        let status = std::process::Command::new("tmux").args(["switch-client", "-t", &target]).status();
        return Ok(match status {
            Ok(s) if s.success() => format!("switched to {session}"),
            Ok(s) => format!("tmux switch-client -t {target} failed ({s})"),
            Err(e) => format!("cannot run tmux: {e}"),
        });
    }
    ratatui::restore();
    let status = std::process::Command::new("tmux").args(["attach-session", "-t", &target]).status();
    *terminal = ratatui::try_init().context("cannot set up the terminal again")?;
    terminal.clear().context("cannot draw")?;
    Ok(match status {
        Ok(s) if s.success() => format!("back from {session}"),
        Ok(s) => format!("tmux attach-session -t {target} failed ({s})"),
        Err(e) => format!("cannot run tmux: {e}"),
    })
}

/// Opens `url` in the browser, without waiting for it.
fn open(url: &str) -> String {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        Ok(_) => format!("opening {url}"),
        Err(e) => format!("cannot run {opener} to open {url}: {e}"),
    }
}

fn one_line(e: anyhow::Error) -> String {
    format!("{:#}", crate::connect::explain(e)).replace('\n', " ")
}
