//! Early health probes: a service's own health check, run by mono through
//! the Engine's exec API from the moment the container starts until it
//! first passes.
//!
//! The Engine runs a health check first one `interval` after the start (30 s
//! by default, 1 s in a tuned project), so a dependency that is ready in
//! 200 ms holds its dependents back for the rest of that interval. Compose's
//! answer, `start_interval`, needs API 1.44 (Engine 25), which many users'
//! engines do not speak. A probe gives every engine the same effect: the
//! same command, as the same user, in the same container, at a short and
//! growing cadence. One success is what the Engine needs to call a container
//! healthy too, so gating a dependent on it changes when, not whether; an
//! unhealthy verdict is still the Engine's, after its retries.
//!
//! A probe gives up (leaving the service to the Engine's own checks) when
//! the check cannot be run as an exec at all: a test the Engine would take
//! from the image, `NONE`, or an Engine that refuses the exec.

use std::time::Duration;

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;

use mono_compose::HealthPlan;

/// The first pause between two runs; each pause is half again the last.
const FIRST_PAUSE: Duration = Duration::from_millis(50);
/// The longest pause between two runs (unless a run itself took longer).
const MAX_PAUSE: Duration = Duration::from_millis(200);
/// A run's time limit when the check sets none (the Engine's default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The argv a health check runs, as the Engine runs it on Linux: `CMD`'s
/// arguments as they are, `CMD-SHELL`'s string through `/bin/sh -c`. None
/// for a check that is not a command (`NONE`, or empty: the image's own).
pub fn argv(check: &HealthPlan) -> Option<Vec<String>> {
    let (kind, rest) = check.test.split_first()?;
    match kind.as_str() {
        "CMD" if !rest.is_empty() => Some(rest.to_vec()),
        "CMD-SHELL" if !rest.is_empty() => {
            Some(vec!["/bin/sh".to_string(), "-c".to_string(), rest.join(" ")])
        }
        _ => None,
    }
}

/// Runs the check in `container` until a run exits 0 (`true`), or until the
/// Engine will not run it (`false`: leave the verdict to the Engine's own
/// checks). The caller drops the future once it no longer needs an answer.
pub async fn until_passes(docker: Docker, container: String, check: HealthPlan) -> bool {
    let Some(argv) = argv(&check) else { return false };
    let limit = check.timeout.filter(|t| !t.is_zero()).unwrap_or(DEFAULT_TIMEOUT);
    let mut pause = FIRST_PAUSE;
    loop {
        let began = tokio::time::Instant::now();
        match tokio::time::timeout(limit, run_once(&docker, &container, &argv)).await {
            Ok(Ok(0)) => return true,
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(e)) => {
                tracing::debug!(container, error = %e, "health probe gave up; the Engine's checks decide");
                return false;
            }
        }
        // Never busier than half the time: on a loaded machine a run takes
        // longer, and the pause grows with it, so the probes do not take
        // the CPU the service needs to get ready.
        tokio::time::sleep(pause.max(began.elapsed())).await;
        pause = (pause * 3 / 2).min(MAX_PAUSE);
    }
}

/// One run of the check: its exit code.
async fn run_once(docker: &Docker, container: &str, argv: &[String]) -> Result<i64, bollard::errors::Error> {
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions::<String> {
                cmd: Some(argv.to_vec()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await?;
    let options = StartExecOptions { detach: false, tty: false, output_capacity: None };
    if let StartExecResults::Attached { mut output, .. } = docker.start_exec(&exec.id, Some(options)).await? {
        // The output is not kept (the Engine's own checks record theirs);
        // its end is the end of the run.
        while let Some(chunk) = output.next().await {
            chunk?;
        }
    }
    let done = docker.inspect_exec(&exec.id).await?;
    Ok(done.exit_code.unwrap_or(-1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(test: &[&str]) -> HealthPlan {
        HealthPlan {
            test: test.iter().map(|s| s.to_string()).collect(),
            interval: None,
            timeout: None,
            retries: None,
            start_period: None,
            start_interval: None,
        }
    }

    #[test]
    fn a_check_runs_as_the_engine_runs_it() {
        assert_eq!(argv(&check(&["CMD", "pg_isready", "-U", "app"])).unwrap(), ["pg_isready", "-U", "app"]);
        assert_eq!(
            argv(&check(&["CMD-SHELL", "redis-cli ping | grep PONG"])).unwrap(),
            ["/bin/sh", "-c", "redis-cli ping | grep PONG"]
        );
        assert_eq!(argv(&check(&["NONE"])), None);
        assert_eq!(argv(&check(&[])), None);
        assert_eq!(argv(&check(&["CMD"])), None);
    }
}
