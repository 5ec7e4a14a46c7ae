//! `${VAR}` interpolation from the environment, applied to the config text before parsing.
//!
//! `${VAR}` must be set; `${VAR:-fallback}` uses `fallback` when it is unset or empty;
//! `$$` is a literal `$`. Comments are left alone.
//!
//! A value is inserted as data, never as TOML syntax: the text is scanned the way TOML
//! reads it, and each value is fitted to where it lands.
//! - Inside a basic string (`"…"`, `"""…"""`) it is escaped, so a value holding `"`, `\`
//!   or a line break stays inside its string.
//! - Inside a literal string (`'…'`, `'''…'''`), which has no escapes, a value that holds
//!   `'` or a control character is refused.
//! - Unquoted (`count = ${COUNT}`), the value must be one bare token: a number, a boolean,
//!   a date. Anything that could start a string, a table or a new line is refused, with
//!   the advice to quote it.

/// Why a `${…}` could not be inserted: the 1-based line, the variable, and the problem.
#[derive(Debug, PartialEq, Eq)]
pub struct InterpolationError {
    pub line: usize,
    pub name: String,
    pub problem: Problem,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Problem {
    Unset,
    /// Unquoted, and not a single bare token.
    NotBare,
    /// In a literal string, and holding `'` or a control character.
    NotLiteral,
}

impl std::fmt::Display for InterpolationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = &self.name;
        match self.problem {
            Problem::Unset => write!(f, "environment variable `{name}` is not set"),
            Problem::NotBare => write!(
                f,
                "environment variable `{name}` is used unquoted, so its value must be a single number, boolean or date; put `${{{name}}}` in double quotes to insert it as a string"
            ),
            Problem::NotLiteral => write!(
                f,
                "environment variable `{name}` holds a `'` or a control character, which a literal string ('…') cannot hold; use a double-quoted string"
            ),
        }
    }
}

/// Where the scanner is, as TOML reads the text.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Bare,
    Comment,
    Basic,
    MultiBasic,
    Literal,
    MultiLiteral,
}

/// Expands every `${...}` in `text` with `lookup`.
pub fn interpolate(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(text.len());
    let mut context = Context::Bare;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let line = || text[..text.len() - rest.len()].matches('\n').count() + 1;
        if c == '$' && context != Context::Comment {
            if let Some(tail) = rest.strip_prefix("$$") {
                out.push('$');
                rest = tail;
                continue;
            }
            if let Some(body) = rest.strip_prefix("${")
                && let Some(end) = body.find('}')
            {
                let expr = &body[..end];
                let (name, fallback) = match expr.split_once(":-") {
                    Some((name, fallback)) => (name, Some(fallback)),
                    None => (expr, None),
                };
                let value = match (lookup(name).filter(|v| !v.is_empty() || fallback.is_none()), fallback) {
                    (Some(value), _) => value,
                    (None, Some(fallback)) => fallback.to_owned(),
                    (None, None) => {
                        return Err(InterpolationError { line: line(), name: name.into(), problem: Problem::Unset });
                    }
                };
                insert(&value, context, &mut out).map_err(|problem| InterpolationError {
                    line: line(),
                    name: name.into(),
                    problem,
                })?;
                rest = &body[end + 1..];
                continue;
            }
        }
        let (token, next) = step(rest, context);
        out.push_str(&rest[..token]);
        rest = &rest[token..];
        context = next;
    }
    Ok(out)
}

/// The length of the next token of `rest` that is copied as it is, and the context after it.
fn step(rest: &str, context: Context) -> (usize, Context) {
    let char_len = rest.chars().next().map_or(0, char::len_utf8);
    let starts = |s: &str| rest.starts_with(s);
    // A closing `"""` or `'''` may be preceded by up to two quotes that belong to the string.
    let closing = |quote: char| {
        let run = rest.chars().take_while(|&c| c == quote).count();
        (run >= 3).then_some(run.min(5))
    };
    match context {
        Context::Bare if starts("#") => (1, Context::Comment),
        Context::Bare if starts("\"\"\"") => (3, Context::MultiBasic),
        Context::Bare if starts("\"") => (1, Context::Basic),
        Context::Bare if starts("'''") => (3, Context::MultiLiteral),
        Context::Bare if starts("'") => (1, Context::Literal),
        Context::Comment if starts("\n") => (1, Context::Bare),
        Context::Basic | Context::MultiBasic if starts("\\") => {
            (1 + rest[1..].chars().next().map_or(0, char::len_utf8), context)
        }
        Context::Basic if starts("\"") || starts("\n") => (1, Context::Bare),
        Context::Literal if starts("'") || starts("\n") => (1, Context::Bare),
        Context::MultiBasic => closing('"').map_or((char_len, context), |n| (n, Context::Bare)),
        Context::MultiLiteral => closing('\'').map_or((char_len, context), |n| (n, Context::Bare)),
        _ => (char_len, context),
    }
}

/// Appends `value` as data of `context`.
fn insert(value: &str, context: Context, out: &mut String) -> Result<(), Problem> {
    match context {
        Context::Bare => {
            let bare = |c: char| c.is_ascii_alphanumeric() || "_+-.:".contains(c);
            if value.is_empty() || !value.chars().all(bare) {
                return Err(Problem::NotBare);
            }
            out.push_str(value);
        }
        Context::Basic | Context::MultiBasic => {
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
                    c => out.push(c),
                }
            }
        }
        Context::Literal | Context::MultiLiteral => {
            if value.chars().any(|c| c == '\'' || (c.is_control() && c != '\t')) {
                return Err(Problem::NotLiteral);
            }
            out.push_str(value);
        }
        Context::Comment => unreachable!("comments are not interpolated"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOPIC" => Some("orders".into()),
            "EMPTY" => Some(String::new()),
            "COUNT" => Some("42".into()),
            "HOSTILE" => Some("x\"\nplugins_dir = \"/tmp/evil\\".into()),
            "QUOTE" => Some("it's".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_variables_defaults_and_escapes() {
        let text = "a = \"${TOPIC}\"\nb = ${MISSING:-42}\nc = \"$${TOPIC} costs $5\"\nd = \"${EMPTY:-x}${EMPTY}\"";
        assert_eq!(interpolate(text, env).unwrap(), "a = \"orders\"\nb = 42\nc = \"${TOPIC} costs $5\"\nd = \"x\"");
        assert_eq!(interpolate("n = ${COUNT}\nl = '${TOPIC}'", env).unwrap(), "n = 42\nl = 'orders'");
    }

    #[test]
    fn names_the_line_of_an_unset_variable() {
        let err = interpolate("a = 1\nb = \"${NOPE}\"\n", env).unwrap_err();
        assert_eq!(err, InterpolationError { line: 2, name: "NOPE".into(), problem: Problem::Unset });
    }

    #[test]
    fn comments_are_left_alone() {
        let text = "# set ${NOPE} first\na = \"#${TOPIC}\" # or ${NOPE}\n";
        assert_eq!(interpolate(text, env).unwrap(), "# set ${NOPE} first\na = \"#orders\" # or ${NOPE}\n");
    }

    #[test]
    fn a_value_in_a_string_stays_in_that_string() {
        let text = "a = \"${HOSTILE}\"\nb = \"\"\"\n${HOSTILE}\"\"\"";
        let out = interpolate(text, env).unwrap();
        let parsed: toml::Table = toml::from_str(&out).unwrap();
        let hostile = env("HOSTILE").unwrap();
        assert_eq!(parsed["a"].as_str(), Some(hostile.as_str()));
        assert_eq!(parsed["b"].as_str(), Some(hostile.as_str()));
        assert_eq!(parsed.len(), 2, "no key was added: {out}");
    }

    #[test]
    fn escaped_quotes_and_closing_runs_do_not_end_strings_early() {
        let text = "a = \"say \\\"${TOPIC}\\\"\"\nb = '''x''''\nc = \"${TOPIC}\"";
        let parsed: toml::Table = toml::from_str(&interpolate(text, env).unwrap()).unwrap();
        assert_eq!(parsed["a"].as_str(), Some("say \"orders\""));
        assert_eq!(parsed["b"].as_str(), Some("x'"));
        assert_eq!(parsed["c"].as_str(), Some("orders"));
    }

    #[test]
    fn a_value_that_would_become_syntax_is_refused() {
        let err = interpolate("\n\na = ${HOSTILE}", env).unwrap_err();
        assert_eq!((err.line, &err.problem), (3, &Problem::NotBare));
        assert!(err.to_string().contains("put `${HOSTILE}` in double quotes"), "{err}");
        assert_eq!(interpolate("a = ${EMPTY:-}", env).unwrap_err().problem, Problem::NotBare);
        assert_eq!(interpolate("a = '${QUOTE}'", env).unwrap_err().problem, Problem::NotLiteral);
        assert_eq!(interpolate("a = '''${HOSTILE}'''", env).unwrap_err().problem, Problem::NotLiteral);
    }
}
