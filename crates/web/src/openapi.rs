//! The OpenAPI 3.0 document of `/api/v1`, served at `GET /api/v1/openapi.json`. It is built
//! from the code: the paths, methods and security of each operation come from
//! [`crate::router::ROUTES`] (a route's [`Access`]), and request bodies are the JSON schemas
//! of the very structs the handlers deserialise (schemars). [`OPERATIONS`] adds what the code
//! cannot say: a summary and the success status. The integration suite fails when the
//! document and the router differ in a single API route or method.

use axum::Json;
use axum::response::{IntoResponse, Response};
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use crate::policy::Access;
use crate::router::ROUTES;
use crate::routes::{
    access_reviews, account, activities, auth, controls, documents, email, evidence, frameworks,
    mfa, passkeys, risks, runs, sso, tokens,
};

/// A request body: its schema and how it is encoded.
type Body = (fn(&mut SchemaGenerator) -> schemars::Schema, &'static str);

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";
/// File uploads: the fields in the schema's order, then `file`.
const MULTIPART: &str = "multipart/form-data";

/// One operation of the API.
pub struct Operation {
    /// `GET`, `POST`, …
    pub method: &'static str,
    /// The route pattern, as in `ROUTES`.
    pub path: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Its body, if it takes one.
    body: Option<Body>,
    /// The success status.
    pub success: u16,
}

impl std::fmt::Debug for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

macro_rules! op {
    ($m:literal, $p:literal, $s:literal, $ok:literal) => {
        Operation {
            method: $m,
            path: $p,
            summary: $s,
            body: None,
            success: $ok,
        }
    };
    ($m:literal, $p:literal, $s:literal, $ok:literal, $t:ty, $enc:expr) => {
        Operation {
            method: $m,
            path: $p,
            summary: $s,
            body: Some((|g| g.subschema_for::<$t>(), $enc)),
            success: $ok,
        }
    };
}

/// Every operation under `/api/v1`.
pub const OPERATIONS: &[Operation] = &[
    op!("GET", "/api/v1/openapi.json", "This document.", 200),
    op!(
        "POST",
        "/api/v1/login",
        "Sign in with email and password; may answer that a second factor is needed.",
        200,
        auth::LoginForm,
        FORM
    ),
    op!("POST", "/api/v1/logout", "Sign out: the session ends.", 204),
    op!(
        "POST",
        "/api/v1/login/second-factor",
        "Finish a sign-in with a TOTP code, a recovery code or a passkey answer.",
        200,
        mfa::SecondFactorForm,
        FORM
    ),
    op!(
        "POST",
        "/api/v1/login/second-factor/passkey/begin",
        "Start a passkey answer for the second step of a sign-in.",
        200
    ),
    op!(
        "POST",
        "/api/v1/login/passkey/begin",
        "Start a passwordless sign-in with a passkey.",
        200
    ),
    op!(
        "POST",
        "/api/v1/login/passkey",
        "Finish a passwordless sign-in with a passkey.",
        200
    ),
    op!(
        "POST",
        "/api/v1/reauth",
        "Prove presence again (step-up) before a sensitive action.",
        200,
        mfa::ReauthForm,
        JSON
    ),
    op!(
        "POST",
        "/api/v1/reauth/passkey/begin",
        "Start a passkey step-up.",
        200
    ),
    op!(
        "GET",
        "/api/v1/account",
        "Who am I: user, tenant, role and the CSRF token.",
        200
    ),
    op!(
        "POST",
        "/api/v1/account/password",
        "Change the password (needs the current one); other sessions end.",
        200,
        account::PasswordForm,
        FORM
    ),
    op!(
        "PATCH",
        "/api/v1/account/email",
        "Ask to change the email address; a link confirms it.",
        202,
        email::EmailForm,
        JSON
    ),
    op!(
        "GET",
        "/api/v1/account/sessions",
        "The account's live sessions.",
        200
    ),
    op!(
        "DELETE",
        "/api/v1/account/sessions/{id}",
        "End one of the account's sessions.",
        204
    ),
    op!(
        "GET",
        "/api/v1/account/mfa/methods",
        "The account's second factors.",
        200
    ),
    op!(
        "POST",
        "/api/v1/account/mfa/totp",
        "Start enrolling an authenticator app (needs a recent proof).",
        200
    ),
    op!(
        "DELETE",
        "/api/v1/account/mfa/totp",
        "Remove the authenticator app (needs a recent proof).",
        204
    ),
    op!(
        "POST",
        "/api/v1/account/mfa/totp/confirm",
        "Confirm the authenticator app with a code.",
        200,
        mfa::CodeForm,
        JSON
    ),
    op!(
        "POST",
        "/api/v1/account/mfa/recovery-codes",
        "Replace the recovery codes (shown once).",
        200
    ),
    op!(
        "POST",
        "/api/v1/account/mfa/{method}",
        "Enrol a second factor by method name (only `totp`; SMS is never offered).",
        200
    ),
    op!(
        "POST",
        "/api/v1/account/passkeys/begin",
        "Start registering a passkey (needs a recent proof).",
        200
    ),
    op!(
        "GET",
        "/api/v1/account/passkeys",
        "The account's passkeys.",
        200
    ),
    op!(
        "POST",
        "/api/v1/account/passkeys",
        "Finish registering a passkey.",
        201,
        passkeys::RegisterBody,
        JSON
    ),
    op!(
        "DELETE",
        "/api/v1/account/passkeys/{id}",
        "Remove a passkey (needs a recent proof).",
        204
    ),
    op!(
        "GET",
        "/api/v1/account/tokens",
        "The account's API tokens (never the tokens themselves).",
        200
    ),
    op!(
        "POST",
        "/api/v1/account/tokens",
        "Create an API token, shown once (needs a recent proof).",
        201,
        tokens::CreateForm,
        JSON
    ),
    op!(
        "DELETE",
        "/api/v1/account/tokens/{id}",
        "Revoke an API token.",
        204
    ),
    op!(
        "PUT",
        "/api/v1/tenant/mfa-policy",
        "Require a second factor of every member (owners and admins).",
        200,
        mfa::PolicyForm,
        JSON
    ),
    op!(
        "GET",
        "/api/v1/tenant/sso",
        "The tenant's single sign-on settings, without the secret (owners and admins).",
        200
    ),
    op!(
        "PUT",
        "/api/v1/tenant/sso",
        "Configure single sign-on (owners and admins; needs a recent proof).",
        200,
        sso::SettingsForm,
        JSON
    ),
    op!(
        "GET",
        "/api/v1/access-reviews",
        "The tenant's access reviews (owners and admins).",
        200
    ),
    op!(
        "POST",
        "/api/v1/access-reviews",
        "Start an access review of every membership (owners and admins).",
        201,
        access_reviews::StartForm,
        JSON
    ),
    op!(
        "GET",
        "/api/v1/access-reviews/{id}",
        "An access review with its memberships and decisions.",
        200
    ),
    op!(
        "POST",
        "/api/v1/access-reviews/{id}/items/{item}",
        "Confirm or revoke a membership (owners; never one's own); a revocation ends the member's sessions and tokens.",
        204,
        access_reviews::DecisionForm,
        JSON
    ),
    op!(
        "GET",
        "/api/v1/documents",
        "Documents the caller sees, most recently changed first (`classification`, `after`, `limit` ≤ 100).",
        200
    ),
    op!(
        "POST",
        "/api/v1/documents",
        "Create a document (contributors and above); the body is sanitised.",
        201,
        documents::DocumentForm,
        JSON
    ),
    op!(
        "GET",
        "/api/v1/documents/{id}",
        "A document with its current body and the caller's permissions.",
        200
    ),
    op!(
        "PUT",
        "/api/v1/documents/{id}",
        "Save a new version; `version` is the one edited (409 when stale).",
        200,
        documents::DocumentForm,
        JSON
    ),
    op!(
        "DELETE",
        "/api/v1/documents/{id}",
        "Delete a document with its versions and shares.",
        204
    ),
    op!(
        "GET",
        "/api/v1/documents/{id}/versions",
        "A document's versions (not for members limited to shared items).",
        200
    ),
    op!(
        "GET",
        "/api/v1/documents/{id}/versions/{n}",
        "A document as it was at version n.",
        200
    ),
    op!(
        "GET",
        "/api/v1/documents/{id}/shares",
        "A document's shares and who it can be shared with (compliance managers and above).",
        200
    ),
    op!(
        "POST",
        "/api/v1/documents/{id}/shares",
        "Share a document with an external member or a scope-limited auditor until a date.",
        201,
        documents::ShareForm,
        JSON
    ),
    op!(
        "DELETE",
        "/api/v1/documents/{id}/shares/{share}",
        "Stop sharing; effective on the recipient's next request.",
        204
    ),
    op!("GET", "/api/v1/frameworks", "The tenant's frameworks.", 200),
    op!(
        "POST",
        "/api/v1/frameworks",
        "Import a framework: a shipped NIST baseline (`baseline`), or an OSCAL catalog or CSV file as the last part. One transaction: 422 naming the line or entry, and nothing stored, when the file is refused.",
        201,
        frameworks::ImportFields,
        MULTIPART
    ),
    op!(
        "GET",
        "/api/v1/frameworks/{id}",
        "A framework with its requirements in order and its versions with what each changed.",
        200
    ),
    op!(
        "DELETE",
        "/api/v1/frameworks/{id}",
        "Delete a framework with its requirements and history.",
        204
    ),
    op!(
        "POST",
        "/api/v1/frameworks/{id}/versions",
        "Import a newer version: requirements matched by id are updated, new ones added, missing ones withdrawn. Answers what changed.",
        201,
        frameworks::ImportFields,
        MULTIPART
    ),
    op!(
        "GET",
        "/api/v1/frameworks/{id}/oscal.json",
        "The framework as an OSCAL catalog (JSON); audited.",
        200
    ),
    op!(
        "GET",
        "/api/v1/frameworks/{id}/requirements/{req}",
        "One requirement with its statement and guidance.",
        200
    ),
    op!(
        "GET",
        "/api/v1/frameworks/{id}/soa",
        "The statement of applicability: every current requirement, whether it applies and why, and how many controls (implemented ones apart) meet it.",
        200
    ),
    op!(
        "GET",
        "/api/v1/frameworks/{id}/soa.csv",
        "The statement of applicability as CSV (requirement, title, applies, reason, controls), formulas neutralised; audited.",
        200
    ),
    op!(
        "PUT",
        "/api/v1/frameworks/{id}/soa/{req}",
        "Record whether a requirement applies; one that does not needs a reason. Audited.",
        204,
        controls::ApplicabilityForm,
        JSON
    ),
    op!(
        "GET",
        "/api/v1/controls",
        "A page of controls (filters: status, owner, framework, q; sort: ref, title, updated; keyset: after, limit).",
        200
    ),
    op!(
        "POST",
        "/api/v1/controls",
        "Create a control (compliance managers and above).",
        201,
        controls::ControlForm,
        JSON
    ),
    op!(
        "GET",
        "/api/v1/documents.csv",
        "Every document the caller sees matching the list's filter, as CSV (titles and metadata, no bodies) with spreadsheet formulas neutralised; audited.",
        200
    ),
    op!(
        "GET",
        "/api/v1/evidence.csv",
        "Every evidence record the caller sees matching the list's filters, as CSV with spreadsheet formulas neutralised; audited.",
        200
    ),
    op!(
        "GET",
        "/api/v1/controls.csv",
        "Every control matching the list's filters, as CSV with spreadsheet formulas neutralised; audited.",
        200
    ),
    op!(
        "GET",
        "/api/v1/controls/{id}",
        "A control with its description and the requirements it is mapped to; audited.",
        200
    ),
    op!(
        "PUT",
        "/api/v1/controls/{id}",
        "Change a control (compliance managers and above, or its owner).",
        204,
        controls::ControlForm,
        JSON
    ),
    op!(
        "DELETE",
        "/api/v1/controls/{id}",
        "Delete a control with its mappings.",
        204
    ),
    op!(
        "POST",
        "/api/v1/controls/{id}/mappings",
        "Map a control to a requirement, by its id or by its label within a framework.",
        201,
        controls::MapForm,
        JSON
    ),
    op!(
        "DELETE",
        "/api/v1/controls/{id}/mappings/{req}",
        "Remove a mapping.",
        204
    ),
    op!(
        "GET",
        "/api/v1/controls/{id}/activities",
        "A control's recurring activities.",
        200
    ),
    op!(
        "POST",
        "/api/v1/controls/{id}/activities",
        "Define a recurring activity (schedule, performer, reviewer — never the same person) and schedule its runs.",
        201,
        activities::ActivityForm,
        JSON
    ),
    op!(
        "GET",
        "/api/v1/activities/{id}",
        "An activity with its latest runs.",
        200
    ),
    op!(
        "PUT",
        "/api/v1/activities/{id}",
        "Change an activity; a changed schedule replaces the runs not yet worked on and not yet due.",
        204,
        activities::ActivityForm,
        JSON
    ),
    op!(
        "GET",
        "/api/v1/runs",
        "A page of activity runs by due date (show: open, overdue, review, approved, all; mine: perform, review; control; keyset: after, limit).",
        200
    ),
    op!(
        "GET",
        "/api/v1/runs.csv",
        "The runs matching the list's filters as CSV, spreadsheet formulas neutralised; audited.",
        200
    ),
    op!(
        "GET",
        "/api/v1/runs/{id}",
        "A run with its evidence (and whether each covers the period), history and what the caller may do; audited.",
        200
    ),
    op!(
        "POST",
        "/api/v1/runs/{id}/perform",
        "Record a run's result, findings and evidence and submit it for review.",
        204,
        runs::PerformJson,
        JSON
    ),
    op!(
        "POST",
        "/api/v1/runs/{id}/review",
        "Approve a submitted run or return it with remarks; never by its performer (403 four_eyes).",
        204,
        runs::ReviewForm,
        JSON
    ),
    op!(
        "GET",
        "/api/v1/tasks",
        "The caller's runs to perform and to review.",
        200
    ),
    op!(
        "GET",
        "/api/v1/dashboard",
        "The programme at a glance: framework coverage, controls by effectiveness, overdue runs, the risk heat maps and the caller's tasks.",
        200
    ),
    op!(
        "GET",
        "/api/v1/risks",
        "A page of the risk register (filters: treatment, acceptance, owner, category, q, review=due; sort: residual, inherent, title, review; keyset: after, limit).",
        200
    ),
    op!(
        "POST",
        "/api/v1/risks",
        "Add a risk with its inherent and residual scores, treatment and controls.",
        201,
        risks::RiskForm,
        JSON
    ),
    op!(
        "GET",
        "/api/v1/risks.csv",
        "The risks matching the list's filters as CSV, spreadsheet formulas neutralised; audited.",
        200
    ),
    op!(
        "GET",
        "/api/v1/risks/{id}",
        "A risk with its description, controls and history; audited.",
        200
    ),
    op!(
        "PUT",
        "/api/v1/risks/{id}",
        "Change a risk at the version read (409 if it changed since); a changed treatment or residual score withdraws its acceptance.",
        204,
        risks::RiskForm,
        JSON
    ),
    op!("DELETE", "/api/v1/risks/{id}", "Delete a risk.", 204),
    op!(
        "POST",
        "/api/v1/risks/{id}/acceptance",
        "Ask for a risk treated by acceptance to be accepted, with the reason.",
        204,
        risks::AcceptanceForm,
        JSON
    ),
    op!(
        "POST",
        "/api/v1/risks/{id}/decision",
        "Approve or reject a requested acceptance; never by its requester (403 four_eyes).",
        204,
        risks::DecisionForm,
        JSON
    ),
    op!(
        "POST",
        "/api/v1/risks/{id}/reassess",
        "Record that a risk was reassessed and nothing changed.",
        204
    ),
    op!(
        "GET",
        "/api/v1/risk-scales",
        "The tenant's likelihood and impact scales.",
        200
    ),
    op!(
        "PUT",
        "/api/v1/risk-scales",
        "Set the scales: 3 to 10 named levels each, not fewer than the risks use.",
        204,
        risks::ScalesForm,
        JSON
    ),
    op!(
        "GET",
        "/api/v1/evidence",
        "A page of the evidence library (filters: classification, tag, owner, effective_on; keyset: after, limit).",
        200
    ),
    op!(
        "POST",
        "/api/v1/evidence",
        "Add evidence: the fields, then the file as the last part (or a link). 413 over the file limit or the quota, 415 for a type not accepted, 422 for a refused archive.",
        201,
        evidence::CreateFields,
        MULTIPART
    ),
    op!(
        "GET",
        "/api/v1/evidence/{id}",
        "A record with its description, versions and the caller's permissions.",
        200
    ),
    op!(
        "PUT",
        "/api/v1/evidence/{id}",
        "Change the title, description, classification, owner and tags.",
        204,
        evidence::EvidenceForm,
        JSON
    ),
    op!(
        "DELETE",
        "/api/v1/evidence/{id}",
        "Delete the record with every version and file (compliance managers and above).",
        204
    ),
    op!(
        "GET",
        "/api/v1/evidence/{id}/versions",
        "The record's versions, newest first.",
        200
    ),
    op!(
        "POST",
        "/api/v1/evidence/{id}/versions",
        "Add a version: the period fields, then the file as the last part (or a link).",
        201,
        evidence::VersionFields,
        MULTIPART
    ),
    op!(
        "GET",
        "/api/v1/evidence/{id}/versions/{n}/download",
        "Download a released file (Range and If-Range honoured: 206, or 416 outside the file); audited.",
        200
    ),
    op!(
        "GET",
        "/api/v1/evidence/{id}/shares",
        "The record's shares and who it can be shared with.",
        200
    ),
    op!(
        "POST",
        "/api/v1/evidence/{id}/shares",
        "Share the record with an external member or a scope-limited auditor until a date.",
        201,
        documents::ShareForm,
        JSON
    ),
    op!(
        "DELETE",
        "/api/v1/evidence/{id}/shares/{share}",
        "Stop sharing; effective on the recipient's next request.",
        204
    ),
];

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { JSON: { "schema": { "$ref": "#/components/schemas/Error" } } },
    })
}

/// Builds the document.
#[must_use]
pub fn document(server_url: &str) -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let mut paths: Map<String, Value> = Map::new();
    for op in OPERATIONS {
        let access = ROUTES
            .iter()
            .find(|r| r.path == op.path)
            .map_or(Access::SignedIn, |r| r.access);
        let mut responses = Map::new();
        responses.insert(op.success.to_string(), json!({ "description": "Success." }));
        let mut operation = Map::new();
        operation.insert("summary".into(), op.summary.into());
        operation.insert(
            "operationId".into(),
            format!("{} {}", op.method.to_lowercase(), op.path).into(),
        );
        let params: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
            })
            .collect();
        if !params.is_empty() {
            operation.insert("parameters".into(), params.into());
            responses.insert(
                "404".into(),
                error_response("Not found, or not visible to the caller (the same answer)."),
            );
        }
        if let Some((schema, encoding)) = op.body {
            operation.insert(
                "requestBody".into(),
                json!({ "required": true, "content": { encoding: { "schema": schema(&mut generator) } } }),
            );
            responses.insert(
                "422".into(),
                error_response("Invalid input, naming the field; nothing changed."),
            );
        }
        if access.is_public() {
            operation.insert("security".into(), json!([]));
        } else {
            responses.insert("401".into(), error_response("No valid session or token."));
            responses.insert(
                "429".into(),
                error_response("Over a request limit; see Retry-After."),
            );
        }
        if matches!(access, Access::Needs(_)) || op.method != "GET" {
            responses.insert(
                "403".into(),
                error_response("The caller's role (or a read-only token) does not allow it."),
            );
        }
        operation.insert("responses".into(), responses.into());
        let entry = paths
            .entry(op.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(op.method.to_lowercase(), operation.into());
        }
    }
    let mut schemas: Map<String, Value> = generator.take_definitions(true);
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error", "message", "id"],
            "properties": {
                "error": { "type": "string", "description": "A stable machine-readable code." },
                "message": { "type": "string" },
                "field": { "type": "string", "description": "The input field, for 422." },
                "id": { "type": "string", "description": "The request id, to quote to an administrator." },
            },
        }),
    );
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Attest API",
            "version": "1",
            "description": "Attest's JSON API. Authenticate with `Authorization: Bearer <API token>` (from /account/tokens), or with the browser session cookie plus the `X-CSRF-Token` header for state changes. Ids are opaque.",
        },
        "servers": [{ "url": server_url }],
        "security": [{ "bearer": [] }, { "session": [] }],
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
                "session": { "type": "apiKey", "in": "cookie", "name": "__Host-attest-session" },
            },
            "schemas": schemas,
        },
        "paths": paths,
    })
}

/// `GET /api/v1/openapi.json`
pub async fn serve(axum::extract::State(state): axum::extract::State<crate::AppState>) -> Response {
    Json(document(&state.settings.public_url)).into_response()
}
