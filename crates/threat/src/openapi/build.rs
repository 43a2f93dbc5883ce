//! Building the router and compiled operations from a converted document.
//!
//! Every structural mistake is reported here with its JSON pointer, because a document that
//! is only half understood would leave parts of the API unprotected without anyone noticing.

use std::sync::Arc;

use http::Method;
use serde_json::{Map, Value};

use super::document::{Version, deref, invalid};
use super::error::{LoadError, escape_token};
use super::media::{BodyKind, Media, essence, kind};
use super::operation::{
    Operation, PathEntry, RequestBody, ResponseSpec, SchemeRequirement, SecurityRequirement,
    StatusKey,
};
use super::params::{Encoding, Param, ParamIn, Style, shape_of};
use super::router::Router;
use super::schema::SchemaCompiler;

/// One compiler per direction: the document copies differ in `readOnly`/`writeOnly` handling.
pub(crate) struct Compilers<'a> {
    pub(crate) request: SchemaCompiler<'a>,
    pub(crate) response: SchemaCompiler<'a>,
}

const METHODS: &[(&str, Method)] = &[
    ("get", Method::GET),
    ("put", Method::PUT),
    ("post", Method::POST),
    ("delete", Method::DELETE),
    ("options", Method::OPTIONS),
    ("head", Method::HEAD),
    ("patch", Method::PATCH),
    ("trace", Method::TRACE),
];
/// Header parameters the spec says to ignore: they are described elsewhere in the document.
const IGNORED_HEADERS: &[&str] = &["accept", "content-type", "authorization"];

/// Compiles every operation of `root` into a router.
pub(crate) fn build(
    root: &Value,
    version: Version,
    compilers: &mut Compilers<'_>,
) -> Result<Router<PathEntry>, LoadError> {
    let mut router = Router::new();
    let paths = match root.get("paths") {
        Some(Value::Object(paths)) => paths,
        Some(_) => return Err(invalid("/paths", "`paths` must be an object")),
        None if version == Version::V31 => return Ok(router),
        None => return Err(invalid("", "missing required field `paths`")),
    };
    let global_security = root.get("security");
    for (template, item) in paths {
        let item_ptr = format!("/paths/{}", escape_token(template));
        let (item, item_ptr) = deref(root, item, &item_ptr)?;
        let Value::Object(item) = item else {
            return Err(invalid(&item_ptr, "a path item must be an object"));
        };
        let shared = item.get("parameters");
        let mut ops = Vec::new();
        for (key, method) in METHODS {
            let Some(op) = item.get(*key) else { continue };
            let ctx = OpCtx {
                root,
                template,
                pointer: format!("{item_ptr}/{key}"),
                item_pointer: &item_ptr,
            };
            let built = ctx.build(op, method.clone(), shared, global_security, compilers)?;
            ops.push(Arc::new(built));
        }
        let mut allow: Vec<&str> = ops.iter().map(|o| o.method.as_str()).collect();
        if allow.contains(&"GET") && !allow.contains(&"HEAD") {
            allow.push("HEAD");
        }
        let entry = PathEntry {
            allow: allow.join(", "),
            ops,
        };
        router
            .insert(template, entry)
            .map_err(|m| invalid(&item_ptr, m))?;
    }
    Ok(router)
}

struct OpCtx<'d> {
    root: &'d Value,
    template: &'d str,
    pointer: String,
    item_pointer: &'d str,
}

impl OpCtx<'_> {
    fn build(
        &self,
        op: &Value,
        method: Method,
        shared: Option<&Value>,
        global_security: Option<&Value>,
        compilers: &mut Compilers<'_>,
    ) -> Result<Operation, LoadError> {
        let Value::Object(op) = op else {
            return Err(invalid(&self.pointer, "an operation must be an object"));
        };
        let params = self.params(op, shared, &mut compilers.request)?;
        let body = match op.get("requestBody") {
            Some(body) => Some(self.request_body(body, &mut compilers.request)?),
            None => None,
        };
        let responses = self.responses(op.get("responses"), &mut compilers.response)?;
        let security = match (op.get("security"), global_security) {
            (Some(s), _) => Some(security(s, &format!("{}/security", self.pointer))?),
            (None, Some(s)) => Some(security(s, "/security")?),
            (None, None) => None,
        };
        let operation_id = match op.get("operationId") {
            Some(Value::String(id)) => Some(id.clone()),
            Some(_) => {
                return Err(invalid(
                    &format!("{}/operationId", self.pointer),
                    "must be a string",
                ));
            }
            None => None,
        };
        Ok(Operation {
            method,
            template: self.template.to_owned(),
            operation_id,
            security,
            params,
            body,
            responses,
        })
    }

    /// Path-item parameters overridden by operation parameters of the same name and location.
    fn params(
        &self,
        op: &Map<String, Value>,
        shared: Option<&Value>,
        compiler: &mut SchemaCompiler<'_>,
    ) -> Result<Vec<Param>, LoadError> {
        let mut params: Vec<Param> = Vec::new();
        let lists = [
            (shared, format!("{}/parameters", self.item_pointer)),
            (op.get("parameters"), format!("{}/parameters", self.pointer)),
        ];
        for (list, list_ptr) in lists {
            let Some(list) = list else { continue };
            let Value::Array(list) = list else {
                return Err(invalid(&list_ptr, "`parameters` must be an array"));
            };
            for (i, p) in list.iter().enumerate() {
                let Some(param) = self.param(p, &format!("{list_ptr}/{i}"), compiler)? else {
                    continue;
                };
                params.retain(|q| !(q.name == param.name && q.location == param.location));
                params.push(param);
            }
        }
        for p in params.iter().filter(|p| p.location == ParamIn::Path) {
            if !self.template.contains(&format!("{{{}}}", p.name)) {
                return Err(invalid(
                    &self.pointer,
                    format!(
                        "path parameter {:?} does not appear in the template {:?}",
                        p.name, self.template
                    ),
                ));
            }
        }
        Ok(params)
    }

    fn param(
        &self,
        p: &Value,
        ptr: &str,
        compiler: &mut SchemaCompiler<'_>,
    ) -> Result<Option<Param>, LoadError> {
        let (p, ptr) = deref(self.root, p, ptr)?;
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(&ptr, "a parameter needs a string `name`"))?;
        let location = match p.get("in").and_then(Value::as_str) {
            Some("path") => ParamIn::Path,
            Some("query") => ParamIn::Query,
            Some("header") => ParamIn::Header,
            Some("cookie") => ParamIn::Cookie,
            other => {
                return Err(invalid(
                    &format!("{ptr}/in"),
                    format!("`in` must be path, query, header or cookie, found {other:?}"),
                ));
            }
        };
        if location == ParamIn::Header
            && IGNORED_HEADERS.contains(&name.to_ascii_lowercase().as_str())
        {
            return Ok(None);
        }
        let style = match p.get("style").and_then(Value::as_str) {
            None if matches!(location, ParamIn::Query | ParamIn::Cookie) => Style::Form,
            None | Some("simple") => Style::Simple,
            Some("label") => Style::Label,
            Some("matrix") => Style::Matrix,
            Some("form") => Style::Form,
            Some("spaceDelimited") => Style::SpaceDelimited,
            Some("pipeDelimited") => Style::PipeDelimited,
            Some("deepObject") => Style::DeepObject,
            Some(other) => {
                return Err(invalid(
                    &format!("{ptr}/style"),
                    format!("unknown style {other:?}"),
                ));
            }
        };
        let explode = p
            .get("explode")
            .and_then(Value::as_bool)
            .unwrap_or(style == Style::Form);
        let required = location == ParamIn::Path
            || p.get("required").and_then(Value::as_bool).unwrap_or(false);
        let (encoding, shape, validator) = if let Some(schema) = p.get("schema") {
            let v = compiler.compile(&format!("{ptr}/schema"))?;
            (Encoding::Styled, shape_of(self.root, schema), Some(v))
        } else if let Some(Value::Object(content)) = p.get("content") {
            let Some((media, spec)) = content.iter().next() else {
                return Err(invalid(
                    &format!("{ptr}/content"),
                    "`content` must name one media type",
                ));
            };
            let is_json = essence(media).is_some_and(|(t, s)| kind(&t, &s) == BodyKind::Json);
            let validator = match spec.get("schema") {
                Some(_) if is_json => Some(
                    compiler.compile(&format!("{ptr}/content/{}/schema", escape_token(media)))?,
                ),
                _ => None,
            };
            let encoding = if is_json {
                Encoding::Json
            } else {
                Encoding::Opaque
            };
            (encoding, shape_of(self.root, &Value::Null), validator)
        } else {
            return Err(invalid(&ptr, "a parameter needs `schema` or `content`"));
        };
        let prefix = match location {
            ParamIn::Path => "path",
            ParamIn::Query => "query",
            ParamIn::Header => "header",
            ParamIn::Cookie => "cookie",
        };
        let name = if location == ParamIn::Header {
            name.to_ascii_lowercase()
        } else {
            name.to_owned()
        };
        Ok(Some(Param {
            label: format!("{prefix}.{name}"),
            name,
            location,
            required,
            style,
            explode,
            encoding,
            shape,
            validator,
        }))
    }

    fn request_body(
        &self,
        body: &Value,
        compiler: &mut SchemaCompiler<'_>,
    ) -> Result<RequestBody, LoadError> {
        let (body, ptr) = deref(self.root, body, &format!("{}/requestBody", self.pointer))?;
        let required = body
            .get("required")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let Some(Value::Object(content)) = body.get("content") else {
            return Err(invalid(&ptr, "a request body needs a `content` object"));
        };
        Ok(RequestBody {
            required,
            media: media_list(self.root, content, &ptr, compiler)?,
        })
    }

    fn responses(
        &self,
        responses: Option<&Value>,
        compiler: &mut SchemaCompiler<'_>,
    ) -> Result<Vec<ResponseSpec>, LoadError> {
        let ptr = format!("{}/responses", self.pointer);
        let Some(Value::Object(responses)) = responses else {
            return Ok(Vec::new());
        };
        let mut specs = Vec::new();
        for (code, response) in responses {
            let status = parse_status(code).ok_or_else(|| {
                invalid(
                    &ptr,
                    format!(
                        "response key {code:?} is not a status code, a range like 2XX, or `default`"
                    ),
                )
            })?;
            let (response, rptr) = deref(
                self.root,
                response,
                &format!("{ptr}/{}", escape_token(code)),
            )?;
            let media = match response.get("content") {
                Some(Value::Object(content)) => media_list(self.root, content, &rptr, compiler)?,
                _ => Vec::new(),
            };
            specs.push(ResponseSpec { status, media });
        }
        Ok(specs)
    }
}

fn media_list(
    root: &Value,
    content: &Map<String, Value>,
    ptr: &str,
    compiler: &mut SchemaCompiler<'_>,
) -> Result<Vec<Media>, LoadError> {
    let mut list = Vec::new();
    for (range, spec) in content {
        let mptr = format!("{ptr}/content/{}", escape_token(range));
        let Some((ty, sub)) = essence(range) else {
            return Err(invalid(&mptr, format!("{range:?} is not a media type")));
        };
        let (validator, form_shape) = match spec.get("schema") {
            Some(schema) if kind(&ty, &sub) != BodyKind::Other || ty == "*" || sub == "*" => {
                let form = (kind(&ty, &sub) == BodyKind::Form || sub == "*")
                    .then(|| shape_of(root, schema));
                (Some(compiler.compile(&format!("{mptr}/schema"))?), form)
            }
            _ => (None, None),
        };
        list.push(Media::new(range, validator, form_shape));
    }
    Ok(list)
}

fn parse_status(code: &str) -> Option<StatusKey> {
    if code == "default" {
        return Some(StatusKey::Default);
    }
    let bytes = code.as_bytes();
    if bytes.len() == 3
        && (b'1'..=b'5').contains(&bytes[0])
        && bytes[1..].eq_ignore_ascii_case(b"XX")
    {
        return Some(StatusKey::Range(u16::from(bytes[0] - b'0')));
    }
    code.parse::<u16>()
        .ok()
        .filter(|c| (100..=599).contains(c))
        .map(StatusKey::Exact)
}

fn security(value: &Value, ptr: &str) -> Result<Vec<SecurityRequirement>, LoadError> {
    let Value::Array(reqs) = value else {
        return Err(invalid(
            ptr,
            "`security` must be an array of requirement objects",
        ));
    };
    reqs.iter()
        .enumerate()
        .map(|(i, req)| {
            let Value::Object(req) = req else {
                return Err(invalid(
                    &format!("{ptr}/{i}"),
                    "a security requirement must be an object",
                ));
            };
            let schemes = req
                .iter()
                .map(|(name, scopes)| {
                    let scopes = scopes
                        .as_array()
                        .map(|s| {
                            s.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect()
                        })
                        .ok_or_else(|| {
                            invalid(
                                &format!("{ptr}/{i}/{}", escape_token(name)),
                                "scopes must be an array",
                            )
                        })?;
                    Ok(SchemeRequirement {
                        name: name.clone(),
                        scopes,
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(SecurityRequirement { schemes })
        })
        .collect()
}
