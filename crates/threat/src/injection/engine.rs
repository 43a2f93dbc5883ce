//! The linear-time multi-pattern engine behind the managed and custom rules.
//!
//! Every pattern is compiled with the `regex` crate (finite automata, no backtracking), so no
//! pattern and no input can cause catastrophic matching time (ReDoS). All rules matched against
//! the same decoded view share one `RegexSet`, which answers "does any rule match?" in one pass
//! (at most four passes per value); the individual regex is only run afterwards, on a hit, to
//! extract the matched fragment. An Aho-Corasick
//! automaton over each class's *gate* literals skips whole classes for values that contain none
//! of the characters or words the class needs (most benign values), which keeps inspection in
//! the low microseconds.
//!
//! Patterns are compiled over bytes with Unicode mode off: `\w`, `\s` and `\b` are ASCII.
//! Attack syntax is ASCII once the value is NFKC-folded, and Unicode word boundaries would
//! force the slow NFA on any non-ASCII text (names, prose), multiplying inspection time.

use std::ops::Range;

use aho_corasick::dfa::DFA;
use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind, StartKind};
use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use super::CompileError;
use super::config::{AttackClass, CustomRule};
use super::decode::Views;
use super::rules::{RuleDef, RuleFile, View};

/// Compiled-program size cap per regex and per set: bounds memory and compile time even for
/// operator-supplied patterns.
const REGEX_SIZE_LIMIT: usize = 16 << 20;
const SET_SIZE_LIMIT: usize = 64 << 20;
/// Capacity of each lazy DFA's transition cache (forward and reverse, per regex or set, per
/// thread that searches). The caches fill with the states that inputs reach and never shrink,
/// so their capacity is memory an attacker can claim with varied input: at 64 MiB per set,
/// 200,000 values made of pairs of fuzzer-found inputs grew one thread's detector from 24 to
/// 206 MB, still growing; at 16 MiB it nearly levels off (84 MB; `examples/detector_memory.rs`).
/// Benign traffic reaches few states (the 10 KB order stays at 24 MB with either) and is as
/// fast; such varied hostile input runs about twice as slow, as a full cache is cleared and
/// rebuilt (docs/security.md).
const SET_DFA_CACHE: usize = 16 << 20;
/// The same for single rules, which run only on a value their set matched: regex's default.
const RULE_DFA_CACHE: usize = 2 << 20;

#[derive(Debug)]
struct CompiledRule {
    id: String,
    class: AttackClass,
    /// Whether the class gate must have fired for this rule to count (custom rules are not
    /// gated: nothing says they need the managed gate literals).
    gated: bool,
    pattern: String,
    regex: Regex,
}

/// The group of `rules[idx]` matched against `view` (`None` without rules).
fn group(
    rules: &[CompiledRule],
    view: View,
    idx: Vec<usize>,
) -> Result<Option<Group>, CompileError> {
    if idx.is_empty() {
        return Ok(None);
    }
    let (mut classes, mut ungated) = (0u8, 0u8);
    for &i in &idx {
        classes |= rules[i].class.bit();
        if !rules[i].gated {
            ungated |= rules[i].class.bit();
        }
    }
    let set = RegexSetBuilder::new(idx.iter().map(|&i| rules[i].pattern.as_str()))
        .unicode(false)
        .size_limit(SET_SIZE_LIMIT)
        .dfa_size_limit(SET_DFA_CACHE)
        .build()
        .map_err(|e| CompileError::Pattern {
            rule_id: format!("{view:?} rule set"),
            message: e.to_string(),
        })?;
    Ok(Some(Group {
        view,
        set,
        rules: idx,
        classes,
        ungated,
    }))
}

/// All active rules matched against one view.
#[derive(Debug)]
struct Group {
    view: View,
    set: RegexSet,
    /// Set index → index into `PatternEngine::rules`.
    rules: Vec<usize>,
    /// Classes with at least one rule in this group.
    classes: u8,
    /// Classes with at least one ungated (custom) rule in this group.
    ungated: u8,
}

/// A rule hit: which rule, and the byte range of the match in the given view text (the range
/// may split a multi-byte character: patterns match bytes).
#[derive(Debug)]
pub(crate) struct PatternHit<'a, 'v> {
    pub class: AttackClass,
    pub rule_id: &'a str,
    pub view_text: &'v str,
    pub range: Range<usize>,
}

#[derive(Debug)]
pub(crate) struct PatternEngine {
    rules: Vec<CompiledRule>,
    groups: Vec<Group>,
    /// For values whose `sql` and `path` views equal their `text` view (no SQL comment, no
    /// slash, backslash or `$`: most prose, names and identifiers), the `text`, `sql` and
    /// `path` rules in one set over `text`; index 1 also holds the `shell` rules, for values
    /// whose `shell` view is `text` too (no quote, caret or backslash). One pass of a larger
    /// set costs less than up to four passes over the same bytes. Other values run the
    /// per-view `groups`. (Each merged set holds most rules: a few MiB of automata per
    /// detector, so only these two common cases get one.)
    merged: [Option<Group>; 2],
    gate: Option<AhoCorasick>,
    /// The gate literals (lower case), for [`PatternEngine::screen`].
    gate_lits: Vec<String>,
    /// For each gate literal, the class bit it opens.
    gate_bits: Vec<u8>,
    /// Classes whose file has no gate: always run.
    ungated_mask: u8,
}

fn build_regex(id: &str, pattern: &str) -> Result<Regex, CompileError> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(RULE_DFA_CACHE)
        .build()
        .map_err(|e| CompileError::Pattern {
            rule_id: id.to_owned(),
            message: e.to_string(),
        })
}

fn custom_def(c: &CustomRule) -> RuleDef {
    RuleDef {
        id: c.id.clone(),
        paranoia: c.paranoia,
        view: View::Text,
        description: c.description.clone(),
        pattern: c.pattern.clone(),
        class: Some(c.class),
    }
}

impl PatternEngine {
    /// Compiles the rules of the enabled classes (`class_mask`) active at `paranoia`.
    pub(crate) fn compile(
        files: &[RuleFile],
        custom: &[CustomRule],
        class_mask: u8,
        paranoia: u8,
    ) -> Result<Self, CompileError> {
        let mut gate_lits: Vec<String> = Vec::new();
        let mut gate_bits = Vec::new();
        let mut ungated_mask = 0u8;
        // (definition, class, gated) in class order: managed files are listed in class order.
        let mut active: Vec<(&RuleDef, AttackClass, bool)> = Vec::new();
        for file in files.iter().filter(|f| class_mask & f.class.bit() != 0) {
            if file.gate.is_empty() {
                ungated_mask |= file.class.bit();
            }
            for lit in &file.gate {
                gate_lits.push(lit.to_lowercase());
                gate_bits.push(file.class.bit());
            }
            active.extend(
                file.rules
                    .iter()
                    .filter(|r| r.paranoia <= paranoia)
                    .map(|r| (r, file.class, true)),
            );
        }
        let custom_defs: Vec<RuleDef> = custom
            .iter()
            .filter(|c| class_mask & c.class.bit() != 0 && c.paranoia <= paranoia)
            .map(custom_def)
            .collect();
        active.extend(
            custom_defs
                .iter()
                .filter_map(|d| d.class.map(|c| (d, c, false))),
        );

        let mut rules = Vec::with_capacity(active.len());
        // Rule indices per view, in class order (the order `rules` is built in).
        let mut by_view: [Vec<usize>; 4] = Default::default();
        for view in View::ALL {
            for (d, class, gated) in active.iter().filter(|(d, _, _)| d.view == view) {
                by_view[view as usize].push(rules.len());
                rules.push(CompiledRule {
                    id: d.id.clone(),
                    class: *class,
                    gated: *gated,
                    pattern: d.pattern.clone(),
                    regex: build_regex(&d.id, &d.pattern)?,
                });
            }
        }
        let mut groups = Vec::new();
        for view in View::ALL {
            if let Some(g) = group(&rules, view, by_view[view as usize].clone())? {
                groups.push(g);
            }
        }
        let mut merged = [None, None];
        for (slot, with_shell) in merged.iter_mut().zip([false, true]) {
            let mut idx: Vec<usize> = [View::Text, View::Sql, View::Path]
                .iter()
                .flat_map(|v| by_view[*v as usize].iter().copied())
                .collect();
            if with_shell {
                idx.extend(&by_view[View::Shell as usize]);
            }
            // Ascending rule order, as in the per-view groups.
            idx.sort_unstable();
            *slot = group(&rules, View::Text, idx)?;
        }
        let gate = if gate_lits.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    // A DFA: one table lookup per byte, the fastest search for the few hundred
                    // literals every inspected value is run through (twice).
                    .kind(Some(AhoCorasickKind::DFA))
                    // Views are lower case already; raw words (`word_may_match`) are not.
                    .ascii_case_insensitive(true)
                    .build(&gate_lits)
                    .map_err(|e| CompileError::Pattern {
                        rule_id: "gate".to_owned(),
                        message: e.to_string(),
                    })?,
            )
        };
        Ok(PatternEngine {
            rules,
            groups,
            merged,
            gate,
            gate_lits,
            gate_bits,
            ungated_mask,
        })
    }

    /// Number of compiled rules (managed and custom).
    pub(crate) fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Class bits whose gate literals occur in the value (plus ungated classes).
    pub(crate) fn open_classes(&self, views: &Views) -> u8 {
        let mut mask = self.ungated_mask;
        if let Some(ac) = &self.gate {
            let all: u8 = self.gate_bits.iter().fold(0, |m, b| m | b);
            for hay in [views.text.as_str(), views.shell.as_str()] {
                for m in ac.find_overlapping_iter(hay) {
                    mask |= self.gate_bits[m.pattern().as_usize()];
                    if mask & all == all {
                        return mask;
                    }
                }
                if views.same_as_text(Views::SHELL) {
                    break;
                }
            }
        }
        mask
    }

    /// Whether a plain word (letters, digits, `_`, `-`) contains a gate literal, i.e. whether
    /// some rule could match it. Words never open the tokenising detectors on their own.
    #[cfg(test)]
    pub(crate) fn word_may_match(&self, word: &str) -> bool {
        let Some(ac) = &self.gate else {
            return self.ungated_mask != 0;
        };
        if self.ungated_mask != 0 {
            return true;
        }
        // The automaton ignores ASCII case (the literals are lower case), so the word is
        // matched as it is.
        ac.is_match(word)
    }

    /// A DFA for the prefilter (`Detector::trivially_clean`): it reaches a match state
    /// (`Automaton::is_match`) exactly where a gate literal or one of `extra` ends, ignoring
    /// ASCII case as the gate does. `None` when an ungated class lets any word match. Stepped
    /// by hand, a few instructions per byte: `AhoCorasick::is_match` costs about 180
    /// instructions of set-up per call, more than the whole scan of a short value.
    pub(crate) fn screen(&self, extra: &[Vec<u8>]) -> Result<Option<DFA>, CompileError> {
        if self.ungated_mask != 0 {
            return Ok(None);
        }
        let lits = self
            .gate_lits
            .iter()
            .map(|l| l.as_bytes())
            .chain(extra.iter().map(Vec::as_slice));
        DFA::builder()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(true)
            // Stepped by hand: no prefilter, no anchored start state.
            .prefilter(false)
            .start_kind(StartKind::Unanchored)
            .build(lits)
            .map(Some)
            .map_err(|e| CompileError::Pattern {
                rule_id: "prefilter".to_owned(),
                message: e.to_string(),
            })
    }

    /// The first matching rule of an allowed class whose gate is open, in class order (then
    /// rule order).
    ///
    /// The gate is only computed once some rule set matches: benign values (almost all) match
    /// none, and for prose, which opens nearly every class anyway, scanning for the gate
    /// literals cost as much as the rule sets themselves. The answer is the same as filtering
    /// the groups by the gate first ([`PatternEngine::find_gated`], used by the tests).
    pub(crate) fn find<'a, 'v>(
        &'a self,
        views: &'v Views,
        allowed: u8,
    ) -> Option<PatternHit<'a, 'v>> {
        self.find_with(views, allowed, None, true)
    }

    /// [`PatternEngine::find`] with the gate `open` computed beforehand.
    #[cfg(test)]
    pub(crate) fn find_gated<'a, 'v>(
        &'a self,
        views: &'v Views,
        allowed: u8,
        open: u8,
    ) -> Option<PatternHit<'a, 'v>> {
        self.find_with(views, allowed, Some(open), true)
    }

    /// [`PatternEngine::find`] with one pass per view, never a merged set.
    #[cfg(test)]
    pub(crate) fn find_per_view<'a, 'v>(
        &'a self,
        views: &'v Views,
        allowed: u8,
    ) -> Option<PatternHit<'a, 'v>> {
        self.find_with(views, allowed, None, false)
    }

    fn find_with<'a, 'v>(
        &'a self,
        views: &'v Views,
        allowed: u8,
        mut open: Option<u8>,
        merge: bool,
    ) -> Option<PatternHit<'a, 'v>> {
        let mut best: Option<(AttackClass, usize, &'v str)> = None;
        let shell_same = views.same_as_text(Views::SHELL);
        // At most four groups: a merged set and the shell group, or one group per view.
        let mut plan: [Option<&Group>; 4] = [None; 4];
        if merge && views.same_as_text(Views::SQL | Views::PATH) {
            plan[0] = self.merged[usize::from(shell_same)].as_ref();
            if !shell_same {
                plan[1] = self.groups.iter().find(|g| g.view == View::Shell);
            }
        } else {
            for (slot, g) in plan.iter_mut().zip(&self.groups) {
                *slot = Some(g);
            }
        }
        for g in plan.into_iter().flatten() {
            if g.classes & allowed & open.map_or(u8::MAX, |o| o | g.ungated) == 0 {
                continue;
            }
            let text: &'v str = match g.view {
                View::Text => &views.text,
                View::Sql => &views.sql,
                View::Path => &views.path,
                View::Shell => &views.shell,
            };
            // is_match stops at the first match; the full match set is only needed on a hit.
            if !g.set.is_match(text.as_bytes()) {
                continue;
            }
            let open = *open.get_or_insert_with(|| self.open_classes(views));
            if g.classes & allowed & (open | g.ungated) == 0 {
                continue;
            }
            for i in g.set.matches(text.as_bytes()).iter() {
                let ri = g.rules[i];
                let r = &self.rules[ri];
                let bit = r.class.bit();
                if allowed & bit == 0 || (r.gated && open & bit == 0) {
                    continue;
                }
                if best.is_none_or(|(c, bi, _)| (r.class, ri) < (c, bi)) {
                    best = Some((r.class, ri, text));
                }
            }
        }
        let (class, ri, text) = best?;
        let rule = &self.rules[ri];
        let range = rule.regex.find(text.as_bytes()).map_or(0..0, |m| m.range());
        Some(PatternHit {
            class,
            rule_id: &rule.id,
            view_text: text,
            range,
        })
    }
}

impl PatternEngine {
    /// Every matching rule of an allowed class, ignoring the gate (diagnostics only: which
    /// rules an attack or a false positive triggers, see `Detector::explain_request`).
    pub(crate) fn all_matches<'a>(&'a self, views: &'a Views, allowed: u8) -> Vec<&'a str> {
        let mut out = Vec::new();
        for g in &self.groups {
            let text: &str = match g.view {
                View::Text => &views.text,
                View::Sql => &views.sql,
                View::Path => &views.path,
                View::Shell => &views.shell,
            };
            for i in g.set.matches(text.as_bytes()).iter() {
                let r = &self.rules[g.rules[i]];
                if allowed & r.class.bit() != 0 {
                    out.push(r.id.as_str());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The merged sets answer exactly what one pass per view answers (rule and fragment),
        /// at every paranoia level, on values mixing words and attack syntax.
        #[test]
        fn merged_sets_match_per_view_passes(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                " ", "'", "\"", "/", "\\", "$", "^", ";", "|", "&", "(", ")", "<", ">", "=", "-",
                "--", "/*", "*/", "#", "..", "or", "and", "union", "select", "from", "where",
                "1", "x", "sleep(5)", "etc", "passwd", "cat", "id", "ls", "script", "alert(1)",
                "onerror", "javascript:", "{{", "}}", "${", "jndi:", "é", "’",
            ]), 0..12),
            paranoia in 1u8..=3,
        ) {
            let engine = engines()[usize::from(paranoia - 1)].as_ref();
            let v = crate::injection::decode::views(&parts.concat(), 1024);
            let merged = engine.find(&v, u8::MAX).map(|h| (h.rule_id, h.range));
            let per_view = engine.find_per_view(&v, u8::MAX).map(|h| (h.rule_id, h.range));
            proptest::prop_assert_eq!(merged, per_view);
        }
    }

    /// Engines for paranoia 1 to 3, compiled once for the property test.
    fn engines() -> &'static [Box<PatternEngine>; 3] {
        static ENGINES: std::sync::OnceLock<[Box<PatternEngine>; 3]> = std::sync::OnceLock::new();
        ENGINES.get_or_init(|| {
            let files = managed_rules().expect("rules parse");
            [1, 2, 3].map(|p| {
                Box::new(PatternEngine::compile(&files, &[], u8::MAX, p).expect("rules compile"))
            })
        })
    }
    use crate::injection::decode::views;
    use crate::injection::rules::managed_rules;

    /// The gate is only an optimisation: with every class forced open the engine must give the
    /// same answer as with the gate computed from the value. Checked on attack samples of every
    /// class, including encoded and obfuscated forms that do not contain the obvious keywords.
    #[test]
    fn gate_never_hides_a_match() {
        let files = managed_rules().expect("rules parse");
        let engine = PatternEngine::compile(&files, &[], u8::MAX, 4).expect("rules compile");
        let samples = [
            "1 or 1 like 1",
            "x where 1=1",
            "select * from all_tables",
            "v$version",
            "dbms_lock.sleep(5)",
            "etc/passwd",
            "proc/self/environ",
            ".htaccess",
            "credentials",
            "~/.ssh/id_rsa",
            "ls -la",
            "time whoami",
            "systeminfo",
            "net user admin /add",
            "<x onload=alert(1)>",
            "java&Tab;script&colon;alert(1)",
            "+ADw-script+AD4-",
            "(![]+[])[+!+[]]",
            "document.cookie",
            "O:8:\"stdClass\":0:{}",
            "{{7*7}}",
            "__proto__",
            "os.system('id')",
            "<!--#include file=\"x\"-->",
            "*)(uid=*))(|(uid=*",
            "' or ''=' | //user",
            "xor",
            "is not null",
            "order by",
            "execute php",
            "schema_name",
            "1.e(ascii)",
            "'sounds like x",
            "'msdasql'",
            "create table t (",
            "|| this.a",
            "dr/**/op",
            "\\'or'1",
            "pi(",
            "() { :; }; id",
            "~+",
            "x !-1",
            ";at 2:00 \"x\"",
            "{,id}",
            "x&bcdboot/r a",
            "p\"\"y\"\"thon",
            "1;.shell id",
            "a=nc&&$a -nlvp 1",
            "visudo",
            "<!entity % x system",
            "-->",
            "' in foo.bar=",
            "<noscript>",
            "${:1}{jndi:ldap://x}",
            "1’ or ’1’=’1",
        ];
        for s in samples {
            let v = views(s, 1024);
            let open = engine.open_classes(&v);
            let gated = engine
                .find_gated(&v, u8::MAX, open)
                .map(|h| h.rule_id.to_owned());
            let forced = engine
                .find_gated(&v, u8::MAX, u8::MAX)
                .map(|h| h.rule_id.to_owned());
            let lazy = engine.find(&v, u8::MAX).map(|h| h.rule_id.to_owned());
            assert_eq!(lazy, gated, "{s:?}");
            let per_view = engine
                .find_per_view(&v, u8::MAX)
                .map(|h| h.rule_id.to_owned());
            assert_eq!(per_view, gated, "{s:?}");
            assert!(
                forced.is_some(),
                "{s:?} matches no rule: not a useful sample"
            );
            assert_eq!(gated, forced, "{s:?}");
        }
    }
}
