//! One operation at a time per workspace.
//!
//! Operations on different workspaces run in parallel; a second operation on
//! the same workspace is refused at once with the name of the one running,
//! rather than queued behind it (an init racing a destroy of the same path
//! has no sensible order).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Workspaces with an operation in progress. Clones share the set.
#[derive(Default, Clone)]
pub struct BusyPaths {
    held: Arc<Mutex<HashMap<String, &'static str>>>,
}

/// Holds a workspace until dropped; it may move into a task of its own.
pub struct BusyGuard {
    owner: BusyPaths,
    key: String,
}

impl BusyPaths {
    /// Claims `key` for operation `op`; on conflict returns the operation
    /// that holds it.
    pub fn claim(&self, key: &str, op: &'static str) -> Result<BusyGuard, &'static str> {
        let mut held = self.held.lock().expect("busy lock");
        if let Some(running) = held.get(key) {
            return Err(running);
        }
        held.insert(key.to_string(), op);
        Ok(BusyGuard { owner: self.clone(), key: key.to_string() })
    }

    /// Number of operations in progress.
    pub fn len(&self) -> usize {
        self.held.lock().expect("busy lock").len()
    }

    /// True when no operation is in progress.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.owner.held.lock().expect("busy lock").remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_claim_fails_until_release() {
        let busy = BusyPaths::default();
        let g = busy.claim("/a", "init").unwrap();
        assert_eq!(busy.claim("/a", "destroy").err(), Some("init"));
        assert!(busy.claim("/b", "init").is_ok());
        drop(g);
        assert!(busy.claim("/a", "destroy").is_ok());
        assert!(busy.is_empty());
    }
}
