#!/usr/bin/env bash
# Interop suite: a second gRPC implementation (Python grpcio, the C core) runs the README's
# walk-through against the built binary and checks the service's contract: stubs generated from
# proto/ at every run, real demo credentials in call metadata, error details decoded from the
# `grpc-status-details-bin` trailer, the WatchAssignments server stream, and the access log
# verified independently (Merkle tree, inclusion and consistency proofs, Ed25519 checkpoint).
#
# Usage: bash tests/interop/run.sh path/to/single-window
#
# SQLite by default (a fresh file in a temporary directory). With INTEROP_POSTGRES_URL set to a
# PostgreSQL server URL on which the user may create databases (CI's TEST_DATABASE_URL, for
# example postgres://postgres@127.0.0.1:5432/postgres), the suite creates a fresh database there,
# migrates it, runs against it and drops it. Needs python3 (3.9 or newer; CI has 3.11) with venv,
# and pip access to PyPI the first time (the virtualenv is cached).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 path/to/single-window" >&2; exit 2; }
BIN=$1
case "$BIN" in /*) ;; *) BIN=$PWD/$BIN ;; esac
[ -x "$BIN" ] || { echo "FAIL: $BIN is not an executable (build it with cargo build --locked)" >&2; exit 2; }

started=$(date +%s)
PYTHON=${INTEROP_PYTHON:-python3}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/single-window-ci
venv=$cache/interop-venv
requirements=$here/requirements.txt

# --- the virtualenv, rebuilt when requirements.txt (or the interpreter) changes
mkdir -p "$cache"
want=$({ sha256sum "$requirements" | cut -d' ' -f1; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)
ensure_venv() {
  if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.requirements-sha256" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  echo "::: interop: installing the virtualenv in $venv"
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$requirements"
  echo "$want" >"$venv/.requirements-sha256"
}
if command -v flock >/dev/null; then
  exec 9>"$cache/interop-venv.lock"
  flock 9
  ensure_venv
  flock -u 9
else
  ensure_venv
fi
py=$venv/bin/python

tmp=$(mktemp -d)
pid=
pg_admin_url=
pg_database=
cleanup() {
  local status=$?
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  if [ -n "$pg_database" ]; then
    "$psql" "$pg_admin_url" -qAt -c "DROP DATABASE IF EXISTS \"$pg_database\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- stubs: singlewindow.v1, google.rpc (error details and Status) and grpc.health.v1
gen=$tmp/gen
mkdir -p "$gen"
wkt=$("$py" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')
"$py" -m grpc_tools.protoc -I"$root/proto" -I"$wkt" \
  --python_out="$gen" --grpc_python_out="$gen" \
  "$root"/proto/singlewindow/v1/*.proto \
  "$root/proto/google/rpc/error_details.proto" \
  "$root/proto/google/rpc/status.proto"
# The health proto's Python package would be `grpc.health.v1`, which grpcio's own `grpc` package
# shadows: generate it as the top-level module `health_pb2` (the wire names stay grpc.health.v1).
"$py" -m grpc_tools.protoc -I"$root/proto/grpc/health/v1" -I"$wkt" \
  --python_out="$gen" --grpc_python_out="$gen" "$root/proto/grpc/health/v1/health.proto"

# --- the database: a fresh SQLite file, or a fresh PostgreSQL database
work=$tmp/work
mkdir -p "$work"
db_args=()
if [ -n "${INTEROP_POSTGRES_URL:-}" ]; then
  psql=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$psql" ] || { echo "FAIL: INTEROP_POSTGRES_URL is set but psql is not installed" >&2; exit 2; }
  pg_admin_url=$INTEROP_POSTGRES_URL
  pg_database=sw_interop_$$_$RANDOM
  "$psql" "$pg_admin_url" -qAt -c "CREATE DATABASE \"$pg_database\"" >/dev/null
  DB=$("$py" -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$pg_admin_url" "$pg_database")
  # PostgreSQL needs a key file; the demo identity provider's key is in it too.
  "$py" - "$work/keys.json" <<'EOF'
import base64, json, os, sys
key = lambda: base64.b64encode(os.urandom(32)).decode()
with open(os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
    json.dump({"current_sealing_key": "interop", "sealing_keys": [{"id": "interop", "key": key()}],
               "blind_index_key": key(), "log_signing_key": key(),
               "demo_identity_provider_key": key()}, f)
EOF
  db_args=(--database-url "$DB" --keys-file "$work/keys.json")
  "$BIN" migrate "${db_args[@]}" >"$tmp/migrate.log" 2>&1 || { cat "$tmp/migrate.log"; echo "FAIL: migrate"; exit 1; }
  backend="PostgreSQL (database $pg_database)"
else
  DB="sqlite://$work/single-window.db"
  db_args=(--database-url "$DB")
  backend="SQLite ($DB)"
fi

# --- the server, on a free port, from its own working directory
log=$tmp/server.log
(cd "$work" && exec "$BIN" serve --listen 127.0.0.1:0 "${db_args[@]}") >"$log" 2>&1 &
pid=$!
ADDR=
for _ in $(seq 1 600); do
  ADDR=$(grep -o 'listening address=[0-9.:]*' "$log" | head -1 | cut -d= -f2 || true)
  [ -n "$ADDR" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$ADDR" ] || { cat "$log"; echo "FAIL: the server logged no bound address"; exit 1; }
PYTHONPATH=$gen "$py" "$here/wait_serving.py" "$ADDR" "$pid" 180 || { cat "$log"; echo "FAIL: not SERVING"; exit 1; }
ready=$(date +%s)

# The demo principals and citizen tokens, and the log's verifier key as published out of band.
(cd "$work" && "$BIN" demo credentials --format json "${db_args[@]}") >"$tmp/credentials.json" 2>"$tmp/credentials.log" ||
  { cat "$tmp/credentials.log"; echo "FAIL: demo credentials"; exit 1; }
verifier_key=$(cd "$work" && "$BIN" audit public-key "${db_args[@]}" 2>"$tmp/public-key.log") ||
  { cat "$tmp/public-key.log"; echo "FAIL: audit public-key"; exit 1; }

echo "::: interop: $("$py" -c 'import grpc, google.protobuf as p, sys; print(f"grpcio {grpc.__version__}, protobuf {p.__version__}, Python {sys.version.split()[0]}")') against $ADDR on $backend"

# --- the suite
set +e
(cd "$tmp" && env SW_ADDRESS="$ADDR" SW_CREDENTIALS="$tmp/credentials.json" SW_VERIFIER_KEY="$verifier_key" \
  PYTHONPATH="$gen:$here" PYTHONDONTWRITEBYTECODE=1 "$py" -m unittest -v test_walkthrough 2>&1 | tee "$tmp/unittest.log")
suite=${PIPESTATUS[0]}
set -e

# --- SIGTERM drains and exits 0
kill -TERM "$pid"
stopped=
for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || { stopped=1; break; }; sleep 0.1; done
server_status=0
if [ -n "$stopped" ]; then wait "$pid" || server_status=$?; else server_status=timeout; fi
pid=

count() { grep -Eo "$1=[0-9]+" "$tmp/unittest.log" | tail -n 1 | cut -d= -f2 || true; }
ran=$(grep -Eo '^Ran [0-9]+ tests?' "$tmp/unittest.log" | grep -Eo '[0-9]+' || true)
failures=$(count failures); errors=$(count errors); skipped=$(count skipped)
ran=${ran:-0}; failed=$(( ${failures:-0} + ${errors:-0} )); skipped=${skipped:-0}
[ "$suite" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
passed=$(( ran - failed - skipped )); [ "$passed" -ge 0 ] || passed=0
echo "interop: server ready in $((ready - started))s, $(( $(date +%s) - started ))s in all"
if [ "$suite" -ne 0 ] || [ "$server_status" != 0 ]; then
  echo "--- server log (last 80 lines)"
  tail -n 80 "$log"
  if [ "$server_status" != 0 ]; then echo "FAIL: the server did not exit 0 on SIGTERM ($server_status)"; failed=$((failed + 1)); fi
  echo "interop: $passed passed, $failed failed, $skipped skipped"
  exit 1
fi
echo "ok   the server exited 0 on SIGTERM"
echo "interop: $passed passed, 0 failed, $skipped skipped"
