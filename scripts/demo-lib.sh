# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034
# Shared by scripts/demo and tests/e2e/attack-replay (sourced, not run):
# prepares a state directory for the demo shop behind sekimori (a fresh
# copy of the shop, keys, the configs rendered from the templates in
# examples/demo-shop/, the FIM baseline) and starts / stops the shop and
# sekimori. Every server listens on 127.0.0.1 only. The caller sets
#   DEMO_TOP    the repository
#   DEMO_SK     the sekimori binary
#   DEMO_STATE  the state directory (absolute; created 0700, emptied)
#   DEMO_LISTEN the proxy's port, DEMO_UPSTREAM the shop's port
# and gets DEMO_PIDS (every process started, for demo_stop).

DEMO_PIDS=()

demo_log() { printf '%s\n' "$*" >&2; }

# demo_render TEMPLATE OUT: fills the @...@ placeholders of a template.
demo_render() {
  sed -e "s#@STATE@#$DEMO_STATE#g" -e "s#@WWW@#$DEMO_STATE/www#g" \
    -e "s#@LISTEN@#$DEMO_LISTEN#g" -e "s#@UPSTREAM@#$DEMO_UPSTREAM#g" \
    -e "s#@DEPS@#$DEMO_TOP/deps#g" "$1" > "$2"
  if grep -q '@[A-Z]*@' "$2"; then
    demo_log "demo: unfilled placeholder in $2"
    return 1
  fi
}

# A new random password for the shop's admin (letters and digits).
demo_password() {
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | cut -c1-16
}

# Prepares DEMO_STATE from scratch. Returns non-zero (after saying why)
# when a step fails.
demo_prepare() {
  local ex="$DEMO_TOP/examples/demo-shop"
  case "$DEMO_STATE" in
    /*) ;;
    *) demo_log "demo: DEMO_STATE must be absolute"; return 1 ;;
  esac
  rm -rf "$DEMO_STATE"
  mkdir -p "$DEMO_STATE"
  chmod 700 "$DEMO_STATE"
  DEMO_STATE="$(cd "$DEMO_STATE" && pwd -P)" # canonical (FIM wants it)
  mkdir -p "$DEMO_STATE/keys" "$DEMO_STATE/fim" "$DEMO_STATE/logs" \
    "$DEMO_STATE/run" "$DEMO_STATE/shop-data"
  chmod 700 "$DEMO_STATE/keys" "$DEMO_STATE/fim" "$DEMO_STATE/shop-data"
  cp -r "$ex/www" "$DEMO_STATE/www"
  demo_password > "$DEMO_STATE/admin-password"
  chmod 600 "$DEMO_STATE/admin-password"
  demo_render "$ex/sekimori.conf" "$DEMO_STATE/sekimori.conf" || return 1
  demo_render "$ex/fim.conf" "$DEMO_STATE/fim.conf" || return 1
  demo_render "$ex/crs-setup.conf" "$DEMO_STATE/crs-setup.conf" || return 1
  "$DEMO_SK" keygen --key "$DEMO_STATE/keys/evlog.key" >/dev/null ||
    { demo_log "demo: evlog keygen failed"; return 1; }
  "$DEMO_SK" fim keygen -c "$DEMO_STATE/fim.conf" >/dev/null 2>&1 ||
    { demo_log "demo: fim keygen failed"; return 1; }
  "$DEMO_SK" run -t -c "$DEMO_STATE/sekimori.conf" >"$DEMO_STATE/logs/config-check.txt" 2>&1 ||
    { demo_log "demo: the configuration does not load: $(tail -n 10 "$DEMO_STATE/logs/config-check.txt")"; return 1; }
  "$DEMO_SK" fim init -c "$DEMO_STATE/fim.conf" --force \
    >"$DEMO_STATE/logs/fim-init.txt" 2>&1 ||
    { demo_log "demo: fim init failed: $(cat "$DEMO_STATE/logs/fim-init.txt")"; return 1; }
}

# demo_wait SECONDS COMMAND...: polls every 0.1 s until COMMAND succeeds.
demo_wait() {
  local n=$(($1 * 10))
  shift
  while [ "$n" -gt 0 ]; do
    "$@" && return 0
    sleep 0.1
    n=$((n - 1))
  done
  return 1
}

# Whether something answers HTTP on 127.0.0.1:PORT (asked by name: a
# numeric Host header is a CRS warning of its own).
demo_http_up() {
  curl -s -o /dev/null --max-time 2 -H 'Host: localhost' "http://127.0.0.1:$1/"
}

# Starts the shop (php -S, the built-in server, two worker processes) on
# DEMO_UPSTREAM, in a process group of its own: PHP's workers outlive a
# SIGTERM to their parent, so demo_stop signals the whole group.
demo_start_shop() {
  SHOP_DATA="$DEMO_STATE/shop-data" \
    SHOP_ADMIN_PASSWORD="$(cat "$DEMO_STATE/admin-password")" \
    PHP_CLI_SERVER_WORKERS=2 \
    setsid php -S "127.0.0.1:$DEMO_UPSTREAM" -t "$DEMO_STATE/www" \
    >"$DEMO_STATE/logs/shop.log" 2>&1 &
  DEMO_PIDS+=($!)
  demo_wait 10 demo_http_up "$DEMO_UPSTREAM" ||
    { demo_log "demo: the shop did not start: $(tail -n 5 "$DEMO_STATE/logs/shop.log")"; return 1; }
}

# Starts `sekimori run -c STATE/sekimori.conf` (the event log writer, the
# file monitor and the proxy on DEMO_LISTEN) and waits until every part
# has started and the proxy answers.
demo_start_sekimori() {
  local s="$DEMO_STATE"
  "$DEMO_SK" run -c "$s/sekimori.conf" --ready "$s/run/ready" \
    >"$s/logs/run.log" 2>&1 &
  DEMO_PIDS+=($!)
  demo_wait 30 test -e "$s/run/ready" ||
    { demo_log "demo: sekimori run did not start: $(tail -n 10 "$s/logs/run.log")"; return 1; }
  demo_wait 10 demo_http_up "$DEMO_LISTEN" ||
    { demo_log "demo: the proxy does not answer: $(tail -n 10 "$s/logs/run.log")"; return 1; }
}

# Stops every process started here, newest first (sekimori before the
# shop): SIGTERM to its process group when it leads one (the shop), else
# to it; up to 10 s, then SIGKILL.
demo_stop() {
  local i p n
  for ((i = ${#DEMO_PIDS[@]} - 1; i >= 0; i--)); do
    p="${DEMO_PIDS[$i]}"
    kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
    n=100
    while kill -0 "$p" 2>/dev/null && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
    kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  DEMO_PIDS=()
}
