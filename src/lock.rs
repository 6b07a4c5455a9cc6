//! One claw at a time per install: an exclusive lock file inside `.git`, holding the owner's pid.
//! A lock whose process is gone is stale and taken over.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Code, Context, Error, Result};

pub struct Lock {
    path: PathBuf,
}

impl Lock {
    pub fn acquire(claw_dir: &Path) -> Result<Lock> {
        std::fs::create_dir_all(claw_dir).with_context(|| format!("creating {}", claw_dir.display()))?;
        let path = claw_dir.join("lock");
        for _ in 0..2 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    write!(file, "{}", std::process::id()).with_context(|| format!("writing {}", path.display()))?;
                    return Ok(Lock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(&path).unwrap_or_default();
                    match owner.trim().parse::<i32>() {
                        Ok(pid) if alive(pid) => {
                            return Err(Error::with_code(
                                Code::Locked,
                                format!(
                                    "the install is locked by pid {pid} (another claw is running); if it is not, remove {}",
                                    path.display()
                                ),
                            ));
                        }
                        // Stale (its process is gone) or half-written: take it over.
                        _ => {
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => return Err(Error::new(format!("creating {}: {e}", path.display()))),
            }
        }
        Err(Error::with_code(Code::Locked, format!("could not take the lock {}", path.display())))
    }
}

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
        let _ = std::fs::remove_file(&self.path);
    }
}
