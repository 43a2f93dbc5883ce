//! Finds (or installs) a Python with jwcrypto and PyJWT for the interop tests, and runs
//! `jwt_interop.py`.
//!
//! The interpreter is the venv at `$PORTCULLIS_PYTHON_VENV` (default
//! `/var/tmp/portcullis-pyenv`), created with `pip install jwcrypto pyjwt` if the packages are
//! missing (tests run as parallel processes, so a lock directory serialises the install). If
//! that fails the test fails when `PORTCULLIS_REQUIRE_INTEROP=1` (CI) and is skipped loudly
//! otherwise.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

const PACKAGES: &[&str] = &["jwcrypto", "pyjwt"];

/// The script next to this file.
pub(crate) fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/jwt_interop.py")
}

fn venv() -> PathBuf {
    std::env::var_os("PORTCULLIS_PYTHON_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/portcullis-pyenv"))
}

async fn has_packages(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import jwcrypto, jwt, cryptography"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

async fn run_ok(program: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .await
        .map_err(|e| format!("{}: {e}", program.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {args:?} failed: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

async fn install(venv: &Path) -> Result<(), String> {
    let python = venv.join("bin/python3");
    if !python.exists() {
        run_ok(
            Path::new("python3"),
            &["-m", "venv", &venv.to_string_lossy()],
        )
        .await?;
    }
    let mut args = vec![
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ];
    args.extend(PACKAGES);
    run_ok(&python, &args).await
}

/// Holds a lock directory while installing; stale locks (a killed test) expire.
async fn with_install_lock(venv: &Path) -> Result<(), String> {
    let lock = venv.with_extension("lock");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        match std::fs::create_dir(&lock) {
            Ok(()) => break,
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(format!("cannot create {}: {e}", lock.display()));
            }
            Err(_) if Instant::now() > deadline => return Err("install lock timeout".into()),
            Err(_) => {
                let stale = std::fs::metadata(&lock)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .is_some_and(|age| age > Duration::from_secs(600));
                if stale {
                    let _ = std::fs::remove_dir(&lock);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let python = venv.join("bin/python3");
    let result = if has_packages(&python).await {
        Ok(())
    } else {
        install(venv).await
    };
    let _ = std::fs::remove_dir(&lock);
    result
}

/// A Python with the interop packages, or `None` (after saying so loudly) when unavailable
/// outside CI. Panics when unavailable and `PORTCULLIS_REQUIRE_INTEROP=1`.
pub(crate) async fn python() -> Option<PathBuf> {
    let venv = venv();
    let python = venv.join("bin/python3");
    if has_packages(&python).await {
        return Some(python);
    }
    let why = match with_install_lock(&venv).await {
        Ok(()) if has_packages(&python).await => return Some(python),
        Ok(()) => "packages installed but not importable".to_owned(),
        Err(e) => e,
    };
    if std::env::var("PORTCULLIS_REQUIRE_INTEROP").as_deref() == Ok("1") {
        panic!("interop test needs python3 with {PACKAGES:?}: {why}");
    }
    eprintln!(
        "\n*** SKIPPED: JWT interop test needs python3 with {PACKAGES:?} ({why}); \
         set PORTCULLIS_REQUIRE_INTEROP=1 to make this a failure ***\n"
    );
    None
}

/// Runs the script; returns (success, stdout, stderr).
pub(crate) async fn run(
    python: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, String, String) {
    let mut child = Command::new(python)
        .arg(script())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("python finished in time")
        .expect("python output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
