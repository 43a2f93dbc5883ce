//! What crosses the proxy and what does not: hop-by-hop headers, forwarding headers
//! (`X-Forwarded-*`, `Forwarded`) and the request id. Client-supplied forwarding headers are
//! trusted only when the peer is a configured trusted proxy; otherwise they are replaced, so a
//! client cannot choose the IP that access rules and rate limits see.

use std::io::Write as _;
use std::net::IpAddr;

use bytes::BytesMut;
use http::{HeaderMap, HeaderName, HeaderValue, header};
use ipnet::IpNet;

/// `X-Request-Id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// Headers that describe one connection, never the message (RFC 9110 §7.6.1), by bit; and the
/// two by which IIS's URL Rewrite module and Symfony before CVE-2018-14773's fix take the
/// request's path (`X-Original-URL`, `X-Rewrite-URL`): from a client they would choose another
/// path than the one routing and the policies judged, so they go with the hop-by-hop ones (a
/// policy may still set them for the upstream).
const HOP_BY_HOP: [(&str, u16); 10] = [
    ("connection", CONNECTION_BIT),
    ("keep-alive", 1 << 1),
    ("proxy-connection", 1 << 2),
    ("te", 1 << 3),
    ("trailer", 1 << 4),
    ("transfer-encoding", 1 << 5),
    ("upgrade", UPGRADE_BIT),
    ("proxy-authorization", 1 << 7),
    ("x-original-url", 1 << 8),
    ("x-rewrite-url", 1 << 9),
];
const CONNECTION_BIT: u16 = 1;
const UPGRADE_BIT: u16 = 1 << 6;

/// The hop-by-hop bit of a (lower-case) header name, 0 for end-to-end headers.
fn hop_by_hop_bit(name: &str) -> u16 {
    HOP_BY_HOP
        .iter()
        .find(|(hop, _)| *hop == name)
        .map_or(0, |&(_, bit)| bit)
}

/// Removes hop-by-hop headers and every header named in `Connection`. With `keep_upgrade`,
/// `Connection: upgrade` and `Upgrade` survive (WebSocket pass-through).
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // One pass over the names first: most messages carry none of these headers, or only
    // `Connection`, and removing a name that is not there still hashes it and probes the map.
    let present = headers
        .keys()
        .fold(0u16, |bits, name| bits | hop_by_hop_bit(name.as_str()));
    if present == 0 {
        return;
    }
    if present & CONNECTION_BIT != 0 {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            // The usual values name no header; skip splitting them.
            .filter(|v| !v.eq_ignore_ascii_case("keep-alive") && !v.eq_ignore_ascii_case("close"))
            .flat_map(|v| v.split(','))
            .map(str::trim)
            // Hop-by-hop names go below, when present; the rest are parsed (and allocated) only
            // here, for the rare `Connection: x-custom`.
            .filter(|t| !HOP_BY_HOP.iter().any(|(h, _)| t.eq_ignore_ascii_case(h)))
            .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    let upgrade = (keep_upgrade && present & UPGRADE_BIT != 0)
        .then(|| headers.remove(header::UPGRADE))
        .flatten();
    for (name, bit) in HOP_BY_HOP {
        if present & bit != 0 {
            headers.remove(name);
        }
    }
    if let Some(u) = upgrade {
        headers.insert(header::UPGRADE, u);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    proxies.iter().any(|n| n.contains(&ip))
}

/// The real client IP: the peer, or — when the peer is a trusted proxy — the right-most
/// `X-Forwarded-For` address that is not itself a trusted proxy (the left-most one when all
/// are, as nginx's `real_ip_recursive` does).
///
/// The chain is walked from the right and the walk stops at the first entry that is not an
/// address (`unknown`, an obfuscated name, garbage): everything to its left was written by
/// whoever sent it to a trusted proxy, so skipping it would let a client choose its own IP.
/// The last trusted hop is the client then. `ip:port` and `[v6]:port` entries, which some
/// load balancers write, are addresses.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet]) -> IpAddr {
    if proxies.is_empty() || !trusted(peer, proxies) {
        return peer;
    }
    let mut last_trusted = peer;
    for value in headers.get_all(&X_FORWARDED_FOR).iter().rev() {
        let Ok(text) = value.to_str() else {
            return last_trusted;
        };
        for entry in text.rsplit(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some(ip) = hop_address(entry) else {
                return last_trusted;
            };
            if !trusted(ip, proxies) {
                return ip;
            }
            last_trusted = ip;
        }
    }
    last_trusted
}

/// The address of one `X-Forwarded-For` entry: `ip`, `ip:port`, `[v6]` or `[v6]:port`.
fn hop_address(entry: &str) -> Option<IpAddr> {
    entry
        .parse()
        .ok()
        .or_else(|| entry.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

/// A request id to trust from a client header: short and of a safe alphabet.
pub fn acceptable_request_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
}

/// Whether the peer is a trusted proxy.
pub fn peer_trusted(peer: IpAddr, proxies: &[IpNet]) -> bool {
    !proxies.is_empty() && trusted(peer, proxies)
}

/// A connection's peer address as the forwarding headers write it (`X-Forwarded-For` text).
/// Formatted once per connection (see `ConnInfo::peer_header`): every request on a connection
/// comes from the same peer, and formatting an address costs more than the rest of
/// [`set_forwarding`] together.
pub fn peer_header(peer: IpAddr) -> HeaderValue {
    // An IPv6 address is at most 45 bytes.
    let mut buf = [0u8; 64];
    let len = {
        let mut cursor = &mut buf[..];
        let _ = write!(cursor, "{peer}");
        64 - cursor.len()
    };
    HeaderValue::from_bytes(&buf[..len]).expect("an IP address is a valid header value")
}

/// Every field line of `name` as one list (`a, b`: RFC 9110 §5.3), with room for `extra` more
/// bytes; `None` if there is none. A proxy may add its hop as a line of its own, and the chain
/// sent upstream must hold every hop that [`client_ip`] walked.
fn joined(headers: &HeaderMap, name: &HeaderName, extra: usize) -> Option<BytesMut> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    let mut out = BytesMut::with_capacity(first.len() + extra);
    out.extend_from_slice(first.as_bytes());
    for v in values {
        out.extend_from_slice(b", ");
        out.extend_from_slice(v.as_bytes());
    }
    Some(out)
}

/// Sets the forwarding headers on a request going upstream. `peer` is the connection's peer
/// address as [`peer_header`] formats it.
pub fn set_forwarding(
    headers: &mut HeaderMap,
    peer: &HeaderValue,
    peer_is_trusted: bool,
    proto: &'static str,
    host: Option<&HeaderValue>,
) {
    let peer_s = peer.as_bytes();
    let prev_xff = peer_is_trusted
        .then(|| joined(headers, &X_FORWARDED_FOR, 2 + peer_s.len()))
        .flatten();
    let xff = match prev_xff {
        Some(mut v) => {
            v.extend_from_slice(b", ");
            v.extend_from_slice(peer_s);
            HeaderValue::from_maybe_shared(v.freeze()).ok()
        }
        // The common case: the connection's own value, shared.
        None => Some(peer.clone()),
    };
    if let Some(v) = xff {
        headers.insert(&X_FORWARDED_FOR, v);
    }
    if peer_is_trusted {
        if !headers.contains_key(&X_FORWARDED_PROTO) {
            headers.insert(&X_FORWARDED_PROTO, HeaderValue::from_static(proto));
        }
        if let Some(h) = host
            && !headers.contains_key(&X_FORWARDED_HOST)
        {
            headers.insert(&X_FORWARDED_HOST, h.clone());
        }
    } else {
        // `insert` replaces whatever the client sent.
        headers.insert(&X_FORWARDED_PROTO, HeaderValue::from_static(proto));
        match host {
            Some(h) => headers.insert(&X_FORWARDED_HOST, h.clone()),
            None => headers.remove(&X_FORWARDED_HOST),
        };
    }
    let host = host.map(HeaderValue::as_bytes).filter(|h| {
        h.iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
    });
    // Written straight into the bytes the header value keeps (no String, no second copy). The
    // previous `Forwarded` survives only from a trusted proxy.
    let room = 66 + host.map_or(0, <[u8]>::len);
    let mut fwd = match peer_is_trusted
        .then(|| joined(headers, &FORWARDED, room))
        .flatten()
    {
        Some(mut prev) => {
            prev.extend_from_slice(b", ");
            prev
        }
        None => BytesMut::with_capacity(room),
    };
    fwd.extend_from_slice(b"for=");
    if peer_s.contains(&b':') {
        // IPv6: quoted and bracketed (RFC 7239 §6).
        fwd.extend_from_slice(b"\"[");
        fwd.extend_from_slice(peer_s);
        fwd.extend_from_slice(b"]\"");
    } else {
        fwd.extend_from_slice(peer_s);
    }
    fwd.extend_from_slice(b";proto=");
    fwd.extend_from_slice(proto.as_bytes());
    if let Some(h) = host {
        fwd.extend_from_slice(b";host=");
        fwd.extend_from_slice(h);
    }
    if let Ok(v) = HeaderValue::from_maybe_shared(fwd.freeze()) {
        headers.insert(&FORWARDED, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    /// `set_forwarding` for an HTTPS request relayed by the trusted proxy 10.0.0.1.
    fn from_trusted_proxy(h: &mut HeaderMap) {
        set_forwarding(
            h,
            &peer_header("10.0.0.1".parse().unwrap()),
            true,
            "https",
            None,
        );
    }

    #[test]
    fn strips_hop_by_hop_and_connection_named() {
        let mut h = headers(&[
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("x-kept", "1"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
        let mut h = headers(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "upgrade");
        // Names in `Connection` are case-insensitive; hop-by-hop ones need not be present.
        let mut h = headers(&[
            ("connection", "Upgrade, X-Secret, Keep-Alive"),
            ("upgrade", "websocket"),
            ("x-secret", "1"),
            ("proxy-authorization", "Basic eA=="),
            ("x-kept", "1"),
        ]);
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.len(), 3, "{h:?}");
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "upgrade");
        assert!(h.contains_key("x-kept"));
        // Without `Upgrade` there is nothing to keep.
        let mut h = headers(&[("connection", "upgrade"), ("x-kept", "1")]);
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.len(), 1);
        // IIS and old Symfony take the path from these: never the client's.
        let mut h = headers(&[
            ("x-original-url", "/admin"),
            ("X-Rewrite-URL", "/admin"),
            ("x-kept", "1"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1, "{h:?}");
        // A message without hop-by-hop headers is left as it is.
        let mut h = headers(&[("x-kept", "1"), ("accept", "*/*")]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn client_ip_only_from_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let h = headers(&[("x-forwarded-for", "203.0.113.9, 10.0.0.7")]);
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            client_ip(peer, &h, &proxies),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(client_ip(stranger, &h, &proxies), stranger);
        assert_eq!(client_ip(peer, &h, &[]), peer);
    }

    #[test]
    fn client_ip_never_skips_an_entry_it_cannot_read() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let cases: [(&[&str], IpAddr); 9] = [
            // The client's own claim (left) is never believed past an entry a proxy wrote.
            (&["6.6.6.6, 203.0.113.9:51234"], ip("203.0.113.9")),
            (&["6.6.6.6, [2001:db8::7]:443, 10.0.0.7"], ip("2001:db8::7")),
            (&["6.6.6.6, [2001:db8::7]"], ip("2001:db8::7")),
            (&["6.6.6.6, unknown"], peer),
            (&["6.6.6.6, unknown, 10.0.0.9"], ip("10.0.0.9")),
            (&["6.6.6.6, 203.0.113.9:x"], peer),
            // Several fields are one list, in order; empty entries carry nothing.
            (&["6.6.6.6", "203.0.113.9 ,"], ip("203.0.113.9")),
            (&["203.0.113.9", "10.0.0.5, 10.0.0.6"], ip("203.0.113.9")),
            // All trusted: the left-most is where the request came from.
            (&["10.0.0.4, 10.0.0.5"], ip("10.0.0.4")),
        ];
        for (values, want) in cases {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(&X_FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
            }
            assert_eq!(client_ip(peer, &h, &proxies), want, "{values:?}");
        }
    }

    #[test]
    fn forwarding_headers_replace_untrusted_values() {
        let mut h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=1.2.3.4")]);
        let host = HeaderValue::from_static("api.example.com");
        set_forwarding(
            &mut h,
            &peer_header("198.51.100.1".parse().unwrap()),
            false,
            "http",
            Some(&host),
        );
        assert_eq!(h["x-forwarded-for"], "198.51.100.1");
        assert_eq!(
            h["forwarded"],
            "for=198.51.100.1;proto=http;host=api.example.com"
        );
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "api.example.com");
        // An untrusted client's forwarding headers never survive.
        let mut h = headers(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
        ]);
        let peer = "2001:db8::1".parse().unwrap();
        set_forwarding(&mut h, &peer_header(peer), false, "http", None);
        assert_eq!(h["x-forwarded-proto"], "http");
        assert!(!h.contains_key("x-forwarded-host"));
        assert_eq!(h["x-forwarded-for"], "2001:db8::1");
        assert_eq!(h["forwarded"], "for=\"[2001:db8::1]\";proto=http");
        let mut h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        from_trusted_proxy(&mut h);
        assert_eq!(h["x-forwarded-for"], "1.2.3.4, 10.0.0.1");
        // Several field lines from a trusted proxy are one chain: every hop goes upstream.
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=6.6.6.6"),
            ("forwarded", "for=203.0.113.9"),
        ] {
            h.append(name, HeaderValue::from_static(value));
        }
        from_trusted_proxy(&mut h);
        assert_eq!(h["x-forwarded-for"], "6.6.6.6, 203.0.113.9, 10.0.0.1");
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(
            h["forwarded"],
            "for=6.6.6.6, for=203.0.113.9, for=10.0.0.1;proto=https"
        );
        // A trusted proxy's values are kept, and `Forwarded` extended.
        let mut h = headers(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "a.example"),
            ("forwarded", "for=1.2.3.4"),
        ]);
        let host = HeaderValue::from_static("b.example");
        set_forwarding(
            &mut h,
            &peer_header("10.0.0.1".parse().unwrap()),
            true,
            "http",
            Some(&host),
        );
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "a.example");
        assert_eq!(
            h["forwarded"],
            "for=1.2.3.4, for=10.0.0.1;proto=http;host=b.example"
        );
    }

    #[test]
    fn request_id_alphabet() {
        assert!(acceptable_request_id(&HeaderValue::from_static("abc-123")));
        assert!(!acceptable_request_id(&HeaderValue::from_static("a b")));
        assert!(!acceptable_request_id(
            &HeaderValue::from_str(&"a".repeat(129)).unwrap()
        ));
    }
}
