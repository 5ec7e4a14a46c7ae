//! Write Sluice transformation plugins in Rust.
//!
//! Implement [`Plugin`] and export it with [`export_plugin!`]:
//!
//! ```ignore
//! use sluice_sdk::{Config, Output, Plugin, Record, Reject};
//!
//! struct Uppercase;
//!
//! impl Plugin for Uppercase {
//!     fn init(_config: &Config) -> Result<Self, String> {
//!         Ok(Uppercase)
//!     }
//!
//!     fn process(&mut self, record: &Record<'_>, out: &mut Output<'_>) -> Result<(), Reject> {
//!         let value = record.value_str()?.to_uppercase();
//!         out.emit_value(value);
//!         Ok(())
//!     }
//! }
//!
//! sluice_sdk::export_plugin!(Uppercase);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2 --release`; the `.wasm` in
//! `target/wasm32-wasip2/release/` is the plugin. Records are read in place from the
//! batch the host sends (no per-field copies), and outputs are written straight into the
//! result buffer; the encoding itself (`wit/plugin.wit`) never shows.
//!
//! The same plugin runs natively in unit tests through [`testing::run`], which goes
//! through the real batch encoding.

use std::fmt;

use sluice_wire::{BatchReader, Body, Headers, InputRecord, ResultWriter};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "sluice:plugin/plugin",
        pub_export_macro: true,
        export_macro_name: "export_component",
        default_bindings_module: "sluice_sdk::bindings",
    });
}

mod host;
#[cfg(feature = "json")]
pub mod json;
pub mod testing;

pub use host::{Level, counter_add, gauge_set, log};

/// A transformation plugin.
///
/// The host creates one instance per pipeline with [`Plugin::init`], then calls
/// [`Plugin::process`] for every record, in order, batch after batch. The instance lives
/// until the host replaces it (a new plugin version, or after a trap), so it may keep
/// state across records and batches.
pub trait Plugin: Sized + 'static {
    /// Builds the plugin from its pipeline configuration. An error stops this instance
    /// from starting, and its message is shown to the user.
    fn init(config: &Config) -> Result<Self, String>;

    /// Handles one record: emit zero or more outputs through `out`, or reject the record.
    ///
    /// Emitting nothing drops the record. Returning an error discards anything emitted for
    /// this record and sends the record to the dead-letter sink with the reason.
    fn process(&mut self, record: &Record<'_>, out: &mut Output<'_>) -> Result<(), Reject>;
}

/// The plugin's configuration: the key/value table from the pipeline config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    entries: Vec<(String, String)>,
}

impl Config {
    pub fn new(entries: Vec<(String, String)>) -> Self {
        Config { entries }
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value of `key`, or an error that names the missing key.
    pub fn require(&self, key: &str) -> Result<&str, String> {
        self.get(key).ok_or_else(|| format!("missing required config key `{key}`"))
    }

    /// The value of `key` parsed as `T`, if set; an error names the key and the value.
    pub fn parse<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, String>
    where
        T::Err: fmt::Display,
    {
        self.get(key).map(|raw| raw.parse().map_err(|e| format!("config key `{key}` = {raw:?}: {e}"))).transpose()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Why a record was rejected. The host dead-letters the record with this reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject(String);

impl Reject {
    pub fn new(reason: impl Into<String>) -> Self {
        Reject(reason.into())
    }
    pub fn reason(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for Reject {
    fn from(reason: String) -> Self {
        Reject(reason)
    }
}

impl From<&str> for Reject {
    fn from(reason: &str) -> Self {
        Reject(reason.to_owned())
    }
}

/// An input record, borrowed from the batch the host sent.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    inner: InputRecord<'a>,
    source: &'a str,
}

impl<'a> Record<'a> {
    pub fn key(&self) -> Option<&'a [u8]> {
        self.inner.body.key()
    }
    pub fn value(&self) -> Option<&'a [u8]> {
        self.inner.body.value()
    }
    pub fn headers(&self) -> Headers<'a> {
        self.inner.body.headers()
    }
    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.inner.body.headers().get(name)
    }
    /// Milliseconds since the Unix epoch, if the source gave one.
    pub fn timestamp(&self) -> Option<i64> {
        self.inner.timestamp
    }
    /// The pipeline source's name.
    pub fn source(&self) -> &'a str {
        self.source
    }
    /// The topic, stream, subject or file the record came from.
    pub fn stream(&self) -> &'a str {
        self.inner.stream
    }
    pub fn partition(&self) -> u32 {
        self.inner.partition
    }
    pub fn offset(&self) -> u64 {
        self.inner.offset
    }

    /// The value as UTF-8 text; rejects records without a value or with invalid UTF-8.
    pub fn value_str(&self) -> Result<&'a str, Reject> {
        let value = self.value().ok_or_else(|| Reject::new("record has no value"))?;
        std::str::from_utf8(value).map_err(|e| Reject::new(format!("value is not UTF-8: {e}")))
    }

    /// The value parsed as JSON into `T`; rejects records whose value does not parse.
    #[cfg(feature = "json")]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Reject> {
        let value = self.value().ok_or_else(|| Reject::new("record has no value"))?;
        serde_json::from_slice(value).map_err(|e| Reject::new(format!("value is not valid JSON: {e}")))
    }

    /// Copies this record into an [`OutRecord`] to modify and emit.
    pub fn to_output(&self) -> OutRecord {
        OutRecord {
            key: self.key().map(<[u8]>::to_vec),
            value: self.value().map(<[u8]>::to_vec),
            headers: self.headers().iter().map(|(n, v)| (n.to_owned(), v.to_vec())).collect(),
            timestamp: self.timestamp(),
        }
    }
}

/// A record built by the plugin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub timestamp: Option<i64>,
}

impl OutRecord {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn with_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }
    pub fn with_value(mut self, value: impl Into<Vec<u8>>) -> Self {
        self.value = Some(value.into());
        self
    }
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn with_timestamp(mut self, millis: i64) -> Self {
        self.timestamp = Some(millis);
        self
    }
}

/// Where a plugin puts the outputs of the record it is processing.
///
/// The `*_to` variants name a route from the pipeline's `routes` table; the others use
/// the pipeline's default route. Each call emits one output; call several times to fan
/// out, none to drop the record.
pub struct Output<'a> {
    writer: &'a mut ResultWriter,
    input: InputRecord<'a>,
}

impl Output<'_> {
    /// Emits the input record unchanged (key, value and headers in one copy).
    pub fn forward(&mut self) {
        self.forward_route(None);
    }
    /// Emits the input record unchanged on `route`.
    pub fn forward_to(&mut self, route: &str) {
        self.forward_route(Some(route));
    }
    fn forward_route(&mut self, route: Option<&str>) {
        let r = &self.input;
        self.writer.output(r.body, NO_HEADERS, r.timestamp, route);
    }

    /// Emits the input record with a new value (key, headers and timestamp kept).
    pub fn emit_value(&mut self, value: impl AsRef<[u8]>) {
        self.value_route(value.as_ref(), None);
    }
    /// Emits the input record with a new value on `route`.
    pub fn emit_value_to(&mut self, route: &str, value: impl AsRef<[u8]>) {
        self.value_route(value.as_ref(), Some(route));
    }
    fn value_route(&mut self, value: &[u8], route: Option<&str>) {
        let r = &self.input;
        self.writer.output(Body::new(r.body.key(), Some(value), r.body.headers()), NO_HEADERS, r.timestamp, route);
    }

    /// Emits a record built by the plugin.
    pub fn emit(&mut self, record: &OutRecord) {
        self.emit_route(record, None);
    }
    /// Emits a record built by the plugin on `route`.
    pub fn emit_to(&mut self, route: &str, record: &OutRecord) {
        self.emit_route(record, Some(route));
    }
    fn emit_route(&mut self, r: &OutRecord, route: Option<&str>) {
        let headers = r.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice()));
        self.writer.output(
            Body::new(r.key.as_deref(), r.value.as_deref(), Headers::EMPTY),
            headers,
            r.timestamp,
            route,
        );
    }
}

/// No headers besides the encoded ones.
const NO_HEADERS: [(&str, &[u8]); 0] = [];

/// Runs `plugin` over an encoded batch and returns the encoded result. This is what the
/// exported `process` does, and what [`testing::run`] drives natively.
fn process_batch<P: Plugin>(plugin: &mut P, batch: &[u8]) -> Result<Vec<u8>, String> {
    let reader = BatchReader::new(batch).map_err(|e| e.to_string())?;
    let source = reader.source();
    // Outputs are usually about as large as inputs; start there to avoid regrowing.
    let mut writer = ResultWriter::with_capacity(batch.len() + batch.len() / 4);
    for input in reader {
        let input = input.map_err(|e| e.to_string())?;
        let record = Record { inner: input, source };
        writer.begin_outputs();
        let mut out = Output { writer: &mut writer, input };
        if let Err(reject) = plugin.process(&record, &mut out) {
            writer.abandon_outputs();
            writer.reject(reject.reason());
        }
    }
    Ok(writer.finish())
}

#[doc(hidden)]
pub mod __export {
    use std::cell::RefCell;

    use super::{Config, Plugin, process_batch};

    pub fn init<P: Plugin>(slot: &RefCell<Option<P>>, config: Vec<(String, String)>) -> Result<(), String> {
        *slot.borrow_mut() = Some(P::init(&Config::new(config))?);
        Ok(())
    }

    pub fn process<P: Plugin>(slot: &RefCell<Option<P>>, batch: &[u8]) -> Result<Vec<u8>, String> {
        let mut slot = slot.borrow_mut();
        let plugin = slot.as_mut().ok_or("process called before init")?;
        process_batch(plugin, batch)
    }
}

/// Exports a [`Plugin`] implementation as the component's `transform` interface.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            struct SluicePluginExport;

            ::std::thread_local! {
                static PLUGIN: ::std::cell::RefCell<::std::option::Option<$plugin>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }

            impl $crate::bindings::exports::sluice::plugin::transform::Guest for SluicePluginExport {
                fn init(
                    config: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    PLUGIN.with(|slot| $crate::__export::init::<$plugin>(slot, config))
                }

                fn process(
                    batch: ::std::vec::Vec<u8>,
                ) -> ::std::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                    PLUGIN.with(|slot| $crate::__export::process::<$plugin>(slot, &batch))
                }
            }

    $crate::bindings::export_component!(SluicePluginExport with_types_in $crate::bindings);
        };
    };
}
