//! Compiled plugins kept in `data_dir`, so that a restart, or a redeploy of a version
//! already seen, does not run Cranelift again.
//!
//! An entry is named by the SHA-256 of the `.wasm` file and by the engine's compatibility
//! hash (Wasmtime's version and every setting that changes generated code), so a new
//! build of the host or another setting simply misses. It holds the host's own checksum of
//! the compiled bytes, then the bytes. Entries are written only by the host, to a
//! temporary file that is fsynced and renamed into place, so a crash leaves either the
//! whole entry or none.
//!
//! Deserializing compiled code is trusting it: Wasmtime maps it executable as it is. So
//! the checksum is verified before anything is deserialized, and an entry that is short,
//! corrupt, or refused by Wasmtime (whose own header check catches a foreign engine) is
//! compiled again and rewritten. The directory is the host's private state, like source
//! positions: whoever can write it can already change what the host runs.
//!
//! The most recently used [`KEEP`] entries stay (a hit refreshes an entry's time); older
//! ones are removed after each write. (An entry of a component that embeds an
//! interpreter, Python or JavaScript, is some 30 MB.)
//!
//! The author commands (`sluice plugin build`, `check` and `test`) keep a cache of their
//! own, the user's ([`CompileCache::user`]). The service's cache reads through to it: what
//! `plugin build` compiled is not compiled again by `run` or `validate` of the same user,
//! nor by a hot swap to that build. An entry found there is verified like any other and
//! copied into `data_dir`, so the service never depends on it again; and the user's cache
//! is read only if it is the user's alone (owned by the host's user, writable by nobody
//! else), since whoever can write it chooses the code the host runs.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Entries kept: a few versions of each plugin of a typical host.
const KEEP: usize = 64;
const MAGIC: &[u8; 8] = b"SLUICEC1";
const HEADER: usize = MAGIC.len() + 32;

/// Entries the user's cache keeps: the last few builds of a project or two, some 250 MB
/// at most for Python.
const KEEP_USER: usize = 8;

pub struct CompileCache {
    dir: PathBuf,
    keep: usize,
    /// Looked in when this cache misses: the user's cache, for the service's.
    through: Option<Box<CompileCache>>,
}

/// Where a component came from, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Cache,
    /// The user's cache, which `sluice plugin build`, `check` and `test` fill.
    UserCache,
    Compiled,
}

impl CompileCache {
    pub fn new(dir: PathBuf) -> Self {
        CompileCache { dir, keep: KEEP, through: None }
    }

    /// The user's cache, the author commands' own: `$SLUICE_COMPILE_CACHE`, or
    /// `~/.cache/sluice/compiled-plugins`, keeping the [`KEEP_USER`] entries last used.
    /// `None` without a home.
    pub fn user() -> Option<CompileCache> {
        let dir = match std::env::var_os("SLUICE_COMPILE_CACHE") {
            Some(dir) => PathBuf::from(dir),
            None => std::env::home_dir()?.join(".cache/sluice/compiled-plugins"),
        };
        Some(CompileCache { dir, keep: KEEP_USER, through: None })
    }

    /// This cache, looking in `other` when it misses (and keeping what it finds there).
    pub fn reading_through(self, other: Option<CompileCache>) -> Self {
        CompileCache { through: other.map(Box::new), ..self }
    }

    /// The component for `bytes`: deserialized from a verified entry, or made by `compile`
    /// (and then stored, best effort: a cache that cannot be written only costs time).
    /// Blocking.
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        compile: impl FnOnce(&[u8]) -> anyhow::Result<Component>,
    ) -> anyhow::Result<(Component, Origin)> {
        let path = self.entry_path(engine, bytes);
        match self.read(engine, &path) {
            Ok(Some(component)) => return Ok((component, Origin::Cache)),
            Ok(None) => {}
            Err(why) => {
                tracing::warn!(entry = %path.display(), why, "compiled plugin cache entry is unusable; compiling again")
            }
        }
        let (component, origin) = match self.through.as_deref().and_then(|user| user.read_trusted(engine, bytes)) {
            Some(component) => (component, Origin::UserCache),
            None => (compile(bytes)?, Origin::Compiled),
        };
        if let Err(e) = component.serialize().map_err(anyhow::Error::from).and_then(|code| self.write(&path, &code)) {
            tracing::warn!(dir = %self.dir.display(), error = format!("{e:#}"), "cannot store the compiled plugin; the next start compiles it again");
        }
        Ok((component, origin))
    }

    /// The component for `bytes` from this cache, if it has a usable entry and the
    /// directory and the entry are the host's user's alone ([`open_ours`]). Why an entry
    /// there is not used is logged: the cache is only a shortcut, but one that is never
    /// taken should say why.
    fn read_trusted(&self, engine: &Engine, bytes: &[u8]) -> Option<Component> {
        let path = self.entry_path(engine, bytes);
        let name = path.file_name().and_then(|n| n.to_str()).expect("entry names are ASCII");
        let usable = open_ours(&self.dir, name).and_then(|file| {
            let Some(mut file) = file else { return Ok(None) };
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut file, &mut data).map_err(|e| format!("cannot read it: {e}"))?;
            deserialize(engine, &data).map(Some)
        });
        match usable {
            Ok(found) => found,
            Err(why) => {
                tracing::warn!(entry = %path.display(), why, "not using the user's compiled plugin; compiling it");
                None
            }
        }
    }

    fn entry_path(&self, engine: &Engine, bytes: &[u8]) -> PathBuf {
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let content: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{content}-{:016x}.cwasm", hasher.finish()))
    }

    /// `Ok(None)` when there is no entry; `Err` says why an entry cannot be used.
    fn read(&self, engine: &Engine, path: &Path) -> Result<Option<Component>, String> {
        let data = match std::fs::read(path) {
            Ok(data) => data,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read it: {e}")),
        };
        let component = deserialize(engine, &data)?;
        // Refresh the entry's time, so pruning keeps what is in use.
        let _ = std::fs::File::options().append(true).open(path).and_then(|f| f.set_modified(SystemTime::now()));
        Ok(Some(component))
    }

    /// Writes an entry, readable and writable by the host's user only (as is a directory
    /// it creates), so that the user's cache passes [`open_ours`] whatever the umask.
    fn write(&self, path: &Path, code: &[u8]) -> anyhow::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        file.write_all(MAGIC)?;
        file.write_all(&Sha256::digest(code))?;
        file.write_all(code)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        self.prune();
        Ok(())
    }

    /// Removes all but the `keep` most recently used entries.
    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        let mut entries: Vec<(SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.0));
        for (_, old) in entries.into_iter().skip(self.keep) {
            let _ = std::fs::remove_file(old);
        }
    }
}

/// The entry `name` of the directory `dir`, opened so that what is checked is what is
/// read: the directory without following a link, the entry within that very directory
/// (`openat`) without following a link, each checked (`fstat` of the open file) to belong
/// to the host's user with nobody else able to write it. Another user who can write an
/// ancestor directory can move things around, but cannot make a directory or a file that
/// belongs to this user. `Ok(None)` when there is no such entry.
fn open_ours(dir: &Path, name: &str) -> Result<Option<std::fs::File>, String> {
    use std::ffi::CString;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::fs::OpenOptionsExt;
    let not_found = |error: std::io::Error, what: &str| match error.kind() {
        std::io::ErrorKind::NotFound => Ok(None),
        _ => Err(format!("cannot open {what}: {error}")),
    };
    let opened = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW).open(dir);
    let dir_file = match opened {
        Ok(file) => file,
        Err(error) => return not_found(error, "its directory"),
    };
    only_ours(&dir_file, "its directory")?;
    let entry_name = CString::new(name).map_err(|_| "its name holds a NUL byte".to_owned())?;
    // SAFETY: openat(2) relative to the directory descriptor held open above, on a
    // NUL-terminated name that outlives the call; it returns a new descriptor or -1.
    let fd = unsafe {
        libc::openat(dir_file.as_raw_fd(), entry_name.as_ptr(), libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
    };
    if fd < 0 {
        return not_found(std::io::Error::last_os_error(), "it");
    }
    // SAFETY: `fd` was just returned by openat(2), is valid, and nothing else owns it.
    let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    only_ours(&file, "it")?;
    Ok(Some(file))
}

/// Whether the open `file` belongs to the host's user, and nobody else may write it.
fn only_ours(file: &std::fs::File, what: &str) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().map_err(|e| format!("cannot look at {what}: {e}"))?;
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    let user = unsafe { libc::geteuid() };
    match (meta.uid() == user, meta.mode() & 0o022) {
        (false, _) => Err(format!("{what} belongs to user {}, not to this process's user {user}", meta.uid())),
        (true, 0) => Ok(()),
        (true, _) => Err(format!("others may write {what} (mode {:o}; `chmod go-w` it)", meta.mode() & 0o777)),
    }
}

/// The component of an entry's bytes, once its checksum holds.
fn deserialize(engine: &Engine, data: &[u8]) -> Result<Component, String> {
    let code = verified(data)?;
    // SAFETY: `code` is exactly what `Component::serialize` produced in a host (entries
    // are written only by `CompileCache::write`, atomically, to the host's private
    // directory or the user's own, which `open_ours` checks), checked byte for byte
    // against the SHA-256 stored with it, so it is not a truncated or corrupted copy.
    // Wasmtime checks its own header and the engine's settings before using it.
    unsafe { Component::deserialize(engine, code) }.map_err(|e| format!("{e:#}"))
}

/// The compiled code of an entry, if its checksum holds.
fn verified(data: &[u8]) -> Result<&[u8], String> {
    if data.len() < HEADER || &data[..MAGIC.len()] != MAGIC {
        return Err("it is not a Sluice cache entry".into());
    }
    let (sum, code) = data[MAGIC.len()..].split_at(32);
    match Sha256::digest(code).as_slice() == sum {
        true => Ok(code),
        false => Err("its checksum does not match its contents".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: no imports, no exports.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    /// Compiles in this process, for `engine`.
    fn compile(engine: &Engine) -> impl FnOnce(&[u8]) -> anyhow::Result<Component> + '_ {
        |bytes| Component::from_binary(engine, bytes).map_err(anyhow::Error::from)
    }

    #[test]
    fn a_second_load_comes_from_the_cache_and_a_corrupt_entry_is_compiled_again() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = CompileCache::new(dir.path().join("cache"));
        assert_eq!(cache.load(&engine, EMPTY_COMPONENT, compile(&engine)).unwrap().1, Origin::Compiled);
        assert_eq!(cache.load(&engine, EMPTY_COMPONENT, compile(&engine)).unwrap().1, Origin::Cache);

        let entry = std::fs::read_dir(dir.path().join("cache")).unwrap().next().unwrap().unwrap().path();
        let mut data = std::fs::read(&entry).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        std::fs::write(&entry, &data).unwrap();
        assert_eq!(verified(&data), Err("its checksum does not match its contents".into()));
        assert_eq!(cache.load(&engine, EMPTY_COMPONENT, compile(&engine)).unwrap().1, Origin::Compiled, "rebuilt");
        assert_eq!(cache.load(&engine, EMPTY_COMPONENT, compile(&engine)).unwrap().1, Origin::Cache, "and rewritten");

        std::fs::write(&entry, &data[..10]).unwrap();
        assert_eq!(
            cache.load(&engine, EMPTY_COMPONENT, compile(&engine)).unwrap().1,
            Origin::Compiled,
            "a short entry too"
        );
    }

    #[test]
    fn entries_and_the_directory_are_the_users_alone_whatever_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = CompileCache::new(dir.path().join("made/cache"));
        cache.load(&engine, EMPTY_COMPONENT, compile(&engine)).unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("made/cache")), 0o700);
        let entry = std::fs::read_dir(dir.path().join("made/cache")).unwrap().next().unwrap().unwrap().path();
        assert_eq!(mode(&entry), 0o600);
        let name = entry.file_name().unwrap().to_str().unwrap();
        assert!(open_ours(&dir.path().join("made/cache"), name).unwrap().is_some());

        // A link in place of the entry, or of the directory, is not followed.
        let linked = dir.path().join("linked");
        std::fs::create_dir(&linked).unwrap();
        std::os::unix::fs::symlink(&entry, linked.join(name)).unwrap();
        assert!(open_ours(&linked, name).unwrap_err().starts_with("cannot open it:"));
        std::os::unix::fs::symlink(dir.path().join("made/cache"), dir.path().join("dirlink")).unwrap();
        assert!(open_ours(&dir.path().join("dirlink"), name).unwrap_err().starts_with("cannot open its directory:"));
        assert_eq!(open_ours(&dir.path().join("made/cache"), "missing").unwrap().map(drop), None);
    }

    #[test]
    fn another_engine_configuration_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(dir.path().to_owned());
        cache.load(&Engine::default(), EMPTY_COMPONENT, compile(&Engine::default())).unwrap();
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let other = Engine::new(&config).unwrap();
        assert_eq!(cache.load(&other, EMPTY_COMPONENT, compile(&other)).unwrap().1, Origin::Compiled);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "one entry per engine configuration");
    }

    #[test]
    fn only_the_most_recently_used_entries_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache { keep: 1, ..CompileCache::new(dir.path().to_owned()) };
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let (first, second) = (Engine::default(), Engine::new(&config).unwrap());
        cache.load(&first, EMPTY_COMPONENT, compile(&first)).unwrap();
        cache.load(&second, EMPTY_COMPONENT, compile(&second)).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(
            cache.load(&second, EMPTY_COMPONENT, compile(&second)).unwrap().1,
            Origin::Cache,
            "the newer entry stayed"
        );
    }
}
