//! Reading fields out of JSON record values.

use std::borrow::Cow;

pub use serde_json::Value;

use crate::{Record, Reject};

/// Looks up `path` in `value`: a JSON pointer (`/user/country`) or dotted field names
/// (`user.country`; a plain name is a top-level field).
pub fn field<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    if path.starts_with('/') {
        return value.pointer(path);
    }
    path.split('.').try_fold(value, |v, name| v.get(name))
}

/// A field's value as text: strings without quotes, anything else as JSON.
pub fn text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

impl Record<'_> {
    /// Parses the value as JSON and returns the field at `path` (see [`field`]), or
    /// `None` when the field is missing. Rejects records whose value is not JSON.
    pub fn json_field(&self, path: &str) -> Result<Option<Value>, Reject> {
        let mut value: Value = self.json()?;
        Ok(if path.starts_with('/') {
            value.pointer_mut(path).map(Value::take)
        } else {
            path.split('.').try_fold(&mut value, |v, name| v.get_mut(name)).map(Value::take)
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finds_fields_by_name_path_and_pointer() {
        let v = json!({"level": "error", "user": {"country": "NZ", "age": 7}});
        assert_eq!(field(&v, "level"), Some(&json!("error")));
        assert_eq!(field(&v, "user.country"), Some(&json!("NZ")));
        assert_eq!(field(&v, "/user/age"), Some(&json!(7)));
        assert_eq!(field(&v, "user.missing"), None);
        assert_eq!(text(&json!("a")), "a");
        assert_eq!(text(&json!(7)), "7");
        assert_eq!(text(&json!(true)), "true");
    }
}
