//! A consumed record's headers, read as the producer sent them.
//!
//! On the wire a Kafka header name is a length-prefixed byte string, and any client may
//! write any bytes into it. librdkafka keeps each name with its length but hands it out
//! as a C string (`rd_kafka_header_get_all`), and rdkafka's `Headers::get` then turns it
//! into `&str` with `CStr::to_str().unwrap()`. So a name that is not UTF-8 panicked the
//! partition's lane, and after the restart the same record panicked it again on every
//! member of the group in turn; and a name with a NUL byte was silently cut at the NUL.
//!
//! This module reads headers through librdkafka's C API instead and gives each name as
//! its bytes, whole: the length librdkafka stored beside the name is read from the header
//! it belongs to. That struct is librdkafka's own (`rd_kafka_header_t` in
//! `rdkafka_header.h`), not part of its API, so it is read only from the librdkafka release
//! whose header file it was copied from ([`VERIFIED_RELEASE`]), after [`Layout::check`]
//! proved on headers built through the API that it reads back what was put, and every read
//! is checked against what the API itself returns. With another release, names are read up
//! to their first NUL, as before, and a warning says so once (and a unit test fails, to
//! have the struct compared with the new header file).

use std::ffi::{CStr, c_char, c_void};
use std::sync::OnceLock;

use rdkafka::bindings as rd;
use rdkafka::message::BorrowedMessage;

/// One header as consumed: the name as the bytes sent, and the value (`None` for a null).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawHeader<'m> {
    pub name: &'m [u8],
    pub value: Option<&'m [u8]>,
}

/// The headers of one consumed message, borrowed from it.
#[derive(Clone, Copy)]
pub struct RawHeaders<'m> {
    headers: *const rd::rd_kafka_headers_t,
    count: usize,
    _message: std::marker::PhantomData<&'m ()>,
}

impl<'m> RawHeaders<'m> {
    /// The headers of `message` (none if it has none), or why librdkafka could not parse
    /// them.
    pub fn of(message: &'m BorrowedMessage<'_>) -> Result<Self, String> {
        let mut headers = std::ptr::null_mut();
        // SAFETY: `message.ptr()` is a live consumed message for as long as `message` is
        // borrowed. librdkafka parses the headers on the first call, keeps them with the
        // message and frees them with it, so the list lives as long as `'m`. `_NOENT` (no
        // headers) leaves `headers` null.
        let err = unsafe { rd::rd_kafka_message_headers(message.ptr(), &mut headers) };
        let count = match err {
            // SAFETY: a header list librdkafka just returned.
            rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR if !headers.is_null() => unsafe {
                rd::rd_kafka_header_cnt(headers)
            },
            rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR | rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__NOENT => {
                0
            }
            err => {
                return Err(format!(
                    "librdkafka could not parse the record's headers: {}",
                    rdkafka::error::RDKafkaErrorCode::from(err)
                ));
            }
        };
        Ok(RawHeaders { headers, count, _message: std::marker::PhantomData })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The headers in the order they were sent.
    pub fn iter(&self) -> impl Iterator<Item = RawHeader<'m>> + Clone + 'm {
        let this = *self;
        // SAFETY: `this.headers` is the message's list with `count` headers, alive for `'m`.
        (0..self.count).filter_map(move |index| unsafe { header(this.headers, index) })
    }
}

/// Header `index` of `headers`, or `None` if librdkafka has no such header.
///
/// # Safety
/// `headers` is a live librdkafka header list that outlives `'m`.
unsafe fn header<'m>(headers: *const rd::rd_kafka_headers_t, index: usize) -> Option<RawHeader<'m>> {
    let (mut name, mut value, mut size) = (std::ptr::null(), std::ptr::null(), 0);
    // SAFETY: the caller's promise; the out-pointers are valid locals.
    let err = unsafe { rd::rd_kafka_header_get_all(headers, index, &mut name, &mut value, &mut size) };
    if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return None;
    }
    // SAFETY: `name` and `value` are what librdkafka just returned for a header of the list.
    let name_len = unsafe { name_len(name, value, size) };
    // SAFETY: librdkafka stores `name_len` bytes at `name` (a NUL follows them) and `size`
    // bytes at a non-null `value`, for as long as the list lives.
    unsafe {
        Some(RawHeader {
            name: std::slice::from_raw_parts(name.cast(), name_len),
            value: (!value.is_null()).then(|| std::slice::from_raw_parts(value.cast(), size)),
        })
    }
}

/// librdkafka's `rd_kafka_header_t` (`rdkafka_header.h`): the name's bytes start at
/// `name`, followed by a NUL, then by the value's bytes and a NUL when the value is not
/// null. Only `name_size` is read here, the rest is for the layout.
#[repr(C)]
struct NativeHeader {
    _serialized_size: usize,
    value_size: usize,
    name_size: usize,
    value: *const c_char,
    name: [c_char; 1],
}

/// The librdkafka release (`RD_KAFKA_VERSION`: 2.12.1) whose `rdkafka_header.h`
/// [`NativeHeader`] mirrors; the one rdkafka-sys 4.10 bundles.
const VERIFIED_RELEASE: i32 = 0x020c01ff;

/// Whether the linked librdkafka lays its headers out as [`NativeHeader`] says.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Layout {
    Known,
    Unknown,
}

impl Layout {
    fn get() -> Layout {
        static LAYOUT: OnceLock<Layout> = OnceLock::new();
        *LAYOUT.get_or_init(|| {
            let (release, _) = rdkafka::util::get_rdkafka_version();
            // The last byte is the pre-release number.
            let layout = match release >> 8 == VERIFIED_RELEASE >> 8 {
                true => Layout::check(),
                false => Layout::Unknown,
            };
            if layout == Layout::Unknown {
                tracing::warn!(
                    "this librdkafka stores header names in a way Sluice does not know: a Kafka header name with a NUL byte is read up to the NUL"
                );
            }
            layout
        })
    }

    /// Builds headers through librdkafka's API, names with NUL bytes among them, and checks
    /// that [`NativeHeader`] reads back every name's length and value as put.
    fn check() -> Layout {
        const PUT: [(&[u8], Option<&[u8]>); 4] =
            [(b"a\0b", None), (b"\xff\xfe\0tail", Some(b"value")), (b"", Some(b"")), (b"plain", Some(b"\0x\0"))];
        // SAFETY: a list made, filled and destroyed here, through librdkafka's API; every
        // pointer handed to it is valid for the length given.
        unsafe {
            let list = rd::rd_kafka_headers_new(PUT.len());
            for (name, value) in PUT {
                let (value_ptr, value_len) = value.map_or((std::ptr::null(), 0), |v| (v.as_ptr(), v.len() as isize));
                rd::rd_kafka_header_add(list, name.as_ptr().cast(), name.len() as isize, value_ptr.cast(), value_len);
            }
            let mut known = rd::rd_kafka_header_cnt(list) == PUT.len();
            for (index, (name, value)) in PUT.into_iter().enumerate() {
                let (mut name_ptr, mut value_ptr, mut size) = (std::ptr::null(), std::ptr::null(), 0);
                let err = rd::rd_kafka_header_get_all(list, index, &mut name_ptr, &mut value_ptr, &mut size);
                if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                    known = false;
                    continue;
                }
                let header = native(name_ptr);
                known &= (*header).name_size == name.len()
                    && std::slice::from_raw_parts(name_ptr.cast::<u8>(), name.len()) == name
                    && (*header).value.cast::<c_void>() == value_ptr
                    && value.is_none_or(|v| (*header).value_size == v.len() && size == v.len());
            }
            rd::rd_kafka_headers_destroy(list);
            if known { Layout::Known } else { Layout::Unknown }
        }
    }
}

/// The header whose name starts at `name`.
///
/// # Safety
/// `name` is a name librdkafka returned for a header, and the linked librdkafka is
/// [`VERIFIED_RELEASE`] (whose headers are laid out as [`NativeHeader`]).
unsafe fn native(name: *const c_char) -> *const NativeHeader {
    // SAFETY: `name` points at the `name` field of a `NativeHeader` librdkafka allocated.
    unsafe { name.byte_sub(std::mem::offset_of!(NativeHeader, name)).cast() }
}

/// The length of the header name at `name`, whose value librdkafka returned as `value`
/// and `value_size`.
///
/// # Safety
/// `name` and `value` are what `rd_kafka_header_get_all` returned for a live header.
unsafe fn name_len(name: *const c_char, value: *const c_void, value_size: usize) -> usize {
    // SAFETY: librdkafka's names are NUL-terminated.
    let up_to_nul = unsafe { CStr::from_ptr(name) }.count_bytes();
    if Layout::get() == Layout::Unknown {
        return up_to_nul;
    }
    // SAFETY: the layout is known, so `name` is the `name` field of a live header.
    let header = unsafe { &*native(name) };
    // What the API returned must agree with the struct; if it does not, trust the API.
    let agrees = header.name_size >= up_to_nul
        && header.value.cast::<c_void>() == value
        && (value.is_null() || header.value_size == value_size);
    if agrees { header.name_size } else { up_to_nul }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_linked_librdkafka_lays_its_headers_out_as_read_here() {
        // If this fails after a librdkafka upgrade, header names with NUL bytes would be
        // cut again: compare `NativeHeader` with the new `rdkafka_header.h`, then update
        // `VERIFIED_RELEASE`.
        assert_eq!(Layout::get(), Layout::Known);
    }

    #[test]
    fn names_come_back_whole_with_their_values() {
        let put: [(&[u8], Option<&[u8]>); 3] = [(b"k\0ey", Some(b"v\0")), (b"\xff\xfe", None), (b"x", Some(b""))];
        // SAFETY: a list made, read while alive and destroyed here.
        unsafe {
            let list = rd::rd_kafka_headers_new(4);
            for (name, value) in put {
                let (value_ptr, value_len) = value.map_or((std::ptr::null(), 0), |v| (v.as_ptr(), v.len() as isize));
                rd::rd_kafka_header_add(list, name.as_ptr().cast(), name.len() as isize, value_ptr.cast(), value_len);
            }
            let read: Vec<RawHeader<'_>> = (0..put.len()).filter_map(|i| header(list, i)).collect();
            let read: Vec<(&[u8], Option<&[u8]>)> = read.iter().map(|h| (h.name, h.value)).collect();
            assert_eq!(read, put);
            rd::rd_kafka_headers_destroy(list);
        }
    }
}
