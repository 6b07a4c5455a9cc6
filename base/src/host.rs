//! The host: the shared state; inbound messages stored and routed; groups woken; tasks fired.
//! What a woken group's worker does is in `worker.rs`; how requests from its container are
//! authorised and answered is in `requests.rs`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};

use crate::channels::{Channel, Inbound};
use crate::config::Config;
use crate::ownership;
use crate::proxy::Proxy;
use crate::queue::GroupQueue;
use crate::router::{self, Admission};
use crate::runner::Runner;
use crate::scheduler::{self, Clock, stamp};
use crate::store::{Group, NewMessage, Store};

/// Most messages stored in one transaction.
const INGEST_BATCH: usize = 512;
/// The longest the scheduler sleeps between looks at the store.
const MAX_WAIT: Duration = Duration::from_secs(60);

pub struct Host {
    pub config: Config,
    pub store: Mutex<Store>,
    pub channels: Vec<Box<dyn Channel>>,
    pub(crate) runner: Runner,
    pub(crate) proxy: Arc<Proxy>,
    pub clock: Arc<dyn Clock>,
    pub(crate) queue: GroupQueue,
    pub(crate) groups: RwLock<HashMap<String, Group>>,
    pub(crate) scheduler_wake: Notify,
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl Host {
    /// `config.data_dir` must already be absolute (containers mount paths under it).
    pub fn new(
        config: Config,
        store: Store,
        channels: Vec<Box<dyn Channel>>,
        runner: Runner,
        proxy: Arc<Proxy>,
        clock: Arc<dyn Clock>,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<Host> {
        Arc::new(Host {
            queue: GroupQueue::new(config.max_concurrent),
            config,
            store: Mutex::new(store),
            channels,
            runner,
            proxy,
            clock,
            groups: RwLock::new(HashMap::new()),
            scheduler_wake: Notify::new(),
            shutdown,
        })
    }

    pub fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn now(&self) -> String {
        stamp(self.clock.now())
    }

    /// The registered group of `jid`. A chat registered (`claw-host register`) while the host
    /// runs is not in memory yet: it is looked up in the store and loaded here, so the first
    /// message after its registration is already stored and routed, with no restart.
    pub(crate) fn group(&self, jid: &str) -> Option<Group> {
        if let Some(g) = self.groups.read().unwrap_or_else(|e| e.into_inner()).get(jid) {
            return Some(g.clone());
        }
        let found = self.store().group(jid);
        found.and_then(|g| g.map(|g| self.load_group(g)).transpose()).unwrap_or_else(|e| {
            tracing::error!(chat = jid, "loading a registered group: {e}");
            None
        })
    }

    /// Loads registered groups, prepares their folders and model sockets.
    pub fn load_groups(&self) -> Result<(), String> {
        let global = self.config.data_dir.join("global");
        std::fs::create_dir_all(&global).map_err(|e| format!("{}: {e}", global.display()))?;
        // Every group reads the global memory; the 0700 data folder keeps other users out.
        std::fs::set_permissions(&global, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(|e| format!("{}: {e}", global.display()))?;
        let groups = self.store().groups()?;
        groups.into_iter().try_for_each(|g| self.load_group(g).map(drop))
    }

    /// Prepares a group's folder and model socket, owned by the container's uid, and puts it in
    /// the map.
    fn load_group(&self, g: Group) -> Result<Group, String> {
        let dir = crate::groups::folder_path(&self.config.data_dir, &g.folder)?;
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        ownership::give_to_agent(&dir, &self.config.data_dir, 0o700)?;
        let sockets = self.socket_dir(&g.folder);
        let socket = self.proxy.serve_group(&sockets, &g.folder)?;
        ownership::give_to_agent(&sockets, &self.config.data_dir, 0o700)?;
        ownership::give_to_agent(&socket, &self.config.data_dir, 0o600)?;
        self.groups.write().unwrap_or_else(|e| e.into_inner()).insert(g.jid.clone(), g.clone());
        Ok(g)
    }

    pub(crate) fn socket_dir(&self, folder: &str) -> PathBuf {
        self.config.data_dir.join("sockets").join(folder)
    }

    /// Settles runs a crash interrupted and wakes every group with work left.
    pub fn recover(self: &Arc<Self>) -> Result<(), String> {
        let (answered, interrupted) = self.store().recover_runs(&self.now())?;
        if answered + interrupted > 0 {
            tracing::info!(answered, interrupted, "recovered runs from an earlier crash");
        }
        let pending = self.store().groups_with_pending()?;
        pending.iter().for_each(|jid| self.wake(jid));
        Ok(())
    }

    /// Stores inbound messages in batches (one transaction each) and wakes the groups they
    /// concern. Runs until every channel has dropped its sender.
    pub async fn ingest(self: Arc<Self>, mut inbound: mpsc::Receiver<Inbound>) {
        let mut batch = Vec::with_capacity(INGEST_BATCH);
        while inbound.recv_many(&mut batch, INGEST_BATCH).await > 0 {
            if let Err(e) = self.ingest_batch(&mut batch) {
                tracing::error!("storing messages: {e}");
            }
            batch.clear();
        }
    }

    pub fn ingest_batch(self: &Arc<Self>, batch: &mut [Inbound]) -> Result<(), String> {
        let mut rows = Vec::with_capacity(batch.len());
        let mut wake = Vec::new();
        for m in batch.iter() {
            let group = self.group(&m.chat_jid);
            let rule = self.config.sender_rule(&m.chat_jid, &m.sender);
            match router::admit(group.as_ref(), &m.text, m.is_from_me, rule) {
                Admission::MetadataOnly => {
                    self.store().upsert_chat(&m.chat_jid, m.chat_name.as_deref().unwrap_or(""), m.is_group)?
                }
                Admission::Drop => {}
                admission => {
                    rows.push(NewMessage {
                        chat_jid: m.chat_jid.clone(),
                        sender: m.sender.clone(),
                        sender_name: m.sender_name.clone(),
                        content: m.text.clone(),
                        ts: m.ts.clone(),
                        is_from_me: m.is_from_me,
                        external_id: m.external_id.clone(),
                    });
                    if admission == Admission::Wake {
                        wake.push(m.chat_jid.clone());
                    }
                }
            }
        }
        self.store().insert_messages(&rows)?;
        for ack in batch.iter_mut().filter_map(|m| m.stored.take()) {
            let _ = ack.send(());
        }
        wake.dedup();
        for jid in wake {
            self.wake(&jid);
        }
        Ok(())
    }

    /// Marks a group as having work, starting its worker if it has none.
    pub fn wake(self: &Arc<Self>, jid: &str) {
        if let Some(notify) = self.queue.wake(jid) {
            tokio::spawn(self.clone().worker(jid.to_string(), notify));
        }
    }

    /// Fires due tasks on time, sleeping until the next one (or until a task is added).
    pub async fn run_scheduler(self: Arc<Self>) {
        let mut shutdown = self.shutdown.clone();
        loop {
            let due = scheduler::take_due(&self.store(), &self.clock).unwrap_or_else(|e| {
                tracing::error!("scheduler: {e}");
                Vec::new()
            });
            for task in due {
                if let Some(notify) = self.queue.push_task(&task.chat_jid, task.clone()) {
                    tokio::spawn(self.clone().worker(task.chat_jid.clone(), notify));
                }
            }
            let next = self.store().next_due().ok().flatten().and_then(|n| scheduler::parse_stamp(&n));
            let wait =
                next.map_or(MAX_WAIT, |n| (n - self.clock.now()).to_std().unwrap_or(Duration::ZERO).min(MAX_WAIT));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.scheduler_wake.notified() => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// How many groups have a worker (and so possibly a container).
    pub fn busy(&self) -> usize {
        self.queue.active()
    }
}
