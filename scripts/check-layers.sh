#!/usr/bin/env bash
# Enforces the dependency arrows of docs/ARCHITECTURE.md mechanically (lemmy's trick).
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
direct() { cargo tree -p "$1" -e normal --depth 1 --prefix none --format '{p}' 2>/dev/null | awk 'NR>1 {print $1}' | sort -u; }
forbid() { # crate, dependency, reason
  if direct "$1" | grep -qx "$2"; then echo "layering: $1 must not depend on $2 ($3)"; fail=1; fi
}
for dep in axum axum-server http hyper askama tower tower-http; do
  forbid attest-domain "$dep" "the domain never names HTTP"
  forbid attest-db "$dep" "the database layer knows no HTTP"
done
for dep in sqlx attest-db; do forbid attest-web "$dep" "SQL lives only in attest-db; web passes the Db handle to the domain"; done
# attest-sso owns the OpenID Connect protocol (and openidconnect's http types): no web
# framework, no SQL, no domain rules. Only the domain uses it; web sees its types re-exported.
for dep in axum axum-server askama tower tower-http sqlx attest-db attest-domain attest-web; do
  forbid attest-sso "$dep" "attest-sso is the OpenID Connect protocol only"
done
forbid attest-web attest-sso "the web layer reaches single sign-on through the domain"
forbid attest-domain openidconnect "the domain reaches OpenID Connect only through attest-sso"
for dep in aes-gcm aws-lc-rs rcgen getrandom; do
  for c in attest-db attest-domain attest-web attest-app attest-config attest-types attest-sso attest-storage; do
    forbid "$c" "$dep" "only attest-crypto touches key material"
  done
done
for dep in tokio sqlx; do forbid attest-types "$dep" "types does no I/O"; done
# attest-storage moves encrypted bytes: no SQL, no web framework, no domain rules.
for dep in sqlx attest-db attest-domain attest-web axum askama; do
  forbid attest-storage "$dep" "attest-storage is blob storage only"
done
# Only the binary reads the process environment.
if grep -rn --include='*.rs' -E 'std::env::var|env::vars\(' crates/*/src | grep -vE '^crates/(app|test-support)/'; then
  echo "layering: only attest-app reads the environment"; fail=1
fi
[ "$fail" = 0 ] && echo "layering rules hold"
exit "$fail"
