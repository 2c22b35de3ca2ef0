//! Running the `attest` executable itself, for exit codes, standard streams and logs.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `attest ARGS` with only the given environment (plus `PATH`) and returns its output.
#[must_use]
pub fn run(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()))
}

/// Standard output and error together, as text.
#[must_use]
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
