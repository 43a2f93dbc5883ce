//! The committed configuration reference must be exactly what the code generates, and every
//! example in it must be a configuration the gateway accepts. Run with `UPDATE_DOCS=1` to rewrite
//! the files after changing the model, a policy config or the generator.

use std::path::{Path, PathBuf};

use portcullis_config::docgen::{
    self, MINIMAL_CONFIG, POLICY_EXAMPLES, PolicyExample, REGENERATE, policy_example,
};
use portcullis_config::{compile_str, yaml};
use portcullis_policies::{PolicyDeps, policy_kinds};
use portcullis_policy::Phase;

const CONFIGURATION_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
const SCHEMA_JSON: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/portcullis.schema.json"
);

/// Compares `generated` with the committed file, or writes it when `UPDATE_DOCS=1`.
fn check(path: &str, generated: &str) {
    let path = Path::new(path);
    if std::env::var("UPDATE_DOCS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().expect("docs path has a parent"))
            .expect("create docs/");
        std::fs::write(path, generated).expect("write generated docs");
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if committed == generated {
        return;
    }
    let first_difference = committed
        .lines()
        .zip(generated.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
    panic!(
        "{} is out of date (first difference at line {}: committed {:?}, generated {:?}).\n\
         Regenerate it with:\n\n    {REGENERATE}\n",
        path.display(),
        first_difference + 1,
        committed
            .lines()
            .nth(first_difference)
            .unwrap_or("<end of file>"),
        generated
            .lines()
            .nth(first_difference)
            .unwrap_or("<end of file>"),
    );
}

#[test]
fn configuration_reference_is_up_to_date() {
    check(CONFIGURATION_MD, &docgen::configuration_markdown());
}

#[test]
fn published_schema_is_up_to_date() {
    check(SCHEMA_JSON, &docgen::schema_json());
}

/// A minimal valid file with `item` (a YAML list item) in the API's list for `phase`.
fn config_with(item: &str, phase: Phase) -> String {
    let list = match phase {
        Phase::Request => "request",
        Phase::Response => "response",
    };
    let item: String = item.lines().map(|l| format!("        {l}\n")).collect();
    format!(
        "listeners:\n  - {{ name: public, address: \"127.0.0.1:8080\" }}\n\
         apis:\n  - name: example\n    base_path: /example\n\
         \x20   upstream: {{ targets: [\"http://127.0.0.1:9000\"] }}\n\
         \x20   policies:\n      {list}:\n{item}"
    )
}

fn compile(text: &str) -> Result<portcullis_config::Snapshot, String> {
    compile_in(text, Path::new("."))
}

fn compile_in(text: &str, base: &Path) -> Result<portcullis_config::Snapshot, String> {
    compile_str(text, base, &PolicyDeps::default()).map_err(|errors| {
        errors
            .0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// A fresh directory holding the files an example refers to; the config "lives" there.
fn example_dir(example: &PolicyExample) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "portcullis-docgen-{}-{}",
        std::process::id(),
        example.kind
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, contents) in example.files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().expect("file has a parent")).expect("mkdir");
        std::fs::write(file, contents).expect("write example file");
    }
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

fn registered(kind: &str) -> bool {
    policy_kinds().iter().any(|k| k.name == kind)
}

#[test]
fn every_policy_example_is_one_item_of_its_kind() {
    for example in POLICY_EXAMPLES {
        let (value, _) = yaml::parse(example.yaml)
            .unwrap_or_else(|e| panic!("example of {} is not YAML: {}", example.kind, e.message));
        let items = value.as_array().expect("an example is a YAML list");
        assert_eq!(items.len(), 1, "example of {} has one item", example.kind);
        let keys: Vec<_> = items[0].as_object().expect("a map").keys().collect();
        assert_eq!(
            keys,
            [example.kind],
            "example of {} uses its kind",
            example.kind
        );
        assert!(
            !example.lists.is_empty(),
            "{} names its lists",
            example.kind
        );
    }
}

/// Examples may be written before their kind is registered (several engineers add kinds in
/// parallel); they are checked as soon as it is. A misspelt kind cannot hide here: the real kind
/// would then lack an example and `every_registered_kind_has_an_example` fails.
#[test]
fn every_policy_example_compiles_in_each_list_it_names() {
    for example in POLICY_EXAMPLES {
        let kind = example.kind;
        if !registered(kind) {
            eprintln!("skipping the {kind} example: that kind is not registered (yet)");
            continue;
        }
        let dir = example_dir(example);
        for phase in example.lists {
            let text = config_with(example.yaml, *phase);
            let snapshot = compile_in(&text, &dir).unwrap_or_else(|errors| {
                panic!("the {kind} example is rejected in a {phase:?} list:\n{errors}\n\n{text}")
            });
            let pipeline = &snapshot.apis[0].pipeline;
            let kinds: Vec<_> = match phase {
                Phase::Request => pipeline.request_kinds().collect(),
                Phase::Response => pipeline.response_kinds().collect(),
            };
            assert_eq!(kinds, [kind], "the {kind} example compiles to that kind");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn every_registered_kind_has_an_example() {
    let missing: Vec<_> = policy_kinds()
        .iter()
        .map(|k| k.name)
        .filter(|name| policy_example(name).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "policy kinds without a documentation example: {missing:?}. Add an entry to \
         POLICY_EXAMPLES in crates/config/src/docgen/examples.rs, then run:\n\n    {REGENERATE}\n"
    );
}

#[test]
fn minimal_config_in_the_introduction_compiles() {
    let snapshot = compile(MINIMAL_CONFIG).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(snapshot.apis.len(), 1);
    assert!(docgen::configuration_markdown().contains(MINIMAL_CONFIG));
}

#[test]
fn reference_documents_every_field_of_every_object() {
    let markdown = docgen::configuration_markdown();
    let schema: serde_json::Value =
        serde_json::from_str(&docgen::schema_json()).expect("schema_json is JSON");
    let mut objects: Vec<&serde_json::Value> = vec![&schema];
    objects.extend(schema["$defs"].as_object().expect("$defs").values());
    for kind in policy_kinds() {
        assert!(
            markdown.contains(&format!("\n### `{}`\n", kind.name)),
            "section for {}",
            kind.name
        );
    }
    for object in objects {
        for field in object["properties"].as_object().into_iter().flatten() {
            let row = format!("| `{}` |", field.0);
            assert!(
                markdown.contains(&row),
                "no table row for field {}",
                field.0
            );
        }
    }
}

#[test]
fn reference_shows_defaults_as_written_in_yaml() {
    let markdown = docgen::configuration_markdown();
    let has_row = |field: &str, rest: &str| {
        let start = format!("| `{field}` |");
        markdown
            .lines()
            .any(|l| l.starts_with(&start) && l.contains(rest))
    };
    assert!(has_row("max_uri_length", "| `8KiB` |"));
    assert!(has_row("max_body", "| `10MiB` |"));
    assert!(has_row("header_read_timeout", "| `10s` |"));
    assert!(has_row("address", "**required**"));
    assert!(has_row("address", "| `127.0.0.1:9080` |"));
    assert!(has_row("retries", "| `1` |"));
    assert!(has_row("mode", "`enforce` \\| `monitor`"));
    assert!(has_row("status", "integer (200–599)"));
}
