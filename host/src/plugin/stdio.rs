//! A plugin's stdout and stderr: bounded buffers that keep the tail and never refuse a
//! write.
//!
//! Printing diagnostics is normal (Python tracebacks, Go's and JavaScript's runtimes, a
//! Rust panic's message), so a write must never fail, block or grow host memory. Each
//! stream keeps only its last [`TAIL_BYTES`]; older bytes are counted and forgotten. The
//! host empties both before every call, so what a failure reason quotes is what the plugin
//! printed during that call, never what an earlier batch left behind.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// How much of each stream a call keeps: enough for a panic message or the end of a
/// traceback.
pub const TAIL_BYTES: usize = 4 * 1024;

/// What a stream takes in one write; writes never wait, so this only bounds one copy.
const WRITE_PERMIT: usize = 64 * 1024;

/// One captured stream. Clones share the buffer (WASI hands the guest a new stream
/// object per `get-stderr`).
#[derive(Clone, Default)]
pub struct TailBuffer(Arc<Mutex<Tail>>);

#[derive(Default)]
struct Tail {
    bytes: VecDeque<u8>,
    /// Bytes written since the last `take` that no longer fit.
    forgotten: u64,
}

impl TailBuffer {
    fn push(&self, bytes: &[u8]) {
        let mut tail = self.0.lock().expect("tail buffer poisoned");
        let keep = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
        tail.forgotten += (bytes.len() - keep.len()) as u64;
        let overflow = (tail.bytes.len() + keep.len()).saturating_sub(TAIL_BYTES);
        tail.bytes.drain(..overflow);
        tail.forgotten += overflow as u64;
        tail.bytes.extend(keep);
    }

    /// The text written since the last call, as lines of text, and empties the buffer.
    pub fn take(&self) -> Option<String> {
        let mut tail = self.0.lock().expect("tail buffer poisoned");
        if tail.bytes.is_empty() {
            return None;
        }
        let (front, back) = tail.bytes.as_slices();
        let mut text = String::from_utf8_lossy(&[front, back].concat()).into_owned();
        if tail.forgotten > 0 {
            text.insert_str(0, &format!("[{} earlier bytes not kept] ", tail.forgotten));
        }
        tail.bytes.clear();
        tail.forgotten = 0;
        Some(text)
    }
}

impl IsTerminal for TailBuffer {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for TailBuffer {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for TailBuffer {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for TailBuffer {
    async fn ready(&mut self) {}
}

impl AsyncWrite for TailBuffer {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_tail_counts_the_rest_and_starts_empty_after_take() {
        let tail = TailBuffer::default();
        assert_eq!(tail.take(), None);
        for i in 0..10_000 {
            tail.push(format!("line {i}\n").as_bytes());
        }
        let text = tail.take().unwrap();
        assert!(text.ends_with("line 9999\n"), "{text}");
        assert!(text.starts_with('['), "says that earlier bytes were not kept: {}", &text[..40]);
        assert!(text.len() < TAIL_BYTES + 64);
        assert_eq!(tail.take(), None, "nothing carries over into the next call");
        tail.push(&vec![b'x'; 3 * TAIL_BYTES]);
        assert_eq!(tail.take().unwrap().matches('x').count(), TAIL_BYTES);
    }
}
