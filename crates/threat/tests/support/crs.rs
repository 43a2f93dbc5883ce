//! Loading the OWASP CRS regression corpus and the project's benign API corpus, shared by the
//! engine test (`crates/threat/tests/injection_corpus.rs`) and the gateway replay
//! (`crates/test-support/tests/threat_crs.rs`, which includes this file by path), so both
//! select attacks and benign requests by exactly the same rules.
//!
//! Attacks: stages whose `expect_ids` name a rule of paranoia level 1 or 2. Benign: stages with
//! only `no_expect_ids` whose description marks them as a false-positive check
//! ([`is_benign_desc`]), plus every request in `crates/threat/tests/data/benign/*.jsonl`.

// Each including test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use portcullis_threat::injection::{Detector, Finding};
use serde::Deserialize;

// Both including crates live at `crates/<name>`, so these resolve the same from either.
const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpora/crs-regression"
);
const BENIGN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../threat/tests/data/benign");

#[derive(Deserialize)]
struct FtwFile {
    rule_id: u32,
    tests: Vec<FtwTest>,
}

#[derive(Deserialize)]
struct FtwTest {
    #[serde(default)]
    test_id: u32,
    #[serde(default)]
    desc: Option<String>,
    stages: Vec<FtwStage>,
}

#[derive(Deserialize)]
struct FtwStage {
    input: FtwInput,
    output: FtwOutput,
}

#[derive(Deserialize)]
struct FtwInput {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    uri: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    data: Option<String>,
}

#[derive(Deserialize, Default)]
struct FtwOutput {
    #[serde(default)]
    log: FtwLog,
}

#[derive(Deserialize, Default)]
struct FtwLog {
    #[serde(default)]
    expect_ids: Vec<u32>,
    #[serde(default)]
    no_expect_ids: Vec<u32>,
}

/// A request of the project's own benign corpus (one JSON object per line).
#[derive(Deserialize)]
struct OwnReq {
    #[serde(default = "root")]
    path: String,
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    label: String,
}

fn root() -> String {
    "/".to_owned()
}

/// One request of either corpus.
#[derive(Clone, Debug)]
pub(crate) struct Req {
    /// Where it comes from (rule, test, stage / file and line), for dumps.
    pub(crate) label: String,
    pub(crate) method: String,
    /// Request target: path and optional query, as in the corpus (not normalised).
    pub(crate) uri: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<String>,
    /// Which half of the CRS corpus the stage belongs to (see [`half_of`]); own benign
    /// requests are in neither (`None`).
    pub(crate) half: Option<Half>,
}

/// The two halves of the CRS corpus, split by a hash of the test file's name (one file per
/// CRS rule): detection was developed looking only at misses of the `Dev` half; `HeldOut`
/// shows whether that work generalises to rules whose tests were not looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Half {
    Dev,
    HeldOut,
}

/// The half a CRS test file belongs to: bit 40 of the FNV-1a hash of its file name (e.g.
/// `942410.yaml`; FNV's low bits are only a parity of the bytes).
pub(crate) fn half_of(file_name: &str) -> Half {
    let h = file_name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    if (h >> 40) & 1 == 0 {
        Half::Dev
    } else {
        Half::HeldOut
    }
}

impl Req {
    fn from_ftw(input: &FtwInput, label: String, half: Half) -> Req {
        Req {
            half: Some(half),
            label,
            method: input.method.clone().unwrap_or_else(|| "GET".to_owned()),
            uri: input.uri.clone().unwrap_or_else(root),
            headers: input
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            body: input.data.clone(),
        }
    }

    /// The whole request in a readable form, for dumps.
    pub(crate) fn describe(&self) -> String {
        let mut out = format!("{} {}", self.method, self.uri);
        for (k, v) in &self.headers {
            out.push_str(&format!("\n    {k}: {v}"));
        }
        if let Some(b) = &self.body {
            out.push_str(&format!(
                "\n    body: {}",
                b.chars().take(400).collect::<String>()
            ));
        }
        out
    }

    /// Path and raw query of the target.
    pub(crate) fn path_and_query(&self) -> (&str, Option<&str>) {
        match self.uri.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (self.uri.as_str(), None),
        }
    }

    /// What the detector alone finds in this request.
    pub(crate) fn inspect(&self, det: &Detector) -> Vec<Finding> {
        let (path, query) = self.path_and_query();
        let content_type = self
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.as_str());
        det.inspect_request(
            path,
            query,
            self.headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())),
            content_type,
            self.body.as_deref().map(str::as_bytes),
        )
    }
}

/// Whether a negative stage's description says it checks a false positive on legitimate
/// input. Markers of a false-positive check: "false positive", "FP", "negative test", "true
/// negative", "don't/do not/should not/must not match", "legitimate", "benign", "valid
/// user-agent/referer"... Descriptions that say the stage is an attack the rule merely does
/// not cover ("false-negative", "bypass ... auth", "known false positive" used for payloads
/// CRS misses, "true positive", SQL "inside the path", "not detected", "at PL 2", "RCE"...)
/// are excluded: a negative stage is often an attack meant for a sibling rule.
pub(crate) fn is_benign_desc(desc: &str) -> bool {
    const FP: &[&str] = &[
        "false positive",
        "fp ",
        "fp:",
        "no fp",
        "negative test",
        "true negative",
        "true-negative",
        "negative:",
        "nagive test",
        "don't match",
        "do not match",
        "should not",
        "must not",
        "not trigger",
        "authorized attempt",
        "legitimate",
        "benign",
        "known user-agent",
        "valid user-agent",
        "valid referer",
        "avoid false",
        "avoid blocking",
        " negative",
    ];
    const ATTACK: &[&str] = &[
        "true positive",
        "excluded command",
        "rce",
        "false-negative",
        "cannot be catched",
        "doesn't block normal",
        "obvious payload",
        "not detected",
        "at pl 2",
        "auth bypass",
        "known false positive",
        "inside the path",
        "blind sqli attack",
    ];
    let d = desc.to_lowercase();
    FP.iter().any(|m| d.contains(m)) && !ATTACK.iter().any(|m| d.contains(m))
}

/// Rule id → paranoia level, from `paranoia-levels.tsv`.
pub(crate) fn paranoia_levels() -> HashMap<u32, u8> {
    std::fs::read_to_string(Path::new(CORPUS).join("paranoia-levels.tsv"))
        .expect("paranoia-levels.tsv is readable")
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (id, pl) = l.split_once('\t')?;
            Some((id.trim().parse().ok()?, pl.trim().parse().ok()?))
        })
        .collect()
}

/// The attacks and the benign stages of one CRS family directory (e.g.
/// `REQUEST-942-APPLICATION-ATTACK-SQLI`), in file order.
pub(crate) fn load_family(dir: &str, pl: &HashMap<u32, u8>) -> (Vec<Req>, Vec<Req>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new(CORPUS).join(dir))
        .expect("corpus family directory exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let (mut attacks, mut benign) = (Vec::new(), Vec::new());
    for f in files {
        let text = std::fs::read_to_string(&f).expect("yaml readable");
        let half = half_of(&f.file_name().unwrap_or_default().to_string_lossy());
        let doc: FtwFile =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for t in &doc.tests {
            let desc = t.desc.as_deref().unwrap_or("");
            for (i, s) in t.stages.iter().enumerate() {
                let label = format!(
                    "{}-{} stage {i} {:?}",
                    doc.rule_id,
                    t.test_id,
                    desc.lines().next().unwrap_or("")
                );
                let log = &s.output.log;
                if log
                    .expect_ids
                    .iter()
                    .any(|id| pl.get(id).is_some_and(|l| *l <= 2))
                {
                    attacks.push(Req::from_ftw(&s.input, label, half));
                } else if log.expect_ids.is_empty()
                    && !log.no_expect_ids.is_empty()
                    && is_benign_desc(desc)
                {
                    benign.push(Req::from_ftw(&s.input, label, half));
                }
            }
        }
    }
    (attacks, benign)
}

/// Every request of the benign API corpus (`*.jsonl`, files in name order); a request with a
/// body is a POST.
pub(crate) fn load_own_benign() -> Vec<Req> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(BENIGN)
        .expect("benign corpus directory exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("benign file readable");
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let r: OwnReq = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", f.display(), n + 1));
            out.push(Req {
                label: format!(
                    "{}:{} {}",
                    f.file_name().unwrap_or_default().to_string_lossy(),
                    n + 1,
                    r.label
                ),
                method: if r.body.is_some() { "POST" } else { "GET" }.to_owned(),
                uri: match r.query {
                    Some(q) => format!("{}?{q}", r.path),
                    None => r.path,
                },
                headers: r.headers,
                body: r.body,
                half: None,
            });
        }
    }
    out
}
