//! Embeds the SQL migrations of `migrations/sqlite` and `migrations/postgres` into the binary
//! and fails the build when the two folders do not hold the same migration names.
#![allow(clippy::panic)] // a build script fails the build by panicking

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn list(dir: &Path) -> Vec<(i64, String, PathBuf)> {
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let Some(stem) = name.strip_suffix(".sql") else {
            continue;
        };
        let (version, description) = stem
            .split_once('_')
            .unwrap_or_else(|| panic!("migration {name} must be named NNNN_description.sql"));
        let version: i64 = version
            .parse()
            .unwrap_or_else(|_| panic!("migration {name} must start with a number"));
        out.push((version, description.to_owned(), path));
    }
    out.sort();
    out
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("../../migrations");
    println!("cargo:rerun-if-changed={}", root.display());
    let sqlite = list(&root.join("sqlite"));
    let postgres = list(&root.join("postgres"));
    for dir in ["sqlite", "postgres"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let names = |l: &[(i64, String, PathBuf)]| {
        l.iter()
            .map(|(v, d, _)| (*v, d.clone()))
            .collect::<Vec<_>>()
    };
    assert!(
        names(&sqlite) == names(&postgres),
        "migrations/sqlite and migrations/postgres must hold the same migration names:\n sqlite:   {:?}\n postgres: {:?}",
        names(&sqlite),
        names(&postgres)
    );
    let mut code = String::new();
    for (label, entries) in [("SQLITE", &sqlite), ("POSTGRES", &postgres)] {
        let _ = writeln!(code, "pub(crate) const {label}: &[(i64, &str, &str)] = &[");
        for (version, description, path) in entries {
            let _ = writeln!(
                code,
                "    ({version}, {description:?}, include_str!({:?})),",
                path.canonicalize()
                    .unwrap_or_else(|_| path.clone())
                    .display()
                    .to_string()
            );
        }
        let _ = writeln!(code, "];");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("migrations.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
