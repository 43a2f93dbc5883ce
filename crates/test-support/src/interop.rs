//! Runs the Python interop scripts (`tests/interop/*.py`: authlib, PyJWT, jwcrypto — independent
//! implementations) from the venv at `$PORTCULLIS_PYTHON_VENV` (default
//! `/var/tmp/portcullis-pyenv`, installed by `.ci/run`).

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The venv's interpreter if it can import `modules` (e.g. `"authlib, requests"`). Otherwise
/// `None` after saying loudly that the test is skipped — or a panic when
/// `PORTCULLIS_REQUIRE_INTEROP=1` (CI), where a skip would hide a missing check.
pub async fn interop_python(modules: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("PORTCULLIS_PYTHON_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/var/tmp/portcullis-pyenv".into());
    let python = venv.join("bin/python3");
    let ready = tokio::process::Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .status()
        .await
        .is_ok_and(|s| s.success());
    if ready {
        return Some(python);
    }
    assert!(
        std::env::var("PORTCULLIS_REQUIRE_INTEROP").as_deref() != Ok("1"),
        "the interop test needs {} with {modules} (.ci/run installs them)",
        python.display()
    );
    eprintln!(
        "\n*** SKIPPED: no Python venv with {modules} at {} ***\n",
        venv.display()
    );
    None
}

/// Runs `tests/interop/<script>` with `env`, within 2 minutes; asserts that it succeeded and
/// printed `INTEROP OK` (showing its output otherwise) and returns its standard output.
pub async fn run_interop_script(python: &Path, script: &str, env: &[(&str, &str)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script);
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(python)
            .arg(path)
            .envs(env.iter().copied())
            .output(),
    )
    .await
    .expect("python finished")
    .expect("python ran");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("INTEROP OK"), "{stdout}");
    stdout
}
