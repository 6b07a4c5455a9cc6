//! Scheduled tasks: cron (croner), fixed intervals and one-off instants, each in an explicit
//! time zone. The clock is injectable, so tests move time instead of waiting for it. A due task
//! gets its next run written before it is queued: a crash never fires it twice, and missed slots
//! (the host was down) are skipped rather than fired in a burst.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::store::{Store, Task};

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Checks a schedule and returns its first run after `now`.
pub fn first_run(kind: &str, spec: &str, tz: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
    let zone: Tz = tz.parse().map_err(|_| format!("unknown time zone {tz:?}"))?;
    match kind {
        "cron" => {
            let next =
                spec.parse::<croner::Cron>().and_then(|c| c.find_next_occurrence(&now.with_timezone(&zone), false));
            Ok(Some(next.map_err(|e| format!("cron {spec:?}: {e}"))?.with_timezone(&Utc)))
        }
        "interval" => {
            let ms: i64 = spec.parse().map_err(|_| format!("interval {spec:?}: expected milliseconds"))?;
            if ms < 1000 {
                return Err(format!("interval {spec:?}: at least 1000 ms"));
            }
            Ok(Some(now + Duration::milliseconds(ms)))
        }
        "once" => {
            let at = DateTime::parse_from_rfc3339(spec)
                .map_err(|e| format!("once {spec:?}: expected an RFC 3339 instant: {e}"))?;
            Ok(Some(at.with_timezone(&Utc)))
        }
        other => Err(format!("unknown schedule kind {other:?} (cron, interval or once)")),
    }
}

/// The run after the one that was due at `due`, skipping every slot already past at `now`.
pub fn next_run(task: &Task, due: DateTime<Utc>, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
    match task.kind.as_str() {
        "once" => Ok(None),
        "interval" => {
            let ms: i64 = task.spec.parse().map_err(|_| format!("interval {:?}", task.spec))?;
            let missed = (now - due).num_milliseconds().max(0) / ms;
            Ok(Some(due + Duration::milliseconds(ms) * (missed as i32 + 1)))
        }
        _ => first_run(&task.kind, &task.spec, &task.tz, now.max(due)),
    }
}

/// Takes every task due at `clock.now()` and schedules its next run (or completes it).
/// Returns the tasks to run now.
pub fn take_due(store: &Store, clock: &Arc<dyn Clock>) -> Result<Vec<Task>, String> {
    let now = clock.now();
    let due = store.due_tasks(&stamp(now))?;
    for task in &due {
        let at = task.next_run.as_deref().and_then(parse_stamp).unwrap_or(now);
        match next_run(task, at, now) {
            Ok(Some(next)) => store.set_task_schedule(task.id, Some(&stamp(next)), "active")?,
            Ok(None) => store.set_task_schedule(task.id, None, "completed")?,
            Err(e) => {
                tracing::warn!(task = task.id, "bad schedule, pausing: {e}");
                store.set_task_schedule(task.id, None, "paused")?;
            }
        }
    }
    Ok(due)
}

/// The store's time format: RFC 3339 in UTC with milliseconds, which sorts as text.
pub fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A time as the store holds it (see `stamp`); `None` if it is not one.
pub fn parse_stamp(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t).ok().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock tests set by hand.
    struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

    impl Clock for ManualClock {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    impl ManualClock {
        fn set(&self, t: DateTime<Utc>) {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) = t;
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn task(store: &Store, kind: &str, spec: &str, tz: &str, now: DateTime<Utc>) -> i64 {
        let next = first_run(kind, spec, tz, now).unwrap().map(stamp);
        let t = Task {
            id: 0,
            folder: "main".into(),
            chat_jid: "cli:local".into(),
            prompt: "p".into(),
            kind: kind.into(),
            spec: spec.into(),
            tz: tz.into(),
            context: "group".into(),
            next_run: next,
            status: "active".into(),
        };
        store.add_task(&t, &stamp(now)).unwrap()
    }

    #[test]
    fn cron_tasks_fire_at_their_zones_instants() {
        let store = crate::store::tests::in_memory();
        let start = at("2026-03-01T00:00:00Z");
        let manual = Arc::new(ManualClock(std::sync::Mutex::new(start)));
        let clock: Arc<dyn Clock> = manual.clone();
        let tokyo = task(&store, "cron", "0 9 * * *", "Asia/Tokyo", start);
        let new_york = task(&store, "cron", "0 9 * * *", "America/New_York", start);
        // 09:00 in Tokyo is 00:00 UTC; in New York (EST, before DST on 8 March) 14:00 UTC.
        assert_eq!(store.task(tokyo).unwrap().unwrap().next_run.unwrap(), "2026-03-02T00:00:00.000Z");
        assert_eq!(store.task(new_york).unwrap().unwrap().next_run.unwrap(), "2026-03-01T14:00:00.000Z");
        let set = |t: &str| manual.set(at(t));
        set("2026-03-01T13:59:59Z");
        assert!(take_due(&store, &clock).unwrap().is_empty());
        set("2026-03-01T14:00:00Z");
        assert_eq!(take_due(&store, &clock).unwrap().iter().map(|t| t.id).collect::<Vec<_>>(), [new_york]);
        set("2026-03-02T00:00:00Z");
        assert_eq!(take_due(&store, &clock).unwrap().iter().map(|t| t.id).collect::<Vec<_>>(), [tokyo]);
        // After DST starts in New York (8 March), 09:00 there is 13:00 UTC.
        set("2026-03-09T00:00:00Z");
        take_due(&store, &clock).unwrap();
        assert_eq!(store.task(new_york).unwrap().unwrap().next_run.unwrap(), "2026-03-09T13:00:00.000Z");
    }

    #[test]
    fn an_interval_task_skips_missed_slots_without_a_burst() {
        let store = crate::store::tests::in_memory();
        let start = at("2026-01-01T00:00:00Z");
        let manual = Arc::new(ManualClock(std::sync::Mutex::new(start)));
        let clock: Arc<dyn Clock> = manual.clone();
        let id = task(&store, "interval", "60000", "UTC", start);
        // The host was down for ten minutes: one run now, and the next slot on the grid.
        manual.set(at("2026-01-01T00:10:30Z"));
        assert_eq!(take_due(&store, &clock).unwrap().len(), 1);
        assert!(take_due(&store, &clock).unwrap().is_empty());
        assert_eq!(store.task(id).unwrap().unwrap().next_run.unwrap(), "2026-01-01T00:11:00.000Z");
    }

    #[test]
    fn a_once_task_completes() {
        let store = crate::store::tests::in_memory();
        let start = at("2026-01-01T00:00:00Z");
        let manual = Arc::new(ManualClock(std::sync::Mutex::new(start)));
        let clock: Arc<dyn Clock> = manual.clone();
        let id = task(&store, "once", "2026-01-01T08:00:00+08:00", "Asia/Shanghai", start);
        manual.set(at("2026-01-01T00:00:00Z"));
        assert_eq!(take_due(&store, &clock).unwrap().len(), 1);
        let t = store.task(id).unwrap().unwrap();
        assert_eq!((t.status.as_str(), t.next_run), ("completed", None));
        assert!(take_due(&store, &clock).unwrap().is_empty());
    }

    #[test]
    fn bad_schedules_are_clear_errors() {
        let now = at("2026-01-01T00:00:00Z");
        assert!(first_run("cron", "61 * * * *", "UTC", now).unwrap_err().contains("cron"));
        assert!(first_run("cron", "* * * * *", "Mars/Base", now).unwrap_err().contains("time zone"));
        assert!(first_run("interval", "10", "UTC", now).unwrap_err().contains("at least"));
        assert!(first_run("weekly", "x", "UTC", now).unwrap_err().contains("unknown schedule kind"));
    }
}
