//! The monitor task: `activity` transitions and run exits.
//!
//! The watcher reports only the first output after a quiet period; from
//! then on the task holds one deadline per active environment and sleeps
//! until the earliest. At a deadline it looks at the last output: quiet
//! for long enough means idle, else the deadline moves. With every
//! environment idle the task waits on its channel alone and costs nothing.

use std::collections::HashMap;
use std::sync::Arc;

use mono_proto::event_kinds;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{EnvLog, Monitor, Signal, runs};

pub(super) async fn run_task(
    monitor: Arc<Monitor>,
    mut rx: mpsc::Receiver<Signal>,
    shutdown: CancellationToken,
) {
    let mut deadlines: HashMap<String, (Instant, Arc<EnvLog>)> = HashMap::new();
    loop {
        let next = deadlines.values().map(|(at, _)| *at).min();
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            signal = rx.recv() => match signal {
                None => return,
                Some(Signal::Active(log)) => {
                    let last = log.state().last_output;
                    let at = last.map_or_else(Instant::now, |(i, _)| Instant::from_std(i)) + log.idle_after;
                    deadlines.insert(log.name.clone(), (at, log.clone()));
                    emit(&monitor, &log, "active").await;
                }
                Some(Signal::RunDone(log)) => runs::finish(&monitor, &log).await,
            },
            () = sleep => {
                let now = Instant::now();
                let due: Vec<Arc<EnvLog>> =
                    deadlines.values().filter(|(at, _)| *at <= now).map(|(_, l)| l.clone()).collect();
                for log in due {
                    let quiet_until = {
                        let mut state = log.state();
                        let until = state.last_output.map(|(i, _)| Instant::from_std(i) + log.idle_after);
                        match until {
                            Some(until) if until > now => Some(until),
                            _ => {
                                state.active = false;
                                None
                            }
                        }
                    };
                    match quiet_until {
                        Some(until) => {
                            deadlines.insert(log.name.clone(), (until, log.clone()));
                        }
                        None => {
                            deadlines.remove(&log.name);
                            emit(&monitor, &log, "idle").await;
                        }
                    }
                }
            }
        }
    }
}

async fn emit(monitor: &Monitor, log: &EnvLog, state: &str) {
    // Gone environments say nothing more.
    if monitor.get(&log.name).is_none() {
        return;
    }
    let last_output = log.activity().last_output;
    // Without `quiet_ms`: an event is a fact of its time, not of the reader's.
    let data = serde_json::json!({"state": state, "last_output": last_output});
    monitor.events.emit(Some(&log.name), event_kinds::ACTIVITY, data).await;
}
