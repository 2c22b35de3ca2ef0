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

use super::tree::{Catalog, CatalogError, Node, NodeKind};

/// The largest CSV file accepted, bytes.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;

const COLUMNS: [&str; 6] = ["id", "title", "text", "parent", "guidance", "label"];

struct Row {
    line: usize,
    id: String,
    title: String,
    text: String,
    parent: Option<String>,
    guidance: String,
    label: String,
}

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
    if bytes.len() > MAX_BYTES {
        return Err(CatalogError::TooLarge(format!(
            "the file is larger than {} MB",
            MAX_BYTES / (1024 * 1024)
        )));
    }
    let text =
        std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)).map_err(|e| {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            CatalogError::Csv {
                line,
                message: "is not UTF-8 text".to_owned(),
            }
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
    let mut by_id: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        if by_id.insert(r.id.as_str(), i).is_some() {
            return Err(CatalogError::Csv {
                line: r.line,
                message: format!("the id {} is used twice", r.id),
            });
        }
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); rows.len()];
    let mut roots = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        match &r.parent {
            None => roots.push(i),
            Some(p) if *p == r.id => {
                return Err(CatalogError::Csv {
                    line: r.line,
                    message: format!("{} names itself as its parent", r.id),
                });
            }
            Some(p) => match by_id.get(p.as_str()) {
                Some(&pi) => children[pi].push(i),
                None => {
                    return Err(CatalogError::Csv {
                        line: r.line,
                        message: format!("the parent {p} is not an id of this file"),
                    });
                }
            },
        }
    }
    // Parents first, in file order; rows never reached from a root sit in a loop.
    let mut order = Vec::with_capacity(rows.len());
    let mut new_index = vec![usize::MAX; rows.len()];
    let mut stack: Vec<(usize, Option<usize>)> = roots.iter().rev().map(|r| (*r, None)).collect();
    let mut nodes = Vec::with_capacity(rows.len());
    while let Some((i, parent)) = stack.pop() {
        new_index[i] = nodes.len();
        order.push(i);
        let r = &rows[i];
        let kind = if r.text.is_empty() && !children[i].is_empty() {
            NodeKind::Group
        } else {
            NodeKind::Requirement
        };
        nodes.push(Node {
            id: r.id.clone(),
            parent,
            kind,
            label: r.label.clone(),
            title: r.title.clone(),
            statement: r.text.clone(),
            guidance: r.guidance.clone(),
        });
        for &c in children[i].iter().rev() {
            stack.push((c, Some(new_index[i])));
        }
    }
    if let Some(r) = rows
        .iter()
        .enumerate()
        .find(|(i, _)| new_index[*i] == usize::MAX)
        .map(|(_, r)| r)
    {
        return Err(CatalogError::Csv {
            line: r.line,
            message: format!("{} is part of a loop of parents", r.id),
        });
    }
    for n in &nodes {
        if n.title.is_empty() {
            let line = rows[by_id[n.id.as_str()]].line;
            return Err(CatalogError::Csv {
                line,
                message: format!("{} has no title", n.id),
            });
        }
    }
    let catalog = Catalog {
        title: title.trim().to_owned(),
        version: version.trim().to_owned(),
        oscal_uuid: None,
        provenance: serde_json::json!({ "format": "csv", "file": file_name }),
        nodes,
    };
    catalog.validate().map_err(|e| match e {
        CatalogError::Invalid { at, message } => {
            let line = at
                .split_whitespace()
                .nth(1)
                .map(|id| id.trim_end_matches(','))
                .and_then(|id| by_id.get(id))
                .map_or(0, |i| rows[*i].line);
            CatalogError::Csv {
                line,
                message: format!("{at}: {message}"),
            }
        }
        e => e,
    })?;
    Ok(catalog)
}
