//! The subcommands. Each returns the process exit code; results go to standard output,
//! diagnostics to standard error, logs (JSON) to standard error.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a CLI speaks on stdout/stderr

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use attest_config::{Config, SecretExt as _};
use attest_crypto::{Keyring, KeyringSource};
use attest_domain::audit::{self, AuditLog, AuditRecord, Outcome};
use attest_domain::keys::KeyService;
use attest_types::{Actor, Clock, SystemClock, TenantId};

use crate::cli::{AdminAction, AuditAction, CatalogAction, Command, ConfigAction, KeysAction};
use crate::launch::{Launch, launch};
use crate::prepare;

/// Exit code for a configuration or start-up refusal.
pub const EXIT_CONFIG: u8 = 2;
/// Exit code when `audit verify` finds a broken chain.
pub const EXIT_TAMPERED: u8 = 3;
/// Exit code of an operator command refused for want of the tenant's grant (SEC-39).
pub const EXIT_DENIED: u8 = 4;

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

/// Runs a command with a loaded configuration.
pub async fn run(command: Command, cfg: Config, config_file: Option<&Path>) -> ExitCode {
    let secrets_in_file = match config_file.map(Config::secrets_in_file).transpose() {
        Ok(found) => found.unwrap_or_default(),
        Err(e) => return fail(EXIT_CONFIG, e),
    };
    match command {
        Command::Serve { migrate, .. } => serve(cfg, secrets_in_file, migrate).await,
        Command::Migrate => migrate(&cfg).await,
        Command::Config {
            action: ConfigAction::Check,
        } => config_check(&cfg, &secrets_in_file),
        Command::Audit {
            action: AuditAction::Verify { tenant },
        } => audit_verify(&cfg, tenant.as_deref()).await,
        Command::Keys {
            action: KeysAction::Rotate,
        } => keys_rotate(&cfg).await,
        Command::Admin {
            action: AdminAction::DbRoles { database },
        } => {
            print!("{}", db_roles_sql(&database));
            ExitCode::SUCCESS
        }
        Command::Admin { action } => admin(&cfg, action).await,
        Command::Catalog { action } => catalog(&cfg, action).await,
        Command::Dev { action } => dev(&cfg, action).await,
    }
}

/// `attest dev seed`: synthetic programme data in a new tenant, for benchmarks and
/// demonstrations. The compliance manager's password is read from standard input; the
/// performer and reviewer get random passwords nobody knows.
async fn dev(cfg: &Config, action: crate::cli::DevAction) -> ExitCode {
    let crate::cli::DevAction::Seed {
        tenant,
        manager_email,
        controls,
        runs_per_control,
        audit_events,
        risks,
        ..
    } = action;
    let mut password = attest_crypto::Zeroizing::new(String::new());
    if std::io::stdin().read_line(&mut password).is_err() {
        return fail(
            EXIT_CONFIG,
            "could not read the password from standard input",
        );
    }
    let password =
        attest_crypto::Zeroizing::new(password.trim_end_matches(['\r', '\n']).to_owned());
    let (db, audit, identity, keys) = match operator_services(cfg).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let code = async {
        if let Ok(Some(_)) = attest_db::identity::tenant_by_name(&db, &tenant).await {
            return fail(EXIT_CONFIG, format!("--tenant: {tenant:?} exists; seed a new organisation"));
        }
        if let Err(e) = identity.create_tenant(&tenant, Actor::Operator).await {
            return fail(1, e);
        }
        let slug: String = tenant.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase();
        let mut people = Vec::new();
        for (email, name, role, pw) in [
            (manager_email.clone(), "Seed manager".to_owned(), attest_types::Role::Manager, password.clone()),
            (format!("performer@{slug}.seed.invalid"), "Seed performer".to_owned(), attest_types::Role::Contributor, random_password()),
            (format!("reviewer@{slug}.seed.invalid"), "Seed reviewer".to_owned(), attest_types::Role::Contributor, random_password()),
        ] {
            match identity.create_member(&tenant, &email, &name, role, pw, Actor::Operator).await {
                Ok(id) => people.push(id),
                Err(e) => return fail(EXIT_CONFIG, e),
            }
        }
        let Ok(Some(t)) = attest_db::identity::tenant_by_name(&db, &tenant).await else {
            return fail(1, "the new organisation vanished");
        };
        let clock: Arc<dyn attest_types::Clock> = Arc::new(SystemClock);
        let report = match attest_domain::seed::seed(
            &db,
            &keys,
            &audit,
            &clock,
            t,
            attest_domain::seed::SeedPeople { manager: people[0], performer: people[1], reviewer: people[2] },
            attest_domain::seed::SeedSize { controls, runs_per_control, audit_events, risks },
        )
        .await
        {
            Ok(r) => r,
            Err(e) => return fail(1, e),
        };
        // Fresh statistics before a million runs are read back (PostgreSQL: as the owner).
        match attest_db::Db::connect(
            cfg.migration_url().reveal(),
            attest_db::ConnectOptions::sized(1),
        )
        .await
        {
            Ok(owner) => {
                let analyzed = attest_db::migrate::analyze(&owner).await;
                owner.close().await;
                if let Err(e) = analyzed {
                    return fail(1, format!("ANALYZE as the owner role (database.migration_url): {e}"));
                }
            }
            Err(e) => return fail(1, format!("cannot open with the owner role (database.migration_url): {e}")),
        }
        let started = std::time::Instant::now();
        let activities = attest_domain::activities::Activities::new(db.clone(), audit.clone(), identity.mailer().clone(), Arc::clone(&clock));
        let rechecked = match activities.recheck_tenant(t).await {
            Ok(n) => n,
            Err(e) => return fail(1, e),
        };
        if let Err(e) = activities.compact_tallies(t).await {
            return fail(1, e);
        }
        println!(
            "seeded {tenant}: {} controls, {} activities, {} runs ({} approved), {} evidence links, {} risks, {} audit events in {:.1} s; effectiveness of {rechecked} controls computed in {:.1} s",
            report.controls, report.activities, report.runs, report.approved, report.evidence_links, report.risks, report.audit_events, report.seconds, started.elapsed().as_secs_f64()
        );
        ExitCode::SUCCESS
    }
    .await;
    audit.shutdown().await;
    db.close().await;
    code
}

fn random_password() -> attest_crypto::Zeroizing<String> {
    attest_crypto::Zeroizing::new(attest_crypto::random::token().unwrap_or_else(|_| "x".repeat(40)))
}

/// `attest catalog import`: a framework into a tenant, as the operator.
async fn catalog(cfg: &Config, action: CatalogAction) -> ExitCode {
    use attest_domain::catalog::Baseline;
    use attest_domain::frameworks::{Frameworks, ImportSource};
    let CatalogAction::Import {
        file,
        baseline,
        tenant,
        title,
        version,
    } = action;
    let source = match (baseline, file) {
        (Some(b), _) => match Baseline::parse(&b) {
            Some(b) => ImportSource::Baseline(b),
            None => return fail(EXIT_CONFIG, "--baseline: choose low, moderate or high"),
        },
        (None, Some(path)) => {
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => return fail(EXIT_CONFIG, format!("{}: {e}", path.display())),
            };
            let extension = path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .unwrap_or_default();
            let file_name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match extension.as_str() {
                "csv" => {
                    let Some(title) = title else {
                        return fail(EXIT_CONFIG, "--title: a CSV framework needs a title");
                    };
                    ImportSource::Csv {
                        bytes,
                        title,
                        version: version.unwrap_or_else(|| "1".to_owned()),
                        file_name,
                    }
                }
                "yaml" | "yml" => ImportSource::Yaml {
                    bytes,
                    title: title.unwrap_or_default(),
                    version: version.unwrap_or_default(),
                    file_name,
                },
                _ => ImportSource::Oscal(bytes),
            }
        }
        (None, None) => return fail(EXIT_CONFIG, "name a file or --baseline"),
    };
    let (db, audit, _) = match operator_identity(cfg).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let code = match attest_db::identity::tenant_by_name(&db, &tenant).await {
        Ok(Some(t)) => {
            let frameworks = Frameworks::new(db.clone(), audit.clone(), Arc::new(SystemClock));
            match frameworks.import_as_operator(t, source).await {
                Ok((id, n)) => {
                    println!("imported framework {id} into {tenant}: {n} requirements");
                    ExitCode::SUCCESS
                }
                Err(attest_domain::frameworks::FrameworkError::Catalog(e)) => fail(
                    1,
                    format!("the catalog was refused, nothing was imported: {e}"),
                ),
                Err(e) => fail(1, e),
            }
        }
        Ok(None) => fail(
            EXIT_CONFIG,
            format!("--tenant: no organisation is named {tenant:?}"),
        ),
        Err(e) => fail(1, e),
    };
    audit.shutdown().await;
    db.close().await;
    code
}

async fn serve(cfg: Config, secrets_in_file: Vec<&'static str>, migrate: bool) -> ExitCode {
    // Signal handlers first: a SIGTERM that arrives while starting still drains cleanly.
    let signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => return fail(1, format!("cannot install signal handlers: {e}")),
    };
    let launched = match launch(Launch {
        config: cfg,
        secrets_in_file,
        clock: Arc::new(SystemClock),
        extra_routes: None,
        migrate,
    })
    .await
    {
        Ok(l) => l,
        Err(e) => return fail(EXIT_CONFIG, e),
    };
    // Written in one go, and a closed standard output (a supervisor that stopped reading)
    // must not bring the server down.
    let mut banner = format!("Attest is listening on {}/\n", launched.public_url);
    if let Some(link) = &launched.bootstrap_link {
        // The one place a bootstrap token is shown: the operator's terminal (never the log).
        banner.push_str("No administrator exists yet. Open this one-time link within 24 hours to create the first one:\n");
        banner.push_str(&format!("  {link}\n"));
    }
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }
    tracing::info!(url = %launched.public_url, addr = %launched.https_addr(), "listening");
    signals.wait(&launched).await;
    tracing::info!("shutting down: draining in-flight requests");
    launched.shutdown().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// SIGTERM, SIGINT (stop) and SIGHUP (reload).
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn wait(mut self, launched: &crate::launch::Launched) {
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
                _ = self.hup.recv() => {
                    tracing::info!("SIGHUP: reloading the certificate and the keyring");
                    launched.reload();
                }
            }
        }
    }
}

async fn migrate(cfg: &Config) -> ExitCode {
    if let Err(e) = prepare::ensure_data_dir(&cfg.data_dir) {
        return fail(EXIT_CONFIG, e);
    }
    // On a brand-new installation the pepper and keyring are made now, beside the schema, so
    // that a later `serve` finds a complete installation.
    match prepare::open_db(cfg, cfg.database_url().reveal()).await {
        Ok(opened) => {
            let clock = SystemClock;
            let keys = prepare::pepper(cfg, opened.fresh, &clock)
                .and_then(|_| prepare::keyring(cfg, opened.fresh, &clock));
            opened.db.close().await;
            if let Err(e) = keys {
                return fail(EXIT_CONFIG, e);
            }
        }
        Err(e) => return fail(1, e),
    }
    match prepare::run_migrations(cfg).await {
        Ok(applied) if applied.is_empty() => {
            println!("The database is up to date.");
            ExitCode::SUCCESS
        }
        Ok(applied) => {
            for name in &applied {
                println!("applied {name}");
            }
            record_operator_events(cfg, "migration.apply", &applied).await;
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, e),
    }
}

async fn record_operator_events(cfg: &Config, action: &str, names: &[String]) {
    let Ok(opened) = prepare::open_db(cfg, cfg.database_url().reveal()).await else {
        return;
    };
    let audit = AuditLog::start(opened.db.clone(), Arc::new(SystemClock), 16);
    for name in names {
        let _ = audit
            .record(
                AuditRecord::system(Actor::Operator, action, Outcome::Success)
                    .details(serde_json::json!({ "migration": name })),
            )
            .await;
    }
    audit.shutdown().await;
    opened.db.close().await;
}

fn config_check(cfg: &Config, secrets_in_file: &[&'static str]) -> ExitCode {
    print!("{}", cfg.effective_toml());
    let problems = attest_config::production_problems(cfg, secrets_in_file);
    if problems.is_empty() {
        for key in secrets_in_file {
            eprintln!("warning: {key} holds a secret in clear in the configuration file");
        }
        eprintln!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    for p in &problems {
        eprintln!("error: [{}] {}", p.check, p.message);
    }
    ExitCode::from(EXIT_CONFIG)
}

async fn open_existing(cfg: &Config) -> Result<attest_db::Db, ExitCode> {
    let url = cfg.database_url();
    if let Some(file) = prepare::sqlite_file(url.reveal())
        && !file.exists()
    {
        return Err(fail(
            1,
            format!("no database at {} (database.url)", file.display()),
        ));
    }
    prepare::open_db(cfg, url.reveal())
        .await
        .map(|o| o.db)
        .map_err(|e| fail(1, e))
}

async fn audit_verify(cfg: &Config, tenant: Option<&str>) -> ExitCode {
    let only = match tenant {
        None => None,
        Some("system") => Some(None),
        Some(t) => match t.parse::<TenantId>() {
            Ok(id) => Some(Some(id)),
            Err(_) => return fail(EXIT_CONFIG, "--tenant takes a tenant id or `system`"),
        },
    };
    let db = match open_existing(cfg).await {
        Ok(db) => db,
        Err(code) => return code,
    };
    let report = audit::verify(&db, only).await;
    db.close().await;
    match report {
        Err(e) => fail(1, e),
        Ok(r) if r.breaks.is_empty() => {
            println!(
                "audit trail intact: {} chain(s), {} entries verified",
                r.chains, r.entries
            );
            ExitCode::SUCCESS
        }
        Ok(r) => {
            for b in &r.breaks {
                println!("TAMPERED {b}");
            }
            eprintln!(
                "error: {} of {} chain(s) are broken",
                r.breaks.len(),
                r.chains
            );
            ExitCode::from(EXIT_TAMPERED)
        }
    }
}

async fn keys_rotate(cfg: &Config) -> ExitCode {
    if cfg.keys.keyring.is_some() {
        return fail(
            EXIT_CONFIG,
            "the keyring is given inline (keys.keyring); add the new key in your secret store, then run this with keys.keyring_file pointing at the new keyring",
        );
    }
    let clock = SystemClock;
    let path = cfg.keyring_path();
    let db = match open_existing(cfg).await {
        Ok(db) => db,
        Err(code) => return code,
    };
    let version = match Keyring::rotate_file(&path, clock.now()) {
        Ok(v) => v,
        Err(e) => return fail(1, e),
    };
    let keyring = match Keyring::load(KeyringSource::File(path)) {
        Ok(k) => Arc::new(k),
        Err(e) => return fail(1, e),
    };
    let audit = AuditLog::start(db.clone(), Arc::new(SystemClock), 16);
    let keys = KeyService::new(db.clone(), keyring, Arc::new(SystemClock));
    let result = keys.rewrap_all(&audit, Actor::Operator).await;
    audit.shutdown().await;
    db.close().await;
    match result {
        Ok(report) => {
            println!(
                "key-encryption key version {version} is now current; {} data key(s) re-wrapped",
                report.rewrapped
            );
            println!("running servers pick the new key up on their own (or send them SIGHUP)");
            ExitCode::SUCCESS
        }
        Err(e) => fail(
            1,
            format!(
                "re-wrapping failed, nothing was changed in the database ({e}); the keyring already holds version {version}, run the command again"
            ),
        ),
    }
}

/// The identity services for an operator command, on an existing, current database.
async fn operator_identity(
    cfg: &Config,
) -> Result<(attest_db::Db, AuditLog, attest_domain::identity::Identity), ExitCode> {
    operator_services(cfg)
        .await
        .map(|(db, audit, identity, _)| (db, audit, identity))
}

/// The operator's services: the database, the audit trail, identity and the keys.
async fn operator_services(
    cfg: &Config,
) -> Result<
    (
        attest_db::Db,
        AuditLog,
        attest_domain::identity::Identity,
        Arc<KeyService>,
    ),
    ExitCode,
> {
    let db = open_existing(cfg).await?;
    match attest_db::migrate::pending(&db).await {
        Ok(p) if p.is_empty() => {}
        Ok(_) => {
            return Err(fail(
                EXIT_CONFIG,
                "migrations are pending; run `attest migrate` first",
            ));
        }
        Err(e) => return Err(fail(1, e)),
    }
    let pepper = prepare::pepper(cfg, false, &SystemClock).map_err(|e| fail(EXIT_CONFIG, e))?;
    let hasher = attest_crypto::password::PasswordHasher::new(
        attest_crypto::password::PasswordParams {
            memory_kib: cfg.auth.argon2_memory_kib,
            iterations: cfg.auth.argon2_iterations,
            parallelism: 1,
        },
        Arc::new(pepper),
    )
    .map_err(|e| fail(EXIT_CONFIG, e))?;
    let audit = AuditLog::start(db.clone(), Arc::new(SystemClock), 16);
    let keyring = prepare::keyring(cfg, false, &SystemClock).map_err(|e| fail(EXIT_CONFIG, e))?;
    let keys = Arc::new(KeyService::new(db.clone(), keyring, Arc::new(SystemClock)));
    let identity = attest_domain::identity::Identity::new(
        db.clone(),
        audit.clone(),
        Arc::new(SystemClock),
        attest_domain::authn::hashing::HashingPool::new(hasher),
        attest_domain::authn::sessions::SessionPolicy::default(),
        attest_domain::mail::Mailer::new(db.clone(), Arc::clone(&keys), Arc::new(SystemClock)),
        Arc::clone(&keys),
    );
    Ok((db, audit, identity, keys))
}

async fn admin(cfg: &Config, action: AdminAction) -> ExitCode {
    let (db, audit, identity) = match operator_identity(cfg).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let code = match action {
        AdminAction::Bootstrap => match identity.issue_bootstrap().await {
            Ok(Some(token)) => {
                println!(
                    "Open this one-time link within 24 hours to create the first administrator:"
                );
                println!("  {}/bootstrap/{}", cfg.public_url(), token.as_str());
                ExitCode::SUCCESS
            }
            Ok(None) => fail(
                EXIT_CONFIG,
                "the installation already has users; administrators invite new members instead",
            ),
            Err(e) => fail(1, e),
        },
        AdminAction::CreateTenant { name } => {
            match identity.create_tenant(&name, Actor::Operator).await {
                Ok(id) => {
                    println!("created tenant {id}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(EXIT_CONFIG, e),
            }
        }
        AdminAction::CreateUser {
            tenant,
            email,
            name,
            role,
            ..
        } => {
            let Ok(role) = role.parse::<attest_types::Role>() else {
                return fail(
                    EXIT_CONFIG,
                    "--role must be owner, admin, manager, contributor, auditor or external",
                );
            };
            let mut password = attest_crypto::Zeroizing::new(String::new());
            if std::io::stdin().read_line(&mut password).is_err() {
                return fail(
                    EXIT_CONFIG,
                    "could not read the password from standard input",
                );
            }
            let trimmed =
                attest_crypto::Zeroizing::new(password.trim_end_matches(['\r', '\n']).to_owned());
            let name =
                name.unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
            match identity
                .create_member(&tenant, &email, &name, role, trimmed, Actor::Operator)
                .await
            {
                Ok(id) => {
                    println!("created member {id}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(EXIT_CONFIG, e),
            }
        }
        AdminAction::DisableUser { email } => {
            match identity.set_user_disabled(&email, true).await {
                Ok(n) => {
                    println!("disabled {email}; {n} session(s) ended");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(EXIT_CONFIG, e),
            }
        }
        AdminAction::EnableUser { email } => {
            match identity.set_user_disabled(&email, false).await {
                Ok(_) => {
                    println!("enabled {email}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(EXIT_CONFIG, e),
            }
        }
        AdminAction::TenantDocuments { tenant } => {
            use attest_domain::operator_access::OperatorRefusal;
            match identity.operator_documents(&tenant).await {
                Ok(docs) => {
                    println!("{} document(s) in {tenant}:", docs.len());
                    for d in docs {
                        println!(
                            "{}\t{}\tv{}\t{}",
                            d.id, d.classification, d.version, d.title
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(OperatorRefusal::NoGrant) => fail(
                    EXIT_DENIED,
                    "refused: the tenant's owners or admins have not granted operator access (or it expired); the attempt is in their audit trail",
                ),
                Err(e @ OperatorRefusal::UnknownTenant) => fail(EXIT_CONFIG, e),
                Err(e) => fail(1, e),
            }
        }
        AdminAction::DbRoles { .. } => ExitCode::SUCCESS,
    };
    audit.shutdown().await;
    db.close().await;
    code
}

/// The SQL an operator runs (as a superuser) to create the two PostgreSQL roles.
#[must_use]
pub fn db_roles_sql(database: &str) -> String {
    let db = database.replace('"', "");
    format!(
        r#"-- Run as a PostgreSQL superuser. Replace both passwords (or use certificate auth).
-- attest_owner owns the schema and runs `attest migrate` (database.migration_url).
-- attest_app is what `attest serve` connects as (database.url): no DDL, no BYPASSRLS,
-- and on the audit trail only SELECT and INSERT (granted by the migrations).
CREATE ROLE attest_owner LOGIN PASSWORD 'change-me-owner' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE ROLE attest_app   LOGIN PASSWORD 'change-me-app'   NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
CREATE DATABASE "{db}" OWNER attest_owner;
\connect "{db}"
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO attest_owner;
GRANT USAGE ON SCHEMA public TO attest_app;
-- Then: ATTEST_DATABASE__MIGRATION_URL=postgres://attest_owner:…@host/{db}?sslmode=verify-full attest migrate
--       ATTEST_DATABASE__URL=postgres://attest_app:…@host/{db}?sslmode=verify-full attest serve
"#
    )
}
