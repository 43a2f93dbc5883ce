use super::*;

fn compile(src: &str) -> Result<Snapshot, ConfigErrors> {
    compile_str(src, Path::new("."), &PolicyDeps::default())
}

const MINIMAL: &str = "\
listeners:
  - { name: public, address: \"127.0.0.1:0\" }
apis:
  - name: orders
    base_path: /orders/v1/
    upstream:
      targets: [\"http://127.0.0.1:9000/api/\"]
      timeouts: { connect: 2s, request: 15s }
    flows:
      - name: create
        match: { method: POST, path: /orders }
";

#[test]
fn minimal_config_compiles() {
    let snap = compile(MINIMAL).unwrap();
    assert_eq!(snap.apis.len(), 1);
    let api = &snap.apis[0];
    assert_eq!(&*api.base_path, "/orders/v1");
    assert_eq!(api.upstream.targets[0].base_path, "/api");
    assert_eq!(api.upstream.targets[0].authority.as_str(), "127.0.0.1:9000");
    assert_eq!(
        api.upstream.request_timeout,
        std::time::Duration::from_secs(15)
    );
    assert_eq!(api.max_body, 10 << 20);
    assert_eq!(snap.limits.max_headers, 100);
    let flow = api.flow(&http::Method::POST, "/orders").unwrap();
    assert_eq!(&*flow.name, "create");
    assert!(api.flow(&http::Method::GET, "/orders").is_none());
}

#[test]
fn reports_every_error_with_path_and_line() {
    let src = "\
listeners:
  - { name: public, address: \"nonsense\" }
apis:
  - name: orders
    base_path: orders
    unknown_field: 1
    upstream:
      targets: [\"ftp://x\"]
      timeouts: { connect: fast }
";
    let errs = compile(src).unwrap_err().0;
    let rendered: Vec<String> = errs.iter().map(ToString::to_string).collect();
    // The structural pass finds the unknown field and the bad duration together.
    assert!(
        rendered
            .iter()
            .any(|e| e.starts_with("line 4: apis[0]:") && e.contains("unknown_field")),
        "{rendered:#?}"
    );
    assert!(
        rendered
            .iter()
            .any(|e| e.starts_with("line 9: apis[0].upstream.timeouts.connect:")),
        "{rendered:#?}"
    );
}

#[test]
fn semantic_errors_are_all_reported() {
    let src = "\
listeners:
  - { name: public, address: \"nonsense\" }
  - { name: public, address: \"127.0.0.1:1\" }
apis:
  - name: orders
    base_path: orders
    upstream:
      targets: [\"ftp://x\", \"http://a:1\", \"http://a:1\"]
    flows:
      - { name: f, match: { path: \"/a/**/b\" } }
  - name: orders
    base_path: /x
    upstream: { targets: [\"http://b:2\"] }
";
    let errs = compile(src).unwrap_err().0;
    let rendered: Vec<String> = errs.iter().map(ToString::to_string).collect();
    let expect = [
        "line 2: listeners[0].address: invalid address 'nonsense': expected IP:port",
        "line 3: listeners[1].name: duplicate listener name 'public'",
        "line 6: apis[0].base_path: base path 'orders' must start with '/'",
        "line 8: apis[0].upstream.targets[0]: target 'ftp://x' must start with http:// or https://",
        "line 8: apis[0].upstream.targets[2]: duplicate of targets[1]",
        "line 10: apis[0].flows[0].match.path: '**' must be the last segment in '/a/**/b'",
        "line 11: apis[1].name: duplicate API name 'orders'",
    ];
    for want in expect {
        assert!(
            rendered.iter().any(|e| e.starts_with(want)),
            "missing {want:?} in {rendered:#?}"
        );
    }
}

#[test]
fn yaml_syntax_error_has_line() {
    let errs = compile("listeners: [\n  { name: a\n").unwrap_err().0;
    assert_eq!(errs.len(), 1);
    assert!(errs[0].message.starts_with("invalid YAML"), "{:?}", errs[0]);
    assert!(errs[0].line.is_some());
}

#[test]
fn routing_prefers_longest_base_path_and_hosts() {
    let src = "\
listeners: [ { name: p, address: \"127.0.0.1:0\" } ]
apis:
  - { name: root, base_path: /, upstream: { targets: [\"http://a:1\"] } }
  - { name: v1, base_path: /orders/v1, upstream: { targets: [\"http://a:1\"] } }
  - { name: hosted, base_path: /orders/v1, hosts: [\"*.example.com\"], upstream: { targets: [\"http://a:1\"] } }
";
    let snap = compile(src).unwrap();
    let name = |host: Option<&str>, path: &str| {
        snap.route("default", host, path)
            .map(|a| a.name.to_string())
    };
    assert_eq!(name(None, "/orders/v1/x").as_deref(), Some("v1"));
    assert_eq!(
        name(Some("api.example.com"), "/orders/v1/x").as_deref(),
        Some("hosted")
    );
    assert_eq!(
        name(Some("example.com"), "/orders/v1").as_deref(),
        Some("v1")
    );
    assert_eq!(name(None, "/orders/v10").as_deref(), Some("root"));
    assert_eq!(name(None, "/").as_deref(), Some("root"));
}

#[test]
fn unknown_policy_kind_is_named() {
    let src = "\
listeners: [ { name: p, address: \"127.0.0.1:0\" } ]
apis:
  - name: a
    base_path: /a
    upstream: { targets: [\"http://a:1\"] }
    policies:
      request:
        - no-such-policy: {}
";
    let errs = compile(src).unwrap_err().0;
    assert_eq!(errs[0].path, "apis[0].policies.request[0]");
    assert_eq!(errs[0].line, Some(8));
    assert!(
        errs[0]
            .message
            .contains("unknown policy kind 'no-such-policy'")
    );
}

#[test]
fn editor_schema_is_valid_json_schema() {
    let schema = crate::editor_schema();
    assert!(jsonschema::validator_for(&schema).is_ok());
    assert_eq!(schema["title"], "Portcullis gateway configuration");
}

#[test]
fn environments_route_and_share_base_paths_when_disjoint() {
    let src = "\
environments: [test, prod]
listeners:
  - { name: t, address: \"127.0.0.1:0\", environment: test }
  - { name: p, address: \"127.0.0.1:0\", environment: prod }
apis:
  - { name: orders-test, base_path: /orders, environments: [test], upstream: { targets: [\"http://a:1\"] } }
  - { name: orders-prod, base_path: /orders, environments: [prod], upstream: { targets: [\"http://b:1\"] } }
  - { name: both, base_path: /both, upstream: { targets: [\"http://a:1\"] } }
";
    let snap = compile(src).unwrap();
    let envs: Vec<&str> = snap
        .server
        .listeners
        .iter()
        .map(|l| &*l.environment)
        .collect();
    assert_eq!(envs, ["test", "prod"]);
    assert_eq!(
        snap.environments
            .as_deref()
            .map(|e| e.iter().map(|s| &**s).collect::<Vec<_>>()),
        Some(vec!["test", "prod"])
    );
    let name = |env: &str, path: &str| snap.route(env, None, path).map(|a| a.name.to_string());
    assert_eq!(name("test", "/orders/1").as_deref(), Some("orders-test"));
    assert_eq!(name("prod", "/orders/1").as_deref(), Some("orders-prod"));
    assert_eq!(name("dev", "/orders/1"), None);
    // No `environments`: deployed everywhere.
    assert_eq!(name("test", "/both").as_deref(), Some("both"));
    assert_eq!(name("anything", "/both").as_deref(), Some("both"));
}

#[test]
fn listener_environment_defaults_to_default() {
    let snap = compile(MINIMAL).unwrap();
    assert_eq!(&*snap.server.listeners[0].environment, "default");
    assert!(snap.environments.is_none());
    assert!(snap.apis[0].environments.is_none());
    assert!(snap.apis[0].deployed_to("default"));
}

#[test]
fn environment_errors_name_the_field() {
    let src = "\
environments: [test, prod, test, Bad_Name]
listeners:
  - { name: a, address: \"127.0.0.1:0\" }
  - { name: b, address: \"127.0.0.1:0\", environment: staging }
  - { name: c, address: \"127.0.0.1:0\", environment: \"-x\" }
apis:
  - name: one
    base_path: /one
    environments: [prod, qa, prod]
    upstream: { targets: [\"http://a:1\"] }
  - { name: two, base_path: /two, environments: [], upstream: { targets: [\"http://a:1\"] } }
";
    let errs = compile(src).unwrap_err().0;
    let rendered: Vec<String> = errs.iter().map(ToString::to_string).collect();
    let expect = [
        "line 1: environments[2]: environment 'test' is declared twice",
        "line 1: environments[3]: invalid environment name 'Bad_Name': use lower-case letters",
        "line 3: listeners[0].environment: environment 'default' (the default when a listener names none) is not declared in the top-level `environments` (test, prod)",
        "line 4: listeners[1].environment: environment 'staging' is not declared",
        "line 5: listeners[2].environment: invalid environment name '-x'",
        "line 9: apis[0].environments[1]: environment 'qa' is not declared",
        "line 9: apis[0].environments[2]: environment 'prod' is listed twice",
        "line 11: apis[1].environments: list at least one environment, or remove the field",
    ];
    for want in expect {
        assert!(
            rendered.iter().any(|e| e.starts_with(want)),
            "missing {want:?} in {rendered:#?}"
        );
    }
    assert_eq!(rendered.len(), expect.len(), "{rendered:#?}");
}

#[test]
fn undeclared_environments_are_fine_without_a_declaration() {
    let src = "\
listeners: [ { name: a, address: \"127.0.0.1:0\", environment: prod } ]
apis:
  - { name: x, base_path: /x, environments: [staging], upstream: { targets: [\"http://a:1\"] } }
";
    let snap = compile(src).unwrap();
    // Deployed to an environment no listener of this node serves: valid (another node sharing
    // the file may serve it), just not routed here.
    assert!(snap.route("prod", None, "/x").is_none());
    assert!(snap.route("staging", None, "/x").is_some());
}

#[test]
fn same_base_path_in_overlapping_environments_is_refused() {
    let src = "\
listeners: [ { name: a, address: \"127.0.0.1:0\" } ]
apis:
  - { name: a, base_path: /x, environments: [test, prod], upstream: { targets: [\"http://a:1\"] } }
  - { name: b, base_path: /x, environments: [prod], upstream: { targets: [\"http://a:1\"] } }
  - { name: c, base_path: /x/, upstream: { targets: [\"http://a:1\"] } }
  - { name: d, base_path: /y, upstream: { targets: [\"http://a:1\"] } }
  - { name: e, base_path: /y, environments: [dev], upstream: { targets: [\"http://a:1\"] } }
";
    let errs = compile(src).unwrap_err().0;
    let rendered: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(
        rendered,
        [
            "line 4: apis[1].base_path: another API ('a') already serves base path '/x' for the same hosts in an overlapping environment",
            "line 5: apis[2].base_path: another API ('a') already serves base path '/x' for the same hosts in every environment",
            "line 7: apis[4].base_path: another API ('d') already serves base path '/y' for the same hosts in an overlapping environment",
        ]
    );
}
