#!/usr/bin/env bash
# Starts the three peers on free loopback ports, checks each answers, then stops them.
# Usage: ./check.sh   (needs node+npm, python3, clamav-daemon; no network beyond installs)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
log="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$log"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # FILE REGEX -> prints the port captured by the regex's first group
  for _ in $(seq 1 600); do
    sed -n "s#.*$2.*#\1#p" "$1" 2>/dev/null | grep -m1 . && return 0; sleep 0.05
  done; echo "timeout waiting for $2 in $1" >&2; cat "$1" >&2; return 1; }

"$here/azurite/run.sh" > "$log/azurite" 2>&1 & pids+=($!)
"$here/moto/run.sh" > "$log/moto" 2>&1 & pids+=($!)
cport="$(free_port)"
"$here/clamd/run.sh" "$cport" 1M > "$log/clamd" 2>&1 & pids+=($!)

aport="$(wait_for "$log/azurite" 'successfully listens on http://127.0.0.1:\([0-9]*\)')"
python3 "$here/azurite/create_container.py" "http://127.0.0.1:$aport/devstoreaccount1" test-container
echo "azurite ok on $aport"

mport="$(wait_for "$log/moto" 'Running on http://127.0.0.1:\([0-9]*\)')"
curl -sf -X PUT "http://127.0.0.1:$mport/curl-bucket" -o /dev/null  # anonymous bucket creation
python3 "$here/moto/check_s3.py" "$mport"

for _ in $(seq 1 200); do
  [ "$(python3 "$here/clamd/instream.py" "$cport" ping 2>/dev/null)" = PONG ] && break; sleep 0.05
done
eicar() { python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(open(sys.argv[1]).read().split(":")[3].strip()))' "$here/clamd/eicar.ndb"; }
r1="$(eicar | python3 "$here/clamd/instream.py" "$cport" scan)"
r2="$(echo clean | python3 "$here/clamd/instream.py" "$cport" scan)"
r3="$(head -c 2000000 /dev/zero | python3 "$here/clamd/instream.py" "$cport" scan)"
echo "clamd: [$r1] [$r2] [$r3]"
[ "$r1" = "stream: Eicar-Test-Signature.UNOFFICIAL FOUND" ] && [ "$r2" = "stream: OK" ] \
  && [ "$r3" = "INSTREAM size limit exceeded. ERROR" ]
echo "all peers ok"
