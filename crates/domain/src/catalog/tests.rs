//! Catalogue import and export, without a database.

use serde_json::Value;

use super::*;

/// Controls and enhancements counted straight from the JSON, independently of the importer.
fn count_in_file(bytes: &[u8]) -> (usize, usize, usize) {
    fn walk(v: &Value, depth: usize, out: &mut (usize, usize, usize)) {
        if let Some(groups) = v.get("groups").and_then(Value::as_array) {
            for g in groups {
                out.2 += 1;
                walk(g, 0, out);
            }
        }
        if let Some(controls) = v.get("controls").and_then(Value::as_array) {
            for c in controls {
                if depth == 0 {
                    out.0 += 1;
                } else {
                    out.1 += 1;
                }
                walk(c, depth + 1, out);
            }
        }
    }
    let doc: Value = serde_json::from_slice(bytes).unwrap();
    let mut out = (0, 0, 0);
    walk(&doc["catalog"], 0, &mut out);
    out
}

#[test]
fn every_shipped_baseline_imports_with_the_files_counts() {
    for b in Baseline::ALL {
        let c = b.catalog().unwrap();
        let (controls, enhancements, groups) = count_in_file(b.oscal());
        assert_eq!(c.count(NodeKind::Control), controls, "{b:?}");
        assert_eq!(c.count(NodeKind::Enhancement), enhancements, "{b:?}");
        assert_eq!(c.count(NodeKind::Group), groups, "{b:?}");
        assert!(c.title.contains("800-53"));
        assert_eq!(c.provenance["shipped"], b.as_str());
    }
    let low = Baseline::Low.catalog().unwrap();
    let ac2 = low.nodes.iter().find(|n| n.id == "ac-2").unwrap();
    assert_eq!(ac2.label, "AC-2");
    assert_eq!(ac2.title, "Account Management");
    assert!(
        ac2.statement
            .contains("[Assignment: prerequisites and criteria]"),
        "{}",
        ac2.statement
    );
    assert!(
        ac2.statement.starts_with("a. Define")
            && ac2.statement.contains("\nb. Assign account managers")
            && ac2.statement.contains("\n  1. Authorized users"),
        "items are labelled and indented, one to a line: {}",
        ac2.statement
    );
    assert!(!ac2.guidance.is_empty());
    let family = &low.nodes[ac2.parent.unwrap()];
    assert_eq!(family.kind, NodeKind::Group);
    assert_eq!(family.title, "Access Control");
}

#[test]
fn an_export_imports_to_the_same_tree() {
    for bytes in [
        Baseline::High.oscal(),
        include_bytes!("../../data/oscal/basic-catalog.json").as_slice(),
    ] {
        let first = oscal::import(bytes).unwrap();
        let exported = oscal::export(
            &first,
            "7d0a3bfb-2f1c-4e0c-9b1e-0c1d2e3f4a5b",
            "2026-12-01T00:00:00Z",
        );
        let again = oscal::import(&serde_json::to_vec(&exported).unwrap()).unwrap();
        assert_eq!(again.rows(), first.rows());
        assert_eq!(again.title, first.title);
        assert_eq!(again.version, first.version);
    }
}

#[test]
fn nested_groups_and_parameters_in_choices_are_read() {
    let c = oscal::import(include_bytes!("../../data/oscal/basic-catalog.json")).unwrap();
    let n = c.nodes.iter().find(|n| n.id == "s1.1.1").unwrap();
    assert!(
        n.statement.contains("[Selection (one or more): initiating a device lock after [Assignment: a duration] of inactivity"),
        "{}",
        n.statement
    );
    let parent = &c.nodes[n.parent.unwrap()];
    assert_eq!(parent.id, "s1.1");
    assert_eq!(c.nodes[parent.parent.unwrap()].id, "s1");
}

#[test]
fn hostile_oscal_is_refused_with_its_place() {
    // Wrong types: a title that is a number, on line 3.
    let e = oscal::import(b"{\"catalog\": {\"uuid\": \"x\",\n\"metadata\": {\"title\": \"T\"},\n\"controls\": [{\"id\": \"a\", \"title\": 7}]}}")
        .unwrap_err();
    assert!(matches!(e, CatalogError::Json { line: 3, .. }), "{e}");
    // Not JSON at all, and JSON of another kind.
    assert!(matches!(
        oscal::import(b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]>"),
        Err(CatalogError::Json { line: 1, .. })
    ));
    assert!(matches!(
        oscal::import(b"{\"profile\": {}}"),
        Err(CatalogError::Json { .. })
    ));
    // The same id twice.
    let e = oscal::import(br#"{"catalog": {"metadata": {"title": "T"}, "controls": [{"id": "a", "title": "A"}, {"id": "a", "title": "B"}]}}"#).unwrap_err();
    assert_eq!(e, CatalogError::DuplicateId("a".to_owned()));
    // Nesting deeper than any framework needs.
    let mut deep = String::from(r#"{"catalog": {"metadata": {"title": "T"}, "controls": ["#);
    for i in 0..20 {
        deep.push_str(&format!(r#"{{"id": "c{i}", "title": "C", "controls": ["#));
    }
    deep.push_str(&"]}".repeat(20));
    deep.push_str("]}}");
    assert!(matches!(
        oscal::import(deep.as_bytes()),
        Err(CatalogError::TooLarge(_))
    ));
    // Control characters in text, and an empty catalog.
    let e = oscal::import(br#"{"catalog": {"metadata": {"title": "T"}, "controls": [{"id": "a", "title": "bell \u0007"}]}}"#).unwrap_err();
    assert!(matches!(e, CatalogError::Invalid { .. }), "{e}");
    assert!(oscal::import(br#"{"catalog": {"metadata": {"title": "T"}}}"#).is_err());
    let huge = vec![b' '; oscal::MAX_BYTES + 1];
    assert!(matches!(
        oscal::import(&huge),
        Err(CatalogError::TooLarge(_))
    ));
}

const OWN: &str = "id,title,text,parent\n\
A.5,Organizational controls,,\n\
A.5.1,Policies for information security,\"Policies shall be defined, approved and published.\",A.5\n\
A.5.2,Roles and responsibilities,Roles shall be defined.,A.5\n\
A.6,People controls,,\n\
A.6.1,Screening,Background checks shall be done.,A.6\n";

#[test]
fn a_csv_framework_becomes_a_tree_and_survives_an_oscal_round_trip() {
    let c = csv::import(OWN.as_bytes(), "Our ISMS", "2026", "isms.csv").unwrap();
    assert_eq!(c.count(NodeKind::Group), 2);
    assert_eq!(c.count(NodeKind::Requirement), 3);
    let a51 = c.nodes.iter().find(|n| n.id == "A.5.1").unwrap();
    assert_eq!(c.nodes[a51.parent.unwrap()].id, "A.5");
    assert_eq!(
        a51.statement,
        "Policies shall be defined, approved and published."
    );
    let exported = oscal::export(
        &c,
        "00000000-0000-4000-8000-000000000000",
        "2026-12-01T00:00:00Z",
    );
    let again = oscal::import(&serde_json::to_vec(&exported).unwrap()).unwrap();
    assert_eq!(
        again.rows(),
        c.rows(),
        "ids that are not OSCAL tokens survive"
    );
    // Children listed before their parent are fine.
    let reordered = "id,title,text,parent\nx.1,Child,Text,x\nx,Parent,,\n";
    let c = csv::import(reordered.as_bytes(), "T", "1", "f.csv").unwrap();
    assert_eq!(c.nodes[0].id, "x");
    assert_eq!(c.nodes[1].parent, Some(0));
}

#[test]
fn hostile_csv_is_refused_naming_the_line() {
    let line_of = |text: &str| match csv::import(text.as_bytes(), "T", "1", "f.csv") {
        Err(CatalogError::Csv { line, message }) => (line, message),
        other => panic!("{other:?}"),
    };
    assert_eq!(line_of("id,title,colour\na,A,red\n").0, 1);
    assert_eq!(line_of("title,text\nA,x\n").0, 1);
    assert_eq!(
        line_of("id,title,text,parent\na,A,x,\nb,B,y,\na,C,z,\n").0,
        4
    );
    assert_eq!(
        line_of("id,title,text,parent\na,A,x,b\nb,B,y,a\n").0,
        2,
        "a loop"
    );
    assert_eq!(line_of("id,title,text,parent\na,A,x,a\n").0, 2);
    assert_eq!(
        line_of("id,title,text,parent\na,A,x,\nb,B,y,nowhere\n").0,
        3
    );
    assert_eq!(
        line_of("id,title,text,parent\na,A,x,\nb,B\n").0,
        3,
        "too few fields"
    );
    assert_eq!(line_of("id,title,text,parent\na,,x,\n").0, 2, "no title");
    let (line, message) = line_of("id,title,text,parent\na,A,x,\nb,\"B\u{7}\",y,\n");
    assert_eq!(line, 3, "{message}");
    assert!(matches!(
        csv::import(b"id,title\n\xff\xfe,x\n", "T", "1", "f"),
        Err(CatalogError::Csv { line: 2, .. })
    ));
    // Text that looks like markup or entities is just text.
    let c = csv::import(
        b"id,title,text\na,A,&lt;script&gt; <!ENTITY x \"y\">\n",
        "T",
        "1",
        "f",
    )
    .unwrap();
    assert_eq!(c.nodes[0].statement, "&lt;script&gt; <!ENTITY x \"y\">");
}

#[test]
fn versions_are_compared_by_id() {
    let old = csv::import(OWN.as_bytes(), "Our ISMS", "2026", "isms.csv").unwrap();
    let newer = OWN
        .replace(
            "Roles shall be defined.",
            "Roles shall be defined and allocated.",
        )
        .replace("A.6.1,Screening,Background checks shall be done.,A.6\n", "")
        + "A.6.2,Terms of employment,Contracts shall state duties.,A.6\n";
    let new = csv::import(newer.as_bytes(), "Our ISMS", "2027", "isms.csv").unwrap();
    let c = tree::compare(&old.rows(), &new);
    assert_eq!(c.added, ["A.6.2"]);
    assert_eq!(c.removed, ["A.6.1"]);
    assert_eq!(c.changed, ["A.5.2"]);
    assert!(tree::compare(&old.rows(), &old).is_empty());
}

const OWN_YAML: &str = "# Our ISMS, as YAML
title: Our ISMS
version: 2026
requirements:
  - id: A.5
    title: Organizational controls
  - id: A.5.1
    title: Policies for information security
    text: Policies shall be defined, approved and published.
    parent: A.5
  - id: A.5.2
    title: Roles and responsibilities
    text: Roles shall be defined.
    parent: A.5
  - id: A.6
    title: People controls
  - id: A.6.1
    title: Screening
    text: Background checks shall be done.
    parent: A.6
";

#[test]
fn a_yaml_framework_is_the_same_tree_as_its_csv_twin() {
    let y = yaml::import(OWN_YAML.as_bytes(), "", "", "isms.yaml").unwrap();
    let c = csv::import(OWN.as_bytes(), "Our ISMS", "2026", "isms.csv").unwrap();
    assert_eq!(y.rows(), c.rows());
    assert_eq!((y.title.as_str(), y.version.as_str()), ("Our ISMS", "2026"));
    assert_eq!(y.provenance["format"], "yaml");
    // The title and version given with the upload win over the file's.
    let y = yaml::import(OWN_YAML.as_bytes(), "ISMS", "7", "isms.yaml").unwrap();
    assert_eq!((y.title.as_str(), y.version.as_str()), ("ISMS", "7"));
    // Numbers as ids are text, as written.
    let y = yaml::import(
        b"title: T\nrequirements:\n  - {id: 1.10, title: One}\n  - {id: 2, title: Two, parent: 1.10}\n",
        "",
        "",
        "f.yaml",
    )
    .unwrap();
    assert_eq!(y.nodes[0].id, "1.10");
    assert_eq!(y.nodes[1].parent, Some(0));
    assert_eq!(y.version, "1");
}

#[test]
fn hostile_yaml_is_refused_naming_the_line() {
    let line_of = |text: &str| match yaml::import(text.as_bytes(), "T", "1", "f.yaml") {
        Err(CatalogError::Yaml { line, message }) => (line, message),
        other => panic!("{text}: {other:?}"),
    };
    let head = "requirements:\n";
    // A key that is not part of the format, at its line.
    let (line, message) = line_of(&format!("{head}  - id: a\n    title: A\n    colour: red\n"));
    assert_eq!(line, 4, "{message}");
    assert!(message.contains("colour"), "{message}");
    // Wrong types: a list where text belongs, a mapping for the requirements.
    assert_eq!(
        line_of(&format!("{head}  - id: a\n    title: [A, B]\n")).0,
        3
    );
    assert!(line_of("requirements: {a: 1}\n").0 >= 1);
    // Duplicate ids, a loop of parents, a parent that is not there, no title, no id.
    assert_eq!(
        line_of(&format!(
            "{head}  - {{id: a, title: A}}\n  - {{id: a, title: B}}\n"
        ))
        .0,
        3
    );
    assert_eq!(
        line_of(&format!(
            "{head}  - {{id: a, title: A, parent: b}}\n  - {{id: b, title: B, parent: a}}\n"
        ))
        .0,
        2
    );
    assert_eq!(
        line_of(&format!("{head}  - {{id: a, title: A, parent: z}}\n")).0,
        2
    );
    assert_eq!(line_of(&format!("{head}  - {{id: a, text: x}}\n")).0, 2);
    assert_eq!(line_of(&format!("{head}  - {{id: '', title: A}}\n")).0, 2);
    // A duplicate key in one entry.
    let (line, message) = line_of(&format!("{head}  - id: a\n    title: A\n    title: B\n"));
    assert_eq!(line, 4);
    assert_eq!(message, "duplicate mapping key: title");
    // Control characters in a title.
    assert_eq!(
        line_of(&format!("{head}  - {{id: a, title: \"A\\a\"}}\n")).0,
        2
    );
    // Not YAML at all; not UTF-8.
    assert!(matches!(
        yaml::import(b"requirements: [\n", "T", "1", "f"),
        Err(CatalogError::Yaml { .. })
    ));
    assert!(matches!(
        yaml::import(b"requirements:\n  - id: \xff\n", "T", "1", "f"),
        Err(CatalogError::Yaml { line: 2, .. })
    ));
    // No title anywhere.
    assert!(matches!(
        yaml::import(b"requirements:\n  - {id: a, title: A}\n", "", "", "f"),
        Err(CatalogError::Invalid { .. })
    ));
}

#[test]
fn yaml_bombs_and_tags_are_refused_before_they_cost_anything() {
    // A billion laughs: each level aliases the one before ten times.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        let list = [prev.as_str(); 10].join(", ");
        bomb.push_str(&format!("a{i}: &a{i} [{list}]\n"));
    }
    bomb.push_str("requirements: []\n");
    let started = std::time::Instant::now();
    assert!(matches!(
        yaml::import(bomb.as_bytes(), "T", "1", "f"),
        Err(CatalogError::Yaml { .. })
    ));
    // Not a timing assertion on speed, a guard against an exponential expansion: a bomb
    // that expanded would run for minutes and take gigabytes.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    // Aliases inside an entry are expanded only within the budget.
    let mut many = String::from("requirements:\n  - &r {id: a, title: A}\n");
    for _ in 0..200 {
        many.push_str("  - *r\n");
    }
    assert!(matches!(
        yaml::import(many.as_bytes(), "T", "1", "f"),
        Err(CatalogError::Yaml { .. })
    ));
    // Deep nesting.
    let deep = format!("requirements: {}{}\n", "[".repeat(5000), "]".repeat(5000));
    assert!(matches!(
        yaml::import(deep.as_bytes(), "T", "1", "f"),
        Err(CatalogError::Yaml { .. })
    ));
    // Tags instantiate nothing; a tagged value is just refused or read as text.
    let tagged = yaml::import(
        b"requirements:\n  - {id: a, title: !!python/object:os.system echo}\n",
        "T",
        "1",
        "f",
    );
    if let Ok(c) = tagged {
        assert_eq!(c.nodes[0].title, "echo");
    }
    // Several documents in one file.
    assert!(matches!(
        yaml::import(b"requirements: []\n---\nrequirements: []\n", "T", "1", "f"),
        Err(CatalogError::Yaml { .. })
    ));
    // Entity-looking text is just text.
    let c = yaml::import(
        b"requirements:\n  - {id: a, title: A, text: \"&lt;script&gt; <!ENTITY x 'y'>\"}\n",
        "T",
        "1",
        "f",
    )
    .unwrap();
    assert_eq!(c.nodes[0].statement, "&lt;script&gt; <!ENTITY x 'y'>");
}
