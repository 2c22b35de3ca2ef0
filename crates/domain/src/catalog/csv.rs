//! A tenant's own or licensed framework as CSV: one row per requirement, a header naming the
//! columns. Required: `id`, `title`; optional: `text`, `parent` (the id of the row it sits
//! under), `guidance`, `label`. A row without text that other rows sit under is a section (a
//! group); every other row is a requirement. Rows may name a parent that comes later; the
//! tree is rebuilt parents first, keeping the file's order. Errors name the line.
//!
//! ```csv
//! id,title,text,parent
//! A.5,Organizational controls,,
//! A.5.1,Policies for information security,"Policies shall be defined, approved…",A.5
//! ```

use std::collections::HashMap;

use super::rows::Row;
use super::tree::{Catalog, CatalogError};

/// The largest CSV file accepted, bytes.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;

const COLUMNS: [&str; 6] = ["id", "title", "text", "parent", "guidance", "label"];

/// Reads a CSV framework named `title`, version `version`, from the file `file_name`.
///
/// # Errors
/// A [`CatalogError`] naming the line: a missing or unknown column, a row with the wrong
/// number of fields, a parent that names no row, parents that form a loop, a duplicate id.
pub fn import(
    bytes: &[u8],
    title: &str,
    version: &str,
    file_name: &str,
) -> Result<Catalog, CatalogError> {
    let text = super::rows::decode(bytes, MAX_BYTES, &|line, message| CatalogError::Csv {
        line,
        message,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| CatalogError::Csv {
            line: 1,
            message: e.to_string(),
        })?
        .clone();
    let mut index: HashMap<&'static str, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim().to_ascii_lowercase();
        let Some(known) = COLUMNS.iter().find(|c| **c == h) else {
            return Err(CatalogError::Csv {
                line: 1,
                message: format!(
                    "unknown column {h:?}; the columns are {}",
                    COLUMNS.join(", ")
                ),
            });
        };
        if index.insert(known, i).is_some() {
            return Err(CatalogError::Csv {
                line: 1,
                message: format!("the column {known} appears twice"),
            });
        }
    }
    for required in ["id", "title"] {
        if !index.contains_key(required) {
            return Err(CatalogError::Csv {
                line: 1,
                message: format!("the column {required} is missing"),
            });
        }
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| CatalogError::Csv {
            line: e
                .position()
                .map_or(0, |p| usize::try_from(p.line()).unwrap_or(0)),
            message: e.to_string(),
        })?;
        let line = record
            .position()
            .map_or(0, |p| usize::try_from(p.line()).unwrap_or(0));
        let get = |c: &str| {
            index
                .get(c)
                .and_then(|i| record.get(*i))
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let id = get("id");
        if id.is_empty() {
            return Err(CatalogError::Csv {
                line,
                message: "has no id".to_owned(),
            });
        }
        let parent = Some(get("parent")).filter(|p| !p.is_empty());
        rows.push(Row {
            line,
            label: Some(get("label"))
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| id.clone()),
            id,
            title: get("title"),
            text: get("text"),
            parent,
            guidance: get("guidance"),
        });
        if rows.len() > super::tree::MAX_NODES {
            return Err(CatalogError::TooLarge(format!(
                "more than {} rows",
                super::tree::MAX_NODES
            )));
        }
    }
    super::rows::build(
        rows,
        title,
        version,
        serde_json::json!({ "format": "csv", "file": file_name }),
        &|line, message| CatalogError::Csv { line, message },
    )
}
