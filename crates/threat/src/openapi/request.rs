//! Checking a request's parameters and body against its matched operation.
//!
//! All violations are collected (up to a cap) instead of stopping at the first, so a client
//! developer sees everything wrong with a call at once, and monitor mode reports the full
//! picture.

use std::borrow::Cow;

use http::HeaderMap;
use jsonschema::Validator;

use super::instance::{BodyJson, Instance};
use serde_json::Value;

use super::error::{Violation, codes};
use super::extract::{cookie_value, header_value, parse_cookies, query_value};
use super::operation::Operation;
use super::params::{Encoding, ParamIn, decode_simple};

/// The parts of an HTTP request the validator looks at.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// Request method, as sent (`GET`, `POST`, ...).
    pub method: &'a str,
    /// Normalised path, relative to `OpenApiOptions::base_path` when that is set; no query.
    pub path: &'a str,
    /// Raw query string without the `?`.
    pub query: Option<&'a str>,
    /// Request headers (header and cookie parameters are read from here).
    pub headers: &'a HeaderMap,
    /// Content type; when `None` the `Content-Type` header is used.
    pub content_type: Option<&'a str>,
    /// The (already size-capped) body; `None` or empty means no body.
    pub body: Option<&'a [u8]>,
}

/// Longest message kept from the schema validator; messages quote the offending value.
const MAX_MESSAGE: usize = 240;

/// Violations gathered so far, with the cap.
pub(crate) struct Collector {
    pub(crate) out: Vec<Violation>,
    max: usize,
}

impl Collector {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            out: Vec::new(),
            max: max.max(1),
        }
    }

    pub(crate) fn full(&self) -> bool {
        self.out.len() >= self.max
    }

    pub(crate) fn push(&mut self, v: Violation) {
        if !self.full() {
            self.out.push(v);
        }
    }

    /// Validates `value`; each schema error becomes a violation at `label` plus the JSON
    /// pointer inside the value (`body /items/0/qty`).
    pub(crate) fn check(
        &mut self,
        validator: &Validator<BodyJson>,
        value: Instance<'_>,
        label: &str,
        code: &'static str,
    ) {
        if validator.is_valid(value) {
            return;
        }
        for error in validator.iter_errors(value) {
            if self.full() {
                return;
            }
            let at = error.instance_path().as_str();
            let location = if at.is_empty() {
                label.to_owned()
            } else {
                format!("{label} {at}")
            };
            self.push(Violation::new(code, location, truncate(error.to_string())));
        }
    }
}

pub(crate) fn truncate(mut s: String) -> String {
    if s.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Checks every declared parameter; `path_params` come from the router, already decoded.
pub(crate) fn check_params(
    op: &Operation,
    path_params: &[(String, String)],
    req: &RequestView<'_>,
    reject_unknown_query: bool,
    c: &mut Collector,
) {
    let query: Vec<(Cow<'_, str>, Cow<'_, str>)> = req
        .query
        .map(|q| form_urlencoded::parse(q.as_bytes()).collect())
        .unwrap_or_default();
    let mut consumed = vec![false; query.len()];
    let mut cookies = None;
    for param in &op.params {
        if c.full() {
            return;
        }
        let value = match param.location {
            ParamIn::Path => path_params
                .iter()
                .find(|(n, _)| *n == param.name)
                .map(|(_, v)| decode_simple(param, v)),
            ParamIn::Header => header_value(req.headers, param, c),
            ParamIn::Cookie => {
                let jar = cookies.get_or_insert_with(|| parse_cookies(req.headers));
                cookie_value(jar, param)
            }
            ParamIn::Query => query_value(&query, &mut consumed, param, c),
        };
        let Some(value) = value else {
            if param.required {
                let message = format!(
                    "required {} parameter {:?} is missing",
                    location_word(param.location),
                    param.name
                );
                c.push(Violation::new(
                    codes::PARAMETER_MISSING,
                    &param.label,
                    message,
                ));
            }
            continue;
        };
        let value = match (param.encoding, value) {
            (Encoding::Json, Value::String(text)) => match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    c.push(Violation::new(
                        codes::PARAMETER_INVALID,
                        &param.label,
                        format!("not valid JSON: {e}"),
                    ));
                    continue;
                }
            },
            (_, value) => value,
        };
        if let Some(validator) = &param.validator {
            c.check(
                validator,
                Instance::Value(&value),
                &param.label,
                codes::PARAMETER_INVALID,
            );
        }
    }
    if reject_unknown_query {
        let mut reported: Vec<&str> = Vec::new();
        for ((key, _), used) in query.iter().zip(&consumed) {
            if !used && !reported.contains(&key.as_ref()) {
                reported.push(key);
                let message = format!("query parameter {key:?} is not declared by this operation");
                c.push(Violation::new(
                    codes::QUERY_PARAM_UNKNOWN,
                    format!("query.{key}"),
                    message,
                ));
            }
        }
    }
}

fn location_word(location: ParamIn) -> &'static str {
    match location {
        ParamIn::Path => "path",
        ParamIn::Query => "query",
        ParamIn::Header => "header",
        ParamIn::Cookie => "cookie",
    }
}
