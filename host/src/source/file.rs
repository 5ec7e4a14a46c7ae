//! Lines of a file, optionally followed like `tail -f`, resumed across restarts.
//!
//! The committed position lives in `DATA_DIR/sources/NAME.position` as JSON with the
//! file's device and inode, written atomically (temporary file, then rename). On start
//! the source resumes there if it is the same file and not shorter than the position;
//! otherwise it starts from the beginning and says why. Only acknowledged records are
//! ever committed, so a crash replays records instead of losing them.
//!
//! With `follow`, the source polls for appended data at end of file, and restarts from the
//! beginning when the file is truncated (copy-truncate rotation). Checkpoints carry a
//! generation in their top 16 bits so that acknowledgements of lines read before a
//! truncation cannot move the position within the new content.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::fs::File;
use tokio::io::{AsyncSeekExt, SeekFrom};

use super::lines::{LineReader, to_incoming};
use super::{Incoming, Source};
use crate::ack::Checkpoint;
use crate::codec::LineFormat;

/// How often a followed file is checked for new data.
const FOLLOW_POLL: Duration = Duration::from_millis(100);
const OFFSET_BITS: u32 = 48;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Position {
    path: PathBuf,
    device: u64,
    inode: u64,
    offset: u64,
}

pub struct FileSource {
    path: PathBuf,
    state_path: PathBuf,
    format: LineFormat,
    follow: bool,
    stream: Arc<str>,
    reader: LineReader<File>,
    device: u64,
    inode: u64,
    generation: u64,
    /// Where the reader is, for truncation checks.
    read_offset: u64,
    committed: u64,
}

impl FileSource {
    /// Opens `path` for the source `name`, resuming from the position in `data_dir`.
    pub async fn open(
        name: &str,
        path: &Path,
        format: LineFormat,
        follow: bool,
        data_dir: &Path,
    ) -> anyhow::Result<Self> {
        let mut file = File::open(path).await.with_context(|| format!("cannot open {}", path.display()))?;
        let meta = file.metadata().await?;
        let state_path = data_dir.join("sources").join(format!("{name}.position"));
        let saved: Option<Position> = match tokio::fs::read(&state_path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).ok(),
            Err(_) => None,
        };
        let offset = match saved {
            Some(p) if p.device == meta.dev() && p.inode == meta.ino() && p.offset <= meta.len() => p.offset,
            Some(p) => {
                tracing::warn!(source = name, file = %path.display(), saved = p.offset, "the file was replaced or truncated since the saved position; reading it from the start");
                0
            }
            None => 0,
        };
        if offset > 0 {
            file.seek(SeekFrom::Start(offset)).await?;
            tracing::info!(source = name, file = %path.display(), offset, "resuming from the saved position");
        }
        Ok(FileSource {
            path: path.to_owned(),
            state_path,
            format,
            follow,
            stream: Arc::from(path.to_string_lossy().as_ref()),
            reader: LineReader::new(file, offset),
            device: meta.dev(),
            inode: meta.ino(),
            generation: 0,
            read_offset: offset,
            committed: offset,
        })
    }

    /// At end of a followed file: start over if it was truncated, then wait a little.
    async fn wait_for_data(&mut self) -> anyhow::Result<()> {
        let len = tokio::fs::metadata(&self.path).await.map(|m| m.len()).unwrap_or(u64::MAX);
        if len < self.read_offset {
            tracing::warn!(file = %self.path.display(), "the file was truncated; reading it from the start");
            let file = File::open(&self.path).await?;
            self.reader = LineReader::new(file, 0);
            self.read_offset = 0;
            self.generation = (self.generation + 1) & 0xffff;
            self.save(0).await?;
        }
        tokio::time::sleep(FOLLOW_POLL).await;
        Ok(())
    }

    async fn save(&mut self, offset: u64) -> anyhow::Result<()> {
        let position = Position { path: self.path.clone(), device: self.device, inode: self.inode, offset };
        if let Some(dir) = self.state_path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let tmp = self.state_path.with_extension("position.tmp");
        tokio::fs::write(&tmp, serde_json::to_vec(&position)?).await?;
        tokio::fs::rename(&tmp, &self.state_path).await?;
        self.committed = offset;
        Ok(())
    }
}

impl Source for FileSource {
    async fn next(&mut self) -> anyhow::Result<Option<Incoming>> {
        loop {
            let line = match self.reader.next_line().await? {
                Some(line) => line,
                None if self.follow => {
                    self.wait_for_data().await?;
                    continue;
                }
                None => match self.reader.take_partial() {
                    Some(line) => line,
                    None => return Ok(None),
                },
            };
            self.read_offset = line.end;
            let checkpoint = (self.generation << OFFSET_BITS) | line.end;
            if let Some(incoming) = to_incoming(line, self.format, &self.stream, checkpoint) {
                return Ok(Some(incoming));
            }
        }
    }

    async fn commit(&mut self, checkpoint: Checkpoint) -> anyhow::Result<()> {
        let (generation, offset) = (checkpoint >> OFFSET_BITS, checkpoint & OFFSET_MASK);
        if generation != self.generation || offset <= self.committed {
            return Ok(());
        }
        self.save(offset).await.with_context(|| format!("cannot save the position to {}", self.state_path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(source: &mut FileSource) -> Vec<(String, Checkpoint)> {
        let mut out = Vec::new();
        while let Some(i) = source.next().await.unwrap() {
            out.push((String::from_utf8(i.record.ok().unwrap().value().unwrap().to_vec()).unwrap(), i.checkpoint));
        }
        out
    }

    #[tokio::test]
    async fn resumes_from_the_committed_position_only() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.txt");
        std::fs::write(&input, "a\nb\nc\n").unwrap();
        let data = dir.path().join("data");
        let mut s = FileSource::open("src", &input, LineFormat::Lines, false, &data).await.unwrap();
        let lines = read_all(&mut s).await;
        assert_eq!(lines.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        s.commit(lines[1].1).await.unwrap(); // "a" and "b" are done, "c" is not
        drop(s);
        let mut s = FileSource::open("src", &input, LineFormat::Lines, false, &data).await.unwrap();
        assert_eq!(read_all(&mut s).await, vec![("c".to_string(), 6)]);
    }

    #[tokio::test]
    async fn a_replaced_file_is_read_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.txt");
        std::fs::write(&input, "a\nb\n").unwrap();
        let data = dir.path().join("data");
        let mut s = FileSource::open("src", &input, LineFormat::Lines, false, &data).await.unwrap();
        let lines = read_all(&mut s).await;
        s.commit(lines[1].1).await.unwrap();
        std::fs::remove_file(&input).unwrap();
        std::fs::write(&input, "new\n").unwrap();
        let mut s = FileSource::open("src", &input, LineFormat::Lines, false, &data).await.unwrap();
        assert_eq!(read_all(&mut s).await.len(), 1);
    }

    #[tokio::test]
    async fn follow_sees_appended_lines() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.txt");
        std::fs::write(&input, "a\n").unwrap();
        let mut s = FileSource::open("src", &input, LineFormat::Lines, true, dir.path()).await.unwrap();
        assert!(s.next().await.unwrap().is_some());
        let appender = {
            let input = input.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(150)).await;
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new().append(true).open(input).unwrap();
                f.write_all(b"par").unwrap();
                f.flush().unwrap();
                tokio::time::sleep(Duration::from_millis(150)).await;
                f.write_all(b"tial\n").unwrap();
            })
        };
        let next = tokio::time::timeout(Duration::from_secs(5), s.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(next.record.ok().unwrap().value().unwrap(), b"partial", "a partial line waits for its newline");
        appender.await.unwrap();
    }
}
