//! NIST OSCAL catalogs (JSON): import into a [`Catalog`] and export back. Groups (nested
//! too) become group nodes, controls control nodes and controls inside controls enhancements.
//! A control's `statement` part becomes its text, with its items labelled and indented and
//! its parameters shown as `[Assignment: …]` or `[Selection (one or more): …]`, as NIST's
//! own rendering does; the `guidance` part becomes its guidance. The export writes the same
//! tree, which imports again to the same nodes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::tree::{Catalog, CatalogError, Node, NodeKind};

/// The largest catalog file accepted, bytes.
pub const MAX_BYTES: usize = 32 * 1024 * 1024;

/// Our namespace for properties OSCAL has no name for (an id that is not an OSCAL token).
const NS: &str = "https://attest.dev/ns/oscal";

#[derive(Debug, Deserialize)]
struct Document {
    catalog: OscalCatalog,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct OscalCatalog {
    uuid: Option<String>,
    metadata: Metadata,
    #[serde(default)]
    groups: Vec<Group>,
    #[serde(default)]
    controls: Vec<Control>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Metadata {
    title: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    last_modified: Option<String>,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    oscal_version: Option<String>,
    #[serde(default)]
    props: Vec<Prop>,
    #[serde(default)]
    links: Vec<Value>,
    #[serde(default)]
    remarks: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, Clone)]
struct Prop {
    name: String,
    value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ns: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Group {
    id: Option<String>,
    title: String,
    #[serde(default)]
    props: Vec<Prop>,
    #[serde(default)]
    parts: Vec<Part>,
    #[serde(default)]
    groups: Vec<Group>,
    #[serde(default)]
    controls: Vec<Control>,
}

#[derive(Debug, Deserialize)]
struct Control {
    id: String,
    title: String,
    #[serde(default)]
    params: Vec<Param>,
    #[serde(default)]
    props: Vec<Prop>,
    #[serde(default)]
    parts: Vec<Part>,
    #[serde(default)]
    controls: Vec<Control>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Param {
    id: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    select: Option<Select>,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Select {
    #[serde(default)]
    how_many: Option<String>,
    #[serde(default)]
    choice: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Part {
    name: String,
    #[serde(default)]
    props: Vec<Prop>,
    #[serde(default)]
    prose: Option<String>,
    #[serde(default)]
    parts: Vec<Part>,
}

/// The label people use: a `label` property without a class (NIST's plain `AC-2(1)`), else
/// the first `label`, else the id.
fn label_of(props: &[Prop], id: &str) -> String {
    props
        .iter()
        .filter(|p| p.name == "label" && p.ns.is_none())
        .min_by_key(|p| p.class.is_some())
        .map_or_else(|| id.to_owned(), |p| p.value.clone())
}

/// The kind a previous export recorded for a tenant's own requirement.
fn recorded_kind(props: &[Prop]) -> Option<NodeKind> {
    props
        .iter()
        .find(|p| p.name == "attest-kind" && p.ns.as_deref() == Some(NS))
        .and_then(|p| NodeKind::parse(&p.value))
}

/// The id a previous export recorded, when the original was not an OSCAL token.
fn original_id(props: &[Prop]) -> Option<String> {
    props
        .iter()
        .find(|p| p.name == "attest-id" && p.ns.as_deref() == Some(NS))
        .map(|p| p.value.clone())
}

/// `{{ insert: param, x }}` replaced by the parameter's rendering (at most a few levels deep:
/// a choice may insert another parameter).
fn insert_params(text: &str, params: &HashMap<String, String>, depth: usize) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = rest[start + 2..start + len].trim();
        let shown = inner
            .strip_prefix("insert:")
            .and_then(|i| i.split_once(','))
            .filter(|(kind, _)| kind.trim() == "param")
            .and_then(|(_, id)| params.get(id.trim()))
            .map(|p| {
                if depth < 3 {
                    insert_params(p, params, depth + 1)
                } else {
                    p.clone()
                }
            });
        match shown {
            Some(s) => out.push_str(&s),
            None => out.push_str(&rest[start..start + len + 2]),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

fn render_param(p: &Param) -> String {
    if !p.values.is_empty() {
        return p.values.join(", ");
    }
    if let Some(sel) = &p.select {
        let how = match sel.how_many.as_deref() {
            Some("one-or-more") => " (one or more)",
            _ => "",
        };
        return format!("[Selection{how}: {}]", sel.choice.join("; "));
    }
    format!(
        "[Assignment: {}]",
        p.label.as_deref().unwrap_or("organization-defined value")
    )
}

/// A part's prose with its sub-parts, each on its own line, labelled and indented.
fn part_text(part: &Part, params: &HashMap<String, String>, indent: usize, out: &mut Vec<String>) {
    let label = part
        .props
        .iter()
        .find(|p| p.name == "label")
        .map(|p| format!("{} ", p.value))
        .unwrap_or_default();
    if let Some(prose) = &part.prose {
        out.push(format!(
            "{}{label}{}",
            "  ".repeat(indent),
            insert_params(prose.trim(), params, 0)
        ));
    } else if !label.is_empty() {
        out.push(format!("{}{}", "  ".repeat(indent), label.trim_end()));
    }
    for sub in &part.parts {
        part_text(
            sub,
            params,
            indent + usize::from(part.prose.is_some() || !label.is_empty()),
            out,
        );
    }
}

fn text_of(parts: &[Part], name: &str, params: &HashMap<String, String>) -> String {
    let mut lines = Vec::new();
    for p in parts.iter().filter(|p| p.name == name) {
        part_text(p, params, 0, &mut lines);
    }
    lines.join("\n")
}

struct Builder {
    nodes: Vec<Node>,
}

impl Builder {
    fn group(&mut self, g: &Group, parent: Option<usize>, path: &str) {
        let id = original_id(&g.props)
            .or_else(|| g.id.clone())
            .unwrap_or_else(|| format!("{path}group-{}", self.nodes.len() + 1));
        let at = self.nodes.len();
        let params = HashMap::new();
        self.nodes.push(Node {
            label: label_of(&g.props, &id),
            id,
            parent,
            kind: NodeKind::Group,
            title: g.title.clone(),
            statement: text_of(&g.parts, "overview", &params),
            guidance: String::new(),
        });
        for sub in &g.groups {
            self.group(sub, Some(at), path);
        }
        for c in &g.controls {
            self.control(c, Some(at), false);
        }
    }

    fn control(&mut self, c: &Control, parent: Option<usize>, enhancement: bool) {
        let params: HashMap<String, String> = c
            .params
            .iter()
            .map(|p| (p.id.clone(), render_param(p)))
            .collect();
        let id = original_id(&c.props).unwrap_or_else(|| c.id.clone());
        let at = self.nodes.len();
        self.nodes.push(Node {
            label: label_of(&c.props, &id),
            id,
            parent,
            kind: recorded_kind(&c.props).unwrap_or(if enhancement {
                NodeKind::Enhancement
            } else {
                NodeKind::Control
            }),
            title: c.title.clone(),
            statement: text_of(&c.parts, "statement", &params),
            guidance: text_of(&c.parts, "guidance", &params),
        });
        for e in &c.controls {
            self.control(e, Some(at), true);
        }
    }
}

/// Reads an OSCAL catalog (JSON).
///
/// # Errors
/// [`CatalogError::Json`] with the line and column of a syntax or type error;
/// [`CatalogError::TooLarge`] over [`MAX_BYTES`]; the tree's own checks.
pub fn import(bytes: &[u8]) -> Result<Catalog, CatalogError> {
    if bytes.len() > MAX_BYTES {
        return Err(CatalogError::TooLarge(format!(
            "the file is larger than {} MB",
            MAX_BYTES / (1024 * 1024)
        )));
    }
    let doc: Document = serde_json::from_slice(bytes).map_err(|e| CatalogError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let c = doc.catalog;
    let mut b = Builder { nodes: Vec::new() };
    for g in &c.groups {
        b.group(g, None, "");
    }
    for ctl in &c.controls {
        b.control(ctl, None, false);
    }
    let m = &c.metadata;
    let provenance = json!({
        "format": "oscal-catalog",
        "title": m.title,
        "version": m.version,
        "last-modified": m.last_modified,
        "published": m.published,
        "oscal-version": m.oscal_version,
        "props": m.props,
        "links": m.links,
        "remarks": m.remarks,
    });
    let catalog = Catalog {
        title: m.title.trim().to_owned(),
        version: m.version.clone().unwrap_or_default().trim().to_owned(),
        oscal_uuid: c.uuid,
        provenance,
        nodes: b.nodes,
    };
    catalog.validate()?;
    Ok(catalog)
}

/// Whether `id` is an OSCAL token (a letter or `_` first, then letters, digits, `.`, `-`, `_`).
fn is_token(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// One node as OSCAL JSON, with its children.
fn node_json(i: usize, catalog: &Catalog, children: &[Vec<usize>]) -> Value {
    let n = &catalog.nodes[i];
    let (id, mut props) = if is_token(&n.id) {
        (n.id.clone(), Vec::new())
    } else {
        (
            format!("attest-{}", super::slug(&n.id)),
            vec![json!({ "name": "attest-id", "ns": NS, "value": n.id })],
        )
    };
    props.insert(0, json!({ "name": "label", "value": n.label }));
    if n.kind == NodeKind::Requirement {
        props.push(json!({ "name": "attest-kind", "ns": NS, "value": "requirement" }));
    }
    let mut parts = Vec::new();
    let statement_name = if n.kind == NodeKind::Group {
        "overview"
    } else {
        "statement"
    };
    if !n.statement.is_empty() {
        parts.push(
            json!({ "id": format!("{id}_smt"), "name": statement_name, "prose": n.statement }),
        );
    }
    if !n.guidance.is_empty() {
        parts.push(json!({ "id": format!("{id}_gdn"), "name": "guidance", "prose": n.guidance }));
    }
    let mut v = json!({ "id": id, "title": n.title, "props": props });
    if !parts.is_empty() {
        v["parts"] = Value::Array(parts);
    }
    let (groups, controls): (Vec<usize>, Vec<usize>) = children[i]
        .iter()
        .partition(|c| catalog.nodes[**c].kind == NodeKind::Group);
    if !groups.is_empty() {
        v["groups"] = groups
            .into_iter()
            .map(|c| node_json(c, catalog, children))
            .collect();
    }
    if !controls.is_empty() {
        v["controls"] = controls
            .into_iter()
            .map(|c| node_json(c, catalog, children))
            .collect();
    }
    v
}

/// Writes a catalog as OSCAL JSON (catalog model 1.1.2). `uuid` names this document;
/// `last_modified` is RFC 3339. Its provenance (the source's properties, links and remarks)
/// travels with it.
#[must_use]
pub fn export(catalog: &Catalog, uuid: &str, last_modified: &str) -> Value {
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); catalog.nodes.len()];
    let mut roots = Vec::new();
    for (i, n) in catalog.nodes.iter().enumerate() {
        match n.parent {
            Some(p) => children[p].push(i),
            None => roots.push(i),
        }
    }
    let (groups, controls): (Vec<usize>, Vec<usize>) = roots
        .into_iter()
        .partition(|r| catalog.nodes[*r].kind == NodeKind::Group);
    let mut metadata = json!({
        "title": catalog.title,
        "last-modified": last_modified,
        "version": if catalog.version.is_empty() { "1" } else { catalog.version.as_str() },
        "oscal-version": "1.1.2",
    });
    if let Some(p) = catalog
        .provenance
        .get("props")
        .filter(|p| p.as_array().is_some_and(|a| !a.is_empty()))
    {
        metadata["props"] = p.clone();
    }
    if let Some(l) = catalog
        .provenance
        .get("links")
        .filter(|l| l.as_array().is_some_and(|a| !a.is_empty()))
    {
        metadata["links"] = l.clone();
    }
    let remarks = catalog
        .provenance
        .get("remarks")
        .and_then(Value::as_str)
        .unwrap_or_default();
    metadata["remarks"] = Value::String(format!("Exported by Attest. {remarks}").trim().to_owned());
    let mut cat = json!({ "uuid": uuid, "metadata": metadata });
    if !groups.is_empty() {
        cat["groups"] = groups
            .into_iter()
            .map(|g| node_json(g, catalog, &children))
            .collect();
    }
    if !controls.is_empty() {
        cat["controls"] = controls
            .into_iter()
            .map(|c| node_json(c, catalog, &children))
            .collect();
    }
    json!({ "catalog": cat })
}
