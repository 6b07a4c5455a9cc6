//! One writer or many readers per install: an advisory lock (`flock`) on `.git/claw/lock`, a
//! file that is never deleted. The kernel takes the lock and gives it back when its process
//! ends, however it ends, so there is no stale lock to judge and no window in which two claws
//! both believe they hold it. A writer puts its pid in the file only so that the next claw can
//! name it.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use crate::error::{Code, Context, Error, Result};

/// What a command needs: readers share the install, a writer has it to itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

pub struct Lock {
    file: File,
    pub access: Access,
}

impl Lock {
    /// Takes the lock at once or fails with exit code 4, naming the writer that holds it.
    pub fn acquire(claw_dir: &Path, access: Access) -> Result<Lock> {
        std::fs::create_dir_all(claw_dir).with_context(|| format!("creating {}", claw_dir.display()))?;
        let path = claw_dir.join("lock");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let taken = match access {
            Access::Read => file.try_lock_shared(),
            Access::Write => file.try_lock(),
        };
        match taken {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                // Held by readers if a reader could still get in; the pid is then an old one.
                let readers = access == Access::Write && file.try_lock_shared().is_ok();
                let mut owner = String::new();
                let _ = file.read_to_string(&mut owner);
                let who = match owner.trim().parse::<i32>() {
                    Ok(pid) if !readers && alive(pid) => format!("locked by pid {pid} (another claw is changing it)"),
                    _ => "in use by another claw (reading it)".to_string(),
                };
                return Err(Error::with_code(Code::Locked, format!("the install is {who}; try again when it is done")));
            }
            Err(TryLockError::Error(e)) => return Err(Error::new(format!("locking {}: {e}", path.display()))),
        }
        if access == Access::Write {
            let written =
                file.set_len(0).and_then(|()| file.rewind()).and_then(|()| write!(file, "{}", std::process::id()));
            written.with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(Lock { file, access })
    }
}

/// Only for the message: the pid in the file may be an earlier writer's.
fn alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks that the process exists; it sends nothing.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

impl Drop for Lock {
    fn drop(&mut self) {
        // The writer clears its pid while it still holds the lock; closing the file releases it.
        if self.access == Access::Write {
            let _ = self.file.set_len(0);
        }
    }
}
