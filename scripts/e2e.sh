#!/usr/bin/env bash
# End-to-end test in a real browser: headless Chromium (Debian's package) driven by
# playwright-core, with an axe-core accessibility check, against the built server binary,
# which sends its mail to an SMTP sink (Python's aiosmtpd) that keeps it in a maildir.
# Usage: ./scripts/e2e.sh        (build the server first: cargo build -p attest-app)
# Environment: ATTEST_BIN (the server binary), CHROMIUM (the browser, default /usr/bin/chromium),
# PYTHON (a Python 3 with aiosmtpd, default python3).
# Installs what is missing: Debian's chromium and python3-aiosmtpd (as root, when python3 is
# Debian's), and e2e/node_modules (npm ci).
# Artifacts (screenshots, server and SMTP logs, the invitation mail, axe findings) land in
# e2e/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

bin="${ATTEST_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/attest-target}/debug/attest}"
if [ ! -x "$bin" ]; then
  echo "e2e: the server binary $bin is missing or not executable." >&2
  echo "e2e: build it first (cargo build -p attest-app), or point ATTEST_BIN at one." >&2
  exit 1
fi
export ATTEST_BIN="$bin"

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if [ "$chromium" = /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    step "installing chromium (Debian package)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "e2e: no browser at $chromium: install Debian's chromium (apt-get install chromium) or set CHROMIUM." >&2
    exit 1
  fi
fi
export CHROMIUM="$chromium"

python="${PYTHON:-python3}"
if ! "$python" -c 'import aiosmtpd' 2>/dev/null; then
  if [ "$(command -v "$python" || true)" = /usr/bin/python3 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    step "installing python3-aiosmtpd (Debian package)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-aiosmtpd >/dev/null
  else
    echo "e2e: $python cannot import aiosmtpd (the SMTP sink): pip install aiosmtpd, apt-get install python3-aiosmtpd, or set PYTHON." >&2
    exit 1
  fi
fi
export PYTHON="$python"

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "e2e: $tool is not installed (Node.js 20 or later is needed)." >&2; exit 1; }
done

# npm ci when node_modules is missing or older than the lockfile (npm ci touches
# node_modules/.package-lock.json, which makes the next run see it as current).
if [ ! -f e2e/node_modules/.package-lock.json ] || [ e2e/package-lock.json -nt e2e/node_modules/.package-lock.json ]; then
  step "npm ci (e2e/)"
  (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
fi

step "browser test ($("$chromium" --version 2>/dev/null || echo chromium), server $bin)"
cd e2e
exec node --test --test-reporter=tap
