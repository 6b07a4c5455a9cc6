//! Idle memory. Start-up (configuration, TLS set-up, each channel's first connection) maps code
//! and read-only data that the idle host never runs again: a third of a WhatsApp host's binary,
//! kept in its RSS though the kernel could drop it at any time. Once the host is up, and every
//! few minutes after, the mappings that are still exactly the file's bytes are unmapped: the
//! pages stay in the page cache and come back on the next access, so RSS is the working set.

use std::time::Duration;

/// How often the unused pages are given back.
const EVERY: Duration = Duration::from_secs(300);

/// Gives the pages back after `settle` (start-up done), then every few minutes.
pub async fn trim_periodically(settle: Duration) {
    tokio::time::sleep(settle).await;
    loop {
        trim();
        tokio::time::sleep(EVERY).await;
    }
}

/// Unmaps each private, read-only file mapping no write has copied a page of: code and
/// constants, equal to the file, so unmapping them loses nothing. A mapping with copied pages
/// (relocated data) is left alone.
pub fn trim() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else { return };
    // The mapping whose header was read last, if it is private, read-only and of a file.
    let mut candidate = None;
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields[..] {
            ["Anonymous:", kib, "kB"] => {
                if let Some((start, end)) = candidate.take()
                    && kib == "0"
                {
                    // SAFETY: a private mapping that cannot be written and holds no copied page
                    // is the file's bytes; MADV_DONTNEED drops its page-table entries and the
                    // next access maps the same bytes again from the page cache.
                    unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
                }
            }
            // A mapping's header: `START-END PERMS OFFSET DEV INODE [PATH]`.
            [range, perms, ..] if !range.ends_with(':') => {
                let file = fields.get(5).is_some_and(|path| path.starts_with('/'));
                candidate = range
                    .split_once('-')
                    .and_then(|(s, e)| Some((usize::from_str_radix(s, 16).ok()?, usize::from_str_radix(e, 16).ok()?)))
                    .filter(|_| file && perms.ends_with('p') && !perms.contains('w'));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// Maps `file` privately, read and write, then read-only; returns the address.
    fn map(file: &std::fs::File, len: usize) -> *mut u8 {
        // SAFETY: a fresh private mapping of a file this test owns, used only through `len`.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(addr, libc::MAP_FAILED);
        addr.cast()
    }

    /// The RSS of the mapping at `addr`, in KiB.
    fn rss_kib(addr: *mut u8) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        let start = format!("{:x}-", addr as usize);
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&start));
        let rss = lines.find_map(|l| l.strip_prefix("Rss:")).expect("the mapping");
        rss.trim().trim_end_matches("kB").trim().parse().expect("kB")
    }

    #[test]
    fn clean_pages_leave_the_rss_and_copied_ones_keep_their_bytes() {
        let len = 64 * 4096;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data");
        std::fs::write(&path, vec![7u8; len]).expect("write");
        let file = std::fs::File::open(&path).expect("open");
        let (clean, copied) = (map(&file, len), map(&file, len));
        // SAFETY: both mappings are `len` bytes long and this test's alone.
        unsafe {
            let sum: u64 = (0..len).step_by(4096).map(|i| u64::from(*clean.add(i))).sum();
            assert_eq!(sum, 7 * 64);
            *copied.add(4096) = 42; // a private copy of one page, as relocations make
            libc::mprotect(clean.cast(), len, libc::PROT_READ);
            libc::mprotect(copied.cast(), len, libc::PROT_READ);
        }
        assert!(rss_kib(clean) >= 4, "the clean mapping's pages are mapped");
        trim();
        assert_eq!(rss_kib(clean), 0, "unmapped: the page cache holds them");
        // SAFETY: as above.
        unsafe {
            assert_eq!(*clean.add(5 * 4096), 7, "the bytes come back from the file");
            assert_eq!(*copied.add(4096), 42, "a mapping with a copied page is left alone");
            libc::munmap(clean.cast(), len);
            libc::munmap(copied.cast(), len);
        }
    }
}
