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

/// Runs `attest ARGS` like [`run`], writing `stdin` to its standard input (e.g. a password
/// for `--password-stdin`).
#[must_use]
pub fn run_with_stdin(bin: &Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    use std::io::Write as _;
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.as_bytes());
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait for {}: {e}", bin.display()))
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

/// A running `attest serve` process.
#[derive(Debug)]
pub struct ServerProcess {
    /// The child process.
    pub child: std::process::Child,
    /// `https://localhost:PORT` as printed by the server.
    pub base: String,
    /// Where its standard error (the JSON log) goes.
    pub log: std::path::PathBuf,
}

/// Starts `attest serve --listen 127.0.0.1:0 ARGS…` and waits for it to print its URL.
#[must_use]
pub fn spawn_serve(bin: &Path, args: &[&str], env: &[(&str, &str)], log: &Path) -> ServerProcess {
    use std::io::BufRead as _;
    let log_file = std::fs::File::create(log).unwrap_or_else(|e| panic!("log file: {e}"));
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn attest: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut reader = std::io::BufReader::new(stdout);
    let mut line = String::new();
    let _ = reader.read_line(&mut line);
    // Keep reading (and discarding) so the server never writes into a closed pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while reader.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    let base = line
        .trim()
        .strip_prefix("Attest is listening on ")
        .map(|u| u.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| {
            let _ = child.kill();
            panic!(
                "attest serve did not start: {line:?}\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        });
    ServerProcess {
        child,
        base,
        log: log.to_path_buf(),
    }
}

impl ServerProcess {
    /// Sends SIGTERM and waits; returns the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child
            .wait()
            .unwrap_or_else(|e| panic!("wait for attest: {e}"))
    }

    /// Sends a signal by name (e.g. `HUP`).
    pub fn signal(&self, name: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
