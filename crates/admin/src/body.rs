//! Request bodies: JSON checked field by field into typed values, collecting *every* problem
//! with its JSON Pointer (`/paths/2`), so a client fixes a request in one round trip.
//!
//! Which fields exist and which are required is read from the request type's OpenAPI schema
//! (`utoipa::PartialSchema`), so the document and the checks cannot disagree: a field missing
//! from the schema is refused as unknown, a required one is reported when absent. The getters
//! then check each value's type; `null` counts as absent for optional fields.

use std::time::SystemTime;

use axum::extract::{FromRequest, Request};
use axum::http::header;
use bytes::Bytes;
use portcullis_core::GatewayError;
use portcullis_store::Attributes;
use serde_json::{Map, Value};
use utoipa::PartialSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use crate::error::{ApiError, FieldError, push_segment};
use crate::http_util::parse_rfc3339;

/// Largest accepted body.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// A raw request body with its media type checked lazily (bodiless POSTs are allowed).
pub(crate) struct RawBody {
    bytes: Bytes,
    is_json: bool,
}

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            })
            .unwrap_or(false);
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError(
                    GatewayError::body_too_large()
                        .with_detail(format!("the admin API accepts at most {MAX_BODY} bytes")),
                )
            } else {
                ApiError::bad_request(format!("cannot read the body: {}", e.body_text()))
            }
        })?;
        Ok(RawBody { bytes, is_json })
    }
}

impl RawBody {
    /// The JSON text of the body for handlers that deserialize a nested document whole
    /// (`/apply`); a blank body is `{}`.
    pub(crate) fn json(&self) -> Result<&[u8], ApiError> {
        if self.bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(b"{}");
        }
        if !self.is_json {
            return Err(ApiError(
                GatewayError::admin_unsupported_media_type()
                    .with_detail("send the body as application/json"),
            ));
        }
        Ok(&self.bytes)
    }

    /// Parses the body as the object `T` describes; an empty body is `{}` when `T` has no
    /// required fields (action endpoints such as `/revoke`).
    pub(crate) fn input<T: PartialSchema>(&self) -> Result<Input, ApiError> {
        let (allowed, required) = schema_fields::<T>();
        let value = if self.bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Map::new())
        } else {
            if !self.is_json {
                return Err(ApiError(
                    GatewayError::admin_unsupported_media_type()
                        .with_detail("send the body as application/json"),
                ));
            }
            serde_json::from_slice(&self.bytes)
                .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?
        };
        let Value::Object(obj) = value else {
            return Err(ApiError::field("", "must be a JSON object"));
        };
        let mut input = Input {
            obj,
            prefix: String::new(),
            errors: Vec::new(),
        };
        input.check_shape(&allowed, &required);
        Ok(input)
    }
}

/// Property names and required names of `T`'s object schema.
fn schema_fields<T: PartialSchema>() -> (Vec<String>, Vec<String>) {
    match T::schema() {
        RefOr::T(Schema::Object(o)) => (o.properties.keys().cloned().collect(), o.required),
        _ => (Vec::new(), Vec::new()),
    }
}

/// A JSON object being read into typed values.
pub(crate) struct Input {
    obj: Map<String, Value>,
    prefix: String,
    errors: Vec<FieldError>,
}

impl Input {
    fn check_shape(&mut self, allowed: &[String], required: &[String]) {
        let unknown: Vec<String> = self
            .obj
            .keys()
            .filter(|k| !allowed.contains(k))
            .cloned()
            .collect();
        for key in unknown {
            self.error_key(&key, "unknown field");
        }
        for key in required {
            if self.obj.get(key).is_none_or(Value::is_null) {
                self.error_key(key, "required");
            }
        }
    }

    /// Records a problem with the member named `key` (taken literally, `/` included).
    fn error_key(&mut self, key: &str, message: &str) {
        let mut path = self.prefix.clone();
        push_segment(&mut path, key);
        self.errors.push(FieldError {
            path,
            message: message.to_owned(),
        });
    }

    /// Records a problem with `field` (a name, or a name + `/index`).
    pub(crate) fn error(&mut self, field: &str, message: impl Into<String>) {
        let mut path = self.prefix.clone();
        for seg in field.split('/') {
            push_segment(&mut path, seg);
        }
        self.errors.push(FieldError {
            path,
            message: message.into(),
        });
    }

    /// Whether the body mentions `name` (with a non-null value): PATCH semantics.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.obj.get(name).is_some_and(|v| !v.is_null())
    }

    fn take(&mut self, name: &str) -> Option<Value> {
        self.obj.remove(name).filter(|v| !v.is_null())
    }

    /// A string field.
    pub(crate) fn string(&mut self, name: &str) -> Option<String> {
        match self.take(name)? {
            Value::String(s) => Some(s),
            _ => {
                self.error(name, "must be a string");
                None
            }
        }
    }

    /// A string field that must be non-blank and at most `max` characters, without control
    /// characters.
    pub(crate) fn label(&mut self, name: &str, max: usize) -> Option<String> {
        let s = self.string(name)?;
        let t = s.trim();
        if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
            self.error(
                name,
                format!("must be 1 to {max} characters without control characters"),
            );
            return None;
        }
        Some(t.to_owned())
    }

    /// A list of strings; reports each bad item by index.
    pub(crate) fn strings(&mut self, name: &str) -> Option<Vec<String>> {
        match self.take(name)? {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s),
                        _ => {
                            self.error(&format!("{name}/{i}"), "must be a string");
                            ok = false;
                        }
                    }
                }
                ok.then_some(out)
            }
            _ => {
                self.error(name, "must be an array of strings");
                None
            }
        }
    }

    /// A string → string map (custom attributes).
    pub(crate) fn attributes(&mut self, name: &str) -> Option<Attributes> {
        match self.take(name)? {
            Value::Object(map) => {
                let mut out = Attributes::new();
                let mut ok = true;
                for (k, v) in map {
                    match v {
                        Value::String(s) => {
                            out.insert(k, s);
                        }
                        _ => {
                            let mut path = self.prefix.clone();
                            push_segment(&mut path, name);
                            push_segment(&mut path, &k);
                            self.errors.push(FieldError {
                                path,
                                message: "must be a string".into(),
                            });
                            ok = false;
                        }
                    }
                }
                ok.then_some(out)
            }
            _ => {
                self.error(name, "must be an object of strings");
                None
            }
        }
    }

    /// A boolean.
    pub(crate) fn boolean(&mut self, name: &str) -> Option<bool> {
        match self.take(name)? {
            Value::Bool(b) => Some(b),
            _ => {
                self.error(name, "must be true or false");
                None
            }
        }
    }

    /// An integer in `min..=max`.
    pub(crate) fn integer(&mut self, name: &str, min: u64, max: u64) -> Option<u64> {
        let v = self.take(name)?;
        match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.error(name, format!("must be an integer from {min} to {max}"));
                None
            }
        }
    }

    /// An RFC 3339 timestamp.
    pub(crate) fn timestamp(&mut self, name: &str) -> Option<SystemTime> {
        let s = self.string(name)?;
        let t = parse_rfc3339(&s);
        if t.is_none() {
            self.error(
                name,
                "must be an RFC 3339 timestamp such as 2030-01-31T12:00:00Z",
            );
        }
        t
    }

    /// One of a fixed set of strings, parsed by `parse`.
    pub(crate) fn one_of<T>(
        &mut self,
        name: &str,
        allowed: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let s = self.string(name)?;
        let v = parse(&s);
        if v.is_none() {
            self.error(name, format!("must be one of {}", allowed.join(", ")));
        }
        v
    }

    /// A nested object described by `T`'s schema; its problems are reported under `name`.
    pub(crate) fn object<T: PartialSchema>(&mut self, name: &str) -> Option<Input> {
        match self.take(name)? {
            Value::Object(obj) => {
                let mut prefix = self.prefix.clone();
                push_segment(&mut prefix, name);
                let (allowed, required) = schema_fields::<T>();
                let mut child = Input {
                    obj,
                    prefix,
                    errors: Vec::new(),
                };
                child.check_shape(&allowed, &required);
                Some(child)
            }
            _ => {
                self.error(name, "must be an object");
                None
            }
        }
    }

    /// Takes over a nested object's problems.
    pub(crate) fn absorb(&mut self, child: Input) {
        self.errors.extend(child.errors);
    }

    /// `Err(422)` listing every problem found, or `Ok`.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(&self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use utoipa::ToSchema;

    #[allow(dead_code)]
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: String,
        tags: Option<Vec<String>>,
        count: Option<u32>,
    }

    fn errors(json: &str) -> Vec<(String, String)> {
        let raw = RawBody {
            bytes: Bytes::copy_from_slice(json.as_bytes()),
            is_json: true,
        };
        let mut input = match raw.input::<Sample>() {
            Ok(i) => i,
            Err(e) => return vec![("!".into(), e.0.to_string())],
        };
        input.string("name");
        input.strings("tags");
        input.integer("count", 1, 10);
        input
            .errors
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect()
    }

    #[test]
    fn every_problem_is_reported_with_its_pointer() {
        let got = errors(r#"{"tags": ["a", 2, "c", {}], "count": 0, "extra/x": 1}"#);
        let paths: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            ["/extra~1x", "/name", "/tags/1", "/tags/3", "/count"]
        );
        assert_eq!(got[0].1, "unknown field");
        assert_eq!(got[1].1, "required");
    }

    #[test]
    fn nulls_are_absent_and_a_valid_body_passes() {
        assert!(errors(r#"{"name": "x", "tags": null}"#).is_empty());
        assert_eq!(
            errors(r#"{"name": null}"#),
            [("/name".into(), "required".into())]
        );
    }

    #[test]
    fn malformed_json_and_non_objects_are_refused() {
        assert!(
            errors("{")
                .first()
                .is_some_and(|(p, m)| p == "!" && m.contains("malformed"))
        );
        assert!(errors("[1]").first().is_some_and(|(p, _)| p == "!"));
    }
}
