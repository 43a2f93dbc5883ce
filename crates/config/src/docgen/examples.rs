//! Hand-written parts of the policy reference: one YAML example per kind, the lists it belongs
//! in, and what it answers when it blocks. Everything else about a kind (summary, fields, types,
//! defaults) comes from code. The `docs_up_to_date` test compiles every example in every list it
//! names, so an example that stops being valid fails the build instead of misleading readers.

use portcullis_policy::Phase;

/// The hand-written documentation of one policy kind.
#[derive(Debug, Clone, Copy)]
pub struct PolicyExample {
    /// The kind, as registered in `portcullis_policies::policy_kinds()`.
    pub kind: &'static str,
    /// The lists in which the policy does its job (it is validated in each of them).
    pub lists: &'static [Phase],
    /// What the policy protects against and how it answers when it blocks (Markdown).
    pub notes: &'static str,
    /// One policy list item (YAML, starting with `- <kind>:`).
    pub yaml: &'static str,
    /// Files the example refers to, as (path relative to the config file, contents).
    pub files: &'static [(&'static str, &'static str)],
}

const REQUEST: &[Phase] = &[Phase::Request];
const BOTH: &[Phase] = &[Phase::Request, Phase::Response];

/// Examples of the built-in kinds, in no particular order (the reference follows the registry).
pub static POLICY_EXAMPLES: &[PolicyExample] = &[
    PolicyExample {
        kind: "verify-api-key",
        lists: REQUEST,
        notes: "Protects against anonymous use of an API, and against a key being used beyond \
                the API products it is approved for. The key is checked against an in-memory \
                index kept current by the store, so revocations (of the key, one product \
                association, the app or the developer) apply within a second. Rejects with 401 \
                (`key.missing`, `key.invalid`, `key.expired`, `key.revoked`, `app.revoked`, \
                `developer.inactive`, `key.not_approved`, `product.environment_not_allowed`, \
                `product.api_not_allowed`, `product.path_not_allowed`, \
                `product.method_not_allowed`); on success the app, developer and matched product \
                are attached (access log, later policies; spike arrest by `app` or `key`). See \
                docs/api-products.md.",
        yaml: "\
- verify-api-key:
    header: x-api-key        # or `query: apikey`
    hide_credentials: true   # the upstream never sees the key
    require_product: true    # false: key, app and developer checks only
",
        files: &[],
    },
    PolicyExample {
        kind: "verify-jwt",
        lists: REQUEST,
        notes: "Protects against forged and misused JWTs from a third-party issuer: algorithms \
                are pinned (`alg: none`, HMAC with a public key, RS/PS swaps are refused), keys \
                come only from the configured JWKS (`jku`/`x5u`/`jwk` headers are never \
                fetched), `exp` is required, `iss`/`aud` must match, unknown `crit` is refused, \
                ID tokens can be refused as access tokens. The JWKS is cached per `max-age`; an \
                unknown `kid` refetches it at most once per `refresh_interval`. Rejects with 401 \
                (`token.missing`, `token.invalid`, `token.expired`) and a `WWW-Authenticate: \
                Bearer` challenge. See docs/jwt.md.",
        yaml: "\
- verify-jwt:
    issuer: https://idp.example.com/
    jwks_url: https://idp.example.com/.well-known/jwks.json
    audiences: [api://orders]
    algorithms: [RS256, ES256]
    token_types: [at+jwt]          # RFC 9068 access tokens only
    claims_to_headers: { sub: x-user-id }
",
        files: &[],
    },
    PolicyExample {
        kind: "verify-oauth-token",
        lists: REQUEST,
        notes: "Requires an active access token of the built-in authorization server \
                (`Authorization: Bearer`). Opaque tokens are looked up once and then cached \
                (bounded, until expiry or 30 s); JWT access tokens are verified against the \
                server's published keys (`typ: at+jwt`, pinned asymmetric algorithms). Sets the \
                calling app and the token's scopes for `require-scopes`. A certificate-bound token \
                (RFC 8705 `cnf.x5t#S256`) is accepted only over a listener with `tls.client_ca` \
                and the same client certificate (`token.invalid`, reason \
                `certificate_mismatch`). DPoP (RFC 9449): `Authorization: DPoP` with a `DPoP` \
                proof bound to the token's `cnf.jkt`; bound tokens are never accepted as Bearer; \
                proof failures are 401 `dpop.invalid_proof` with a `WWW-Authenticate: DPoP` \
                challenge. Other refusals are 401 (`token.missing`, `token.invalid`, \
                `token.expired`) with a `WWW-Authenticate: Bearer` challenge. See docs/oauth.md.",
        yaml: "\
- verify-oauth-token:
    leeway: 30s
    dpop: { required: false, max_age: 60s }
",
        files: &[],
    },
    PolicyExample {
        kind: "require-scopes",
        lists: REQUEST,
        notes: "Requires scopes of the token a previous `verify-oauth-token` or `verify-jwt` \
                verified; put it in a flow to require scopes per method and path. Rejects with \
                403 `token.insufficient_scope` (401 `token.missing` when no token was verified \
                before it). See docs/oauth.md.",
        yaml: "\
- require-scopes:
    scopes: [orders.write]
    match: all                     # or any
",
        files: &[],
    },
    PolicyExample {
        kind: "phantom-token",
        lists: REQUEST,
        notes: "After `verify-oauth-token`: the backend receives a JWT signed with the built-in \
                server's key (verifiable with its JWKS) carrying the token's client, subject, \
                scopes and expiry, instead of the opaque token; cached per token until it \
                expires. The JWT has `typ: JWT`, so it is not accepted as an access token at the \
                gateway. 401 `token.missing` without a verified token before it. See \
                docs/oauth.md.",
        yaml: "\
- phantom-token:
    audience: orders-backend       # default: the token's API products
",
        files: &[],
    },
    PolicyExample {
        kind: "access-control",
        lists: REQUEST,
        notes: "Matches the client address after the `trusted_proxies` rules, so a spoofed \
                `X-Forwarded-For` cannot get in; IPv4-mapped IPv6 clients match IPv4 rules. \
                `deny` wins over `allow`. Rejects with 403 `access.denied`.",
        yaml: "\
- access-control:
    allow: [10.0.0.0/8, 2001:db8::/32]
    deny: [10.66.0.0/16]
",
        files: &[],
    },
    PolicyExample {
        kind: "spike-arrest",
        lists: REQUEST,
        notes: "Spreads the rate evenly over its period (`10/s` admits one request every \
                100 ms, not ten at once), as Apigee does; `burst` allows short bursts. Rejects \
                with 429 `rate.exceeded` and `Retry-After`; admitted responses carry the IETF \
                `RateLimit` and `RateLimit-Policy` headers. State is per gateway instance and \
                starts afresh on reload.",
        yaml: "\
- spike-arrest:
    rate: 100/s
    burst: 20
    identifier: app          # one budget per calling app (after verify-api-key)
",
        files: &[],
    },
    PolicyExample {
        kind: "cors",
        lists: REQUEST,
        notes: "Answers preflights itself (204, or 403 `cors.rejected`) and decorates actual \
                responses for allowed origins; `Access-Control-*` headers from the upstream are \
                dropped so it cannot widen the policy. Place it first in the request list so \
                errors raised by later policies stay readable by the allowed front end.",
        yaml: "\
- cors:
    allow_origins: [\"https://app.example.com\", \"https://*.example.com\"]
    allow_methods: [GET, POST]
    allow_headers: [content-type, x-api-key]
    expose_headers: [ratelimit]
    max_age: 10m
",
        files: &[],
    },
    PolicyExample {
        kind: "request-size-limit",
        lists: REQUEST,
        notes: "Rejects a declared `Content-Length` above `max` at once with 413 \
                `request.body_too_large` and closes the connection instead of draining it; \
                chunked bodies are cut off while streaming.",
        yaml: "\
- request-size-limit:
    max: 64KiB
",
        files: &[],
    },
    PolicyExample {
        kind: "set-headers",
        lists: BOTH,
        notes: "Changes the request in a request list and the response in a response list. \
                Steps run in the order remove, set, add. Framing and hop-by-hop headers \
                (`host`, `content-length`, `transfer-encoding`, `connection`, ...) are refused: \
                changing them from config invites request smuggling.",
        yaml: "\
- set-headers:
    remove: [server, x-powered-by]
    set: { strict-transport-security: max-age=63072000 }
    add: { x-via-gateway: portcullis }
",
        files: &[],
    },
    PolicyExample {
        kind: "kvm-lookup",
        lists: REQUEST,
        notes: "Puts a secret the gateway holds (an encrypted key-value map entry of the \
                listener's environment) into a request header for the upstream, so clients and \
                config files never hold it. A header of that name sent by the client is removed \
                first. Values come from an in-memory snapshot kept current by the store (a \
                change is used within a second) and never appear in logs, errors, \
                `/admin/v1/status` or `Debug` output. A missing entry answers 500 \
                `kvm.entry_missing` (or, with `on_missing: skip`, forwards without the header); \
                a value that is not valid header text answers 500 `kvm.value_invalid`. See \
                docs/api-products.md.",
        yaml: "\
- kvm-lookup:
    map: backend-credentials
    key: orders-api-token
    header: authorization
    format: \"Bearer {value}\"
",
        files: &[],
    },
    PolicyExample {
        kind: "raise-fault",
        lists: BOTH,
        notes: "Answers at once: in a request list the upstream is never called, in a response \
                list it replaces the upstream's response. Without `body` the answer is a \
                problem+json error with the given status and code.",
        yaml: "\
- raise-fault:
    status: 410
    code: orders.retired
    detail: Use /orders/v2 instead.
    headers: { link: \"</orders/v2>; rel=successor-version\" }
",
        files: &[],
    },
    PolicyExample {
        kind: "json-threat-protection",
        lists: REQUEST,
        notes: "Refuses JSON bodies built to exhaust the backend's parser (deep nesting, huge \
                objects or arrays, giant names, strings or numbers) and bodies that are not \
                strict RFC 8259 JSON. Answers 400 with a stable code (`json.depth_exceeded`, \
                `json.invalid`, ...) and the JSONPath of the violation. `+json` types and bodies \
                without `Content-Type` are checked too; the body is buffered (within the API's \
                body limit) first. A `gzip` or `deflate` body (`Content-Encoding`) is checked \
                decoded and forwarded as sent; other codings are refused with 415 \
                `request.content_encoding_unsupported`; a body declared in a charset other \
                than UTF-8, US-ASCII, ISO-8859-* or windows-125* is refused with 415 \
                `request.charset_unsupported` (UTF-7, which Express's body-parser decodes, \
                turns `+ACI-` into a quote). Both hold for every policy that reads the body; \
                see docs/security.md.",
        yaml: "\
- json-threat-protection:
    max_depth: 16
    max_string_length: 8192
    max_body_bytes: 1MiB
    check_all_bodies: true   # this API only takes JSON
",
        files: &[],
    },
    PolicyExample {
        kind: "xml-threat-protection",
        lists: REQUEST,
        notes: "Refuses entity expansion (\"billion laughs\"), external entities and DTDs \
                (XXE: local file reads, SSRF) and structural abuse. Entities are never \
                expanded; by default any DOCTYPE and any entity reference beyond the five \
                predefined ones is refused. Answers 400 with a stable code \
                (`xml.doctype_forbidden`, `xml.depth_exceeded`, ...) and the location. Bodies \
                must be UTF-8 without `NUL`s, and their declaration may name only an encoding \
                that reads the bytes as checked (UTF-8, US-ASCII, ISO-8859-*, windows-125*): \
                declared as UTF-7, what reads here as a comment is a DOCTYPE to libxml2. The \
                same holds for the `charset` of `Content-Type` (415 \
                `request.charset_unsupported`).",
        yaml: "\
- xml-threat-protection:
    max_depth: 16
    max_attributes_per_element: 32
    max_text_length: 16384
",
        files: &[],
    },
    PolicyExample {
        kind: "injection-protection",
        lists: REQUEST,
        notes: "Decodes every value of the path, query, headers, cookies and body (form fields, \
                JSON and XML values and keys) into canonical views, then runs SQLi/XSS \
                detectors and a managed rule set graded by paranoia level. Answers 400 \
                `injection.detected`, naming the attack class and where it was found but never \
                the payload; every finding is also recorded as an event, in both modes. A \
                parameter given more than once is also judged with its values joined by `,`, \
                as ASP.NET reads it; a multipart part without a file name is inspected \
                whatever content type it claims, and a quoted-printable part decoded too; \
                `gzip` and `deflate` bodies are inspected decoded. A body declared in a \
                charset other than UTF-8, US-ASCII, ISO-8859-*, windows-125*, UTF-16 or UTF-32 \
                is refused with 415 `request.charset_unsupported` (in EBCDIC, `%7D%40%96%99` \
                is `' or`).",
        yaml: "\
- injection-protection:
    paranoia: 2
    classes: { ssi: false }
    exclusions:
      - location: json $.article.html   # rich text written by trusted staff
        classes: [xss]
    custom_rules:
      - id: acme-sqli-1
        class: sqli
        description: Legacy stored-procedure probe
        pattern: 'xp_cmdshell'
",
        files: &[],
    },
    PolicyExample {
        kind: "openapi-validation",
        lists: REQUEST,
        notes: "A positive security model: only requests the API's OpenAPI 3.0/3.1 document \
                describes get through. The document is compiled with the configuration, so a \
                broken document fails the deploy. An undeclared path answers 404 \
                `openapi.path_not_found`, an undeclared method 405 \
                `openapi.method_not_allowed` (with `Allow`), any other violation 400 with the \
                list of `violations`. A JSON body that repeats a member name in an object is \
                refused (`openapi.body_invalid` at `body`): parsers disagree on which value \
                counts, so the schema could judge one value while the back end acts on the \
                other.",
        yaml: "\
- openapi-validation:
    spec: openapi/orders.yaml   # relative to the configuration file
    base_path: /orders/v1
    reject_unknown_query_params: true
",
        files: &[(
            "openapi/orders.yaml",
            "\
openapi: 3.0.3
info: { title: Orders, version: \"1\" }
paths:
  /orders/{id}:
    get:
      parameters:
        - { name: id, in: path, required: true, schema: { type: integer } }
      responses:
        \"200\": { description: The order }
",
        )],
    },
];

/// The hand-written documentation of `kind`, if there is one.
pub fn policy_example(kind: &str) -> Option<&'static PolicyExample> {
    POLICY_EXAMPLES.iter().find(|e| e.kind == kind)
}

/// The smallest useful file, shown in the introduction (and compiled by the tests).
pub const MINIMAL_CONFIG: &str = "\
listeners:
  - { name: public, address: \"0.0.0.0:8080\" }
apis:
  - name: orders
    base_path: /orders/v1
    upstream:
      targets: [\"http://10.0.0.5:8000\"]
    policies:
      request:
        - verify-api-key: {}
        - spike-arrest: { rate: 100/s, identifier: app }
";
