//! Appends records to a file, one line each, fsynced before they are acknowledged.
//!
//! Writes and fsyncs are blocking calls made on tokio's blocking pool and waited for, so
//! their errors belong to the flush that made them. (An async `tokio::fs::File` hands a
//! write to a background thread and reports its error on the next operation, which can be
//! after the batch was acknowledged.) When a write or fsync fails (a full disk, a file
//! size limit) the file is cut back to its length before the attempt, so what the failed
//! attempt left of its lines is gone before the driver writes them again: no line is ever
//! broken or repeated. An fsync that failed says nothing reliable about which pages
//! reached the disk, which is why the whole attempt is cut and written again rather than
//! fsynced again.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use super::lines::{LineSink, LineTarget};
use crate::codec::LineFormat;

pub async fn open(path: &Path, format: LineFormat) -> anyhow::Result<LineSink<AppendFile>> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await.with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {} for appending", path.display()))?;
    // The file's entry in its directory must be as durable as the lines fsynced into it:
    // without this, a power loss after the first acknowledgement can lose a file created
    // here, acknowledged lines and all. (Once per start; the file is only appended to.)
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("cannot fsync {}, the directory of {}", dir.display(), path.display()))?;
    let target = AppendFile { file: Arc::new(file), cut_back_to: None };
    Ok(LineSink::new(target, path.display().to_string(), format))
}

/// A file opened for appending.
pub struct AppendFile {
    /// Shared with the blocking task that writes it.
    file: Arc<File>,
    /// Set after a failed attempt whose partial write could not be cut off at once: the
    /// length the file must be cut back to before anything else is written.
    cut_back_to: Option<u64>,
}

impl LineTarget for AppendFile {
    async fn write_durably(&mut self, lines: &mut Vec<u8>) -> std::io::Result<()> {
        let file = self.file.clone();
        let owned = std::mem::take(lines);
        let cut_back_to = self.cut_back_to;
        let (owned, outcome) = tokio::task::spawn_blocking(move || {
            let outcome = append(&file, &owned, cut_back_to);
            (owned, outcome)
        })
        .await
        .map_err(std::io::Error::other)?;
        *lines = owned;
        let (cut_back_to, result) = outcome;
        self.cut_back_to = cut_back_to;
        result
    }
}

/// Appends `lines` and fsyncs. Returns the length a later attempt must cut the file
/// back to, if this one failed and could not clean up after itself.
fn append(file: &File, lines: &[u8], cut_back_to: Option<u64>) -> (Option<u64>, std::io::Result<()>) {
    if let Some(length) = cut_back_to
        && let Err(error) = cut_back(file, length)
    {
        return (Some(length), Err(error));
    }
    let before = match file.metadata() {
        Ok(metadata) => metadata.len(),
        Err(error) => return (None, Err(error)),
    };
    let mut writer = file;
    match writer.write_all(lines).and_then(|()| file.sync_data()) {
        Ok(()) => (None, Ok(())),
        Err(error) => match cut_back(file, before) {
            Ok(()) => (None, Err(error)),
            Err(_) => (Some(before), Err(error)),
        },
    }
}

/// Cuts `file` back to `length` if it grew past it, and makes that durable.
fn cut_back(file: &File, length: u64) -> std::io::Result<()> {
    if file.metadata()?.len() > length {
        file.set_len(length)?;
        file.sync_data()?;
    }
    Ok(())
}
