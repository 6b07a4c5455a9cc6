//! One group's worker: it holds a concurrency permit and at most one container while the group
//! has work, feeds it due tasks first and then batches of messages (with follow-ups while a run
//! is in progress), delivers its output, and keeps it warm until the idle timeout. A failed run
//! is retried with backoff, unless it failed for good: then the chat is told why, once.

use std::sync::Arc;
use std::time::Duration;

use claw_protocol::{FromAgent, ToAgent};
use tokio::sync::Notify;

use crate::error::RunError;
use crate::host::Host;
use crate::mounts::{self, Mount};
use crate::router::{self, Admission};
use crate::runner::{Event, Session};
use crate::store::{Group, Message, Task};

impl Host {
    /// One group's worker: holds a concurrency permit and at most one container while the group
    /// has work, then keeps the container warm until the idle timeout.
    pub(crate) async fn worker(self: Arc<Self>, jid: String, wake: Arc<Notify>) {
        let mut shutdown = self.shutdown.clone();
        // Held until the worker ends.
        let _permit = tokio::select! {
            p = self.queue.permits.clone().acquire_owned() => p,
            _ = shutdown.changed() => { self.queue.retire(&jid); return; }
        };
        let mut session: Option<Session> = None;
        let mut failures = 0u32;
        loop {
            if *shutdown.borrow() {
                break;
            }
            self.queue.clear_dirty(&jid);
            let Some(group) = self.group(&jid) else {
                tracing::warn!(chat = jid, "a task or message for a chat that is not a registered group");
                self.queue.retire(&jid);
                break;
            };
            let outcome = match self.queue.take_task(&jid) {
                Some(task) => Some(self.run_task(&group, task, &mut session, &wake).await),
                None => match self.pending_batch(&group) {
                    Ok(Some(batch)) => Some(self.run_batch(&group, batch, &mut session, &wake).await),
                    Ok(None) => None,
                    Err(e) => Some(Err(e.into())),
                },
            };
            if outcome.is_some() {
                crate::ownership::strip_setuid(&self.config.data_dir.join("groups").join(&group.folder));
            }
            match outcome {
                Some(Ok(())) => failures = 0,
                Some(Err(e)) => {
                    failures += 1;
                    tracing::error!(group = group.folder, failures, "run failed: {e}");
                    if let Some(s) = session.take() {
                        s.stop().await;
                    }
                    let permanent = matches!(e, RunError::Permanent(_));
                    if permanent && let Err(e) = self.deliver(0, &jid, &e.to_string()).await {
                        tracing::error!(group = group.folder, "telling the chat: {e}");
                    }
                    if permanent || failures >= self.config.retry.max_attempts {
                        tracing::error!(group = group.folder, "giving up until the next message");
                        self.queue.retire(&jid);
                        break;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff(&self.config.retry, failures)) => {}
                        _ = shutdown.changed() => break,
                    }
                }
                None => {
                    let idle =
                        Duration::from_secs(session.as_ref().map_or(0, |_| self.config.container.idle_timeout_secs));
                    tokio::select! {
                        _ = wake.notified() => continue,
                        _ = tokio::time::sleep(idle) => {}
                        _ = shutdown.changed() => break,
                    }
                    if self.queue.try_retire(&jid) {
                        break;
                    }
                }
            }
        }
        if let Some(mut s) = session.take() {
            let _ = s.send(&ToAgent::Close).await;
            s.stop().await;
        }
        if *shutdown.borrow() {
            self.queue.retire(&jid);
        }
    }

    /// Messages since the group's cursor, if any of them should wake the agent.
    fn pending_batch(&self, group: &Group) -> Result<Option<Vec<Message>>, String> {
        let store = self.store();
        let messages = store.messages_after(&group.jid, store.cursor(&group.jid)?)?;
        let wakes = messages.iter().any(|m| {
            router::admit(Some(group), &m.content, m.is_from_me, self.config.sender_rule(&group.jid, &m.sender))
                == Admission::Wake
        });
        Ok(wakes.then_some(messages))
    }

    async fn ensure_session<'a>(
        &self,
        group: &Group,
        session: &'a mut Option<Session>,
    ) -> Result<&'a mut Session, RunError> {
        if session.is_none() {
            let mounts = self.mounts_for(group).map_err(RunError::Permanent)?;
            *session = Some(self.runner.start(&group.folder, &mounts).await?);
        }
        session.as_mut().ok_or_else(|| RunError::Transient("no session".into()))
    }

    /// The group's own folder, the global memory, its model socket, and allowed extras.
    fn mounts_for(&self, group: &Group) -> Result<Vec<Mount>, String> {
        let data_dir = &self.config.data_dir;
        let dir = crate::groups::folder_path(data_dir, &group.folder)?;
        let mut list = vec![
            Mount { host: dir, container: "/workspace/group".into(), read_write: true },
            Mount { host: data_dir.join("global"), container: "/workspace/global".into(), read_write: false },
            Mount { host: self.socket_dir(&group.folder), container: "/run/claw".into(), read_write: false },
        ];
        if !group.mounts.is_empty() {
            let path = &self.config.container.mount_allowlist;
            let allowlist = mounts::load_allowlist(path)?;
            for request in &group.mounts {
                list.push(mounts::validate(request, allowlist.as_ref(), path)?);
            }
        }
        Ok(list)
    }

    async fn run_batch(
        &self,
        group: &Group,
        batch: Vec<Message>,
        session: &mut Option<Session>,
        wake: &Notify,
    ) -> Result<(), RunError> {
        let end = batch.last().map_or(0, |m| m.id);
        let prompt = router::format_prompt(&batch, &self.config.timezone, &self.now());
        let run = self.store().begin_run(&group.jid, end, &self.now())?;
        let result = async {
            let s = self.ensure_session(group, session).await?;
            s.send(&ToAgent::Prompt { v: claw_protocol::VERSION, text: prompt, isolated: false }).await?;
            self.drive(group, &group.jid, run, end, s, wake).await
        }
        .await;
        let status = if result.is_ok() { "ok" } else { "failed" };
        self.store().finish_run(run, status, &self.now())?;
        result
    }

    async fn run_task(
        &self,
        group: &Group,
        task: Task,
        session: &mut Option<Session>,
        wake: &Notify,
    ) -> Result<(), RunError> {
        let started = std::time::Instant::now();
        let run_at = self.now();
        let result = async {
            let (text, isolated) = (task.prompt.clone(), task.context == "isolated");
            let s = self.ensure_session(group, session).await?;
            s.send(&ToAgent::Prompt { v: claw_protocol::VERSION, text, isolated }).await?;
            self.drive(group, &task.chat_jid, 0, 0, s, wake).await
        }
        .await;
        let (status, detail) = match &result {
            Ok(()) => ("ok", String::new()),
            Err(e) => ("failed", e.to_string()),
        };
        self.store().log_task_run(task.id, &run_at, started.elapsed().as_millis() as i64, status, &detail)?;
        result
    }

    /// Feeds one run: its events, follow-up messages, and the hard timeout.
    async fn drive(
        &self,
        group: &Group,
        reply_to: &str,
        run: i64,
        mut end: i64,
        s: &mut Session,
        wake: &Notify,
    ) -> Result<(), RunError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(self.config.container.hard_timeout_secs);
        for c in self.channels.iter().filter(|c| c.owns_chat(reply_to)) {
            c.set_typing(reply_to, true).await;
        }
        loop {
            let event = tokio::select! {
                e = s.next() => e,
                _ = wake.notified(), if run != 0 => {
                    let more = self.store().messages_after(&group.jid, end)?;
                    if let Some(last) = more.last() {
                        end = last.id;
                        self.store().extend_run(run, end)?;
                        s.followups += 1;
                        let text = router::format_prompt(&more, &self.config.timezone, &self.now());
                        s.send(&ToAgent::Followup { seq: s.followups, text }).await?;
                    }
                    continue;
                }
                _ = tokio::time::sleep_until(deadline) => return Err(format!("hard timeout of {} s", self.config.container.hard_timeout_secs).into()),
            };
            match event {
                None => return Err(format!("the container exited (code {:?})", s.exit_code().await).into()),
                Some(Event::OverCap(stream, cap)) => return Err(format!("{stream} over {cap} bytes").into()),
                Some(Event::Invalid(e)) => tracing::warn!(group = group.folder, "dropped a bad line: {e}"),
                Some(Event::Message(FromAgent::Done { session, seq })) => {
                    self.store().set_session(&group.folder, &session)?;
                    // A follow-up that crossed this `done` gets a run of its own: read on.
                    if seq >= s.followups {
                        return Ok(());
                    }
                }
                Some(Event::Message(FromAgent::Error { message })) => return Err(format!("agent: {message}").into()),
                Some(Event::Message(FromAgent::Output { text })) => _ = self.deliver(run, reply_to, &text).await?,
                Some(Event::Message(request)) => {
                    if let Some(answer) = self.handle_request(group, run, request).await? {
                        s.send(&answer).await?;
                    }
                }
            }
        }
    }

    /// Sends agent output to a chat: internal notes stripped, split to the channel's limit,
    /// written to the outbox first so it is delivered at most once. Returns whether the channel
    /// took all of it.
    pub(crate) async fn deliver(&self, run: i64, jid: &str, text: &str) -> Result<bool, String> {
        let text = router::strip_internal(text);
        if text.is_empty() {
            return Ok(true);
        }
        let Some(channel) = self.channels.iter().find(|c| c.owns_chat(jid)) else {
            tracing::warn!(chat = jid, "no channel owns this chat; reply dropped");
            return Ok(false);
        };
        let id = self.store().outbox_add(run, jid, &text, &self.now())?;
        let mut state = "sent";
        for piece in router::split(&text, channel.max_message_len()) {
            if let Err(e) = channel.send(jid, &piece).await {
                tracing::error!(chat = jid, "sending a reply: {e}");
                state = "failed";
                break;
            }
        }
        channel.set_typing(jid, false).await;
        self.store().outbox_sent(id, state)?;
        Ok(state == "sent")
    }
}

fn backoff(retry: &crate::config::RetryConfig, failures: u32) -> Duration {
    let ms = retry.base_ms.saturating_mul(1u64 << (failures - 1).min(20));
    Duration::from_millis(ms.min(retry.max_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_ceiling() {
        let r = crate::config::RetryConfig { base_ms: 100, max_ms: 1000, max_attempts: 5 };
        assert_eq!(backoff(&r, 1), Duration::from_millis(100));
        assert_eq!(backoff(&r, 3), Duration::from_millis(400));
        assert_eq!(backoff(&r, 9), Duration::from_millis(1000));
    }
}
