#!/usr/bin/env bash
# FER Studio on this machine as it would run on a host: N Streamlit replicas behind HAProxy
# (sticky sessions, websockets, health checks) and a coturn TURN server for the live webcam.
#
#   bash deploy/run_local.sh [--replicas N] [--api M] [--port P] [--relay-only] [--run-dir DIR]
#
#   --replicas N   Streamlit replicas (default 2), on 127.0.0.1, consecutive free ports above P
#   --api M        HTTP API servers (`fer-studio serve`, default 1; 0: none) on the next free ports;
#                  HAProxy sends /v1/*, /healthz, /docs and /openapi.json to them ($FER_API_TOKEN,
#                  when set, is the bearer token they require)
#   --port P       HAProxy listens on 127.0.0.1:P (default 8500): open http://127.0.0.1:P
#   --relay-only   browsers must relay their webcam through TURN (iceTransportPolicy "relay"),
#                  as behind a strict NAT; same as FER_ICE_POLICY=relay
#   --run-dir DIR  where the generated configs, logs and pids go (default: a new folder in $TMPDIR)
#
# Environment: FER_TURN_USER / FER_TURN_PASSWORD (TURN credentials; default "fer" and a random
# password per run; letters, digits and ._~- only), FER_ICE_POLICY (relay|all), FER_PYTHON (the
# interpreter with the requirements; default .venv/bin/python), FER_DEPLOY_TIMEOUT (seconds to
# wait for health, default 180), FER_STOP_GRACE (seconds a child may take to stop before SIGKILL,
# default 15). Everything else (FER_MAX_STREAMS, FER_MODELS_DIR, ...) reaches the replicas as it
# is. Missing haproxy/coturn are installed with apt-get (as root; otherwise it says what to run).
#
# Ctrl-C or SIGTERM stops every child (replicas, HAProxy, coturn) and waits for them. The run
# folder keeps the logs (replica-N.log, haproxy.log, turnserver.log), pids and state.env; the
# files holding secrets are deleted on exit.
set -euo pipefail
set -m  # every background child gets a process group of its own, stopped as a whole on exit

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
REPLICAS=2
API=1
PORT=8500
POLICY="${FER_ICE_POLICY:-all}"
RUN_DIR=""
TIMEOUT="${FER_DEPLOY_TIMEOUT:-180}"
GRACE="${FER_STOP_GRACE:-15}"  # seconds a child may take to exit after SIGTERM, then SIGKILL
RELAY_PORTS=100  # UDP ports coturn may relay on (two per webcam stream at most)

say() { echo "run_local.sh: $*" >&2; }
die() { say "error: $*"; exit 2; }
usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --replicas) REPLICAS="${2:-}"; shift 2 ;;
    --replicas=*) REPLICAS="${1#*=}"; shift ;;
    --api) API="${2:-}"; shift 2 ;;
    --api=*) API="${1#*=}"; shift ;;
    --port) PORT="${2:-}"; shift 2 ;;
    --port=*) PORT="${1#*=}"; shift ;;
    --relay-only) POLICY=relay; shift ;;
    --run-dir) RUN_DIR="${2:-}"; shift 2 ;;
    --run-dir=*) RUN_DIR="${1#*=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
done
[[ "$REPLICAS" =~ ^[1-9][0-9]?$ ]] || die "--replicas must be a whole number from 1 to 99, got '$REPLICAS'"
[[ "$API" =~ ^[0-9]$ ]] || die "--api must be a whole number from 0 to 9, got '$API'"
if ! [[ "$PORT" =~ ^[0-9]+$ ]] || [ "$PORT" -lt 1024 ] || [ "$PORT" -gt 65000 ]; then
  die "--port must be a number from 1024 to 65000, got '$PORT'"
fi
[[ "$POLICY" =~ ^(all|relay)$ ]] || die "FER_ICE_POLICY must be 'all' or 'relay', got '$POLICY'"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "FER_DEPLOY_TIMEOUT must be a number of seconds, got '$TIMEOUT'"
[[ "$GRACE" =~ ^[0-9]+$ ]] || die "FER_STOP_GRACE must be a number of seconds, got '$GRACE'"

# ------------------------------------------------------------------ prerequisites
missing=()
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
command -v turnserver >/dev/null 2>&1 || missing+=(coturn)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing the missing Debian packages: ${missing[*]} (apt-get install -y -qq)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    die "missing: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}"
  fi
fi
PY="${FER_PYTHON:-$REPO/.venv/bin/python}"
[ -x "$PY" ] || die "no Python at $PY: run 'bash scripts/setup.sh' first (or set FER_PYTHON)"

USER_NAME="${FER_TURN_USER:-fer}"
PASSWORD="${FER_TURN_PASSWORD:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}"
for value in "$USER_NAME" "$PASSWORD"; do  # they go into a config file and a JSON string as they are
  [[ "$value" =~ ^[A-Za-z0-9._~-]{3,128}$ ]] \
    || die "FER_TURN_USER and FER_TURN_PASSWORD may hold letters, digits and ._~- only (3 to 128)"
done
COOKIE_KEY="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
COOKIE_SECRET="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"

# ------------------------------------------------------------------ ports
# Prints: <first replica port> <TURN port> <first relay port>; fails when P itself is taken.
read -r FIRST_REPLICA TURN_PORT RELAY_MIN < <("$PY" - "$PORT" "$((REPLICAS + API))" "$RELAY_PORTS" <<'EOF'
import random, socket, sys

port, replicas, relay_ports = map(int, sys.argv[1:])

def free(p, kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", p))
            return True
        except OSError:
            return False

if not free(port):
    sys.exit(f"run_local.sh: error: port {port} is taken on 127.0.0.1; choose another with --port")
first = next((b for b in range(port + 1, 65536 - replicas) if all(free(b + i) for i in range(replicas))), None)
turn = next((p for p in [3478] + list(range(3479, 3600)) + random.sample(range(20000, 32000), 200)
             if p not in range(port, port + replicas + 1)
             and free(p) and free(p, socket.SOCK_DGRAM)), None)
relay = next((b for b in random.sample(range(49152, 65535 - relay_ports), 50)
              if all(free(b + i, socket.SOCK_DGRAM) for i in range(relay_ports))), None)
if None in (first, turn, relay):
    sys.exit("run_local.sh: error: no free ports found on 127.0.0.1")
print(first, turn, relay)
EOF
) || exit 2
[ -n "${FIRST_REPLICA:-}" ] || die "could not choose ports"
RELAY_MAX=$((RELAY_MIN + RELAY_PORTS - 1))
FIRST_API=$((FIRST_REPLICA + REPLICAS))  # the API servers' ports follow the replicas'

# ------------------------------------------------------------------ run folder and configs
if [ -z "$RUN_DIR" ]; then
  RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/fer-deploy.XXXXXX")"
else
  mkdir -p "$RUN_DIR"
fi
RUN_DIR="$(cd "$RUN_DIR" && pwd)"
chmod 700 "$RUN_DIR"
umask 077
: > "$RUN_DIR/pids"

SERVERS=""
for i in $(seq 1 "$REPLICAS"); do
  SERVERS+="    server r$i 127.0.0.1:$((FIRST_REPLICA + i - 1))"$'\n'
done
API_SERVERS=""
for i in $(seq 1 "$API"); do
  API_SERVERS+="    server a$i 127.0.0.1:$((FIRST_API + i - 1))"$'\n'
done
"$PY" - "$HERE/haproxy.cfg.template" "$RUN_DIR/haproxy.cfg" "$SERVERS" "$API_SERVERS" <<'EOF'
import sys
template, out, servers, api_servers = sys.argv[1:]
text = open(template).read()
for line in ("@SERVERS@", "@API_SERVERS@"):
    assert f"\n{line}\n" in text, f"haproxy.cfg.template lost its {line} line"
open(out, "w").write(text.replace("@API_SERVERS@\n", api_servers).replace("@SERVERS@\n", servers))
EOF
sed -e "s|@LISTEN_IP@|127.0.0.1|; s|@RELAY_IP@|127.0.0.1|; s|@PORT@|$TURN_PORT|" \
    -e "s|@MIN_PORT@|$RELAY_MIN|; s|@MAX_PORT@|$RELAY_MAX|; s|@EXTERNAL_IP@||" \
    -e "s|@REALM@|fer.local|; s|@USER@|$USER_NAME|; s|@PASSWORD@|$PASSWORD|" \
    -e "s|@RUN_DIR@|$RUN_DIR|g; s|@LOG_FILE@|stdout|" \
    -e "s|@EXTRA@|allow-loopback-peers\nverbose|" \
    "$HERE/turnserver.conf.template" > "$RUN_DIR/turnserver.conf"

TURN_URL="turn:127.0.0.1:$TURN_PORT?transport=udp"
ICE="{\"iceServers\": [{\"urls\": [\"$TURN_URL\"], \"username\": \"$USER_NAME\", \"credential\": \"$PASSWORD\"}]"
[ "$POLICY" = relay ] && ICE+=", \"iceTransportPolicy\": \"relay\""
ICE+="}"
URL="http://127.0.0.1:$PORT"
{
  echo "URL=$URL"
  echo "REPLICA_PORTS=\"$(seq -s ' ' "$FIRST_REPLICA" $((FIRST_REPLICA + REPLICAS - 1)))\""
  echo "API_PORTS=\"$(seq -s ' ' "$FIRST_API" $((FIRST_API + API - 1)))\""
  echo "TURN_URL=\"$TURN_URL\""
  echo "TURN_USER=$USER_NAME"
  echo "RELAY_PORTS=$RELAY_MIN-$RELAY_MAX"
  echo "ICE_POLICY=$POLICY"
} > "$RUN_DIR/state.env"

# ------------------------------------------------------------------ children
PIDS=()
NAMES=()
CLEANED=0
cleanup() {
  [ "$CLEANED" = 1 ] && return
  CLEANED=1
  trap - INT TERM
  local pid i
  if [ ${#PIDS[@]} -gt 0 ]; then
    say "stopping ${NAMES[*]}"
    for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    local deadline=$((SECONDS + GRACE)) alive=1
    while [ "$alive" = 1 ] && [ "$SECONDS" -lt "$deadline" ]; do  # a clean exit, for up to GRACE s
      alive=0
      for pid in "${PIDS[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
      [ "$alive" = 1 ] && sleep 0.2
    done
    for i in "${!PIDS[@]}"; do
      if kill -0 -- "-${PIDS[$i]}" 2>/dev/null; then
        say "${NAMES[$i]} did not stop in $GRACE s: SIGKILL"
        kill -KILL -- "-${PIDS[$i]}" 2>/dev/null || true
      fi
    done
    wait 2>/dev/null || true
  fi
  rm -f "$RUN_DIR/turnserver.conf" "$RUN_DIR/turndb" "$RUN_DIR/ready"  # the TURN password; the logs stay
  say "stopped; logs in $RUN_DIR"
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup' EXIT

start() {  # start NAME LOG COMMAND...: in the background, in a process group of its own
  local name="$1" log="$2"
  shift 2
  "$@" </dev/null >"$log" 2>&1 &
  PIDS+=("$!")
  NAMES+=("$name")
  echo "$name $!" >> "$RUN_DIR/pids"
}

healthy() {  # healthy PORT [PATH]: GET PATH (default /_stcore/health) answers 200 (bash's /dev/tcp, no curl needed)
  local line
  line="$( (exec 3<>"/dev/tcp/127.0.0.1/$1" \
            && printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "${2:-/_stcore/health}" >&3 \
            && head -n1 <&3) 2>/dev/null)" || return 1
  [[ "$line" == HTTP/1.?\ 200* ]]
}

check_children() {  # fails (with the end of its log) when a child has exited
  local i
  for i in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      say "${NAMES[$i]} exited early; end of its log:"
      tail -n 30 "$RUN_DIR/${NAMES[$i]}.log" >&2 || true
      exit 1
    fi
  done
}

wait_healthy() {  # wait_healthy PORT WHAT [PATH]
  local deadline=$((SECONDS + TIMEOUT))
  until healthy "$1" "${3:-}"; do
    check_children
    [ "$SECONDS" -lt "$deadline" ] || { say "$2 not healthy after $TIMEOUT s"; exit 1; }
    sleep 0.5
  done
}

start turnserver "$RUN_DIR/turnserver.log" turnserver -c "$RUN_DIR/turnserver.conf"
for i in $(seq 1 "$REPLICAS"); do
  start "replica-$i" "$RUN_DIR/replica-$i.log" env -C "$REPO" \
    FER_ICE_SERVERS="$ICE" STREAMLIT_SERVER_COOKIE_SECRET="$COOKIE_SECRET" \
    PYTHONUNBUFFERED=1 PYTHONFAULTHANDLER=1 TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}" \
    MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" \
    "$PY" -m streamlit run streamlit_app.py \
      --server.headless true --server.address 127.0.0.1 --server.port $((FIRST_REPLICA + i - 1)) \
      --server.fileWatcherType none --browser.gatherUsageStats false
done
for i in $(seq 1 "$API"); do
  start "api-$i" "$RUN_DIR/api-$i.log" env -C "$REPO" PYTHONUNBUFFERED=1 MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" \
    "$PY" -m fer_core serve --host 127.0.0.1 --port $((FIRST_API + i - 1))
done
for i in $(seq 1 "$REPLICAS"); do wait_healthy $((FIRST_REPLICA + i - 1)) "replica-$i"; done
for i in $(seq 1 "$API"); do wait_healthy $((FIRST_API + i - 1)) "api-$i" /healthz; done

# HAProxy starts once every replica answers, so no replica begins marked down.
export FER_BIND="127.0.0.1:$PORT" FER_COOKIE_KEY="$COOKIE_KEY"
haproxy -c -q -f "$RUN_DIR/haproxy.cfg" || die "haproxy rejects $RUN_DIR/haproxy.cfg"
start haproxy "$RUN_DIR/haproxy.log" haproxy -db -f "$RUN_DIR/haproxy.cfg"
set +m  # every child is started (each in its own group); no job notices from here on
wait_healthy "$PORT" "HAProxy"
grep -q "UDP listener opened" "$RUN_DIR/turnserver.log" || { say "coturn did not open its UDP listener"; exit 1; }
touch "$RUN_DIR/ready"

cat >&2 <<EOF
run_local.sh: FER Studio is up at $URL
  replicas   : $REPLICAS on 127.0.0.1 ports $(seq -s ' ' "$FIRST_REPLICA" $((FIRST_REPLICA + REPLICAS - 1))) (sticky by the SERVERID cookie; X-Replica names the one that answered)
  API        : $API server(s) on 127.0.0.1 ports $(seq -s ' ' "$FIRST_API" $((FIRST_API + API - 1))); $URL/v1/analyze, OpenAPI at $URL/docs
  TURN       : $TURN_URL user $USER_NAME (relay ports $RELAY_MIN-$RELAY_MAX), ICE policy: $POLICY
  run folder : $RUN_DIR (logs, pids, state.env)
Press Ctrl-C to stop everything.
EOF
echo "$URL"

# Runs until a signal arrives or a child dies (then everything is stopped).
set +e
wait -n
status=$?
for i in "${!PIDS[@]}"; do
  kill -0 "${PIDS[$i]}" 2>/dev/null || say "${NAMES[$i]} exited (status $status); stopping the rest"
done
exit 1
