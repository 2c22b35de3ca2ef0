#!/usr/bin/env bash
# clamd in the foreground on 127.0.0.1:PORT with ONLY eicar.ndb as its database.
# TCPSocket 0 is rejected by clamd, so PORT is required (pick a free one first).
# Ready when `zPING\0` gets `PONG\0` (no ready line on stdout without a LogFile).
# Usage: run.sh PORT [STREAM_MAX_LENGTH, default 100M]   (needs: apt-get install clamav-daemon)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
port="${1:?usage: run.sh PORT [STREAM_MAX_LENGTH]}"
work="$(mktemp -d)"
mkdir "$work/db"
cp "$here/eicar.ndb" "$work/db/"
cat > "$work/clamd.conf" <<CONF
Foreground yes
TCPAddr 127.0.0.1
TCPSocket $port
DatabaseDirectory $work/db
TemporaryDirectory $work
PidFile $work/clamd.pid
StreamMaxLength ${2:-100M}
SelfCheck 0
CONF
exec clamd -c "$work/clamd.conf"
