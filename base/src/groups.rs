//! Group folders: each registered group owns one folder under `data/groups/`, the only place
//! its container can write. A folder name is checked everywhere it is used.

use std::path::{Path, PathBuf};

const MAX_LEN: usize = 64;
/// Names that mean something else in the data directory or to the runtime.
const RESERVED: &[&str] = &["global", "ipc", "sockets", "run", "store", "tmp", "con", "nul", "prn", "aux"];

/// Checks a group folder name: lowercase ASCII letters, digits, '-' and '_', not reserved.
pub fn validate_folder(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_LEN
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        return Err(format!(
            "invalid group folder {name:?}: use 1-{MAX_LEN} of a-z, 0-9, '-' and '_', starting with a letter or digit"
        ));
    }
    if RESERVED.contains(&name) {
        return Err(format!("invalid group folder {name:?}: the name is reserved"));
    }
    Ok(())
}

/// The folder of a group under the data directory, after validation.
pub fn folder_path(data_dir: &Path, name: &str) -> Result<PathBuf, String> {
    validate_folder(name)?;
    Ok(data_dir.join("groups").join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_are_checked() {
        for ok in ["main", "family-chat", "team_2", "0day"] {
            validate_folder(ok).unwrap();
        }
        for bad in ["", "..", "../x", "a/b", "Main", "-x", "global", "x".repeat(65).as_str(), "a b", "a\0"] {
            assert!(validate_folder(bad).is_err(), "{bad:?}");
        }
    }
}
