//! A tenant's own or licensed framework as YAML: the same rows as the CSV format, as a list
//! under `requirements`, with the framework's title and version optionally in the file. Each
//! entry needs `id` and `title`; `text`, `parent` (the id of the entry it sits under),
//! `guidance` and `label` are optional; any other key is refused. Errors name the line.
//!
//! ```yaml
//! title: Our ISMS
//! version: "2026"
//! requirements:
//!   - id: A.5
//!     title: Organizational controls
//!   - id: A.5.1
//!     title: Policies for information security
//!     text: Policies shall be defined, approved and published.
//!     parent: A.5
//! ```
//!
//! The parser is serde-saphyr: it builds no untyped tree, instantiates nothing from tags, and
//! runs under a budget (events, nesting, anchors and alias replays, scalar bytes), so an alias
//! bomb or a deeply nested file is refused early instead of exhausting memory.

use serde::Deserialize;
use serde_saphyr::{DuplicateKeyPolicy, Spanned};

use super::Catalog;
use super::rows::Row;
use super::tree::{CatalogError, MAX_DEPTH, MAX_NODES};

/// The largest YAML file accepted, bytes.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;

/// The most alias (`*name`) uses a file may hold; a framework has little reason for any.
const MAX_ALIASES: usize = 100;

/// The most parser events replayed through aliases, in all.
const MAX_REPLAYED_EVENTS: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    version: Option<String>,
    requirements: Vec<Spanned<Entry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    guidance: String,
    #[serde(default)]
    label: String,
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_reader_input_bytes: Some(MAX_BYTES),
            max_aliases: MAX_ALIASES,
            max_anchors: MAX_ALIASES,
            max_depth: MAX_DEPTH,
            max_documents: 1,
            max_nodes: MAX_NODES * 10,
            max_events: MAX_NODES * 30,
            max_total_scalar_bytes: MAX_BYTES,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_REPLAYED_EVENTS,
            max_replay_stack_depth: 4,
        },
        duplicate_keys: DuplicateKeyPolicy::Error,
        strict_booleans: true,
    }
}

fn yaml_error(line: usize, message: String) -> CatalogError {
    CatalogError::Yaml { line, message }
}

/// Reads a YAML framework from the file `file_name`. `title` and `version` are the ones the
/// user gives; where they are empty, the file's own are used (a title is required; the
/// version defaults to 1).
///
/// # Errors
/// A [`CatalogError`] naming the line: YAML that does not parse or breaks the budget, a key
/// that is not part of the format, a value of the wrong type, an entry without id or title, a
/// parent that names no entry, parents that form a loop, a duplicate id.
pub fn import(
    bytes: &[u8],
    title: &str,
    version: &str,
    file_name: &str,
) -> Result<Catalog, CatalogError> {
    let text = super::rows::decode(bytes, MAX_BYTES, &yaml_error)?;
    let file: File = serde_saphyr::from_str_with_options(text, options()).map_err(|e| {
        let line = e
            .location()
            .map_or(0, |l| usize::try_from(l.line()).unwrap_or(0));
        yaml_error(line, describe(&e))
    })?;
    if file.requirements.len() > MAX_NODES {
        return Err(CatalogError::TooLarge(format!(
            "more than {MAX_NODES} requirements"
        )));
    }
    let title = Some(title.trim())
        .filter(|t| !t.is_empty())
        .or_else(|| file.title.as_deref().map(str::trim))
        .unwrap_or_default()
        .to_owned();
    if title.is_empty() {
        return Err(CatalogError::Invalid {
            at: "the framework".to_owned(),
            message: "needs a title: give one, or put `title:` in the file".to_owned(),
        });
    }
    let version = Some(version.trim())
        .filter(|v| !v.is_empty())
        .or_else(|| file.version.as_deref().map(str::trim))
        .filter(|v| !v.is_empty())
        .unwrap_or("1")
        .to_owned();
    let mut rows = Vec::with_capacity(file.requirements.len());
    for entry in file.requirements {
        let line = usize::try_from(entry.referenced.line()).unwrap_or(0);
        let e = entry.value;
        let id = e.id.trim().to_owned();
        if id.is_empty() {
            return Err(yaml_error(line, "has no id".to_owned()));
        }
        let label = Some(e.label.trim())
            .filter(|l| !l.is_empty())
            .map_or_else(|| id.clone(), str::to_owned);
        rows.push(Row {
            line,
            id,
            title: e.title.trim().to_owned(),
            text: e.text.trim().to_owned(),
            parent: e
                .parent
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty()),
            guidance: e.guidance.trim().to_owned(),
            label,
        });
    }
    super::rows::build(
        rows,
        &title,
        &version,
        serde_json::json!({ "format": "yaml", "file": file_name }),
        &yaml_error,
    )
}

/// The parser's message without its location (the error carries the line) and without the
/// snippet of the file it may quote.
fn describe(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let first = full.lines().next().unwrap_or_default().trim();
    // "error: line 3 column 5: …" and similar prefixes: keep what follows the last location.
    let message = first
        .rsplit_once("column ")
        .and_then(|(_, rest)| rest.split_once(": ").map(|(_, m)| m))
        .unwrap_or(first);
    // The parser's advice is for programmers, not for the person uploading.
    let message = message
        .split_once(", set DuplicateKeyPolicy")
        .map_or(message, |(m, _)| m);
    let message: String = message.chars().take(300).collect();
    if message.is_empty() {
        "is not valid YAML for a framework".to_owned()
    } else {
        message
    }
}
