//! The durable store (SQLite, WAL). Everything the host must not lose lives here: messages,
//! chats, registered groups, sessions, cursors, agent runs and their replies, scheduled tasks.
//! A message is committed before its channel is told it was received.

use std::path::Path;

use rusqlite::{Connection, params};

pub type Result<T> = std::result::Result<T, String>;

/// Each entry upgrades the schema by one version (`PRAGMA user_version`); never edit one that
/// has shipped, add a new one.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE chats (jid TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', channel TEXT NOT NULL,
    is_group INTEGER NOT NULL DEFAULT 0, last_message_at TEXT);
CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, chat_jid TEXT NOT NULL, sender TEXT NOT NULL,
    sender_name TEXT NOT NULL, content TEXT NOT NULL, ts TEXT NOT NULL, is_from_me INTEGER NOT NULL DEFAULT 0,
    external_id TEXT, UNIQUE (chat_jid, external_id));
CREATE INDEX messages_by_chat ON messages (chat_jid, id);
CREATE TABLE groups (jid TEXT PRIMARY KEY, name TEXT NOT NULL, folder TEXT NOT NULL UNIQUE, trigger TEXT NOT NULL,
    is_main INTEGER NOT NULL DEFAULT 0, requires_trigger INTEGER NOT NULL DEFAULT 1,
    mounts TEXT NOT NULL DEFAULT '[]', added_at TEXT NOT NULL);
CREATE TABLE sessions (folder TEXT PRIMARY KEY, session_id TEXT NOT NULL);
CREATE TABLE cursors (jid TEXT PRIMARY KEY, handled INTEGER NOT NULL);
CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, jid TEXT NOT NULL, batch_end INTEGER NOT NULL,
    started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL);
CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, jid TEXT NOT NULL,
    text TEXT NOT NULL, state TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE tasks (id INTEGER PRIMARY KEY AUTOINCREMENT, folder TEXT NOT NULL, chat_jid TEXT NOT NULL,
    prompt TEXT NOT NULL, kind TEXT NOT NULL, spec TEXT NOT NULL, tz TEXT NOT NULL, context TEXT NOT NULL,
    next_run TEXT, status TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE task_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id INTEGER NOT NULL, run_at TEXT NOT NULL,
    duration_ms INTEGER NOT NULL, status TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE usage (folder TEXT PRIMARY KEY, input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0);
"#];

/// A message as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub id: i64,
    pub chat_jid: String,
    pub sender: String,
    pub sender_name: String,
    pub content: String,
    pub ts: String,
    pub is_from_me: bool,
}

/// A message about to be stored; `external_id` (the platform's id) makes redelivery harmless.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    pub chat_jid: String,
    pub sender: String,
    pub sender_name: String,
    pub content: String,
    pub ts: String,
    pub is_from_me: bool,
    pub external_id: Option<String>,
}

/// A chat registered to have an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub jid: String,
    pub name: String,
    pub folder: String,
    pub trigger: String,
    pub is_main: bool,
    pub requires_trigger: bool,
    /// Extra host folders for the container, checked against the mount allowlist at each start.
    pub mounts: Vec<crate::mounts::MountRequest>,
}

/// A scheduled task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: i64,
    pub folder: String,
    pub chat_jid: String,
    pub prompt: String,
    /// `cron`, `interval` (milliseconds) or `once` (RFC 3339 instant).
    pub kind: String,
    pub spec: String,
    pub tz: String,
    /// `group` (the group's session) or `isolated` (a fresh one).
    pub context: String,
    pub next_run: Option<String>,
    pub status: String,
}

pub struct Store {
    conn: Connection,
}

fn err(what: &str) -> impl Fn(rusqlite::Error) -> String + '_ {
    move |e| format!("store: {what}: {e}")
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("store: creating {}: {e}", dir.display()))?;
        }
        Store::setup(Connection::open(path).map_err(|e| format!("store: opening {}: {e}", path.display()))?)
    }

    fn setup(conn: Connection) -> Result<Store> {
        // WAL with synchronous=FULL: a committed message survives a crash of the host or the
        // machine; group commit (`insert_messages`) keeps that fast.
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
            .map_err(err("configuring"))?;
        let version: i64 =
            conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(err("reading the schema version"))?;
        if version as usize > MIGRATIONS.len() {
            return Err(format!(
                "store: the database has schema version {version}, newer than this host ({}); upgrade the install",
                MIGRATIONS.len()
            ));
        }
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let sql = format!("BEGIN; {migration} PRAGMA user_version = {}; COMMIT;", i + 1);
            conn.execute_batch(&sql).map_err(err("migrating"))?;
        }
        Ok(Store { conn })
    }

    /// Stores messages in one transaction (group commit); returns each one's id, or `None` for
    /// a redelivered message already stored.
    pub fn insert_messages(&mut self, batch: &[NewMessage]) -> Result<Vec<Option<i64>>> {
        let tx = self.conn.transaction().map_err(err("beginning"))?;
        let mut ids = Vec::with_capacity(batch.len());
        {
            let sql = "INSERT OR IGNORE INTO messages (chat_jid, sender, sender_name, content, ts, is_from_me, external_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
            let mut insert = tx.prepare_cached(sql).map_err(err("preparing"))?;
            let sql = "INSERT INTO chats (jid, channel, last_message_at) VALUES (?1, ?2, ?3) ON CONFLICT (jid) DO UPDATE SET last_message_at = excluded.last_message_at";
            let mut touch = tx.prepare_cached(sql).map_err(err("preparing"))?;
            for m in batch {
                let changed = insert
                    .execute(params![m.chat_jid, m.sender, m.sender_name, m.content, m.ts, m.is_from_me, m.external_id])
                    .map_err(err("inserting a message"))?;
                ids.push((changed == 1).then(|| tx.last_insert_rowid()));
                let channel = m.chat_jid.split(':').next().unwrap_or_default();
                touch.execute(params![m.chat_jid, channel, m.ts]).map_err(err("recording a chat"))?;
            }
        }
        tx.commit().map_err(err("committing messages"))?;
        Ok(ids)
    }

    /// Records a chat's metadata (name, whether it is a group) without any message.
    pub fn upsert_chat(&self, jid: &str, name: &str, is_group: bool) -> Result<()> {
        let channel = jid.split(':').next().unwrap_or_default();
        self.exec("recording a chat", "INSERT INTO chats (jid, name, channel, is_group) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (jid) DO UPDATE SET name = excluded.name, is_group = excluded.is_group",
                params![jid, name, channel, is_group])
    }

    /// Messages of `jid` with an id above `after`, oldest first.
    pub fn messages_after(&self, jid: &str, after: i64) -> Result<Vec<Message>> {
        let sql = "SELECT id, chat_jid, sender, sender_name, content, ts, is_from_me FROM messages WHERE chat_jid = ?1 AND id > ?2 ORDER BY id";
        self.select("reading messages", sql, params![jid, after], |r| {
            Ok(Message {
                id: r.get(0)?,
                chat_jid: r.get(1)?,
                sender: r.get(2)?,
                sender_name: r.get(3)?,
                content: r.get(4)?,
                ts: r.get(5)?,
                is_from_me: r.get(6)?,
            })
        })
    }

    pub fn register_group(&self, g: &Group, now: &str) -> Result<()> {
        crate::groups::validate_folder(&g.folder)?;
        self.exec("registering a group", "INSERT INTO groups (jid, name, folder, trigger, is_main, requires_trigger, mounts, added_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (jid) DO UPDATE SET name = excluded.name, folder = excluded.folder, trigger = excluded.trigger, is_main = excluded.is_main,
                 requires_trigger = excluded.requires_trigger, mounts = excluded.mounts",
                params![g.jid, g.name, g.folder, g.trigger, g.is_main, g.requires_trigger, serde_json::to_string(&g.mounts).unwrap_or_else(|_| "[]".into()), now])
    }

    pub fn groups(&self) -> Result<Vec<Group>> {
        self.groups_where("1", [])
    }

    /// The group registered for `jid`, if any.
    pub fn group(&self, jid: &str) -> Result<Option<Group>> {
        self.groups_where("jid = ?1", [jid]).map(|mut g| g.pop())
    }

    fn groups_where(&self, filter: &str, args: impl rusqlite::Params) -> Result<Vec<Group>> {
        let sql = format!(
            "SELECT jid, name, folder, trigger, is_main, requires_trigger, mounts FROM groups WHERE {filter} ORDER BY jid"
        );
        self.select("reading groups", &sql, args, |r| {
            let mounts: String = r.get(6)?;
            Ok(Group {
                jid: r.get(0)?,
                name: r.get(1)?,
                folder: r.get(2)?,
                trigger: r.get(3)?,
                is_main: r.get(4)?,
                requires_trigger: r.get(5)?,
                mounts: serde_json::from_str(&mounts).unwrap_or_default(),
            })
        })
    }

    /// The id of the last message whose batch was handled (0 if none).
    pub fn cursor(&self, jid: &str) -> Result<i64> {
        let sql = "SELECT COALESCE((SELECT handled FROM cursors WHERE jid = ?1), 0)";
        self.conn.query_row(sql, [jid], |r| r.get(0)).map_err(err("reading a cursor"))
    }

    pub fn set_session(&self, folder: &str, session: &str) -> Result<()> {
        self.exec("saving a session", "INSERT INTO sessions (folder, session_id) VALUES (?1, ?2) ON CONFLICT (folder) DO UPDATE SET session_id = excluded.session_id", params![folder, session])
    }

    /// Records that an agent run for `jid` began on messages up to `batch_end`.
    pub fn begin_run(&self, jid: &str, batch_end: i64, now: &str) -> Result<i64> {
        let sql = "INSERT INTO runs (jid, batch_end, started_at, status) VALUES (?1, ?2, ?3, 'running')";
        self.insert("recording a run", sql, params![jid, batch_end, now])
    }

    pub fn extend_run(&self, run: i64, batch_end: i64) -> Result<()> {
        let sql = "UPDATE runs SET batch_end = MAX(batch_end, ?2) WHERE id = ?1";
        self.exec("extending a run", sql, params![run, batch_end])
    }

    /// Ends a run; on success the cursor moves past its batch in the same transaction.
    pub fn finish_run(&mut self, run: i64, status: &str, now: &str) -> Result<()> {
        let tx = self.conn.transaction().map_err(err("beginning"))?;
        tx.execute("UPDATE runs SET status = ?2, finished_at = ?3 WHERE id = ?1", params![run, status, now])
            .map_err(err("finishing a run"))?;
        if status == "ok" {
            let (jid, end): (String, i64) = tx
                .query_row("SELECT jid, batch_end FROM runs WHERE id = ?1", [run], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(err("reading a run"))?;
            tx.execute("INSERT INTO cursors (jid, handled) VALUES (?1, ?2) ON CONFLICT (jid) DO UPDATE SET handled = MAX(handled, excluded.handled)", params![jid, end])
                .map_err(err("moving a cursor"))?;
        }
        tx.commit().map_err(err("committing a run"))
    }

    /// Writes a reply to the outbox before it is sent: a reply is delivered at most once, even if
    /// the host dies between sending it and recording that it was sent.
    pub fn outbox_add(&self, run: i64, jid: &str, text: &str, now: &str) -> Result<i64> {
        let sql = "INSERT INTO outbox (run_id, jid, text, state, created_at) VALUES (?1, ?2, ?3, 'sending', ?4)";
        self.insert("queueing a reply", sql, params![run, jid, text, now])
    }

    pub fn outbox_sent(&self, id: i64, state: &str) -> Result<()> {
        self.exec("recording a reply", "UPDATE outbox SET state = ?2 WHERE id = ?1", params![id, state])
    }

    /// Settles runs a crashed host left behind: a run that already wrote a reply counts as
    /// answered (its cursor moves on, it is not run again); one that did not is marked
    /// interrupted, and its messages stay pending. Returns (answered, interrupted).
    pub fn recover_runs(&mut self, now: &str) -> Result<(usize, usize)> {
        let tx = self.conn.transaction().map_err(err("beginning"))?;
        let sql = "INSERT INTO cursors (jid, handled) SELECT jid, batch_end FROM runs r WHERE status = 'running' AND EXISTS (SELECT 1 FROM outbox o WHERE o.run_id = r.id)
                   ON CONFLICT (jid) DO UPDATE SET handled = MAX(handled, excluded.handled)";
        let answered = tx.execute(sql, []).map_err(err("recovering runs"))?;
        tx.execute("UPDATE runs SET status = 'ok', finished_at = ?1 WHERE status = 'running' AND EXISTS (SELECT 1 FROM outbox o WHERE o.run_id = runs.id)", [now])
            .map_err(err("recovering runs"))?;
        let sql = "UPDATE runs SET status = 'interrupted', finished_at = ?1 WHERE status = 'running'";
        let interrupted = tx.execute(sql, [now]).map_err(err("recovering runs"))?;
        tx.commit().map_err(err("recovering runs"))?;
        Ok((answered, interrupted))
    }

    /// Registered groups with messages after their cursor: the work a restart must pick up.
    pub fn groups_with_pending(&self) -> Result<Vec<String>> {
        let sql = "SELECT g.jid FROM groups g WHERE EXISTS (SELECT 1 FROM messages m WHERE m.chat_jid = g.jid \
                   AND m.id > COALESCE((SELECT handled FROM cursors c WHERE c.jid = g.jid), 0))";
        self.select("finding pending work", sql, [], |r| r.get(0))
    }

    pub fn add_task(&self, t: &Task, now: &str) -> Result<i64> {
        self.insert("adding a task", "INSERT INTO tasks (folder, chat_jid, prompt, kind, spec, tz, context, next_run, status, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![t.folder, t.chat_jid, t.prompt, t.kind, t.spec, t.tz, t.context, t.next_run, t.status, now])
    }

    pub fn task(&self, id: i64) -> Result<Option<Task>> {
        self.tasks_where("id = ?1", params![id]).map(|mut v| v.pop())
    }

    pub fn tasks_of(&self, folder: &str) -> Result<Vec<Task>> {
        self.tasks_where("folder = ?1", params![folder])
    }

    /// Active tasks due at or before `now` (RFC 3339, UTC).
    pub fn due_tasks(&self, now: &str) -> Result<Vec<Task>> {
        self.tasks_where("status = 'active' AND next_run IS NOT NULL AND next_run <= ?1", params![now])
    }

    /// The earliest next run of any active task.
    pub fn next_due(&self) -> Result<Option<String>> {
        let sql = "SELECT MIN(next_run) FROM tasks WHERE status = 'active'";
        self.conn.query_row(sql, [], |r| r.get(0)).map_err(err("reading tasks"))
    }

    fn tasks_where(&self, filter: &str, args: impl rusqlite::Params) -> Result<Vec<Task>> {
        let sql = format!(
            "SELECT id, folder, chat_jid, prompt, kind, spec, tz, context, next_run, status FROM tasks WHERE {filter} ORDER BY next_run, id"
        );
        self.select("reading tasks", &sql, args, |r| {
            Ok(Task {
                id: r.get(0)?,
                folder: r.get(1)?,
                chat_jid: r.get(2)?,
                prompt: r.get(3)?,
                kind: r.get(4)?,
                spec: r.get(5)?,
                tz: r.get(6)?,
                context: r.get(7)?,
                next_run: r.get(8)?,
                status: r.get(9)?,
            })
        })
    }

    pub fn set_task_schedule(&self, id: i64, next_run: Option<&str>, status: &str) -> Result<()> {
        let sql = "UPDATE tasks SET next_run = ?2, status = ?3 WHERE id = ?1";
        self.exec("updating a task", sql, params![id, next_run, status])
    }

    pub fn log_task_run(&self, id: i64, run_at: &str, duration_ms: i64, status: &str, detail: &str) -> Result<()> {
        let sql = "INSERT INTO task_runs (task_id, run_at, duration_ms, status, detail) VALUES (?1, ?2, ?3, ?4, ?5)";
        self.exec("logging a task run", sql, params![id, run_at, duration_ms, status, detail])
    }

    /// Runs one statement; errors name `what` was being done.
    fn exec(&self, what: &str, sql: &str, args: impl rusqlite::Params) -> Result<()> {
        self.conn.execute(sql, args).map(|_| ()).map_err(err(what))
    }

    /// Runs one insert and returns the new row's id.
    fn insert(&self, what: &str, sql: &str, args: impl rusqlite::Params) -> Result<i64> {
        self.exec(what, sql, args).map(|()| self.conn.last_insert_rowid())
    }

    /// Runs a query and collects its rows; errors name `what` was being read.
    fn select<T>(
        &self,
        what: &str,
        sql: &str,
        args: impl rusqlite::Params,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(err(what))?;
        let rows = stmt.query_map(args, row).map_err(err(what))?;
        rows.collect::<rusqlite::Result<_>>().map_err(err(what))
    }

    pub fn add_usage(&self, folder: &str, input: u64, output: u64) -> Result<()> {
        self.exec("counting tokens", "INSERT INTO usage (folder, input_tokens, output_tokens) VALUES (?1, ?2, ?3) ON CONFLICT (folder) DO UPDATE SET input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens",
                params![folder, input as i64, output as i64])
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A store that lives in memory, for unit tests.
    pub(crate) fn in_memory() -> Store {
        Store::setup(Connection::open_in_memory().unwrap()).unwrap()
    }

    fn msg(jid: &str, text: &str, ext: &str) -> NewMessage {
        NewMessage {
            chat_jid: jid.into(),
            sender: "u1".into(),
            sender_name: "Ann".into(),
            content: text.into(),
            ts: "2026-01-01T00:00:00Z".into(),
            is_from_me: false,
            external_id: Some(ext.into()),
        }
    }

    #[test]
    fn messages_are_stored_once_and_read_after_a_cursor() {
        let mut store = in_memory();
        let ids = store
            .insert_messages(&[msg("cli:a", "one", "1"), msg("cli:a", "two", "2"), msg("cli:a", "one again", "1")])
            .unwrap();
        assert!(ids[0].is_some() && ids[1].is_some() && ids[2].is_none());
        let after_first = store.messages_after("cli:a", ids[0].unwrap()).unwrap();
        assert_eq!(after_first.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["two"]);
    }

    #[test]
    fn a_run_that_replied_is_not_run_again_after_a_crash() {
        let mut store = in_memory();
        let g = Group {
            jid: "cli:a".into(),
            name: "a".into(),
            folder: "main".into(),
            trigger: "@Andy".into(),
            is_main: true,
            requires_trigger: false,
            mounts: vec![],
        };
        store.register_group(&g, "now").unwrap();
        let ids = store.insert_messages(&[msg("cli:a", "hi", "1")]).unwrap();
        let run = store.begin_run("cli:a", ids[0].unwrap(), "now").unwrap();
        store.outbox_add(run, "cli:a", "hello", "now").unwrap();
        assert_eq!(store.recover_runs("now").unwrap(), (1, 0));
        assert!(store.groups_with_pending().unwrap().is_empty());

        let ids = store.insert_messages(&[msg("cli:a", "again", "2")]).unwrap();
        store.begin_run("cli:a", ids[0].unwrap(), "now").unwrap();
        assert_eq!(store.recover_runs("now").unwrap(), (0, 1));
        assert_eq!(store.groups_with_pending().unwrap(), ["cli:a"]);
    }

    #[test]
    fn migrations_are_versioned_and_a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("claw.db");
        drop(Store::open(&path).unwrap());
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
        drop(conn);
        let err = Store::open(&path).err().unwrap();
        assert!(err.contains("schema version 99"), "{err}");
    }
}
