//! Framework catalogues (issue 7), over TLS on both databases and through the CLI: the
//! shipped baselines import with the counts their files hold, an OSCAL export imports back to
//! the same tree, a newer version says what changed, and hostile files are refused naming the
//! line or entry with nothing half-imported.

use attest_test_support::binary::{run, text};
use attest_test_support::{Browser, TestApp, both_backends};
use attest_types::Role;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::documents::person;
use crate::evidence::{TENANT, count};

fn data(file: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../domain/data/oscal")
        .join(file)
}

fn baseline_file(level: &str) -> std::path::PathBuf {
    data(&format!(
        "NIST_SP-800-53_rev5_{}-baseline-resolved-profile_catalog-min.json",
        level.to_uppercase()
    ))
}

/// Controls and control enhancements in an OSCAL file, counted straight from its JSON.
fn counted(path: &std::path::Path) -> (usize, usize) {
    fn walk(v: &Value, inside_control: bool, out: &mut (usize, usize)) {
        for g in v["groups"].as_array().into_iter().flatten() {
            walk(g, false, out);
        }
        for c in v["controls"].as_array().into_iter().flatten() {
            if inside_control {
                out.1 += 1;
            } else {
                out.0 += 1;
            }
            walk(c, true, out);
        }
    }
    let doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut out = (0, 0);
    walk(&doc["catalog"], false, &mut out);
    out
}

/// Imports through the API; returns the status and the answer.
pub(crate) async fn import(
    b: &Browser,
    path: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, &[u8])>,
) -> (StatusCode, Value) {
    let r = b.upload_api(path, fields, file).await;
    let s = r.status();
    (s, r.json().await.unwrap_or_default())
}

fn kinds(detail: &Value, kind: &str) -> usize {
    detail["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == kind && r["withdrawn"] == false)
        .count()
}

/// Requirements as comparable tuples: (ref, parent ref, kind, label, title, statement,
/// guidance), current ones only.
fn tree(detail: &Value) -> Vec<(String, String, String, String, String, String, String)> {
    let reqs = detail["requirements"].as_array().unwrap();
    let by_id: std::collections::HashMap<&str, &str> = reqs
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["ref"].as_str().unwrap()))
        .collect();
    reqs.iter()
        .filter(|r| r["withdrawn"] == false)
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (
                s("ref"),
                r["parent"]
                    .as_str()
                    .and_then(|p| by_id.get(p))
                    .map(|p| (*p).to_owned())
                    .unwrap_or_default(),
                s("kind"),
                s("label"),
                s("title"),
                s("statement"),
                s("guidance"),
            )
        })
        .collect()
}

both_backends!(
    each_shipped_baseline_imports_with_the_counts_its_file_holds,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        for level in ["low", "moderate", "high"] {
            let (s, v) = import(&mona, "/api/v1/frameworks", &[("baseline", level)], None).await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
            let id = v["id"].as_str().unwrap().to_owned();
            let detail: Value = mona
                .get_json(&format!("/api/v1/frameworks/{id}"))
                .await
                .json()
                .await
                .unwrap();
            let (controls, enhancements) = counted(&baseline_file(level));
            assert_eq!(kinds(&detail, "control"), controls, "{level}");
            assert_eq!(kinds(&detail, "enhancement"), enhancements, "{level}");
            assert_eq!(detail["requirement_count"], controls + enhancements);
            assert_eq!(detail["source"], "baseline");
            // Provenance and licence travel with it.
            let file: Value =
                serde_json::from_slice(&std::fs::read(baseline_file(level)).unwrap()).unwrap();
            let meta = &file["catalog"]["metadata"];
            assert_eq!(detail["provenance"]["last-modified"], meta["last-modified"]);
            assert_eq!(detail["title"], meta["title"]);
            assert_eq!(detail["version"], meta["version"]);
            assert!(
                detail["provenance"]["licence"]
                    .as_str()
                    .unwrap()
                    .contains("Public domain")
            );
        }
        app.shutdown().await;
    }
);

both_backends!(
    an_oscal_export_imports_back_to_the_same_tree,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let (_, v) = import(&mona, "/api/v1/frameworks", &[("baseline", "high")], None).await;
        let id = v["id"].as_str().unwrap().to_owned();
        let first: Value = mona
            .get_json(&format!("/api/v1/frameworks/{id}"))
            .await
            .json()
            .await
            .unwrap();
        let r = mona
            .get_json(&format!("/api/v1/frameworks/{id}/oscal.json"))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment;")
        );
        let exported = r.bytes().await.unwrap();
        let doc: Value = serde_json::from_slice(&exported).unwrap();
        assert_eq!(doc["catalog"]["metadata"]["oscal-version"], "1.1.2");
        let (s, v) = import(
            &mona,
            "/api/v1/frameworks",
            &[],
            Some(("high.oscal.json", &exported)),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let again: Value = mona
            .get_json(&format!("/api/v1/frameworks/{}", v["id"].as_str().unwrap()))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(tree(&again), tree(&first));
        assert_eq!(again["title"], first["title"]);
        assert_eq!(
            crate::mfa::audit_count(&app, "framework.export", "success").await,
            1
        );
        app.shutdown().await;
    }
);

const V1: &str = "id,title,text,parent\n\
A.5,Organizational controls,,\n\
A.5.1,Policies for information security,\"Policies shall be defined, approved and published.\",A.5\n\
A.5.2,Roles and responsibilities,Roles shall be defined.,A.5\n\
A.6,People controls,,\n\
A.6.1,Screening,Background checks shall be done.,A.6\n";

both_backends!(
    a_newer_version_updates_in_place_withdraws_and_says_what_changed,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let (s, v) = import(
            &mona,
            "/api/v1/frameworks",
            &[("title", "Our ISMS"), ("version", "2026")],
            Some(("isms.csv", V1.as_bytes())),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let id = v["id"].as_str().unwrap().to_owned();
        let before: Value = mona
            .get_json(&format!("/api/v1/frameworks/{id}"))
            .await
            .json()
            .await
            .unwrap();
        let a51 = before["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["ref"] == "A.5.1")
            .unwrap()["id"]
            .clone();
        let v2 = V1
            .replace(
                "Roles shall be defined.",
                "Roles shall be defined and allocated.",
            )
            .replace("A.6.1,Screening,Background checks shall be done.,A.6\n", "")
            + "A.6.2,Terms of employment,Contracts shall state duties.,A.6\n";
        let (s, changes) = import(
            &mona,
            &format!("/api/v1/frameworks/{id}/versions"),
            &[("title", "Our ISMS"), ("version", "2027")],
            Some(("isms-2027.csv", v2.as_bytes())),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{changes}");
        assert_eq!(changes["added"], serde_json::json!(["A.6.2"]));
        assert_eq!(changes["changed"], serde_json::json!(["A.5.2"]));
        assert_eq!(changes["removed"], serde_json::json!(["A.6.1"]));
        let after: Value = mona
            .get_json(&format!("/api/v1/frameworks/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(after["version"], "2027");
        assert_eq!(
            after["requirements"].as_array().unwrap().len(),
            6,
            "the withdrawn one is kept"
        );
        let reqs = after["requirements"].as_array().unwrap();
        let find = |r: &str| reqs.iter().find(|x| x["ref"] == r).unwrap().clone();
        assert_eq!(find("A.6.1")["withdrawn"], true);
        assert_eq!(
            find("A.5.1")["id"],
            a51,
            "unchanged requirements keep their id"
        );
        assert_eq!(
            find("A.5.2")["statement"],
            "Roles shall be defined and allocated."
        );
        assert_eq!(after["versions"][0]["number"], 2);
        assert_eq!(
            after["versions"][0]["changes"]["removed"],
            serde_json::json!(["A.6.1"])
        );
        let page = mona
            .get(&format!("/frameworks/{id}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("1 added, 1 changed, 1 withdrawn"), "{page}");
        assert!(page.contains("withdrawn"));
        app.shutdown().await;
    }
);

/// A billion laughs in YAML: nine levels, each aliasing the one before ten times.
fn yaml_bomb() -> Vec<u8> {
    let mut bomb = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        bomb.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            [prev.as_str(); 10].join(", ")
        ));
    }
    bomb.push_str("requirements: []\n");
    bomb.into_bytes()
}

const V1_YAML: &str = "title: Our ISMS
version: 2026
requirements:
  - {id: A.5, title: Organizational controls}
  - id: A.5.1
    title: Policies for information security
    text: Policies shall be defined, approved and published.
    parent: A.5
  - {id: A.5.2, title: Roles and responsibilities, text: Roles shall be defined., parent: A.5}
";

both_backends!(
    a_yaml_framework_imports_with_its_own_title_and_takes_newer_versions,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let (s, v) = import(
            &mona,
            "/api/v1/frameworks",
            &[],
            Some(("isms.yaml", V1_YAML.as_bytes())),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let id = v["id"].as_str().unwrap().to_owned();
        let detail: Value = mona
            .get_json(&format!("/api/v1/frameworks/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(detail["title"], "Our ISMS");
        assert_eq!(detail["version"], "2026");
        assert_eq!(detail["source"], "yaml");
        assert_eq!(detail["provenance"]["file"], "isms.yaml");
        assert_eq!(kinds(&detail, "requirement"), 2);
        assert_eq!(kinds(&detail, "group"), 1);
        let v2 = V1_YAML.replace("version: 2026", "version: 2027").replace(
            "Roles shall be defined.",
            "Roles shall be defined and allocated.",
        );
        let (s, changes) = import(
            &mona,
            &format!("/api/v1/frameworks/{id}/versions"),
            &[("format", "yaml")],
            Some(("isms-2027.txt", v2.as_bytes())),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{changes}");
        assert_eq!(changes["changed"], serde_json::json!(["A.5.2"]));
        // The format field names only known formats.
        let (s, v) = import(
            &mona,
            "/api/v1/frameworks",
            &[("format", "toml")],
            Some(("isms.toml", b"x = 1")),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(v.to_string().contains("oscal, csv or yaml"), "{v}");
        assert_eq!(count(&app, "framework").await, 1);
        app.shutdown().await;
    }
);

both_backends!(
    hostile_catalogues_are_refused_naming_the_place_and_nothing_is_imported,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "bad.json",
                b"{\"catalog\": {\"metadata\": {\"title\": \"T\"},\n\"controls\": [{\"id\": \"a\", \"title\": 7}]}}".to_vec(),
                "line 2",
            ),
            (
                "dup.json",
                br#"{"catalog": {"metadata": {"title": "T"}, "controls": [{"id": "a", "title": "A"}, {"id": "a", "title": "B"}]}}"#.to_vec(),
                "the id a is used twice",
            ),
            (
                "xxe.json",
                b"<?xml version=\"1.0\"?><!DOCTYPE c [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><catalog>&xxe;</catalog>".to_vec(),
                "line 1",
            ),
            (
                "lol.json",
                b"<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"lol\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]><l>&b;</l>".to_vec(),
                "line 1",
            ),
            ("loop.csv", b"id,title,text,parent\na,A,x,b\nb,B,y,a\n".to_vec(), "line 2"),
            ("orphan.csv", b"id,title,text,parent\na,A,x,\nb,B,y,nowhere\n".to_vec(), "line 3"),
            ("columns.csv", b"id,title,colour\na,A,red\n".to_vec(), "unknown column"),
            (
                "colour.yaml",
                b"requirements:\n  - id: a\n    title: A\n    colour: red\n".to_vec(),
                "line 4: unknown field `colour`",
            ),
            (
                "loop.yml",
                b"requirements:\n  - {id: a, title: A, parent: b}\n  - {id: b, title: B, parent: a}\n".to_vec(),
                "line 2",
            ),
            ("bomb.yaml", yaml_bomb(), "line"),
        ];
        for (name, bytes, says) in cases {
            let (s, v) = import(
                &mona,
                "/api/v1/frameworks",
                &[("title", "Bad")],
                Some((name, &bytes)),
            )
            .await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {v}");
            assert_eq!(v["error"], "catalog_refused", "{name}");
            assert!(v["message"].as_str().unwrap().contains(says), "{name}: {v}");
            assert!(!v.to_string().contains("root:"), "no file content: {v}");
        }
        // Larger than 32 MB: 413 while reading.
        let huge = vec![b' '; 33 * 1024 * 1024];
        let (s, _) = import(&mona, "/api/v1/frameworks", &[], Some(("huge.json", &huge))).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
        // A baseline and a file at once, and a baseline that does not exist.
        let (s, v) = import(
            &mona,
            "/api/v1/frameworks",
            &[("baseline", "low")],
            Some(("x.csv", b"id,title\na,A\n")),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let (s, _) = import(
            &mona,
            "/api/v1/frameworks",
            &[("baseline", "extreme")],
            None,
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(count(&app, "framework").await, 0, "nothing half-imported");
        assert_eq!(count(&app, "requirement").await, 0);
        // A contributor cannot import at all; the refusal is audited.
        let carl = person(&app, TENANT, "carl@northwind.test", Role::Contributor).await;
        let (s, _) = import(&carl, "/api/v1/frameworks", &[("baseline", "low")], None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // The server is unaffected.
        let (s, _) = import(&mona, "/api/v1/frameworks", &[("baseline", "low")], None).await;
        assert_eq!(s, StatusCode::CREATED);
        app.shutdown().await;
    }
);

both_backends!(
    the_pages_add_a_baseline_and_show_its_tree,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        assert_eq!(mona.get("/frameworks/new").await.status(), StatusCode::OK);
        let r = mona
            .upload(
                "/frameworks/new",
                &[
                    ("baseline", "low"),
                    ("format", ""),
                    ("title", ""),
                    ("version", ""),
                ],
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        let page = mona.get(&to).await.text().await.unwrap();
        assert!(
            page.contains("Access Control") && page.contains("AC-2"),
            "the tree"
        );
        assert!(page.contains("Public domain"));
        let list = mona.get("/frameworks").await.text().await.unwrap();
        assert!(list.contains("LOW IMPACT BASELINE"));
        let detail: Value = mona
            .get_json(&format!("/api/v1{to}"))
            .await
            .json()
            .await
            .unwrap();
        let ac2 = detail["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["ref"] == "ac-2")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let page = mona
            .get(&format!("{to}/requirements/{ac2}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("Account Management") && page.contains("Assign account managers"));
        // A refused file: the form again with the reason.
        let r = mona
            .upload(
                "/frameworks/new",
                &[
                    ("baseline", ""),
                    ("format", "csv"),
                    ("title", "Own"),
                    ("version", "1"),
                ],
                Some(("own.csv", b"id,title,text,parent\na,A,x,b\nb,B,y,a\n")),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text().await.unwrap().contains("loop of parents"));
        // Externals see no frameworks.
        let eve = person(&app, TENANT, "eve@client.test", Role::External).await;
        assert_eq!(
            eve.get_json("/api/v1/frameworks").await.status(),
            StatusCode::NOT_FOUND
        );
        let r = mona.api(Method::GET, "/api/v1/frameworks", None).await;
        assert_eq!(
            r.json::<Value>().await.unwrap()["items"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        app.shutdown().await;
    }
);

#[test]
fn the_cli_imports_a_file_or_a_baseline_into_a_tenant_and_refuses_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d");
    let d = d.to_str().unwrap();
    let bin = crate::attest_bin();
    assert!(
        run(&bin, &["--data-dir", d, "migrate"], &[])
            .status
            .success()
    );
    assert!(
        run(
            &bin,
            &[
                "--data-dir",
                d,
                "admin",
                "create-tenant",
                "Northwind Trading"
            ],
            &[]
        )
        .status
        .success()
    );
    let out = run(
        &bin,
        &[
            "--data-dir",
            d,
            "catalog",
            "import",
            "--baseline",
            "moderate",
            "--tenant",
            "Northwind Trading",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let (controls, enhancements) = counted(&baseline_file("moderate"));
    assert!(
        text(&out).contains(&format!("{} requirements", controls + enhancements)),
        "{}",
        text(&out)
    );
    let file = dir.path().join("basic.json");
    std::fs::copy(data("basic-catalog.json"), &file).unwrap();
    let out = run(
        &bin,
        &[
            "--data-dir",
            d,
            "catalog",
            "import",
            file.to_str().unwrap(),
            "--tenant",
            "Northwind Trading",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "id,title,text,parent\na,A,x,\na,B,y,\n").unwrap();
    let out = run(
        &bin,
        &[
            "--data-dir",
            d,
            "catalog",
            "import",
            bad.to_str().unwrap(),
            "--tenant",
            "Northwind Trading",
            "--title",
            "Bad",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("line 3"), "{}", text(&out));
    // YAML names its own title and version.
    let own = dir.path().join("isms.yml");
    std::fs::write(&own, V1_YAML).unwrap();
    let out = run(
        &bin,
        &[
            "--data-dir",
            d,
            "catalog",
            "import",
            own.to_str().unwrap(),
            "--tenant",
            "Northwind Trading",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("2 requirements"), "{}", text(&out));
    let out = run(
        &bin,
        &[
            "--data-dir",
            d,
            "catalog",
            "import",
            "--baseline",
            "low",
            "--tenant",
            "Nobody",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
