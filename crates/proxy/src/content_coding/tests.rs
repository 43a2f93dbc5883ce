use std::io::Write;

use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use http::{HeaderMap, HeaderValue, header};

use super::*;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn coded(lines: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for line in lines {
        h.append(
            header::CONTENT_ENCODING,
            HeaderValue::from_str(line).unwrap(),
        );
    }
    h
}

fn run(lines: &[&str], wire: Vec<u8>, max: u64) -> Result<Option<Bytes>, GatewayError> {
    decode(&coded(lines), &Bytes::from(wire), max)
}

const BODY: &[u8] = br#"{"q":"1' OR '1'='1"}"#;

#[test]
fn gzip_and_deflate_are_undone() {
    assert_eq!(run(&["gzip"], gzip(BODY), 1000).unwrap().unwrap(), BODY);
    assert_eq!(run(&["X-GZIP"], gzip(BODY), 1000).unwrap().unwrap(), BODY);
    assert_eq!(run(&["deflate"], zlib(BODY), 1000).unwrap().unwrap(), BODY);
}

#[test]
fn no_coding_or_identity_leaves_the_body_as_received() {
    assert!(
        decode(&HeaderMap::new(), &Bytes::from_static(BODY), 1000)
            .unwrap()
            .is_none()
    );
    assert!(run(&["identity"], BODY.to_vec(), 1000).unwrap().is_none());
    assert!(
        run(&[" , identity ,"], BODY.to_vec(), 1000)
            .unwrap()
            .is_none()
    );
    assert!(run(&["gzip"], Vec::new(), 1000).unwrap().is_none());
}

#[test]
fn layers_are_undone_last_applied_first() {
    let both = gzip(&zlib(BODY));
    assert_eq!(
        run(&["deflate, gzip"], both.clone(), 1000)
            .unwrap()
            .unwrap(),
        BODY
    );
    // The same two layers on two header lines.
    assert_eq!(
        run(&["deflate", "gzip"], both.clone(), 1000)
            .unwrap()
            .unwrap(),
        BODY
    );
    // In the wrong order the data does not decode.
    assert_eq!(
        run(&["gzip, deflate"], both, 1000).unwrap_err().code(),
        "request.invalid"
    );
    let three = gzip(&gzip(&gzip(BODY)));
    let err = run(&["gzip, gzip, gzip"], three, 1000).unwrap_err();
    assert_eq!(err.code(), "request.content_encoding_unsupported");
}

#[test]
fn unknown_codings_are_refused_with_what_is_accepted() {
    for coding in ["br", "zstd", "compress", "gzip;q=1", "bogus"] {
        let err = run(&[coding], gzip(BODY), 1000).unwrap_err();
        assert_eq!(
            err.code(),
            "request.content_encoding_unsupported",
            "{coding}"
        );
        assert_eq!(err.status(), 415);
        assert_eq!(
            err.headers(),
            &[(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static("gzip, deflate")
            )]
        );
    }
    let err = run(&["gzip, br"], gzip(BODY), 1000).unwrap_err();
    assert!(err.detail().unwrap().contains("\"br\""), "{err:?}");
}

#[test]
fn corrupt_data_and_trailing_bytes_are_refused() {
    let err = run(&["gzip"], BODY.to_vec(), 1000).unwrap_err();
    assert_eq!(err.code(), "request.invalid");
    let mut cut = gzip(BODY);
    cut.truncate(cut.len() - 4);
    assert_eq!(
        run(&["gzip"], cut, 1000).unwrap_err().code(),
        "request.invalid"
    );
    // Raw deflate (no zlib wrapper) is not what `deflate` means (RFC 9110 §8.4.1.2).
    let mut raw = DeflateEncoder::new(Vec::new(), Compression::default());
    raw.write_all(BODY).unwrap();
    let raw = raw.finish().unwrap();
    assert_eq!(
        run(&["deflate"], raw, 1000).unwrap_err().code(),
        "request.invalid"
    );
    // What follows the compressed stream would reach a back end that reads on; refused.
    let mut tail = zlib(BODY);
    tail.extend_from_slice(b"<script>");
    assert_eq!(
        run(&["deflate"], tail, 1000).unwrap_err().code(),
        "request.invalid"
    );
    let mut tail = gzip(BODY);
    tail.extend_from_slice(b"<script>");
    assert_eq!(
        run(&["gzip"], tail, 1000).unwrap_err().code(),
        "request.invalid"
    );
}

#[test]
fn gzip_members_are_all_read() {
    let mut two = gzip(b"{\"a\":");
    two.extend_from_slice(&gzip(b"\"<script>\"}"));
    assert_eq!(
        run(&["gzip"], two, 1000).unwrap().unwrap(),
        &b"{\"a\":\"<script>\"}"[..]
    );
}

#[test]
fn the_decoded_body_is_held_to_the_limit() {
    let bomb = gzip(&vec![b'a'; 1 << 20]);
    assert!(bomb.len() < 2048, "{}", bomb.len());
    let err = run(&["gzip"], bomb.clone(), 64 * 1024).unwrap_err();
    assert_eq!(err.code(), "request.body_too_large");
    assert_eq!(
        run(&["gzip"], bomb, 1 << 20).unwrap().unwrap().len(),
        1 << 20
    );
}
