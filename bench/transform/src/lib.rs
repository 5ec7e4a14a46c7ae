//! The benchmark's transform, in one place so that the native ceiling
//! (`bench/peers/rdkafka`) and Sluice's Rust plugin (`bench/peers/sluice/rust`) run the
//! same code and their ratio measures only what is around it: parse the JSON value, drop
//! records whose `level` is `"debug"`, add `"pipeline": "bench"`, write compact JSON.

use serde_json::{Map, Value};

/// The transformed value, `Ok(None)` for a record the transform drops, or why the value
/// is not a JSON object.
pub fn transform(value: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut object: Map<String, Value> =
        serde_json::from_slice(value).map_err(|e| format!("not a JSON object: {e}"))?;
    if object.get("level").and_then(Value::as_str) == Some("debug") {
        return Ok(None);
    }
    object.insert("pipeline".to_owned(), Value::from("bench"));
    Ok(Some(serde_json::to_vec(&object).expect("a map of JSON values serializes")))
}

#[cfg(test)]
mod tests {
    use super::transform;

    #[test]
    fn drops_debug_and_adds_a_field_to_the_rest() {
        assert_eq!(transform(br#"{"level":"debug","id":1}"#), Ok(None));
        let out = transform(br#"{"level":"info","id":2}"#).unwrap().unwrap();
        let out: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out, serde_json::json!({"level": "info", "id": 2, "pipeline": "bench"}));
    }

    #[test]
    fn rejects_what_is_not_an_object() {
        assert!(transform(b"[1]").unwrap_err().starts_with("not a JSON object"));
        assert!(transform(b"nope").is_err());
    }
}
