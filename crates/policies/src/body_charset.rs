//! The `charset` check of the policies that read the body (`json-threat-protection`,
//! `xml-threat-protection`, `injection-protection`, `openapi-validation`): a body declared in a
//! charset under which the back end reads other characters than the check (UTF-7, EBCDIC) is
//! refused rather than passed as checked (`portcullis_threat::charset` says which charsets
//! qualify and why).

use portcullis_core::GatewayError;
use portcullis_threat::charset;

/// `Err` (415 `request.charset_unsupported`) when `content_type` declares a charset the check
/// cannot stand behind; `wide` also accepts UTF-16 and UTF-32, for a check that decodes them.
pub(crate) fn check(content_type: Option<&str>, wide: bool) -> Result<(), GatewayError> {
    let Some(name) = content_type.and_then(charset::of_content_type) else {
        return Ok(());
    };
    if charset::reads_as_checked(name) || (wide && charset::is_wide(name)) {
        return Ok(());
    }
    let shown = GatewayError::echoable(name);
    Err(GatewayError::charset_unsupported().with_detail(format!(
        "request bodies in charset {shown:?} cannot be inspected; send UTF-8"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_charsets_are_judged() {
        assert!(check(None, false).is_ok());
        assert!(check(Some("application/json"), false).is_ok());
        assert!(check(Some("text/xml; charset=UTF-8"), false).is_ok());
        assert!(check(Some("text/xml; charset=utf-16"), true).is_ok());
        for (ct, wide) in [
            ("text/xml; charset=utf-16", false),
            ("application/x-www-form-urlencoded; charset=ibm037", true),
            ("text/xml; charset=\"utf-7\"", true),
        ] {
            let err = check(Some(ct), wide).unwrap_err();
            assert_eq!(
                (err.status().as_u16(), err.code()),
                (415, "request.charset_unsupported"),
                "{ct}"
            );
        }
    }
}
