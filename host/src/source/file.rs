//! Lines of a file, optionally followed like `tail -f`, resumed across restarts.
//!
//! The committed position lives in `DATA_DIR/sources/NAME.position` as JSON with the
//! file's device and inode and a fingerprint of its first bytes (up to [`HEAD_BYTES`]:
//! a SHA-256 of them), written atomically (temporary file, then rename). On start the
//! source resumes there if it is the same file, not shorter than the position, and
//! begins with the same bytes; otherwise it starts from the beginning and says why.
//! Device and inode alone are not enough: a file truncated in place and written again
//! past the old position (copy-truncate) keeps both, and so can a new file that reuses a
//! deleted one's inode; resuming there would skip the new content's first lines and
//! start in the middle of one. (Content rewritten with the very same first bytes is
//! taken for the same file, as Vector's checksum fingerprint does.) Only acknowledged
//! records are ever committed, so a crash replays records instead of losing them.
//!
//! With `follow`, the source polls for appended data at end of file and tracks the file's
//! identity (device and inode) as well as its path, so both kinds of log rotation work:
//! - **Rename** (`mv app.log app.log.1`, then a new `app.log`): the source reads the old
//!   file to its end (a last line without a newline included), waits until every record
//!   read from it is committed, and only then opens the new file from its start. Waiting
//!   keeps the saved position on the old file until nothing of it is outstanding, so a
//!   crash in between reads its tail again rather than skipping it. (A restart after a
//!   rotation whose old file still had unacknowledged records starts on the new file:
//!   the position names a file no longer at the path, and the source says so.)
//! - **Truncation** (copy-truncate): the file is shorter than what was read, or no longer
//!   begins with the bytes it began with, so the source starts it again from the beginning.
//!
//! Checkpoints carry a generation in their top 16 bits, bumped on each switch, so that
//! acknowledgements of lines read before one cannot move the position within the new
//! content.

use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::fs::File;
use tokio::io::{AsyncSeekExt, SeekFrom};

use super::lines::{LineOptions, LineReader, to_incoming};
use super::{Incoming, Source};
use crate::ack::Checkpoint;
use crate::codec::LineFormat;

/// How often a followed file is checked for new data.
const FOLLOW_POLL: Duration = Duration::from_millis(100);
const OFFSET_BITS: u32 = 48;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;
/// How many of a file's first bytes identify it, with its device and inode.
const HEAD_BYTES: usize = 1024;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Position {
    path: PathBuf,
    device: u64,
    inode: u64,
    offset: u64,
    /// The file's first bytes, as far as they were committed. Absent from positions
    /// saved before there were fingerprints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    head: Option<Fingerprint>,
}

/// A file's first `bytes` bytes, by their SHA-256.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Fingerprint {
    bytes: u64,
    sha256: String,
}

impl Fingerprint {
    fn of(head: &[u8]) -> Self {
        let sha256 = Sha256::digest(head).iter().map(|b| format!("{b:02x}")).collect();
        Fingerprint { bytes: head.len() as u64, sha256 }
    }
}

/// Up to `len` of the first bytes of `file`, read without moving its offset.
async fn read_head(file: &Arc<std::fs::File>, len: usize) -> std::io::Result<Vec<u8>> {
    let file = file.clone();
    tokio::task::spawn_blocking(move || {
        let mut head = vec![0; len];
        let mut filled = 0;
        while filled < len {
            match file.read_at(&mut head[filled..], filled as u64)? {
                0 => break,
                n => filled += n,
            }
        }
        head.truncate(filled);
        Ok(head)
    })
    .await
    .expect("reading a file's head does not panic")
}

pub struct FileSource {
    path: PathBuf,
    state_path: PathBuf,
    format: LineFormat,
    follow: bool,
    stream: Arc<str>,
    reader: LineReader<File>,
    /// The file being read, for its first bytes (read with `pread`, which leaves the
    /// reader's offset alone).
    file: Arc<std::fs::File>,
    /// Its first bytes, as many as were read and are at most [`HEAD_BYTES`].
    head: Vec<u8>,
    max_line: usize,
    device: u64,
    inode: u64,
    generation: u64,
    /// Whether the reader was at the end of a followed file when last asked.
    at_end: bool,
    /// Where the reader is, for truncation checks.
    read_offset: u64,
    /// The end of the last line handed out as a record, in this generation: once that is
    /// committed, nothing read from the file is outstanding.
    emitted: u64,
    committed: u64,
}

impl FileSource {
    /// Opens `path` for the source `name`, resuming from the position in `data_dir`.
    pub async fn open(
        name: &str,
        path: &Path,
        lines: LineOptions,
        follow: bool,
        data_dir: &Path,
    ) -> anyhow::Result<Self> {
        let mut file = File::open(path).await.with_context(|| format!("cannot open {}", path.display()))?;
        let meta = file.metadata().await?;
        let handle = Arc::new(file.try_clone().await?.into_std().await);
        let state_path = data_dir.join("sources").join(format!("{name}.position"));
        let saved: Option<Position> = match tokio::fs::read(&state_path).await {
            // Saved without an fsync (one per commit would cost the source its speed):
            // after a power loss it may be empty. Reading the file again from the start
            // repeats records, which at-least-once allows; it never loses one.
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(position) => Some(position),
                Err(e) => {
                    tracing::warn!(source = name, position = %state_path.display(), error = %e, "the saved position is unreadable; reading the file from the start");
                    None
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read the saved position {}", state_path.display()));
            }
        };
        let mut head = Vec::new();
        let offset = match saved {
            Some(p) if p.device != meta.dev() || p.inode != meta.ino() => {
                tracing::warn!(source = name, file = %path.display(), saved = p.offset, "the file was replaced since the saved position; reading it from the start");
                0
            }
            Some(p) if p.offset > meta.len() => {
                tracing::warn!(source = name, file = %path.display(), saved = p.offset, "the file was truncated since the saved position; reading it from the start");
                0
            }
            Some(Position { offset, head: Some(saved), .. }) => {
                head = read_head(&handle, saved.bytes as usize).await?;
                if Fingerprint::of(&head) == saved {
                    offset
                } else {
                    tracing::warn!(source = name, file = %path.display(), saved = offset, "the file no longer begins with the bytes it began with at the saved position (truncated and written again, or another file on the same inode); reading it from the start");
                    head.clear();
                    0
                }
            }
            Some(p) => p.offset,
            None => 0,
        };
        if offset > 0 {
            file.seek(SeekFrom::Start(offset)).await?;
            tracing::info!(source = name, file = %path.display(), offset, "resuming from the saved position");
        }
        Ok(FileSource {
            path: path.to_owned(),
            state_path,
            format: lines.format,
            follow,
            stream: Arc::from(path.to_string_lossy().as_ref()),
            reader: LineReader::new(file, offset, lines.max_bytes),
            file: handle,
            head,
            max_line: lines.max_bytes,
            device: meta.dev(),
            inode: meta.ino(),
            generation: 0,
            at_end: false,
            read_offset: offset,
            emitted: offset,
            committed: offset,
        })
    }

    /// At the end of a followed file: whether another file took its path, and so what to
    /// do next.
    async fn check_rotated(&mut self) -> anyhow::Result<AtEnd> {
        // A missing path is a rotation under way: the new file is not there yet.
        let Ok(meta) = tokio::fs::metadata(&self.path).await else {
            return Ok(AtEnd::Wait);
        };
        if (meta.dev(), meta.ino()) == (self.device, self.inode) {
            return Ok(AtEnd::Wait);
        }
        if let Some(last) = self.reader.take_partial() {
            return Ok(AtEnd::Line(last));
        }
        if self.committed < self.emitted {
            return Ok(AtEnd::Wait);
        }
        tracing::info!(file = %self.path.display(), "the file was rotated; reading the new one from the start");
        self.start_over().await?;
        Ok(AtEnd::Read)
    }

    /// Before reading what was added to a followed file since the reader was at its end:
    /// starts it over if it was truncated, or truncated and written again past where the
    /// reader is, meanwhile. (A file renamed away is read to its end first: that is
    /// [`FileSource::check_rotated`]'s.)
    async fn check_rewritten(&mut self) -> anyhow::Result<()> {
        let file = self.file.clone();
        let len = tokio::task::spawn_blocking(move || file.metadata()).await.expect("metadata does not panic")?.len();
        let why = if len < self.read_offset {
            "the file was truncated; reading it from the start"
        } else if !self.head.is_empty() && read_head(&self.file, self.head.len()).await? != self.head {
            "the file no longer begins with the bytes it began with (truncated and written again); reading it from the start"
        } else {
            return Ok(());
        };
        tracing::warn!(file = %self.path.display(), "{why}");
        // The file being read was rewritten in place: it is the one at the path, unless it
        // was renamed away too, and then the one at the path is the one to read.
        self.start_over().await
    }

    /// Opens the file now at the path and reads it from its start, in a new generation.
    ///
    /// Cancel-safe: the switch happens at once, after the last await that can fail
    /// without changing anything, and a cancelled `save` leaves only the saved position
    /// behind, which [`FileSource::open`] would refuse anyway.
    async fn start_over(&mut self) -> anyhow::Result<()> {
        let file = File::open(&self.path).await.with_context(|| format!("cannot open {}", self.path.display()))?;
        let meta = file.metadata().await?;
        let handle = Arc::new(file.try_clone().await?.into_std().await);
        (self.device, self.inode) = (meta.dev(), meta.ino());
        self.reader = LineReader::new(file, 0, self.max_line);
        (self.file, self.head) = (handle, Vec::new());
        (self.read_offset, self.emitted, self.committed) = (0, 0, 0);
        self.generation = (self.generation + 1) & 0xffff;
        self.save(0).await
    }

    async fn save(&mut self, offset: u64) -> anyhow::Result<()> {
        // The fingerprint covers what is committed, up to HEAD_BYTES: once that much is
        // known it is not read again.
        let want = (offset as usize).min(HEAD_BYTES);
        if self.head.len() < want {
            self.head = read_head(&self.file, want).await?;
        }
        let head = Some(Fingerprint::of(&self.head[..want.min(self.head.len())]));
        let position = Position { path: self.path.clone(), device: self.device, inode: self.inode, offset, head };
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

/// What a followed file's source does at the file's end.
enum AtEnd {
    /// Hand out this last line of a rotated file.
    Line(super::lines::Line),
    /// Read on: the source switched files.
    Read,
    /// Nothing new yet: poll again later.
    Wait,
}

impl Source for FileSource {
    async fn next(&mut self) -> anyhow::Result<Option<Incoming>> {
        loop {
            // At the end last time: make sure the file was not rewritten in place before
            // reading what was added. (Cancel-safe: the flag stays up until that is done.)
            if self.at_end {
                self.check_rewritten().await?;
                self.at_end = false;
            }
            let line = match self.reader.next_line().await? {
                Some(line) => line,
                None if self.follow => match self.check_rotated().await? {
                    AtEnd::Line(line) => line,
                    AtEnd::Read => continue,
                    AtEnd::Wait => {
                        self.at_end = true;
                        tokio::time::sleep(FOLLOW_POLL).await;
                        continue;
                    }
                },
                None => match self.reader.take_partial() {
                    Some(line) => line,
                    None => return Ok(None),
                },
            };
            self.read_offset = line.end;
            let checkpoint = (self.generation << OFFSET_BITS) | line.end;
            let end = line.end;
            if let Some(incoming) = to_incoming(line, self.format, &self.stream, checkpoint) {
                self.emitted = end;
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

    const LINES: LineOptions = LineOptions { format: LineFormat::Lines, max_bytes: 1024 };

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
        let mut s = FileSource::open("src", &input, LINES, false, &data).await.unwrap();
        let lines = read_all(&mut s).await;
        assert_eq!(lines.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        s.commit(lines[1].1).await.unwrap(); // "a" and "b" are done, "c" is not
        drop(s);
        let mut s = FileSource::open("src", &input, LINES, false, &data).await.unwrap();
        assert_eq!(read_all(&mut s).await, vec![("c".to_string(), 6)]);
    }

    #[tokio::test]
    async fn a_replaced_file_is_read_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.txt");
        std::fs::write(&input, "a\nb\n").unwrap();
        let data = dir.path().join("data");
        let mut s = FileSource::open("src", &input, LINES, false, &data).await.unwrap();
        let lines = read_all(&mut s).await;
        s.commit(lines[1].1).await.unwrap();
        std::fs::remove_file(&input).unwrap();
        std::fs::write(&input, "new\n").unwrap();
        let mut s = FileSource::open("src", &input, LINES, false, &data).await.unwrap();
        assert_eq!(read_all(&mut s).await.len(), 1);
    }

    #[tokio::test]
    async fn follow_sees_appended_lines() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.txt");
        std::fs::write(&input, "a\n").unwrap();
        let mut s = FileSource::open("src", &input, LINES, true, dir.path()).await.unwrap();
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

    fn value(incoming: &Incoming) -> &[u8] {
        incoming.record.as_ref().ok().unwrap().value().unwrap()
    }

    #[tokio::test]
    async fn follow_finishes_a_renamed_file_before_it_reads_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.txt");
        std::fs::write(&input, "a\nb\n").unwrap();
        let mut s = FileSource::open("src", &input, LINES, true, dir.path()).await.unwrap();
        let a = s.next().await.unwrap().unwrap();
        let b = s.next().await.unwrap().unwrap();
        assert_eq!((value(&a), value(&b)), (&b"a"[..], &b"b"[..]));

        // Rotated by rename; the writer still finishes a last line in the old file.
        let rotated = dir.path().join("in.txt.1");
        std::fs::rename(&input, &rotated).unwrap();
        std::fs::write(&input, "c\n").unwrap();
        use std::io::Write;
        std::fs::OpenOptions::new().append(true).open(&rotated).unwrap().write_all(b"last").unwrap();

        let last = tokio::time::timeout(Duration::from_secs(5), s.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(value(&last), b"last", "the old file is read to its end, a line without a newline included");
        s.commit(b.checkpoint).await.unwrap();
        assert!(
            tokio::time::timeout(FOLLOW_POLL * 3, s.next()).await.is_err(),
            "the new file waits until everything read from the old one is committed"
        );
        s.commit(last.checkpoint).await.unwrap();
        let c = tokio::time::timeout(Duration::from_secs(5), s.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(value(&c), b"c");
        s.commit(a.checkpoint).await.unwrap();
        s.commit(c.checkpoint).await.unwrap();
        drop(s);

        // The position now names the new file: a restart resumes after `c`.
        std::fs::OpenOptions::new().append(true).open(&input).unwrap().write_all(b"d\n").unwrap();
        let mut s = FileSource::open("src", &input, LINES, false, dir.path()).await.unwrap();
        assert_eq!(read_all(&mut s).await, vec![("d".to_string(), 4)]);
    }

    /// Truncates `path` in place and writes `text` into it, as copy-truncate does: the
    /// device and inode stay.
    fn truncate_and_write(path: &Path, text: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().write(true).truncate(true).open(path).unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    const NEW: &str = "new-1\nnew-2\nnew-3\nnew-4\n";

    /// A folder whose `in.txt` holds `text`, read to its end by a source that committed
    /// its second line and stopped; the input's and the data folder's paths.
    async fn committed_after_the_second_line(text: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let (input, data) = (dir.path().join("in.txt"), dir.path().join("data"));
        std::fs::write(&input, text).unwrap();
        let mut s = FileSource::open("src", &input, LINES, false, &data).await.unwrap();
        let lines = read_all(&mut s).await;
        s.commit(lines[1].1).await.unwrap();
        (dir, input, data)
    }

    #[tokio::test]
    async fn a_file_truncated_and_written_again_past_the_position_is_read_from_the_start() {
        let (_dir, input, data) = committed_after_the_second_line("line-1\nline-2\nline-3\n").await;
        let inode = std::fs::metadata(&input).unwrap().ino();
        truncate_and_write(&input, NEW);
        assert_eq!(std::fs::metadata(&input).unwrap().ino(), inode, "the same inode");
        let mut s = FileSource::open("src", &input, LINES, false, &data).await.unwrap();
        let values: Vec<String> = read_all(&mut s).await.into_iter().map(|(l, _)| l).collect();
        assert_eq!(values, ["new-1", "new-2", "new-3", "new-4"], "none of the new lines is lost");
    }

    #[tokio::test]
    async fn a_followed_file_truncated_and_written_again_between_two_looks_is_read_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.txt");
        std::fs::write(&input, "line-1\nline-2\n").unwrap();
        let mut s = FileSource::open("src", &input, LINES, true, dir.path()).await.unwrap();
        let first = s.next().await.unwrap().unwrap();
        let second = s.next().await.unwrap().unwrap();
        s.commit(first.checkpoint).await.unwrap();
        s.commit(second.checkpoint).await.unwrap();
        assert!(tokio::time::timeout(FOLLOW_POLL * 3, s.next()).await.is_err(), "at the end, waiting");
        truncate_and_write(&input, NEW);
        let next = tokio::time::timeout(Duration::from_secs(5), s.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(value(&next), b"new-1");
    }

    #[tokio::test]
    async fn the_same_file_grown_since_the_position_resumes_and_so_does_a_position_without_a_fingerprint() {
        let (_dir, input, data) = committed_after_the_second_line("a\nb\n").await;
        use std::io::Write;
        std::fs::OpenOptions::new().append(true).open(&input).unwrap().write_all(b"c\n").unwrap();
        let mut s = FileSource::open("src", &input, LINES, false, &data).await.unwrap();
        assert_eq!(read_all(&mut s).await, vec![("c".to_string(), 6)]);
        drop(s);

        let state = data.join("sources/src.position");
        let mut position: Position = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
        assert_eq!(position.head, Some(Fingerprint::of(b"a\nb\n")), "the committed first bytes");
        position.head = None;
        std::fs::write(&state, serde_json::to_vec(&position).unwrap()).unwrap();
        let mut s = FileSource::open("src", &input, LINES, false, &data).await.unwrap();
        assert_eq!(read_all(&mut s).await, vec![("c".to_string(), 6)]);
    }
}
