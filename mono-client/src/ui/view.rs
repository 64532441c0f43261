//! Drawing the dashboard: the environments, the selected one's details,
//! its log pane and a line of keys. Everything is sized from the terminal
//! so that 80x24 holds it all (the table gives up rows to the log last).

use mono_proto::{EnvInfo, Mode};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState};

use super::model::{Model, Source};
use crate::render;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, model: &Model) {
    let area = frame.area();
    let table_rows = (model.envs.len().max(1) as u16 + 3).min(area.height.saturating_sub(8) / 2 + 3);
    let [table, details, log, keys] = Layout::vertical([
        Constraint::Length(table_rows),
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_table(frame, table, model);
    draw_details(frame, details, model);
    draw_log(frame, log, model);
    draw_keys(frame, keys, model);
}

fn draw_table(frame: &mut Frame, area: Rect, model: &Model) {
    let since = model.fetched.elapsed().as_millis() as u64;
    let rows = model.envs.iter().map(|e| {
        let mut activity = e.activity.clone();
        activity.quiet_ms = activity.quiet_ms.map(|ms| ms + since);
        let run = e.run.as_ref().map_or("-".to_string(), |r| format!("run {}", r.run));
        let url =
            e.urls.iter().find(|u| u.service.is_none()).or(e.urls.first()).map_or("", |u| u.url.as_str());
        Row::new([
            Cell::from(e.name.clone()),
            Cell::from(e.status.as_str()),
            Cell::from(render::activity(&activity)),
            Cell::from(run),
            Cell::from(render::services(e)),
            Cell::from(url.to_string()),
        ])
    });
    let widths = [
        Constraint::Min(12),
        Constraint::Length(10),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(12),
        Constraint::Fill(2),
    ];
    let state = if model.connected { "" } else { " · monod is not answering: reconnecting" };
    let title = format!(" mono · {} environments{state} ", model.envs.len());
    let table = Table::new(rows, widths)
        .header(Row::new(["NAME", "STATUS", "ACTIVITY", "RUN", "SERVICES", "URL"]).bold())
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .block(Block::bordered().title(title));
    let mut selection =
        TableState::default().with_selected((!model.envs.is_empty()).then_some(model.selected));
    frame.render_stateful_widget(table, area, &mut selection);
    if model.envs.is_empty() {
        let inner = Rect { x: area.x + 2, y: area.y + 2, width: area.width.saturating_sub(4), height: 1 };
        frame.render_widget(Paragraph::new("no environments yet: `mono init` in a workspace"), inner);
    }
}

fn draw_details(frame: &mut Frame, area: Rect, model: &Model) {
    let Some(e) = model.current() else { return };
    let mut first = vec![
        Span::from(format!(" ports {}-{}", e.port_base, e.port_base + 99)),
        Span::from(format!("  session {}", e.session)),
    ];
    if let Some(run) = &e.run {
        first.push(Span::from(format!("  run {} (pid {})", run.run, run.pid)));
    }
    if let Some(failure) = &e.failure {
        first.push(Span::from(format!("  failed: {failure}")).red());
    }
    let second = if e.mode == Mode::Docker {
        services_line(e)
    } else {
        e.urls.iter().map(|u| u.url.clone()).collect::<Vec<_>>().join("  ")
    };
    let lines = vec![Line::from(first), Line::from(format!(" {second}")).dim()];
    frame.render_widget(Paragraph::new(lines), area);
}

/// `db running healthy 5432->19100 · web running 80->19101`.
fn services_line(e: &EnvInfo) -> String {
    let services: Vec<String> = e
        .containers
        .iter()
        .map(|c| {
            let mut text = format!("{} {}", c.service, c.state);
            if !c.health.is_empty() {
                text.push(' ');
                text.push_str(&c.health);
            }
            for p in &c.ports {
                text.push_str(&format!(" {}->{}", p.container_port, p.host_port));
            }
            text
        })
        .collect();
    if services.is_empty() { "no containers".to_string() } else { services.join(" · ") }
}

fn draw_log(frame: &mut Frame, area: Rect, model: &Model) {
    let what = match (&model.source, model.current()) {
        (_, None) => String::new(),
        (Source::Session, Some(e)) => format!(" {}: session output ", e.name),
        (Source::Service(s), Some(e)) => format!(" {}: {s} logs ", e.name),
    };
    let height = area.height.saturating_sub(2) as usize;
    let lines: Vec<Line> = model.log.last(height).into_iter().map(Line::from).collect();
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(what)), area);
}

fn draw_keys(frame: &mut Frame, area: Rect, model: &Model) {
    let keys = "↑↓ select  r run  s stop  a attach  o open  d destroy  l log  q quit";
    let line = if model.message.is_empty() {
        Line::from(keys).dim()
    } else {
        Line::from(vec![Span::from(model.message.clone()).bold(), Span::from("  "), Span::from(keys).dim()])
    };
    frame.render_widget(Paragraph::new(line), area);
}
