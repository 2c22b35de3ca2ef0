//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Attest: self-hosted risk and compliance.
#[derive(Debug, Parser)]
#[command(name = "attest", about, disable_version_flag = false, version)]
pub struct Cli {
    /// Configuration file (TOML). Every key can also be set as ATTEST_<SECTION>__<KEY>.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (default ./attest-data).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTPS server.
    Serve {
        /// Address and port to listen on (default 127.0.0.1:8443).
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<String>,
        /// Apply pending migrations before serving.
        #[arg(long)]
        migrate: bool,
    },
    /// Apply pending database migrations (as the owner role on PostgreSQL).
    Migrate,
    /// Configuration commands.
    Config {
        /// What to do with the configuration.
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Audit-trail commands.
    Audit {
        /// What to do with the audit trail.
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Key management.
    Keys {
        /// What to do with the keys.
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Framework catalogues.
    Catalog {
        /// What to do with catalogues.
        #[command(subcommand)]
        action: CatalogAction,
    },
    /// Development and benchmark tools.
    Dev {
        #[command(subcommand)]
        action: DevAction,
    },
    /// Operator administration.
    Admin {
        /// What to administer.
        #[command(subcommand)]
        action: AdminAction,
    },
}

/// `attest config …`
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate the configuration and print it with every secret masked.
    Check,
}

/// `attest audit …`
#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Walk the hash chains and report the first changed, removed or reordered entry.
    Verify {
        /// Only this tenant's chain (a tenant id), or `system` for the server's chain.
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// `attest keys …`
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Add a new key-encryption key and re-wrap every data key with it (no downtime).
    Rotate,
}

/// `attest catalog …`
#[derive(Debug, Subcommand)]
pub enum CatalogAction {
    /// Import a framework into a tenant: an OSCAL catalog (`.json`), a CSV file (`.csv`:
    /// `id,title,text,parent`), or with `--baseline` one of the shipped NIST SP 800-53 rev5
    /// baselines. Audited in the tenant's trail; nothing is stored unless all of it is valid.
    Import {
        /// The file (omit with --baseline).
        #[arg(required_unless_present = "baseline", conflicts_with = "baseline")]
        file: Option<PathBuf>,
        /// low, moderate or high: a shipped NIST SP 800-53 rev5 baseline.
        #[arg(long)]
        baseline: Option<String>,
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// The framework's title (CSV files; YAML files that do not name one; OSCAL catalogs
        /// name themselves).
        #[arg(long)]
        title: Option<String>,
        /// The framework's version (CSV and YAML files; default: the file's, or 1).
        #[arg(long)]
        version: Option<String>,
    },
}

/// `attest admin …`
#[derive(Debug, Subcommand)]
pub enum DevAction {
    /// Fill a new organisation with synthetic programme data (benchmarks, demonstrations): the
    /// MODERATE baseline, controls mapped to it, a monthly activity per control with its runs,
    /// evidence, risks and audit events, then every control's effectiveness computed. Creates
    /// the organisation, a compliance manager (password from standard input) and a performer and
    /// reviewer nobody can sign in as.
    Seed {
        /// The new organisation's name (it must not exist).
        #[arg(long)]
        tenant: String,
        /// The compliance manager's email address.
        #[arg(long)]
        manager_email: String,
        /// Controls.
        #[arg(long, default_value_t = 1_000)]
        controls: u32,
        /// Runs per control (monthly; the last three lie ahead).
        #[arg(long, default_value_t = 10)]
        runs_per_control: u32,
        /// Audit events.
        #[arg(long, default_value_t = 10_000)]
        audit_events: u32,
        /// Risks.
        #[arg(long, default_value_t = 200)]
        risks: u32,
        /// Read the manager's password from standard input (required).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Print a new one-time link that creates the first tenant and its owner (only while
    /// the installation has no user; older links stop working).
    Bootstrap,
    /// Disable a user everywhere: every session ends at once; sign-in is refused.
    DisableUser {
        /// The user's email address.
        email: String,
    },
    /// Enable a disabled user again.
    EnableUser {
        /// The user's email address.
        email: String,
    },
    /// Create a tenant.
    CreateTenant {
        /// Its name.
        name: String,
    },
    /// Create a user with a role in a tenant; the password is read from standard input.
    CreateUser {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// The user's email address.
        #[arg(long)]
        email: String,
        /// The user's name (default: the email's local part).
        #[arg(long)]
        name: Option<String>,
        /// owner, admin, manager, contributor, auditor or external.
        #[arg(long)]
        role: String,
        /// Read the password from standard input (required: it never goes on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List a tenant's documents (metadata only): allowed only while one of the tenant's
    /// owners or admins has granted operator access (Members → Operator access); every
    /// attempt is recorded in the tenant's audit trail (SEC-39).
    TenantDocuments {
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
    },
    /// Print the SQL that creates the PostgreSQL owner and app roles.
    DbRoles {
        /// Database name.
        #[arg(long, default_value = "attest")]
        database: String,
    },
}
