//! `${VAR}` interpolation from the environment, applied to the config text before parsing
//! so that it works for any value: strings, numbers, booleans.
//!
//! `${VAR}` must be set; `${VAR:-fallback}` uses `fallback` when it is unset or empty;
//! `$$` is a literal `$`.

/// Where an interpolation failed: the 1-based line and the variable's name.
#[derive(Debug, PartialEq, Eq)]
pub struct MissingVar {
    pub line: usize,
    pub name: String,
}

/// Expands every `${...}` in `text` with `lookup`.
pub fn interpolate(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, MissingVar> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{')
            && let Some(end) = body.find('}')
        {
            let expr = &body[..end];
            let (name, fallback) = match expr.split_once(":-") {
                Some((name, fallback)) => (name, Some(fallback)),
                None => (expr, None),
            };
            match (lookup(name).filter(|v| !v.is_empty() || fallback.is_none()), fallback) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(fallback)) => out.push_str(fallback),
                (None, None) => {
                    let line = text[..text.len() - rest.len() + at].matches('\n').count() + 1;
                    return Err(MissingVar { line, name: name.to_owned() });
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOPIC" => Some("orders".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_variables_defaults_and_escapes() {
        let text = "a = \"${TOPIC}\"\nb = ${MISSING:-42}\nc = \"$${TOPIC} costs $5\"\nd = \"${EMPTY:-x}${EMPTY}\"";
        assert_eq!(interpolate(text, env).unwrap(), "a = \"orders\"\nb = 42\nc = \"${TOPIC} costs $5\"\nd = \"x\"");
    }

    #[test]
    fn names_the_line_of_an_unset_variable() {
        let err = interpolate("a = 1\nb = \"${NOPE}\"\n", env).unwrap_err();
        assert_eq!(err, MissingVar { line: 2, name: "NOPE".into() });
    }
}
