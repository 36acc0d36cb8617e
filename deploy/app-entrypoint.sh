#!/bin/sh
# The app container's entrypoint (deploy/Dockerfile): turns the compose secrets into the
# environment the app reads, then runs the command (streamlit run ...).
#   /run/secrets/turn_password + FER_TURN_HOST -> FER_ICE_SERVERS (TURN over UDP and TCP)
#   /run/secrets/streamlit_cookie_secret       -> STREAMLIT_SERVER_COOKIE_SECRET (same in every replica)
set -eu
secret() { [ -r "/run/secrets/$1" ] && tr -d '\r\n' < "/run/secrets/$1"; }

if cookie="$(secret streamlit_cookie_secret)" && [ -n "$cookie" ]; then
  export STREAMLIT_SERVER_COOKIE_SECRET="$cookie"
fi
: "${FER_TURN_USER:=fer}"
if password="$(secret turn_password)" && [ -n "$password" ] && [ -n "${FER_TURN_HOST:-}" ]; then
  case "$password$FER_TURN_USER$FER_TURN_HOST" in
    *[!A-Za-z0-9._~:-]*) echo "app-entrypoint: the TURN password, user and host may hold letters, digits and ._~- only" >&2; exit 2 ;;
  esac
  turn="turn:$FER_TURN_HOST:${FER_TURN_PORT:-3478}"
  policy=""
  [ "${FER_ICE_POLICY:-all}" = relay ] && policy=', "iceTransportPolicy": "relay"'
  export FER_ICE_SERVERS="{\"iceServers\": [{\"urls\": [\"$turn?transport=udp\", \"$turn?transport=tcp\"], \"username\": \"$FER_TURN_USER\", \"credential\": \"$password\"}]$policy}"
fi
exec "$@"
