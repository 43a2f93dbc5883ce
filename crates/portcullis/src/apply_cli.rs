//! `portcullis apply -f FILE`, `diff -f FILE` and `export`: a whole programme (environments,
//! API products, developers and apps) kept in a YAML file in git and applied through the admin
//! API (`POST /admin/v1/apply`, `GET /admin/v1/export`) all-or-nothing. See
//! docs/declarative.md.
//!
//! The file is read with the config crate's YAML reader (no aliases, no tags, one document,
//! the line of every node), so an error the API reports at `/products/2/paths/0` is printed
//! as `FILE:line 14: products[2].paths[0]: ...`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use portcullis_admin::{ApplyOutcome, CatalogDocument};
use portcullis_config::yaml::{self, LineMap};

use crate::admin_client::{AdminClient, AdminError, AdminUrl};

/// Exit status of `diff` when the catalog differs from the file.
const DIFFERS: u8 = 2;

#[derive(Subcommand)]
pub(crate) enum ApplyCommand {
    /// Bring the catalog to the state a programme file describes (all-or-nothing) and print
    /// what changed: `+` created, `~` updated (with the fields), `-` deleted.
    Apply {
        /// The programme file (YAML).
        #[arg(long, short = 'f')]
        file: PathBuf,
        /// Only show what would change (same as `diff`).
        #[arg(long)]
        dry_run: bool,
        /// Also delete what the file's sections do not mention (absent sections are left alone).
        #[arg(long)]
        prune: bool,
        #[command(flatten)]
        admin: AdminUrl,
    },
    /// Show what `apply` would change without changing anything. Exit status: 0 when the
    /// catalog matches the file, 2 when it differs, 1 on error.
    Diff {
        /// The programme file (YAML).
        #[arg(long, short = 'f')]
        file: PathBuf,
        /// Include the deletions `apply --prune` would make.
        #[arg(long)]
        prune: bool,
        #[command(flatten)]
        admin: AdminUrl,
    },
    /// Write the catalog (environments, products, developers and apps; never credentials) as
    /// a programme file.
    Export {
        /// Write to this file instead of standard output.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
        #[command(flatten)]
        admin: AdminUrl,
    },
}

pub(crate) async fn run(command: ApplyCommand) -> anyhow::Result<ExitCode> {
    match command {
        ApplyCommand::Apply {
            file,
            dry_run,
            prune,
            admin,
        } => apply(&file, dry_run, prune, &admin, false).await,
        ApplyCommand::Diff { file, prune, admin } => apply(&file, true, prune, &admin, true).await,
        ApplyCommand::Export { output, admin } => export(output.as_deref(), &admin).await,
    }
}

async fn apply(
    file: &Path,
    dry_run: bool,
    prune: bool,
    admin: &AdminUrl,
    is_diff: bool,
) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let (document, lines) = match yaml::parse(&text) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("{}:line {}: {}", file.display(), e.line, e.message);
            return Ok(ExitCode::FAILURE);
        }
    };
    let client = AdminClient::from_env(admin)?;
    let path = format!("/admin/v1/apply?dry_run={dry_run}&prune={prune}");
    let outcome: ApplyOutcome = match client.post(&path, &document).await {
        Ok(outcome) => outcome,
        Err(AdminError::Problem {
            code,
            detail,
            errors,
            ..
        }) => {
            for e in &errors {
                let (line, field) = locate(&e.path, &lines);
                eprintln!("{}:line {line}: {field}: {}", file.display(), e.message);
            }
            let detail = if detail.is_empty() { &code } else { &detail };
            eprintln!("error: {detail} ({code}); nothing was changed");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    for change in &outcome.changes {
        println!("{change}");
    }
    let n = outcome.changes.len();
    match (n, dry_run) {
        (0, _) => eprintln!("no changes: the catalog matches {}", file.display()),
        (_, true) => eprintln!("{n} change(s) would be made (dry run, nothing written)"),
        (_, false) => eprintln!("{n} change(s) applied"),
    }
    Ok(if is_diff && n > 0 {
        ExitCode::from(DIFFERS)
    } else {
        ExitCode::SUCCESS
    })
}

async fn export(output: Option<&Path>, admin: &AdminUrl) -> anyhow::Result<ExitCode> {
    let client = AdminClient::from_env(admin)?;
    let document: CatalogDocument = client.get("/admin/v1/export").await?;
    let mut text = String::from(
        "# Portcullis catalog (portcullis export). Apply with: portcullis apply -f FILE\n\
         # Credentials are never exported: issue them with `portcullis credentials create`.\n",
    );
    text.push_str(&serde_saphyr::to_string(&document).context("writing YAML")?);
    match output {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The source line and the dotted path (`products[2].paths[0]`) of a JSON Pointer into the
/// file; a pointer to something absent (a required field) takes its nearest parent's line.
fn locate(pointer: &str, lines: &LineMap) -> (usize, String) {
    let mut at = pointer;
    let line = loop {
        if let Some(line) = lines.get(at) {
            break *line;
        }
        match at.rfind('/') {
            Some(i) => at = &at[..i],
            None => break 1,
        }
    };
    (line, dotted(pointer))
}

/// `/developers/0/attributes/a b` → `developers[0].attributes["a b"]`.
fn dotted(pointer: &str) -> String {
    if pointer.is_empty() {
        return "(document)".to_owned();
    }
    let mut out = String::new();
    for raw in pointer.split('/').skip(1) {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else if !seg.is_empty()
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        } else {
            out.push_str(&format!("[{seg:?}]"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_lines_and_dotted_paths() {
        let (_, lines) = yaml::parse(
            "products:\n  - name: a\n  - name: b\n    paths:\n      - nope\n    attributes:\n      a/b: x\n",
        )
        .unwrap();
        assert_eq!(
            locate("/products/1/paths/0", &lines),
            (5, "products[1].paths[0]".to_owned())
        );
        assert_eq!(
            locate("/products/1/attributes/a~1b", &lines),
            (7, "products[1].attributes[\"a/b\"]".to_owned())
        );
        // A missing required field points at its parent's line.
        assert_eq!(
            locate("/products/0/environments", &lines),
            (2, "products[0].environments".to_owned())
        );
        assert_eq!(locate("", &lines), (1, "(document)".to_owned()));
    }
}
