//! A framework's requirements as one tree, whatever format it came in: nodes in document
//! order, each naming its parent. The importers build it, [`Catalog::validate`] checks it
//! (unique ids, a real tree, bounded sizes, text without control characters), the store keeps
//! it, and the exporter writes it back.

use std::collections::HashMap;

/// The most requirements one framework may hold.
pub const MAX_NODES: usize = 50_000;
/// The deepest nesting accepted.
pub const MAX_DEPTH: usize = 12;
/// The longest id, in characters.
pub const MAX_ID: usize = 100;
/// The longest title, in characters.
pub const MAX_TITLE: usize = 500;
/// The longest statement or guidance, in characters.
pub const MAX_TEXT: usize = 100_000;

/// A node as comparable facts: id, parent id, kind, label, title, statement, guidance.
pub type Row = (
    String,
    Option<String>,
    NodeKind,
    String,
    String,
    String,
    String,
);

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// A family or section: groups requirements, is not one itself.
    Group,
    /// A control (OSCAL), the unit organisations implement.
    Control,
    /// A control enhancement (a control inside a control).
    Enhancement,
    /// A requirement of a tenant's own or licensed framework (CSV).
    Requirement,
}

impl NodeKind {
    /// Stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Group => "group",
            Self::Control => "control",
            Self::Enhancement => "enhancement",
            Self::Requirement => "requirement",
        }
    }

    /// From the stored name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "group" => Self::Group,
            "control" => Self::Control,
            "enhancement" => Self::Enhancement,
            "requirement" => Self::Requirement,
            _ => return None,
        })
    }

    /// Whether controls can be mapped to it (groups only organise).
    #[must_use]
    pub const fn is_requirement(self) -> bool {
        !matches!(self, Self::Group)
    }
}

/// One node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The id in the source (`ac-2.1`, `A.5.1`); unique in the framework.
    pub id: String,
    /// The index of the parent in [`Catalog::nodes`]; parents come before children.
    pub parent: Option<usize>,
    /// What it is.
    pub kind: NodeKind,
    /// The label people use (`AC-2(1)`); the id when the source has none.
    pub label: String,
    /// Title.
    pub title: String,
    /// The requirement's text (parameters shown as `[Assignment: …]`).
    pub statement: String,
    /// Supplemental guidance.
    pub guidance: String,
}

/// A framework as imported.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    /// Its title.
    pub title: String,
    /// Its version as the source states it.
    pub version: String,
    /// The OSCAL catalog's UUID, when it came from OSCAL.
    pub oscal_uuid: Option<String>,
    /// Where it came from: the source's metadata (OSCAL `metadata` without its bulky parts,
    /// or the file name), kept for provenance and licence.
    pub provenance: serde_json::Value,
    /// The nodes, parents before children, in document order.
    pub nodes: Vec<Node>,
}

/// Why a catalog was refused. Every variant says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The file is not well-formed JSON, or a field has the wrong type.
    #[error("line {line}, column {column}: {message}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A CSV row is wrong.
    #[error("line {line}: {message}")]
    Csv {
        /// 1-based line (the header is line 1).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A YAML file, or one of its entries, is wrong.
    #[error("line {line}: {message}")]
    Yaml {
        /// 1-based line (0 when the parser could not tell).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A node is wrong (a field missing, too long, or with control characters).
    #[error("{at}: {message}")]
    Invalid {
        /// Which node and field, e.g. `control ac-2, title`.
        at: String,
        /// What is wrong.
        message: String,
    },
    /// Two nodes have one id.
    #[error("the id {0} is used twice; ids must be unique in a framework")]
    DuplicateId(String),
    /// Parents that form a loop, or name nothing.
    #[error("{0}")]
    NotATree(String),
    /// Over a limit.
    #[error("{0}")]
    TooLarge(String),
}

fn clean(at: impl Fn() -> String, field: &str, text: &str, max: usize) -> Result<(), CatalogError> {
    if text.chars().count() > max {
        return Err(CatalogError::Invalid {
            at: format!("{}, {field}", at()),
            message: format!("longer than {max} characters"),
        });
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    {
        return Err(CatalogError::Invalid {
            at: format!("{}, {field}", at()),
            message: "contains control characters".to_owned(),
        });
    }
    Ok(())
}

impl Catalog {
    /// Checks the tree: at least one node, at most [`MAX_NODES`], unique non-empty ids, every
    /// parent earlier in the list (so there is no loop), at most [`MAX_DEPTH`] levels, titles
    /// present and text within bounds.
    ///
    /// # Errors
    /// A [`CatalogError`] naming the node.
    pub fn validate(&self) -> Result<(), CatalogError> {
        if self.title.trim().is_empty() {
            return Err(CatalogError::Invalid {
                at: "the catalog".to_owned(),
                message: "has no title".to_owned(),
            });
        }
        clean(|| "the catalog".to_owned(), "title", &self.title, MAX_TITLE)?;
        clean(
            || "the catalog".to_owned(),
            "version",
            &self.version,
            MAX_TITLE,
        )?;
        if self.nodes.is_empty() {
            return Err(CatalogError::Invalid {
                at: "the catalog".to_owned(),
                message: "holds no requirements".to_owned(),
            });
        }
        if self.nodes.len() > MAX_NODES {
            return Err(CatalogError::TooLarge(format!(
                "the catalog holds {} entries; at most {MAX_NODES} are accepted",
                self.nodes.len()
            )));
        }
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(self.nodes.len());
        let mut depth = vec![0usize; self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            let at = || format!("{} {}", n.kind.as_str(), n.id);
            if n.id.trim().is_empty() || n.id.trim() != n.id {
                return Err(CatalogError::Invalid {
                    at: format!("entry {}", i + 1),
                    message: "has an empty id, or one with spaces around it".to_owned(),
                });
            }
            clean(at, "id", &n.id, MAX_ID)?;
            if seen.insert(n.id.as_str(), i).is_some() {
                return Err(CatalogError::DuplicateId(n.id.clone()));
            }
            if n.title.trim().is_empty() {
                return Err(CatalogError::Invalid {
                    at: at(),
                    message: "has no title".to_owned(),
                });
            }
            clean(at, "title", &n.title, MAX_TITLE)?;
            clean(at, "label", &n.label, MAX_ID)?;
            clean(at, "statement", &n.statement, MAX_TEXT)?;
            clean(at, "guidance", &n.guidance, MAX_TEXT)?;
            if let Some(p) = n.parent {
                if p >= i {
                    return Err(CatalogError::NotATree(format!(
                        "{} {} comes before its parent",
                        n.kind.as_str(),
                        n.id
                    )));
                }
                depth[i] = depth[p] + 1;
                if depth[i] >= MAX_DEPTH {
                    return Err(CatalogError::TooLarge(format!(
                        "{} {} is nested more than {MAX_DEPTH} levels deep",
                        n.kind.as_str(),
                        n.id
                    )));
                }
            }
        }
        Ok(())
    }

    /// How many nodes of each kind.
    #[must_use]
    pub fn count(&self, kind: NodeKind) -> usize {
        self.nodes.iter().filter(|n| n.kind == kind).count()
    }

    /// The tree as comparable rows: `(id, parent id, kind, label, title, statement, guidance)`.
    #[must_use]
    pub fn rows(&self) -> Vec<Row> {
        self.nodes
            .iter()
            .map(|n| {
                (
                    n.id.clone(),
                    n.parent.map(|p| self.nodes[p].id.clone()),
                    n.kind,
                    n.label.clone(),
                    n.title.clone(),
                    n.statement.clone(),
                    n.guidance.clone(),
                )
            })
            .collect()
    }
}

/// What changed between two versions of a framework, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Ids only in the new version.
    pub added: Vec<String>,
    /// Ids only in the old version.
    pub removed: Vec<String>,
    /// Ids in both whose title, text, label, kind or parent differ.
    pub changed: Vec<String>,
}

impl Changes {
    /// Whether nothing changed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Compares `old` rows (as [`Catalog::rows`] gives them) with a new catalog.
#[must_use]
pub fn compare(old: &[Row], new: &Catalog) -> Changes {
    let old_by_id: HashMap<&str, _> = old.iter().map(|r| (r.0.as_str(), r)).collect();
    let new_rows = new.rows();
    let new_ids: std::collections::HashSet<&str> = new_rows.iter().map(|r| r.0.as_str()).collect();
    let mut c = Changes::default();
    for r in &new_rows {
        match old_by_id.get(r.0.as_str()) {
            None => c.added.push(r.0.clone()),
            Some(o) if *o != r => c.changed.push(r.0.clone()),
            Some(_) => {}
        }
    }
    for r in old {
        if !new_ids.contains(r.0.as_str()) {
            c.removed.push(r.0.clone());
        }
    }
    c
}
