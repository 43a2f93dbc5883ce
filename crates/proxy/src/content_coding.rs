//! A buffered request body's content codings undone (`Content-Encoding`, RFC 9110 §8.4), so
//! that the policies that read the body judge what the back end reads after decoding it, not
//! compressed bytes in which no attack and no schema violation can be seen.
//!
//! Only `gzip` (and its alias `x-gzip`) and `deflate` (zlib, RFC 9110 §8.4.1.2) are decoded,
//! at most two layers, and the decoded body is held to the same limit as the received one, so
//! a small compressed body cannot expand past it (a decompression bomb stops at the limit).
//! Anything else cannot be inspected and is refused by the policy that needed it (415, with
//! `Accept-Encoding` naming what would have been accepted, RFC 9110 §15.5.16). Data after the
//! end of the compressed stream is refused too: a back end might read it, the policies would not.

use std::io::Read;

use bytes::Bytes;
use flate2::bufread::{MultiGzDecoder, ZlibDecoder};
use http::{HeaderMap, HeaderValue, header};
use portcullis_core::GatewayError;

/// The codings decoded for inspection, as the `Accept-Encoding` of a 415 lists them.
pub const DECODED: &str = "gzip, deflate";

/// Codings applied one over another beyond this are refused: every layer costs a full decode.
const MAX_LAYERS: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Gzip,
    Deflate,
}

/// The body with its codings undone: `Ok(None)` when it has none (no `Content-Encoding`, or
/// only `identity`) or is empty, so it is inspected as received.
pub fn decode(headers: &HeaderMap, wire: &Bytes, max: u64) -> Result<Option<Bytes>, GatewayError> {
    if wire.is_empty() || !headers.contains_key(header::CONTENT_ENCODING) {
        return Ok(None);
    }
    let codings = codings(headers)?;
    if codings.is_empty() {
        return Ok(None);
    }
    let mut body = wire.clone();
    // Listed in the order they were applied: undone from the last.
    for coding in codings.iter().rev() {
        body = undo(*coding, &body, max)?;
    }
    Ok(Some(body))
}

/// The codings of every `Content-Encoding` line, in order; `identity` and empty list elements
/// are skipped.
fn codings(headers: &HeaderMap) -> Result<Vec<Coding>, GatewayError> {
    let mut codings = Vec::new();
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let value = value.to_str().map_err(|_| unsupported("(not text)"))?;
        for token in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let coding = if token.eq_ignore_ascii_case("identity") {
                continue;
            } else if token.eq_ignore_ascii_case("gzip") || token.eq_ignore_ascii_case("x-gzip") {
                Coding::Gzip
            } else if token.eq_ignore_ascii_case("deflate") {
                Coding::Deflate
            } else {
                return Err(unsupported(token));
            };
            if codings.len() == MAX_LAYERS {
                return Err(unsupported_error().with_detail(format!(
                    "request bodies with more than {MAX_LAYERS} content codings are not accepted"
                )));
            }
            codings.push(coding);
        }
    }
    Ok(codings)
}

fn undo(coding: Coding, input: &[u8], max: u64) -> Result<Bytes, GatewayError> {
    let name = match coding {
        Coding::Gzip => "gzip",
        Coding::Deflate => "deflate",
    };
    // The decoders read from a slice and leave in it what follows the compressed stream.
    let mut rest: &[u8] = input;
    let out = match coding {
        // Every member, as RFC 1952 §2.2 allows and Java's and Go's readers read them.
        Coding::Gzip => read_bounded(MultiGzDecoder::new(&mut rest), max, name)?,
        Coding::Deflate => read_bounded(ZlibDecoder::new(&mut rest), max, name)?,
    };
    if !rest.is_empty() {
        return Err(invalid(name));
    }
    Ok(out.into())
}

fn read_bounded<R: Read>(decoder: R, max: u64, name: &str) -> Result<Vec<u8>, GatewayError> {
    let mut out = Vec::new();
    decoder
        .take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|_| invalid(name))?;
    if u64::try_from(out.len()).unwrap_or(u64::MAX) > max {
        return Err(GatewayError::body_too_large()
            .with_detail(format!("decoded request body exceeds {max} bytes")));
    }
    Ok(out)
}

fn unsupported_error() -> GatewayError {
    GatewayError::content_encoding_unsupported()
        .with_header(header::ACCEPT_ENCODING, HeaderValue::from_static(DECODED))
}

fn unsupported(token: &str) -> GatewayError {
    let shown = GatewayError::echoable(token);
    unsupported_error().with_detail(format!(
        "request bodies with content coding {shown:?} cannot be inspected; use {DECODED}"
    ))
}

fn invalid(name: &str) -> GatewayError {
    GatewayError::bad_request().with_detail(format!("request body is not valid {name} data"))
}

#[cfg(test)]
mod tests;
