//! Requests from a container (send a message, schedule or manage tasks), answered by the host.
//! Every one is checked by `authorize` against the identity of the container it came from,
//! never against what the request says about itself.

use claw_protocol::{FromAgent, ToAgent};

use crate::host::Host;
use crate::scheduler::{self, stamp};
use crate::store::{Group, Task};

impl Host {
    /// Handles a request from `group`'s container; returns the answer to send back, if any.
    pub(crate) async fn handle_request(
        &self,
        group: &Group,
        run: i64,
        request: FromAgent,
    ) -> Result<Option<ToAgent>, String> {
        let (req, what, answer) = match request {
            FromAgent::SendMessage { req, chat, text } => {
                let target = chat.unwrap_or_else(|| group.jid.clone());
                let answer = match authorize(group, &target, None) {
                    Ok(()) if self.deliver(run, &target, &text).await? => Ok(serde_json::json!({})),
                    Ok(()) => Err(format!("the message could not be delivered to {target}")),
                    Err(why) => Err(why),
                };
                (req, format!("send_message to {target}"), answer)
            }
            FromAgent::ScheduleTask { req, prompt, kind, spec, tz, context, chat } => {
                let task = Task {
                    id: 0,
                    folder: String::new(),
                    chat_jid: chat.unwrap_or_else(|| group.jid.clone()),
                    prompt,
                    kind,
                    spec,
                    tz: tz.unwrap_or_else(|| self.config.timezone.clone()),
                    context: context.unwrap_or_else(|| "group".into()),
                    next_run: None,
                    status: "active".into(),
                };
                (req, "schedule_task".into(), self.schedule(group, task).map(|id| serde_json::json!({ "id": id })))
            }
            FromAgent::Task { req, op, id } => (req, format!("task request {op}"), self.task_admin(group, &op, id)),
            other => {
                tracing::warn!(group = group.folder, "unexpected message {other:?}");
                return Ok(None);
            }
        };
        if let Err(why) = &answer {
            tracing::warn!(group = group.folder, "refused {what}: {why}");
        }
        Ok(Some(reply(req, answer)))
    }

    /// Adds `task` (its folder and first run still to fill in) for the group of its chat.
    fn schedule(&self, group: &Group, mut task: Task) -> Result<i64, String> {
        let target = &task.chat_jid;
        let owner = self.group(target).ok_or_else(|| format!("{target} is not a registered group"))?;
        authorize(group, target, Some(&owner.folder))?;
        if task.context != "group" && task.context != "isolated" {
            return Err(format!("context {:?}: expected group or isolated", task.context));
        }
        task.next_run = scheduler::first_run(&task.kind, &task.spec, &task.tz, self.clock.now())?.map(stamp);
        task.folder = owner.folder;
        let id = self.store().add_task(&task, &self.now())?;
        self.scheduler_wake.notify_one();
        Ok(id)
    }

    fn task_admin(&self, group: &Group, op: &str, id: Option<i64>) -> Result<serde_json::Value, String> {
        let store = self.store();
        if op == "list" {
            let mut tasks = store.tasks_of(&group.folder)?;
            if group.is_main {
                let groups = self.groups.read().unwrap_or_else(|e| e.into_inner());
                tasks = groups.values().map(|g| store.tasks_of(&g.folder)).collect::<Result<Vec<_>, _>>()?.concat();
            }
            let list: Vec<_> = tasks.iter().map(|t| serde_json::json!({ "id": t.id, "group": t.folder, "prompt": t.prompt, "kind": t.kind, "spec": t.spec, "tz": t.tz, "next_run": t.next_run, "status": t.status })).collect();
            return Ok(serde_json::json!(list));
        }
        let id = id.ok_or("this operation needs a task id")?;
        let task = store.task(id)?.ok_or_else(|| format!("no task {id}"))?;
        authorize(group, &task.chat_jid, Some(&task.folder))?;
        let status = match op {
            "pause" => "paused",
            "resume" => "active",
            "cancel" => "cancelled",
            other => return Err(format!("unknown task operation {other:?}")),
        };
        let next = match &task.next_run {
            None if status == "active" => {
                scheduler::first_run(&task.kind, &task.spec, &task.tz, self.clock.now()).ok().flatten().map(stamp)
            }
            next => next.clone(),
        };
        store.set_task_schedule(id, next.as_deref(), status)?;
        Ok(serde_json::json!({ "id": id, "status": status }))
    }
}

/// The answer to request `req`: its data, or the refusal as `data.error`.
fn reply(req: u64, answer: Result<serde_json::Value, String>) -> ToAgent {
    let ok = answer.is_ok();
    ToAgent::Answer { req, ok, data: answer.unwrap_or_else(|e| serde_json::json!({ "error": e })) }
}

/// The one place where a container's request is allowed or refused: a group may act only on its
/// own chat and its own tasks; the main group may act for any group.
pub fn authorize(group: &Group, target_chat: &str, target_folder: Option<&str>) -> Result<(), String> {
    if group.is_main {
        return Ok(());
    }
    if target_chat != group.jid {
        return Err(format!("group {} may not act on chat {target_chat}", group.folder));
    }
    if let Some(folder) = target_folder.filter(|&folder| folder != group.folder) {
        return Err(format!("group {} may not act on group {folder}'s tasks", group.folder));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(folder: &str, is_main: bool) -> Group {
        Group {
            jid: format!("cli:{folder}"),
            name: folder.into(),
            folder: folder.into(),
            trigger: "@Andy".into(),
            is_main,
            requires_trigger: true,
            mounts: vec![],
        }
    }

    #[test]
    fn a_group_acts_only_on_its_own_chat_and_tasks() {
        let a = group("a", false);
        assert!(authorize(&a, "cli:a", Some("a")).is_ok());
        assert!(authorize(&a, "cli:b", None).unwrap_err().contains("may not act on chat cli:b"));
        assert!(authorize(&a, "cli:a", Some("b")).unwrap_err().contains("group b's tasks"));
        assert!(authorize(&group("main", true), "cli:b", Some("b")).is_ok());
    }
}
