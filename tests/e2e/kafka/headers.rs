//! Records whose header names are not text, or hold a NUL byte, as any client may produce
//! them: read whole, never a panic. The good records are delivered in order, the one whose
//! names cannot cross the plugin boundary is dead-lettered with a reason, and the host
//! never restarts.

use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};

use super::*;
use crate::harness::*;

/// Produces one record with raw header names through librdkafka's C API (rdkafka's
/// `Header` takes names as `&str` only) and waits until the broker has it.
fn produce_raw(address: &str, topic: &str, key: &[u8], value: &[u8], headers: &[(&[u8], &[u8])]) {
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", address).create().unwrap();
    let topic = std::ffi::CString::new(topic).unwrap();
    // SAFETY: every pointer handed to librdkafka is valid for the length given; with
    // RD_KAFKA_MSG_F_COPY it copies the key and value, and on success it owns the header
    // list (destroyed here only if it refused the message).
    unsafe {
        let list = rd::rd_kafka_headers_new(headers.len());
        for (name, value) in headers {
            let err = rd::rd_kafka_header_add(
                list,
                name.as_ptr().cast(),
                name.len() as isize,
                value.as_ptr().cast(),
                value.len() as isize,
            );
            assert_eq!(err, rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR);
        }
        let vu = |vtype, u| rd::rd_kafka_vu_t { vtype, u };
        let mem = |bytes: &[u8]| rd::rd_kafka_vu_s__bindgen_ty_1 {
            mem: rd::rd_kafka_vu_s__bindgen_ty_1__bindgen_ty_1 { ptr: bytes.as_ptr() as *mut _, size: bytes.len() },
        };
        let fields = [
            vu(rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_TOPIC, rd::rd_kafka_vu_s__bindgen_ty_1 { cstr: topic.as_ptr() }),
            vu(rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_KEY, mem(key)),
            vu(rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_VALUE, mem(value)),
            vu(
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_MSGFLAGS,
                rd::rd_kafka_vu_s__bindgen_ty_1 { i: rd::RD_KAFKA_MSG_F_COPY },
            ),
            vu(rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_HEADERS, rd::rd_kafka_vu_s__bindgen_ty_1 { headers: list }),
        ];
        let error = rd::rd_kafka_produceva(producer.client().native_ptr(), fields.as_ptr(), fields.len());
        if !error.is_null() {
            rd::rd_kafka_headers_destroy(list);
            let reason = std::ffi::CStr::from_ptr(rd::rd_kafka_error_string(error)).to_string_lossy().into_owned();
            rd::rd_kafka_error_destroy(error);
            panic!("cannot produce the raw record: {reason}");
        }
    }
    producer.flush(Duration::from_secs(30)).expect("the broker took the raw record");
}

#[test]
fn header_names_that_are_not_text_are_dead_lettered_and_names_with_nul_bytes_arrive_whole() {
    let broker = Broker::kafka();
    broker.create_topic("in", 1);
    let event = |id: u64| format!("{{\"id\":{id}}}");
    let good =
        |ids: std::ops::Range<u64>| ids.map(move |id| TestRecord::new("k", event(id), &[("seq", id.to_string())]));
    broker.produce("in", good(0..20));
    let topic = broker.topic("in");
    produce_raw(&broker.address(), &topic, b"k", event(20).as_bytes(), &[(b"seq", b"20"), (b"\xff\xfe", b"raw")]);
    produce_raw(&broker.address(), &topic, b"k\0tail", event(21).as_bytes(), &[(b"seq", b"21"), (b"tr\0ace", b"t21")]);
    broker.produce("in", good(22..40));

    let scratch = Scratch::with_plugins(&["json-validate"]);
    let source = broker.source_table("headers", "in");
    let plugins = r#"[{ name = "json-validate", config = { require = "id" } }]"#;
    scratch.config(one_pipeline(
        &source,
        plugins,
        "type = \"file\"\npath = \"out/out.jsonl\"",
        "default_route = \"out\"",
    ));
    let mut running = scratch.start();
    running.eventually(Duration::from_secs(60), "39 outputs and 1 dead letter", || {
        scratch.read_envelopes("out/out.jsonl").len() >= 39 && !scratch.read_envelopes("out/dlq.jsonl").is_empty()
    });

    let out = scratch.read_envelopes("out/out.jsonl");
    let ids: Vec<u64> = out.iter().map(|e| id_of(value_of(e))).collect();
    let expected: Vec<u64> = (0..40).filter(|&id| id != 20).collect();
    assert_eq!(ids, expected, "every good record once, in order\n{}", running.log());
    let nul = &out[20];
    assert_eq!(nul["key"], "k\0tail", "a key with a NUL byte is not cut short");
    assert_eq!(nul["headers"][1], serde_json::json!(["tr\0ace", "t21"]), "nor is a header name");

    let dead = scratch.read_envelopes("out/dlq.jsonl");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(id_of(value_of(&dead[0])), 20);
    let reason = header(&dead[0], "sluice.error").unwrap();
    assert!(
        reason.contains("header names must be UTF-8") && reason.contains("header 1 (base64 `//4=`)"),
        "the reason names the header and its bytes: {reason}"
    );
    assert_eq!(header(&dead[0], "seq"), Some("20"), "the headers that are text stay with the dead letter");

    assert_eq!(running.child.try_wait().unwrap(), None, "the host runs on:\n{}", running.log());
    assert!(!running.log().contains("panicked"), "{}", running.log());
    running.signal(libc::SIGTERM);
    assert_eq!(running.wait(Duration::from_secs(30)), Some(0), "{}", running.log());
}
