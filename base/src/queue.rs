//! The group queue: at most one worker (and so one container) per group, at most
//! `max_concurrent` workers holding a container at once, the rest waiting in FIFO order (tokio's
//! semaphore is fair). Work itself lives in the store; the queue only remembers which groups
//! were woken and which tasks are due, and tasks go before messages.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, Semaphore};

use crate::store::Task;

#[derive(Default)]
struct Slot {
    wake: Arc<Notify>,
    /// Set by every wake, cleared by the worker when it looks for work; a worker only retires
    /// when nothing woke it since, so no wake is ever lost.
    dirty: bool,
    tasks: VecDeque<Task>,
}

pub struct GroupQueue {
    pub permits: Arc<Semaphore>,
    slots: Mutex<HashMap<String, Slot>>,
}

impl GroupQueue {
    pub fn new(max_concurrent: usize) -> GroupQueue {
        GroupQueue { permits: Arc::new(Semaphore::new(max_concurrent)), slots: Mutex::new(HashMap::new()) }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks `jid` as having work. Returns the notifier of a new worker the caller must start,
    /// or `None` when a worker already exists (it has been notified).
    pub fn wake(&self, jid: &str) -> Option<Arc<Notify>> {
        let mut slots = self.slots();
        if let Some(slot) = slots.get_mut(jid) {
            slot.dirty = true;
            slot.wake.notify_one();
            return None;
        }
        let wake = Arc::new(Notify::new());
        slots.insert(jid.to_string(), Slot { wake: wake.clone(), dirty: true, tasks: VecDeque::new() });
        Some(wake)
    }

    /// Queues a due task for its group (see `wake` for the return value).
    pub fn push_task(&self, jid: &str, task: Task) -> Option<Arc<Notify>> {
        let started = self.wake(jid);
        if let Some(slot) = self.slots().get_mut(jid) {
            slot.tasks.push_back(task);
        }
        started
    }

    pub fn take_task(&self, jid: &str) -> Option<Task> {
        self.slots().get_mut(jid).and_then(|s| s.tasks.pop_front())
    }

    /// Clears the wake flag before the worker looks for work.
    pub fn clear_dirty(&self, jid: &str) {
        if let Some(slot) = self.slots().get_mut(jid) {
            slot.dirty = false;
        }
    }

    /// Removes the group's worker if nothing woke it since it last looked; returns whether it
    /// may exit.
    pub fn try_retire(&self, jid: &str) -> bool {
        let mut slots = self.slots();
        if slots.get(jid).is_some_and(|slot| slot.dirty || !slot.tasks.is_empty()) {
            return false;
        }
        slots.remove(jid);
        true
    }

    /// Removes the group's worker whatever is pending (after repeated failures).
    pub fn retire(&self, jid: &str) {
        self.slots().remove(jid);
    }

    pub fn active(&self) -> usize {
        self.slots().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_worker_per_group_and_no_lost_wake() {
        let q = GroupQueue::new(1);
        assert!(q.wake("a").is_some());
        assert!(q.wake("a").is_none());
        q.clear_dirty("a");
        assert!(q.wake("a").is_none());
        assert!(!q.try_retire("a"), "a wake after the worker looked must keep it");
        q.clear_dirty("a");
        assert!(q.try_retire("a"));
        assert!(q.wake("a").is_some(), "a retired worker is started again");
    }
}
