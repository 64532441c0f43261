//! The file-system watcher behind the monitor.
//!
//! Each environment's log directory is watched on its own (not the whole
//! tree recursively), added before its session starts, so the first bytes
//! of output are seen. Reads (opens, closes without writing) are ignored:
//! followers reading the logs must not wake each other. When the kernel's
//! queue overflowed and events were lost, every environment is looked at
//! again, as if it had printed.

use std::sync::Weak;

use notify::event::{CreateKind, EventKind, ModifyKind};

use super::Monitor;

/// Creates the watcher; events go to the monitor while it exists.
pub(super) fn start(monitor: Weak<Monitor>) -> notify::Result<notify::RecommendedWatcher> {
    notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Some(monitor) = monitor.upgrade() else { return };
        match event {
            Ok(event) if event.need_rescan() => monitor.rescan(),
            Ok(event) => {
                let (output, created) = match event.kind {
                    EventKind::Access(_) => return,
                    EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any) => (true, false),
                    EventKind::Create(CreateKind::File | CreateKind::Any) => (false, true),
                    // A rename into place (the exit status) counts as creation.
                    EventKind::Modify(ModifyKind::Name(_)) => (false, true),
                    _ => (false, false),
                };
                for path in &event.paths {
                    monitor.on_change(path, output, created);
                }
            }
            Err(e) => tracing::warn!(error = %e, "log watcher"),
        }
    })
}
