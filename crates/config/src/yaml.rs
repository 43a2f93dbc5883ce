//! YAML → JSON value with the source line of every node, so that errors found later (schema,
//! semantics) can name the line. Aliases and tags are refused: a config file needs neither, and
//! refusing aliases removes the "billion laughs" alias-bomb class entirely.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};

/// JSON-pointer (`/apis/0/name`) → 1-based source line.
pub type LineMap = HashMap<String, usize>;

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Nesting limit: config files are shallow; this bounds the parser's stack.
const MAX_DEPTH: usize = 64;

enum Frame {
    Seq(Vec<Value>, String),
    Map(Map<String, Value>, String, Option<String>),
}

/// Parses one YAML document into a JSON value plus the line of every node.
pub fn parse(source: &str) -> Result<(Value, LineMap), YamlError> {
    let mut parser = Parser::new_from_str(source);
    let mut lines = LineMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Value> = None;
    let mut docs = 0;
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| YamlError {
            line: e.marker().line(),
            message: e.info().to_owned(),
        })?;
        let line = span.start.line();
        let err = |message: &str| YamlError {
            line,
            message: message.to_owned(),
        };
        let value = match event {
            Event::DocumentStart(_) => {
                docs += 1;
                if docs > 1 {
                    return Err(err("only one YAML document is allowed"));
                }
                continue;
            }
            Event::Alias(_) => return Err(err("YAML aliases are not supported in config files")),
            Event::Scalar(_, _, anchor, _)
            | Event::SequenceStart(anchor, _)
            | Event::MappingStart(anchor, _)
                if anchor != 0 =>
            {
                return Err(err("YAML anchors are not supported in config files"));
            }
            Event::Scalar(_, _, _, Some(_))
            | Event::SequenceStart(_, Some(_))
            | Event::MappingStart(_, Some(_)) => {
                return Err(err("YAML tags are not supported in config files"));
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(err("document nested too deeply"));
                }
                let path = child_path(&stack, line, &mut lines)?;
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq(Vec::new(), path)
                } else {
                    Frame::Map(Map::new(), path, None)
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq(items, _)) => Value::Array(items),
                Some(Frame::Map(map, _, _)) => Value::Object(map),
                None => return Err(err("unbalanced YAML structure")),
            },
            Event::Scalar(text, style, _, None) => {
                // A scalar in key position is a key, not a value.
                if let Some(Frame::Map(_, path, key @ None)) = stack.last_mut() {
                    let k = text.into_owned();
                    lines.insert(format!("{path}/{}", escape(&k)), line);
                    *key = Some(k);
                    continue;
                }
                let path = child_path(&stack, line, &mut lines)?;
                let _ = path;
                scalar(&text, style)
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => continue,
        };
        match stack.last_mut() {
            None => root = Some(value),
            Some(Frame::Seq(items, _)) => items.push(value),
            Some(Frame::Map(map, _, key)) => {
                let Some(k) = key.take() else {
                    return Err(err("mapping keys must be plain scalars"));
                };
                if map.contains_key(&k) {
                    return Err(err(&format!("duplicate key '{k}'")));
                }
                map.insert(k, value);
            }
        }
    }
    lines.entry(String::new()).or_insert(1);
    Ok((root.unwrap_or(Value::Null), lines))
}

/// Records the line of the node about to start and returns its pointer.
fn child_path(stack: &[Frame], line: usize, lines: &mut LineMap) -> Result<String, YamlError> {
    let path = match stack.last() {
        None => String::new(),
        Some(Frame::Seq(items, p)) => format!("{p}/{}", items.len()),
        Some(Frame::Map(_, p, Some(k))) => format!("{p}/{}", escape(k)),
        Some(Frame::Map(_, _, None)) => {
            return Err(YamlError {
                line,
                message: "mapping keys must be plain scalars".into(),
            });
        }
    };
    lines.entry(path.clone()).or_insert(line);
    Ok(path)
}

/// JSON-pointer escaping of one reference token.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// YAML 1.2 core schema resolution of a scalar.
fn scalar(text: &str, style: ScalarStyle) -> Value {
    if style != ScalarStyle::Plain {
        return Value::String(text.to_owned());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return Value::Number(i.into());
    }
    let looks_numeric = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
        && text.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
        return Value::Number(n);
    }
    Value::String(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_lines() {
        let src = "a: 1\nb:\n  - x\n  - { c: true, d: \"2\" }\ne: 1.5\nf: ~\ng: 64KiB\n";
        let (v, lines) = parse(src).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a":1,"b":["x",{"c":true,"d":"2"}],"e":1.5,"f":null,"g":"64KiB"})
        );
        assert_eq!(lines["/a"], 1);
        assert_eq!(lines["/b"], 2);
        assert_eq!(lines["/b/0"], 3);
        assert_eq!(lines["/b/1"], 4);
        assert_eq!(lines["/b/1/d"], 4);
        assert_eq!(lines["/g"], 7);
    }

    #[test]
    fn refuses_aliases_tags_duplicates() {
        assert!(
            parse("a: &x 1\nb: *x\n")
                .unwrap_err()
                .message
                .contains("anchors")
        );
        assert!(parse("a: !!str 1\n").unwrap_err().message.contains("tags"));
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("duplicate key 'a'"));
    }

    #[test]
    fn syntax_error_has_line() {
        let e = parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
    }
}
