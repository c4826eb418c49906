//! Folder naming, atomic file replacement, and the counted fsync calls of the store.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Every fsync the store has started in this process (`stream_manager_fsyncs_total`). One
/// counter per process, not per [`crate::Store`]: the daemon opens one store, and tests that
/// open several only look at increases.
static FSYNCS: AtomicU64 = AtomicU64::new(0);

/// `fsync` (data and metadata) of a file or folder, counted.
pub fn fsync(f: &File) -> io::Result<()> {
    FSYNCS.fetch_add(1, Ordering::Relaxed);
    f.sync_all()
}

/// `fdatasync` of a file, counted.
pub fn fdatasync(f: &File) -> io::Result<()> {
    FSYNCS.fetch_add(1, Ordering::Relaxed);
    f.sync_data()
}

/// Fsyncs (and fdatasyncs) started so far in this process.
pub fn fsyncs() -> u64 {
    FSYNCS.load(Ordering::Relaxed)
}

/// File holding a stream's definition, inside its folder.
pub const DEFINITION_FILE: &str = "stream.json";
/// Prefix of folders being deleted (removed at start-up if a crash left them).
pub const TRASH_PREFIX: &str = ".trash-";

/// 64-bit FNV-1a: a stable hash for file names (not for security).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A folder name for a stream: a readable prefix made only of `[A-Za-z0-9_-]` (everything
/// else becomes `_`), a hash of the full name, and `-N` if that is taken. It never starts with
/// a dot, never contains a separator, and stays far below NAME_MAX whatever the stream name
/// (`.`, `..`, spaces, commas, non-ASCII). The real name lives in the definition file; the
/// folder name is never parsed back.
pub fn folder_for(root: &Path, name: &str) -> PathBuf {
    let readable: String = name
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let base = format!("{readable}-{:016x}", fnv1a(name.as_bytes()));
    let mut candidate = root.join(&base);
    let mut n = 1;
    while candidate.exists() {
        n += 1;
        candidate = root.join(format!("{base}-{n}"));
    }
    candidate
}

/// Fsyncs a folder so that entries created, renamed or removed in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fsync(&File::open(dir)?)
}

/// Replaces `path` with `bytes` atomically: temporary file, fsync, rename, fsync of the folder.
/// A crash leaves either the old or the new content, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, true)
}

/// Like [`write_atomic`]; with `durable == false` the fsyncs are left out: the replace is still
/// atomic for any process crash (old or new content), but a power loss may bring back the
/// previous content. For state that is rewritten often and only costs a repeat when stale.
pub fn replace(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    // A bare file name ("stream-manager.port") has the empty path as parent: its folder is ".".
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        if durable {
            fsync(&f)?;
        }
    }
    fs::rename(&tmp, path)?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_cannot_escape_and_do_not_collide() {
        let root = tempfile::tempdir().unwrap();
        let names = [
            ".",
            "..",
            "a b,c",
            "../etc",
            "Größe",
            "a_b",
            "a b",
            &"長".repeat(255),
        ];
        let mut seen = std::collections::HashSet::new();
        for n in names {
            let f = folder_for(root.path(), n);
            assert_eq!(f.parent().unwrap(), root.path(), "{n:?}");
            let leaf = f.file_name().unwrap().to_str().unwrap();
            assert!(!leaf.starts_with('.'), "{leaf}");
            assert!(leaf.len() < 100, "{leaf}");
            assert!(leaf
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
            assert!(seen.insert(leaf.to_owned()), "{n:?} collides");
        }
        // An existing folder is not reused.
        let f = folder_for(root.path(), "x");
        fs::create_dir(&f).unwrap();
        assert_ne!(folder_for(root.path(), "x"), f);
    }

    #[test]
    fn atomic_write_replaces() {
        let root = tempfile::tempdir().unwrap();
        let p = root.path().join(DEFINITION_FILE);
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert!(!p.with_extension("tmp").exists());
    }
}
