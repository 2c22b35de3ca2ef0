#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, layering rules, then every test on
# SQLite and on PostgreSQL. Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Build output lives outside the clone so reruns on the same machine are incremental.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/attest-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

step "prerequisites"
need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
command -v pg_ctlcluster >/dev/null || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing: ${need_apt[*]} (install them, e.g. apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

# The SMTP server the mail tests start (a real process): Python's aiosmtpd.
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check 'aiosmtpd==1.4.6' \
    || { echo "cannot install the Python package aiosmtpd (needed by the mail tests)" >&2; exit 1; }
fi

# The S3 server the evidence tests start (a real process): moto, pinned in
# crates/test-support/peers/moto/requirements.txt.
if ! python3 -c 'import moto, flask; assert moto.__version__ == "5.2.5"' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check -r crates/test-support/peers/moto/requirements.txt \
    || { echo "cannot install moto[server] (needed by the S3 evidence tests)" >&2; exit 1; }
fi

# The Azure Blob emulator the evidence tests start: npm azurite, pinned by the lock file in
# crates/test-support/peers/azurite (the tests also run `npm ci` there when it is missing).

# The malware scanner the SEC-58 tests start: clamd from Debian's clamav-daemon (the tests
# give it their own one-signature database; nothing is downloaded).
if ! command -v clamd >/dev/null && [ ! -x /usr/sbin/clamd ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clamav-daemon >/dev/null
  else
    echo "missing: clamd (apt-get install clamav-daemon), needed by the malware-scan tests" >&2
    exit 1
  fi
fi

# The OpenID provider the SSO tests start (a real process): npm oidc-provider, pinned by the
# lock file in crates/test-support/oidc (the tests also run `npm ci` there when it is missing).
command -v node >/dev/null && command -v npm >/dev/null \
  || { echo "missing: node and npm (Node 20+), needed by the SSO tests (apt-get install nodejs npm)" >&2; exit 1; }
( cd crates/test-support/oidc && npm ci --no-audit --no-fund --loglevel=error ) \
  || { echo "npm ci failed in crates/test-support/oidc (needed by the SSO tests)" >&2; exit 1; }
[ -e crates/test-support/peers/azurite/node_modules/azurite/package.json ] \
  || ( cd crates/test-support/peers/azurite && npm ci --no-audit --no-fund --loglevel=error ) \
  || { echo "npm ci failed in crates/test-support/peers/azurite (needed by the Azure evidence tests)" >&2; exit 1; }

# PostgreSQL: the suite needs a server; it never skips. Use ATTEST_TEST_DATABASE_URL if set,
# else start the local cluster when it is installed and down.
if [ -z "${ATTEST_TEST_DATABASE_URL:-}" ]; then
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    if command -v pg_lsclusters >/dev/null; then
      read -r ver name _ < <(pg_lsclusters --no-header | head -n1) || true
      if [ -n "${ver:-}" ]; then
        pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start || pg_ctlcluster "$ver" "$name" start
      fi
    fi
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
  pg_isready -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not running on 127.0.0.1:5432 and could not be started" >&2; exit 1; }
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "layering rules (docs/ARCHITECTURE.md)"
./scripts/check-layers.sh

step "tests (SQLite and PostgreSQL)"
cargo test --workspace --locked --no-fail-fast

# Again with one pooled connection per server: code that holds a transaction while it waits
# for a second connection times out here (503) instead of passing, where in production a pool
# full of such requests would wait on itself.
step "integration tests with a one-connection pool"
ATTEST_TEST_POOL_SIZE=1 cargo test -p attest-app --test integration --locked --no-fail-fast

step "browser end-to-end (headless Chromium, axe-core)"
ATTEST_BIN="$CARGO_TARGET_DIR/debug/attest" ./scripts/e2e.sh
