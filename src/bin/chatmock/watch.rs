//! `--watch`: notices when a fixture file changes, by looking at its size and time of
//! last change a few times a second. Polling needs no platform API and no crate, and a
//! fixture file is small and rarely edited.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How often the files are looked at: an edit shows within a quarter of a second.
const EVERY: Duration = Duration::from_millis(250);

pub(crate) struct Watcher {
    files: Vec<PathBuf>,
    seen: Vec<Option<(SystemTime, u64)>>,
}

impl Watcher {
    pub(crate) fn new(files: &[PathBuf]) -> Watcher {
        let seen = files.iter().map(|file| stamp(file)).collect();
        Watcher {
            files: files.to_vec(),
            seen,
        }
    }

    /// Returns once a file has changed since the last call (or since `new`).
    pub(crate) async fn changed(&mut self) {
        loop {
            tokio::time::sleep(EVERY).await;
            let now: Vec<_> = self.files.iter().map(|file| stamp(file)).collect();
            if now != self.seen {
                self.seen = now;
                return;
            }
        }
    }
}

/// When the file last changed and its size; `None` while it cannot be read, such as
/// between an editor's delete and write.
fn stamp(file: &Path) -> Option<(SystemTime, u64)> {
    let metadata = std::fs::metadata(file).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}
