//! What the tabular formats (CSV, YAML) share: a flat list of rows, each naming its parent,
//! rebuilt into a tree parents first in the file's order. Errors name the row's line through
//! the format's own error.

use std::collections::HashMap;

use super::tree::{Catalog, CatalogError, Node, NodeKind};

/// One row of a tabular framework, as read.
pub(super) struct Row {
    /// 1-based line where the row starts.
    pub line: usize,
    pub id: String,
    pub title: String,
    pub text: String,
    /// The id of the row it sits under.
    pub parent: Option<String>,
    pub guidance: String,
    pub label: String,
}

/// The file as text: at most `max` bytes of UTF-8, a byte order mark dropped.
///
/// # Errors
/// [`CatalogError::TooLarge`]; `fail(line, …)` at the line of the first byte that is not
/// UTF-8.
pub(super) fn decode<'a>(
    bytes: &'a [u8],
    max: usize,
    fail: &dyn Fn(usize, String) -> CatalogError,
) -> Result<&'a str, CatalogError> {
    if bytes.len() > max {
        return Err(CatalogError::TooLarge(format!(
            "the file is larger than {} MB",
            max / (1024 * 1024)
        )));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        fail(line, "is not UTF-8 text".to_owned())
    })
}

/// Builds the tree: unique ids, parents that exist and form no loop, a title on every row.
/// A row without text that other rows sit under is a section (a group).
///
/// # Errors
/// `fail(line, message)` for the first row that is wrong; the tree's own checks, mapped to
/// the line of the row they name.
pub(super) fn build(
    rows: Vec<Row>,
    title: &str,
    version: &str,
    provenance: serde_json::Value,
    fail: &dyn Fn(usize, String) -> CatalogError,
) -> Result<Catalog, CatalogError> {
    let mut by_id: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        if by_id.insert(r.id.as_str(), i).is_some() {
            return Err(fail(r.line, format!("the id {} is used twice", r.id)));
        }
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); rows.len()];
    let mut roots = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        match &r.parent {
            None => roots.push(i),
            Some(p) if *p == r.id => {
                return Err(fail(r.line, format!("{} names itself as its parent", r.id)));
            }
            Some(p) => match by_id.get(p.as_str()) {
                Some(&pi) => children[pi].push(i),
                None => {
                    return Err(fail(
                        r.line,
                        format!("the parent {p} is not an id of this file"),
                    ));
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
        return Err(fail(
            r.line,
            format!("{} is part of a loop of parents", r.id),
        ));
    }
    for n in &nodes {
        if n.title.is_empty() {
            let line = rows[by_id[n.id.as_str()]].line;
            return Err(fail(line, format!("{} has no title", n.id)));
        }
    }
    let catalog = Catalog {
        title: title.trim().to_owned(),
        version: version.trim().to_owned(),
        oscal_uuid: None,
        provenance,
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
            fail(line, format!("{at}: {message}"))
        }
        e => e,
    })?;
    Ok(catalog)
}
