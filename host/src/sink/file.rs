//! Appends records to a file, one line each, fsynced before they are acknowledged.

use std::path::Path;

use anyhow::Context;
use tokio::fs::{File, OpenOptions};

use super::lines::LineSink;
use crate::codec::LineFormat;

pub async fn open(path: &Path, format: LineFormat) -> anyhow::Result<LineSink<File>> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await.with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
        .with_context(|| format!("cannot open {} for appending", path.display()))?;
    Ok(LineSink::new(file, path.display().to_string(), format))
}
