//! The production self-check (SEC-82), in the spirit of Django's `check --deploy`: in
//! `mode = "production"` the server refuses to start while any of these problems exists, and
//! names each one.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::model::{Config, Mode};

/// One unsafe production setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductionProblem {
    /// A stable name, e.g. `tls.self_signed`.
    pub check: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

fn problem(check: &'static str, message: impl Into<String>) -> ProductionProblem {
    ProductionProblem {
        check,
        message: message.into(),
    }
}

/// True when `path` lies inside `dir` (compared after resolving both where possible).
fn is_inside(path: &Path, dir: &Path) -> bool {
    let resolve = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let dir = resolve(dir);
    let path = path
        .parent()
        .map(resolve)
        .map(|parent| parent.join(path.file_name().unwrap_or_default()))
        .unwrap_or_else(|| path.to_path_buf());
    path.starts_with(dir)
}

fn exposed(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

/// Every reason the configuration is unsafe for production. Empty in development mode.
/// `secrets_in_file` comes from [`Config::secrets_in_file`].
#[must_use]
pub fn production_problems(cfg: &Config, secrets_in_file: &[&str]) -> Vec<ProductionProblem> {
    if cfg.mode != Mode::Production {
        return Vec::new();
    }
    let mut out = Vec::new();
    if cfg.tls_paths().2 {
        out.push(problem(
            "tls.self_signed",
            "no certificate is configured, so a self-signed one would be served; set tls.cert_file and tls.key_file to a CA-issued certificate",
        ));
    }
    if cfg.server.public_url.is_none() {
        out.push(problem(
            "server.public_url",
            "set server.public_url to the https:// origin users reach; it is the only origin accepted for state-changing requests",
        ));
    }
    for (what, inline, path) in [
        ("keyring", cfg.keys.keyring.is_some(), cfg.keyring_path()),
        ("pepper", cfg.keys.pepper.is_some(), cfg.pepper_path()),
    ] {
        if inline {
            continue;
        }
        if is_inside(&path, &cfg.data_dir) {
            out.push(problem(
                if what == "keyring" { "keys.keyring_location" } else { "keys.pepper_location" },
                format!(
                    "the {what} file {} is inside the data directory beside the database; keep it on another disk or in a secret store (keys.{what}_file or ATTEST_KEYS__{})",
                    path.display(),
                    what.to_ascii_uppercase()
                ),
            ));
        }
        if exposed(&path) {
            out.push(problem(
                if what == "keyring" {
                    "keys.keyring_permissions"
                } else {
                    "keys.pepper_permissions"
                },
                format!(
                    "the {what} file {} can be read by other users; chmod 600 it",
                    path.display()
                ),
            ));
        }
    }
    if cfg.tls.key_file.as_deref().is_some_and(exposed) {
        out.push(problem(
            "tls.key_permissions",
            "the TLS private key can be read by other users; chmod 600 it",
        ));
    }
    if cfg.mail.smtp_host.is_some() && cfg.mail.security == crate::model::MailSecurity::None {
        out.push(problem(
            "mail.security_none",
            "mail.security = \"none\" sends one-time links unencrypted; use starttls or tls",
        ));
    }
    if cfg.storage.endpoint_is_http() {
        out.push(problem(
            "storage.http",
            "the object-store endpoint is plain http://; evidence would travel unprotected (SEC-60); use https://",
        ));
    }
    let level = cfg.log.level.to_ascii_lowercase();
    if level.contains("debug") || level.contains("trace") {
        out.push(problem(
            "log.debug",
            "debug or trace logging is on; production logs stay at info so that no internals are recorded",
        ));
    }
    for key in secrets_in_file {
        out.push(problem(
            "config.secret_in_file",
            format!(
                "{key} holds a secret in clear in the configuration file; give it through a file or an environment variable instead"
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Overrides, no_env};

    /// SEC-82: production refuses a self-signed certificate and keys beside the database.
    #[test]
    fn sec_82_production_names_each_unsafe_setting() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let cfg = Config::load(
            None,
            vec![
                ("ATTEST_MODE".to_owned(), "production".to_owned()),
                ("ATTEST_LOG__LEVEL".to_owned(), "debug".to_owned()),
            ],
            &Overrides {
                data_dir: Some(dir.path().to_path_buf()),
                listen: None,
            },
        )?;
        let checks: Vec<_> = production_problems(&cfg, &["database.url"])
            .into_iter()
            .map(|p| p.check)
            .collect();
        for expected in [
            "tls.self_signed",
            "server.public_url",
            "keys.keyring_location",
            "keys.pepper_location",
            "log.debug",
            "config.secret_in_file",
        ] {
            assert!(
                checks.contains(&expected),
                "{expected} missing from {checks:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn development_mode_has_no_problems() -> Result<(), Box<dyn std::error::Error>> {
        let cfg = Config::load(None, no_env(), &Overrides::default())?;
        assert!(production_problems(&cfg, &[]).is_empty());
        Ok(())
    }
}
