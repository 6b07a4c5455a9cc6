//! Idle memory. Start-up (configuration, TLS set-up, each channel's first connection) maps code
//! and read-only data that the idle host never runs again: a third of a WhatsApp host's binary,
//! kept in its RSS though the kernel could drop it at any time. Once the host is up, and every
//! few minutes after, the mappings that are still exactly the file's bytes are unmapped: the
//! pages stay in the page cache and come back on the next access, so RSS is the working set.

use std::time::Duration;

/// Gives the pages back once start-up is done (after `settle`), then every five minutes.
pub async fn trim_periodically(settle: Duration) {
    tokio::time::sleep(settle).await;
    loop {
        trim();
        tokio::time::sleep(Duration::from_secs(300)).await;
    }
}

/// Unmaps the host binary's own mappings that are still exactly the file's bytes.
pub fn trim() {
    let (Ok(smaps), Ok(exe)) = (std::fs::read_to_string("/proc/self/smaps"), std::fs::read_link("/proc/self/exe"))
    else {
        return;
    };
    for (start, end) in unchanged_mappings(&smaps, &exe.to_string_lossy()) {
        // SAFETY: a private mapping of the executable that cannot be written and holds no page
        // copied or swapped out is the file's bytes, and the executable is never unmapped or
        // remapped while the process lives; MADV_DONTNEED drops its page-table entries and the
        // next access maps the same bytes again from the page cache.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
}

/// The ranges in `smaps` of `exe`'s private, read-only mappings with no page of their own: none
/// copied by a write (relocated data), swapped out or huge. Only the executable's, because a
/// library may still be mapped, relocated and protected by the loader while this reads.
fn unchanged_mappings(smaps: &str, exe: &str) -> Vec<(usize, usize)> {
    let (mut found, mut block) = (Vec::new(), None);
    // A last empty line ends the last mapping's block.
    for line in smaps.lines().chain([""]) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields[..] {
            ["Anonymous:" | "Swap:" | "Private_Hugetlb:", kib, "kB"] if kib != "0" => block = None,
            [key, ..] if key.ends_with(':') => {}
            // The next header: `START-END PERMS OFFSET DEV INODE PATH`, the path absent for
            // anonymous memory.
            _ => {
                found.extend(block.take());
                let (range, perms, path) = (fields.first(), fields.get(1), fields.get(5..).map(|p| p.join(" ")));
                if perms.is_some_and(|p| p.ends_with('p') && !p.contains('w')) && path.as_deref() == Some(exe) {
                    let (start, end) = range.and_then(|r| r.split_once('-')).unwrap_or_default();
                    block = usize::from_str_radix(start, 16).ok().zip(usize::from_str_radix(end, 16).ok());
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXE: &str = "/srv/bot/target/release/claw-host";

    fn block(range: &str, perms: &str, path: &str, anonymous: u32, swap: u32) -> String {
        format!(
            "{range} {perms} 00000000 fd:00 4242 {path}\nSize: 64 kB\nRss: 64 kB\nAnonymous: {anonymous} kB\n\
             AnonHugePages: 0 kB\nSwap: {swap} kB\nPrivate_Hugetlb: 0 kB\nVmFlags: rd mr mw me\n"
        )
    }

    #[test]
    fn only_the_executables_unchanged_read_only_private_mappings_are_chosen() {
        let smaps = [
            block("1000-2000", "r--p", EXE, 0, 0),                  // constants: chosen
            block("2000-5000", "r-xp", EXE, 0, 0),                  // code: chosen
            block("5000-6000", "r--p", EXE, 4, 0),                  // relocated (RELRO): copied pages
            block("6000-7000", "r--p", EXE, 0, 8),                  // relocated, swapped out
            block("7000-8000", "rw-p", EXE, 0, 0),                  // writable data
            block("8000-9000", "r--s", EXE, 0, 0),                  // shared
            block("9000-a000", "r-xp", "/usr/lib/libc.so.6", 0, 0), // a library
            "a000-b000 rw-p 00000000 00:00 0\nAnonymous: 0 kB\n".to_string(), // anonymous memory
            block("b000-c000", "r-xp", &format!("{EXE} (deleted)"), 0, 0), // another binary's path
        ]
        .concat();
        assert_eq!(unchanged_mappings(&smaps, EXE), [(0x1000, 0x2000), (0x2000, 0x5000)]);
        let replaced = format!("{EXE} (deleted)");
        assert_eq!(unchanged_mappings(&smaps, &replaced), [(0xb000, 0xc000)], "a binary replaced on disk");
    }

    #[test]
    fn trimming_keeps_the_process_running_and_its_code_out_of_rss() {
        let exe = std::fs::read_link("/proc/self/exe").expect("exe");
        let rss = || {
            let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
            let mut mine = false;
            let mut kib = 0u64;
            for line in smaps.lines() {
                if let Some(rest) = line.strip_prefix("Rss:").filter(|_| mine) {
                    kib += rest.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap_or(0);
                } else if !line.split_whitespace().next().is_some_and(|k| k.ends_with(':')) {
                    mine = line.ends_with(&*exe.to_string_lossy());
                }
            }
            kib
        };
        let before = rss();
        trim();
        let after = rss();
        assert!(after < before, "the executable's mapped pages: {before} KiB before, {after} KiB after");
        assert_eq!(format!("{}", 6 * 7), "42", "code runs again after its pages were unmapped");
    }
}
