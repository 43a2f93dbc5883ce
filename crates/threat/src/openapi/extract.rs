//! Reading parameter values out of headers, cookies and the query string.
//!
//! Each location has its own serialisation rules (`style`/`explode`), and getting them wrong
//! either rejects valid clients or lets a value through unchecked. Repeated scalar query
//! parameters are refused: backends disagree on whether the first or the last copy wins,
//! which is what HTTP parameter pollution exploits.

use std::borrow::Cow;

use http::HeaderMap;
use http::header::COOKIE;
use serde_json::{Map, Value};

use super::error::{Violation, codes};
use super::params::{
    Encoding, Param, Shape, Style, Types, array, coerce, decode_simple, object_from_text,
    prop_types,
};
use super::request::Collector;

pub(crate) fn raw(param: &Param, text: &str) -> Value {
    match param.encoding {
        Encoding::Styled => decode_simple(param, text),
        Encoding::Json | Encoding::Opaque => Value::String(text.to_owned()),
    }
}

pub(crate) fn header_value(headers: &HeaderMap, param: &Param, c: &mut Collector) -> Option<Value> {
    let mut joined: Option<String> = None;
    for value in headers.get_all(param.name.as_str()) {
        let Ok(text) = value.to_str() else {
            c.push(Violation::new(
                codes::PARAMETER_INVALID,
                &param.label,
                "header value is not visible ASCII",
            ));
            return None;
        };
        match &mut joined {
            Some(j) => {
                j.push(',');
                j.push_str(text);
            }
            None => joined = Some(text.to_owned()),
        }
    }
    joined.map(|text| raw(param, &text))
}

pub(crate) fn parse_cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        .collect()
}

pub(crate) fn cookie_value(jar: &[(String, String)], param: &Param) -> Option<Value> {
    let (_, text) = jar.iter().find(|(k, _)| *k == param.name)?;
    Some(match (param.encoding, &param.shape) {
        (Encoding::Styled, Shape::Scalar(t)) => coerce(text, *t),
        (Encoding::Styled, Shape::Array(t)) => array(text.split(','), *t),
        (Encoding::Styled, shape) => object_from_text(text, ',', false, shape),
        _ => Value::String(text.clone()),
    })
}

pub(crate) fn query_value(
    query: &[(Cow<'_, str>, Cow<'_, str>)],
    consumed: &mut [bool],
    param: &Param,
    c: &mut Collector,
) -> Option<Value> {
    let name = param.name.as_str();
    if let (Encoding::Styled, Shape::Object { props, .. }) = (param.encoding, &param.shape) {
        return query_object(query, consumed, param, props);
    }
    let mut values = Vec::new();
    for (i, (k, v)) in query.iter().enumerate() {
        if k == name {
            consumed[i] = true;
            values.push(v.as_ref());
        }
    }
    if values.is_empty() {
        return None;
    }
    match (param.encoding, &param.shape) {
        (Encoding::Styled, Shape::Array(t)) => {
            let sep = match param.style {
                Style::SpaceDelimited => ' ',
                Style::PipeDelimited => '|',
                _ => ',',
            };
            if param.explode && param.style == Style::Form {
                Some(array(values.into_iter(), *t))
            } else {
                Some(array(values.into_iter().flat_map(|v| v.split(sep)), *t))
            }
        }
        _ if values.len() > 1 => {
            let message = format!(
                "query parameter {name:?} appears {} times; exactly one is allowed",
                values.len()
            );
            c.push(Violation::new(
                codes::PARAMETER_INVALID,
                &param.label,
                message,
            ));
            None
        }
        (Encoding::Styled, Shape::Scalar(t)) => Some(coerce(values[0], *t)),
        _ => Some(Value::String(values[0].to_owned())),
    }
}

/// Object-valued query parameters: `deepObject` (`f[a]=1`), exploded form (each property is
/// its own parameter) or non-exploded form (`f=a,1,b,2`).
fn query_object(
    query: &[(Cow<'_, str>, Cow<'_, str>)],
    consumed: &mut [bool],
    param: &Param,
    props: &[(String, Types)],
) -> Option<Value> {
    let mut map = Map::new();
    for (i, (k, v)) in query.iter().enumerate() {
        let prop = match param.style {
            Style::DeepObject => k
                .strip_prefix(param.name.as_str())
                .and_then(|rest| rest.strip_prefix('['))
                .and_then(|rest| rest.strip_suffix(']')),
            Style::Form if param.explode => {
                props.iter().find(|(p, _)| p == k).map(|(p, _)| p.as_str())
            }
            _ if k == param.name.as_str() => {
                consumed[i] = true;
                return Some(object_from_text(v, ',', false, &param.shape));
            }
            _ => None,
        };
        if let Some(prop) = prop {
            consumed[i] = true;
            map.insert(prop.to_owned(), coerce(v, prop_types(&param.shape, prop)));
        }
    }
    (!map.is_empty()).then_some(Value::Object(map))
}
