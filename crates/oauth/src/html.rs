//! The server-rendered login, consent and error pages. Every interpolated value is
//! HTML-escaped; pages cannot be framed (clickjacking) or cached.

use axum::response::{Html, IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;\
padding:0 1rem;color:#222}h1{font-size:1.3rem}label{display:block;margin:.8rem 0 .2rem}\
input[type=text],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box}\
button{margin:1rem .5rem 0 0;padding:.5rem 1rem}.error{color:#b00020}ul{padding-left:1.2rem}";

/// A page with the protective headers.
pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title>\
         <style>{STYLE}</style></head><body>{body}</body></html>",
        esc(title)
    );
    let mut resp = (status, Html(html)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// An error shown to the user (never redirected: the redirect URI is not trusted yet).
pub(crate) fn error_page(message: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Authorization error",
        &format!(
            "<h1>Authorization error</h1><p class=\"error\">{}</p>",
            esc(message)
        ),
    )
}

/// The login page: the password form (when the built-in user store is offered) and one
/// "Sign in with …" button per external provider (login federation).
pub(crate) fn login(
    status: StatusCode,
    app: &str,
    ticket: &str,
    error: Option<&str>,
    methods: &crate::federation::Federation,
) -> Response {
    let err = error.map_or(String::new(), |e| {
        format!("<p class=\"error\">{}</p>", esc(e))
    });
    let password = if methods.local_users() {
        format!(
            "<form method=\"post\" action=\"/oauth2/authorize\">\
             <input type=\"hidden\" name=\"step\" value=\"login\">\
             <input type=\"hidden\" name=\"ticket\" value=\"{}\">\
             <label for=\"username\">Username</label>\
             <input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required>\
             <label for=\"password\">Password</label>\
             <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\">Sign in</button></form>",
            esc(ticket)
        )
    } else {
        String::new()
    };
    let providers: String = methods
        .choices()
        .into_iter()
        .map(|(name, display)| {
            format!(
                "<form method=\"post\" action=\"/oauth2/authorize\" class=\"provider\">\
                 <input type=\"hidden\" name=\"step\" value=\"federate\">\
                 <input type=\"hidden\" name=\"ticket\" value=\"{}\">\
                 <input type=\"hidden\" name=\"provider\" value=\"{}\">\
                 <button type=\"submit\">Sign in with {}</button></form>",
                esc(ticket),
                esc(name),
                esc(display)
            )
        })
        .collect();
    page(
        status,
        "Sign in",
        &format!(
            "<h1>Sign in to continue to {}</h1>{err}{password}{providers}",
            esc(app)
        ),
    )
}

/// The consent page listing the requested scopes.
pub(crate) fn consent(app: &str, user: &str, scopes: &[String], ticket: &str) -> Response {
    let items: String = scopes
        .iter()
        .map(|s| format!("<li><code>{}</code></li>", esc(s)))
        .collect();
    page(
        StatusCode::OK,
        "Allow access",
        &format!(
            "<h1>{} asks for access</h1><p>Signed in as <strong>{}</strong>. The app requests:</p>\
             <ul class=\"scopes\">{items}</ul>\
             <form method=\"post\" action=\"/oauth2/authorize\">\
             <input type=\"hidden\" name=\"step\" value=\"consent\">\
             <input type=\"hidden\" name=\"ticket\" value=\"{}\">\
             <button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button>\
             <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
            esc(app),
            esc(user),
            esc(ticket)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(esc("<script>\"'&"), "&lt;script&gt;&quot;&#39;&amp;");
    }
}
