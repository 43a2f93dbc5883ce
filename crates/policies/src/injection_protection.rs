//! `injection-protection`: blocks SQL injection, cross-site scripting, path traversal, OS
//! command injection, server-side includes, XPath/LDAP and code injection carried in the path,
//! query, headers, cookies or body (form fields, JSON and XML string values and keys).
//!
//! Replaces Apigee's RegularExpressionProtection: instead of raw blocklist regexes over
//! undecoded values (which miss encoded payloads and block prose), the engine decodes each value
//! into canonical views and runs a tokenising SQLi/XSS detector plus a managed, paranoia-graded
//! rule set without backtracking. A detection answers 400 `injection.detected`, naming the
//! attack class and where it was found but never the payload; every finding is also recorded
//! as a [`PolicyEvent`] (rule id, location, a short redacted fragment) in both modes, so
//! analytics and a SIEM see attacks even while the policy only monitors. Request phase.

use std::sync::Arc;

use async_trait::async_trait;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use portcullis_core::{ErrorSource, GatewayError};
use portcullis_policy::{Decision, Exchange, Mode, Policy, PolicyEvent};
use portcullis_threat::injection::{
    self as engine, AttackClass, Detector, DetectorConfig, Finding,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::body_charset;
use crate::json_threat_protection::{ParsedJsonBody, request_phase_only};
use crate::registry::{CompileCtx, CompileError, PolicyConfig};

mod config;

pub use config::{Class, ClassToggles, CustomRule, Exclusion};

const KIND: &str = "injection-protection";
/// Stable code of a blocked request.
pub const CODE: &str = "injection.detected";
const TITLE: &str = "Injection attempt detected";
/// Location names come from the request (parameter, header, cookie names): they are cut so
/// a client cannot make the answer or the logs arbitrarily long.
const MAX_LOCATION_CHARS: usize = 80;

/// Config of `injection-protection`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct InjectionProtectionConfig {
    /// Attack classes checked (each `true`/`false`); all are on by default.
    #[serde(default)]
    pub classes: ClassToggles,
    /// Strictness of the managed rule set, 1 (fewest false positives) to 4 (strictest).
    /// From 2 on, non-standard request headers are inspected too. Default 2.
    #[serde(default = "d_paranoia")]
    pub paranoia: u8,
    /// Places where some or all classes are not checked, e.g. a JSON field that legitimately
    /// holds HTML.
    #[serde(default)]
    pub exclusions: Vec<Exclusion>,
    /// Operator patterns evaluated with the managed rules of their class.
    #[serde(default)]
    pub custom_rules: Vec<CustomRule>,
    /// Inspect the request body (form fields, JSON and XML values; other bodies as one value).
    /// When false the body is not buffered for this policy. Default true.
    #[serde(default = "yes")]
    pub inspect_body: bool,
    /// Bytes of one value that are decoded and inspected; the rest is not looked at, so one
    /// huge value cannot make inspection slow. Default 16384.
    #[serde(default = "d_value_len")]
    pub max_value_len: usize,
    /// Bytes of the body that are inspected. Default 1048576.
    #[serde(default = "d_body_len")]
    pub max_body_len: usize,
}

fn d_paranoia() -> u8 {
    engine::DEFAULT_PARANOIA
}
fn yes() -> bool {
    true
}
fn d_value_len() -> usize {
    DetectorConfig::default().max_value_len
}
fn d_body_len() -> usize {
    DetectorConfig::default().max_body_len
}

/// The compiled policy.
#[derive(Debug)]
pub struct InjectionProtection {
    detector: Detector,
    inspect_body: bool,
}

impl PolicyConfig for InjectionProtectionConfig {
    fn compile(self, ctx: &CompileCtx<'_>) -> Result<Arc<dyn Policy>, Vec<CompileError>> {
        request_phase_only(ctx, KIND)?;
        let cfg = DetectorConfig {
            classes: self.classes.into_engine(),
            paranoia: self.paranoia,
            exclusions: self.exclusions.iter().map(Exclusion::to_engine).collect(),
            custom_rules: self
                .custom_rules
                .iter()
                .map(CustomRule::to_engine)
                .collect(),
            max_value_len: self.max_value_len,
            max_body_len: self.max_body_len,
        };
        let detector = Detector::compile(&cfg).map_err(|e| {
            let path = match &e {
                engine::CompileError::Paranoia(_) if !(1..=4).contains(&self.paranoia) => {
                    "paranoia".to_owned()
                }
                engine::CompileError::Paranoia(_) | engine::CompileError::DuplicateId(_) => {
                    "custom_rules".to_owned()
                }
                engine::CompileError::Pattern { rule_id, .. } => self
                    .custom_rules
                    .iter()
                    .position(|r| r.id == *rule_id)
                    .map_or_else(String::new, |i| format!("custom_rules[{i}].pattern")),
                engine::CompileError::EmptyExclusion => "exclusions".to_owned(),
                _ => String::new(),
            };
            vec![CompileError::at(path, e.to_string())]
        })?;
        Ok(Arc::new(InjectionProtection {
            detector,
            inspect_body: self.inspect_body,
        }))
    }
}

/// A human name for the class, for the client-facing detail.
fn class_name(class: AttackClass) -> &'static str {
    match class {
        AttackClass::Sqli => "SQL injection",
        AttackClass::Xss => "cross-site scripting",
        AttackClass::PathTraversal => "path traversal",
        AttackClass::CommandInjection => "command injection",
        AttackClass::Ssi => "server-side include injection",
        AttackClass::XpathLdap => "XPath/LDAP injection",
        AttackClass::CodeInjection => "code injection",
    }
}

/// Stable event code per class, so security events can be counted by class.
fn event_code(class: AttackClass) -> &'static str {
    match class {
        AttackClass::Sqli => "injection.sqli",
        AttackClass::Xss => "injection.xss",
        AttackClass::PathTraversal => "injection.path_traversal",
        AttackClass::CommandInjection => "injection.command_injection",
        AttackClass::Ssi => "injection.ssi",
        AttackClass::XpathLdap => "injection.xpath_ldap",
        AttackClass::CodeInjection => "injection.code_injection",
    }
}

/// `s` with control characters replaced and cut to [`MAX_LOCATION_CHARS`].
fn safe_location(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_LOCATION_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().nth(MAX_LOCATION_CHARS).is_some() {
        out.push('…');
    }
    out
}

fn event(f: &Finding) -> PolicyEvent {
    PolicyEvent {
        policy: KIND,
        code: event_code(f.class),
        // The policy does not know its own mode: the executor adds a `Monitor` event of its
        // own when it lets the request through; this one records the detection itself.
        mode: Mode::Enforce,
        detail: Some(format!(
            "rule {} at {}: {:?}",
            f.rule_id,
            safe_location(&f.location),
            f.fragment
        )),
    }
}

#[async_trait]
impl Policy for InjectionProtection {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn needs_request_body(&self) -> bool {
        self.inspect_body
    }

    async fn on_request(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        let req = &ex.request;
        let content_type = req.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let body = if self.inspect_body {
            ex.body.content()?.map(|b| &b[..])
        } else {
            None
        };
        if body.is_some_and(|b| !b.is_empty()) {
            // UTF-16 and UTF-32 the detector decodes itself (`injection/wide.rs`).
            body_charset::check(content_type, true)?;
        }
        let headers = req
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()));
        // A body `json-threat-protection` already parsed is read from its tape.
        let doc = self.inspect_body.then(|| ParsedJsonBody::of(ex)).flatten();
        let findings = match doc {
            Some(doc) => self.detector.inspect_request_with_doc(
                req.uri.path(),
                req.uri.query(),
                headers,
                content_type,
                body,
                doc,
            ),
            None => self.detector.inspect_request(
                req.uri.path(),
                req.uri.query(),
                headers,
                content_type,
                body,
            ),
        };
        let Some(first) = findings.first() else {
            return Ok(Decision::Continue);
        };
        let detail = format!(
            "{} detected in {} (rule {})",
            class_name(first.class),
            safe_location(&first.location),
            first.rule_id
        );
        let class = first.class.as_str();
        // The access log carries event codes only; until it carries their details, this line is
        // where operators see which rule fired where.
        tracing::info!(
            policy = KIND,
            class,
            rule = %first.rule_id,
            location = %safe_location(&first.location),
            request_id = %ex.ctx.request_id,
            findings = findings.len(),
            "injection detected"
        );
        ex.ctx.events.extend(findings.iter().map(event));
        Err(
            GatewayError::new(StatusCode::BAD_REQUEST, CODE, TITLE, ErrorSource::Client)
                .with_detail(detail)
                .with_extra("class", serde_json::json!(class)),
        )
    }
}

#[cfg(test)]
mod tests;
