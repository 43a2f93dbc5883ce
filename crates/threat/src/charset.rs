//! Which declared character encodings the checks can stand behind.
//!
//! The checks read a body's bytes as UTF-8. A back end reads them in the encoding the request
//! declares (the `charset` of `Content-Type`, which ASP.NET honours for forms and RFC 7303
//! makes authoritative for XML; an XML declaration's `encoding`). Declared as IBM037 (EBCDIC),
//! `%89%95` is a harmless pair of bytes here and `in` there; declared as UTF-7, `+ADw-` is `<`
//! there. So a body is only judged when its declared encoding reads ASCII as ASCII and maps no
//! other byte onto it: then markup and syntax are the same under both readings and only
//! non-ASCII text differs, which no rule and no structure limit depends on. This is the Core
//! Rule Set's rule 920480 (request charset restricted), with the same kind of list.

/// UTF-8 and the single-byte encodings that keep ASCII as ASCII and map no other byte to it.
pub fn reads_as_checked(name: &str) -> bool {
    ["utf-8", "utf8", "us-ascii", "ascii", "latin1"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
        || starts_with_ignore_case(name, "iso-8859-")
        || starts_with_ignore_case(name, "windows-125")
}

/// UTF-16 or UTF-32 (any byte order), which the injection detector decodes itself.
pub fn is_wide(name: &str) -> bool {
    name.get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("utf-16") || p.eq_ignore_ascii_case("utf-32"))
}

/// The `charset` parameter of a `Content-Type` value, unquoted.
pub fn of_content_type(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"'))
    })
}

fn starts_with_ignore_case(name: &str, prefix: &str) -> bool {
    name.len() > prefix.len()
        && name.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_preserving_encodings_are_accepted() {
        for ok in [
            "UTF-8",
            "utf-8",
            "US-ASCII",
            "ISO-8859-1",
            "iso-8859-15",
            "windows-1252",
        ] {
            assert!(reads_as_checked(ok), "{ok}");
        }
        for wide in ["UTF-16", "utf-16le", "UTF-32BE"] {
            assert!(is_wide(wide) && !reads_as_checked(wide), "{wide}");
        }
        for bad in [
            "UTF-7",
            "IBM037",
            "cp500",
            "UTF-16",
            "Shift_JIS",
            "ISO-2022-JP",
            "iso-8859-",
            "",
        ] {
            assert!(!reads_as_checked(bad), "{bad}");
        }
    }

    #[test]
    fn the_charset_parameter_is_found() {
        let of = of_content_type;
        assert_eq!(
            of("application/x-www-form-urlencoded; charset=ibm037"),
            Some("ibm037")
        );
        assert_eq!(of("text/xml;Charset=\"UTF-7\""), Some("UTF-7"));
        assert_eq!(of("text/xml; boundary=a; charset = utf-8 "), Some("utf-8"));
        assert_eq!(of("application/json"), None);
        assert_eq!(of("application/json; charsetx=1"), None);
    }
}
