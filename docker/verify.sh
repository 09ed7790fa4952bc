#!/usr/bin/env bash
# Builds the mur-server image from docker/Dockerfile and proves it works, on this machine:
#   1. the image builds (multi-stage; the final stage has no compiler and runs as non-root);
#   2. SQLite: the container starts, answers /healthz, takes a registration, keeps its data in
#      the /data volume across `docker restart` and a new container, exits 0 on `docker stop`;
#   3. hosted shape: `migrate up`, then two server containers on one PostgreSQL database, and a
#      pattern created through one reaches a /ws/sync WebSocket held by the other;
#   4. the compose file is valid (when docker compose / docker-compose is installed).
# One PASS/FAIL line per check; exits 1 when any check failed. Not part of CI.
#
# Every container uses the host network and binds 127.0.0.1 only; nothing leaves loopback
# except the image build's npm registry traffic and, the first time, debootstrap's.
#
# Environment (all optional):
#   IMAGE            tag to build                      (mur-server:verify)
#   BUILD_BASE       build stage's base image          (mur-build-base, made by build-bases.sh
#   RUNTIME_BASE     final stage's base image           / mur-runtime-base when missing)
#   NPM_REGISTRY     registry for the build            (`npm config get registry` of this machine)
#   PG_URL           PostgreSQL server, admin login    (postgres://postgres@127.0.0.1:5432/postgres)
#   PORT_SQLITE, PORT_A, PORT_B                        (18080, 18081, 18082)
#   SKIP_BUILD=1     reuse an existing $IMAGE
#   VERIFY_CONTEXT=worktree  build from the working tree as it is (default: the committed
#                    sources of HEAD plus this working tree's docker/ and .dockerignore)
set -uo pipefail
cd "$(dirname "$0")/.."

IMAGE="${IMAGE:-mur-server:verify}"
BUILD_BASE="${BUILD_BASE:-mur-build-base}"
RUNTIME_BASE="${RUNTIME_BASE:-mur-runtime-base}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PORT_SQLITE="${PORT_SQLITE:-18080}"
PORT_A="${PORT_A:-18081}"
PORT_B="${PORT_B:-18082}"
RUN_ID="$$"
C_SQLITE="mur-verify-sqlite-$RUN_ID"
C_SQLITE2="mur-verify-sqlite2-$RUN_ID"
C_A="mur-verify-a-$RUN_ID"
C_B="mur-verify-b-$RUN_ID"
VOLUME="mur-verify-data-$RUN_ID"
PG_DB="mur_verify_$RUN_ID"
export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}" # the classic builder; buildx may be absent

PASSED=0
FAILED=0
pass() { echo "PASS: $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL: $*"; FAILED=$((FAILED + 1)); }
info() { echo "      $*"; }
PG_CREATED=0
CONTEXT=""
cleanup() {
  if [ -n "$CONTEXT" ]; then rm -rf "$CONTEXT"; fi
  for c in "$C_SQLITE" "$C_SQLITE2" "$C_A" "$C_B"; do
    docker rm -f -v "$c" >/dev/null 2>&1 || true
  done
  docker volume rm -f "$VOLUME" >/dev/null 2>&1 || true
  if [ "$PG_CREATED" = 1 ]; then
    psql "$PG_URL" -qAtc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

finish() {
  echo "verify: $PASSED passed, $FAILED failed"
  [ "$FAILED" = 0 ] && exit 0
  exit 1
}

# --- 0. the engine --------------------------------------------------------------------------
start_dockerd() {
  command -v dockerd >/dev/null 2>&1 || return 1
  local log=/tmp/mur-verify-dockerd.log
  for opts in "" "--iptables=false --bridge=none" "--iptables=false --bridge=none --storage-driver=vfs"; do
    info "starting dockerd${opts:+ $opts} in the background (log: $log)"
    # shellcheck disable=SC2086
    nohup dockerd $opts >"$log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 30); do
      docker info >/dev/null 2>&1 && return 0
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    tail -n 3 "$log" | sed 's/^/      dockerd: /'
  done
  return 1
}
if ! docker info >/dev/null 2>&1; then
  start_dockerd || true
fi
if docker info >/dev/null 2>&1; then
  pass "docker engine answers ($(docker version -f 'server {{.Server.Version}}' 2>/dev/null), storage $(docker info -f '{{.Driver}}' 2>/dev/null))"
else
  fail "docker engine answers (docker info fails and dockerd could not be started)"
  finish
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
busy=""
for p in "$PORT_SQLITE" "$PORT_A" "$PORT_B"; do port_free "$p" || busy="$busy $p"; done
if [ -n "$busy" ]; then
  fail "ports $PORT_SQLITE $PORT_A $PORT_B are free on 127.0.0.1 (in use:$busy; set PORT_SQLITE/PORT_A/PORT_B)"
  finish
fi

# --- 1. the image ---------------------------------------------------------------------------
image_size_mb() { docker image inspect -f '{{.Size}}' "$1" 2>/dev/null | awk '{printf "%.0f", $1/1e6}'; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  if [ "$BUILD_BASE" = mur-build-base ] || [ "$RUNTIME_BASE" = mur-runtime-base ]; then
    if ! docker image inspect "$BUILD_BASE" >/dev/null 2>&1 || ! docker image inspect "$RUNTIME_BASE" >/dev/null 2>&1; then
      info "building local base images (docker/build-bases.sh)"
      BUILD_BASE="$BUILD_BASE" RUNTIME_BASE="$RUNTIME_BASE" docker/build-bases.sh 2>&1 | sed 's/^/      /'
    fi
  fi
  if docker image inspect "$BUILD_BASE" "$RUNTIME_BASE" >/dev/null 2>&1; then
    pass "base images present ($BUILD_BASE $(image_size_mb "$BUILD_BASE") MB, $RUNTIME_BASE $(image_size_mb "$RUNTIME_BASE") MB)"
  else
    fail "base images present ($BUILD_BASE, $RUNTIME_BASE; docker/build-bases.sh makes them)"
    finish
  fi

  NPM_REGISTRY="${NPM_REGISTRY:-$(npm config get registry 2>/dev/null || true)}"
  NPM_REGISTRY="${NPM_REGISTRY:-https://registry.npmjs.org/}"
  build_args=(--network host --force-rm -f docker/Dockerfile -t "$IMAGE"
    --build-arg "BUILD_BASE=$BUILD_BASE" --build-arg "RUNTIME_BASE=$RUNTIME_BASE"
    --build-arg "NPM_REGISTRY=$NPM_REGISTRY")
  # This machine's npm trusts an extra CA bundle: the build base carries it at the same path.
  if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] || [ "$(npm config get cafile 2>/dev/null)" != "null" ]; then
    build_args+=(--build-arg "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt")
  fi
  for v in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
    [ -n "${!v:-}" ] && build_args+=(--build-arg "$v=${!v}")
  done
  BUILD_LOG="/tmp/mur-verify-build-$RUN_ID.log"
  info "docker build (log: $BUILD_LOG)"
  start=$(date +%s)
  if [ "${VERIFY_CONTEXT:-head}" = worktree ]; then
    info "build context: the working tree"
    docker build "${build_args[@]}" . >"$BUILD_LOG" 2>&1
  else
    # The committed sources (HEAD), with this working tree's docker/ and .dockerignore over
    # them: other edits in progress do not leak into the image.
    CONTEXT="$(mktemp -d /tmp/mur-verify-context.XXXXXX)"
    git archive --format=tar HEAD | tar -x -C "$CONTEXT"
    rm -rf "$CONTEXT/docker" && cp -a docker "$CONTEXT/docker"
    if [ -f .dockerignore ]; then cp .dockerignore "$CONTEXT/"; fi
    info "build context: git HEAD $(git rev-parse --short HEAD) + working-tree docker/"
    (cd "$CONTEXT" && docker build "${build_args[@]}" .) >"$BUILD_LOG" 2>&1
  fi
  rc=$?
  if [ "$rc" = 0 ]; then
    pass "image $IMAGE builds from docker/Dockerfile ($(($(date +%s) - start)) s, $(image_size_mb "$IMAGE") MB)"
  else
    fail "image $IMAGE builds from docker/Dockerfile (exit $rc; last lines of $BUILD_LOG:)"
    tail -n 25 "$BUILD_LOG" | sed 's/^/      /'
    finish
  fi
elif ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  fail "SKIP_BUILD=1 but there is no image $IMAGE"
  finish
fi

in_image() { docker run --rm --network none --entrypoint /bin/sh "$IMAGE" -c "$1"; }
found="$(in_image 'for t in g++ gcc cc make python3 npm; do command -v $t; done; true' 2>&1)"
if [ -z "$found" ]; then
  pass "final stage has no compiler (no g++, gcc, cc, make, python3, npm on PATH)"
else
  fail "final stage has no compiler (found: $(echo "$found" | tr '\n' ' '))"
fi
user="$(in_image 'echo "$(id -un) uid $(id -u)"' 2>/dev/null)"
if [ -n "$user" ] && [ "$(in_image 'id -u')" != 0 ]; then pass "runs as a non-root user ($user)"; else fail "runs as a non-root user (got: $user)"; fi
vols="$(docker image inspect -f '{{json .Config.Volumes}}' "$IMAGE")"
dburl="$(docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE" | grep '^DATABASE_URL=')"
if [[ "$vols" == *'"/data"'* ]] && [ "$dburl" = "DATABASE_URL=file:/data/mur.db" ]; then
  pass "VOLUME /data and $dburl"
else
  fail "VOLUME /data and DATABASE_URL=file:/data/mur.db (volumes $vols, $dburl)"
fi

# --- helpers --------------------------------------------------------------------------------
# http METHOD URL [JSON] [TOKEN] -> sets CODE and BODY
http() {
  local out
  out="$(curl -sS --max-time 15 -o - -w '\n%{http_code}' -X "$1" "$2" \
    -H 'content-type: application/json' ${4:+-H "authorization: Bearer $4"} ${3:+--data "$3"} 2>&1)"
  CODE="${out##*$'\n'}"
  BODY="${out%$'\n'*}"
}
json_field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const v=process.argv[1].split(".").reduce((o,k)=>o?.[k],JSON.parse(s));process.stdout.write(v==null?"":String(v))}catch{}})' "$1"; }
listening_count() { docker logs "$1" 2>/dev/null | grep -c "^mur-server listening on http://$2\$"; }
# wait_listening CONTAINER HOST:PORT COUNT: its stdout shows the listening line COUNT times
wait_listening() {
  for _ in $(seq 1 60); do
    [ "$(listening_count "$1" "$2")" -ge "$3" ] && return 0
    [ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ] || { sleep 1; [ "$(listening_count "$1" "$2")" -ge "$3" ] && return 0; break; }
    sleep 1
  done
  info "last log lines of $1:"
  docker logs --tail 15 "$1" 2>&1 | sed 's/^/      /'
  return 1
}
stop_exit_code() { # CONTAINER -> prints the exit code after docker stop
  docker stop -t 30 "$1" >/dev/null 2>&1
  docker inspect -f '{{.State.ExitCode}}' "$1"
}

# --- 2. SQLite in the /data volume ----------------------------------------------------------
echo "--- SQLite (volume $VOLUME, port $PORT_SQLITE)"
docker volume create "$VOLUME" >/dev/null
S="http://127.0.0.1:$PORT_SQLITE"
run_sqlite() { # NAME
  docker run -d --name "$1" --network host -v "$VOLUME:/data" \
    -e HOST=127.0.0.1 -e PORT="$PORT_SQLITE" -e BCRYPT_COST=10 \
    --health-interval 2s --health-timeout 5s "$IMAGE" >/dev/null
}
EMAIL="verify-$RUN_ID@example.com"
PASSWORD="correct horse battery staple"
CREDS="{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}"
if run_sqlite "$C_SQLITE" && wait_listening "$C_SQLITE" "127.0.0.1:$PORT_SQLITE" 1; then
  pass "SQLite container starts and prints 'mur-server listening on http://127.0.0.1:$PORT_SQLITE'"
  http GET "$S/healthz"
  [ "$CODE" = 200 ] && pass "GET /healthz -> 200 $BODY" || fail "GET /healthz -> $CODE $BODY"
  http POST "$S/auth/register" "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"name\":\"Verify\"}"
  [ "$CODE" = 201 ] && pass "POST /auth/register -> 201 (user $(json_field user.id <<<"$BODY"))" || fail "POST /auth/register -> $CODE $BODY"
  TOKEN="$(json_field access_token <<<"$BODY")"
  http POST "$S/api/team" '{"name":"Verify SQLite"}' "$TOKEN"
  [ "$CODE" = 201 ] && pass "POST /api/team -> 201" || fail "POST /api/team -> $CODE $BODY"
  http POST "$S/api/patterns" '{"name":"kept-in-volume","content":{"a":1}}' "$TOKEN"
  [ "$CODE" = 201 ] && pass "POST /api/patterns -> 201" || fail "POST /api/patterns -> $CODE $BODY"
  health=""
  for _ in $(seq 1 20); do
    health="$(docker inspect -f '{{.State.Health.Status}}' "$C_SQLITE")"
    [ "$health" = healthy ] && break
    sleep 1
  done
  [ "$health" = healthy ] && pass "image HEALTHCHECK reports healthy" || fail "image HEALTHCHECK reports healthy (got $health)"
  owner="$(docker exec "$C_SQLITE" sh -c 'stat -c "%U %a" /data/mur.db /data/jwt-secret' | tr '\n' ' ')"
  info "in the volume (owner, mode): /data/mur.db and /data/jwt-secret: ${owner% }"

  docker restart -t 30 "$C_SQLITE" >/dev/null
  if wait_listening "$C_SQLITE" "127.0.0.1:$PORT_SQLITE" 2; then
    pass "docker restart: the server is back (listening line printed again)"
  else
    fail "docker restart: the server is back"
  fi
  http POST "$S/auth/login" "$CREDS"
  [ "$CODE" = 200 ] && pass "after docker restart: POST /auth/login with the same account -> 200" || fail "after docker restart: POST /auth/login -> $CODE $BODY"
  TOKEN="$(json_field access_token <<<"$BODY")"
  http GET "$S/api/patterns" "" "$TOKEN"
  [ "$CODE" = 200 ] && [ "$(json_field total <<<"$BODY")" = 1 ] && pass "after docker restart: the pattern is still there" || fail "after docker restart: GET /api/patterns -> $CODE $BODY"
  code="$(stop_exit_code "$C_SQLITE")"
  [ "$code" = 0 ] && pass "docker stop: the container exits 0" || fail "docker stop: the container exits $code"
else
  fail "SQLite container starts and prints its listening line"
fi

if run_sqlite "$C_SQLITE2" && wait_listening "$C_SQLITE2" "127.0.0.1:$PORT_SQLITE" 1; then
  http POST "$S/auth/login" "$CREDS"
  [ "$CODE" = 200 ] && pass "a new container on the same volume: POST /auth/login -> 200" || fail "a new container on the same volume: POST /auth/login -> $CODE $BODY"
  code="$(stop_exit_code "$C_SQLITE2")"
  [ "$code" = 0 ] && pass "docker stop (second container): exits 0" || fail "docker stop (second container): exits $code"
else
  fail "a new container on the same volume starts"
fi

# --- 3. hosted shape: PostgreSQL + two servers ----------------------------------------------
echo "--- PostgreSQL (database $PG_DB) + servers on ports $PORT_A and $PORT_B"
if ! command -v psql >/dev/null 2>&1 || ! psql "$PG_URL" -qAtc 'select 1' >/dev/null 2>&1; then
  fail "PostgreSQL answers at $PG_URL (start it, or set PG_URL)"
  finish
fi
if psql "$PG_URL" -qAtc "CREATE DATABASE $PG_DB" >/dev/null; then
  PG_CREATED=1
  pass "fresh database $PG_DB created ($(psql "$PG_URL" -qAtc 'show server_version'))"
else
  fail "create database $PG_DB"
  finish
fi
DB_URL="$(node -e 'const u=new URL(process.argv[1]);u.pathname="/"+process.argv[2];console.log(u.href)' "$PG_URL" "$PG_DB")"
JWT_SECRET="$(node -e 'console.log(require("crypto").randomBytes(36).toString("base64"))')"
pg_env=(-e "DATABASE_URL=$DB_URL" -e "JWT_SECRET=$JWT_SECRET" -e HOST=127.0.0.1 -e BCRYPT_COST=10)

out="$(docker run --rm --network host "${pg_env[@]}" "$IMAGE" migrate up 2>&1)"
rc=$?
[ "$rc" = 0 ] && pass "migrate up (a one-off container) exits 0" || { fail "migrate up exits $rc"; echo "$out" | tail -n 10 | sed 's/^/      /'; }
applied="$(docker run --rm --network host "${pg_env[@]}" "$IMAGE" migrate status 2>/dev/null)"
info "migrate status: $(echo "$applied" | grep -c applied) applied: $(echo "$applied" | awk '/applied/ {print $1}' | tr '\n' ' ')"

docker run -d --name "$C_A" --network host "${pg_env[@]}" -e PORT="$PORT_A" -e BASE_URL="http://127.0.0.1:$PORT_A" "$IMAGE" >/dev/null
docker run -d --name "$C_B" --network host "${pg_env[@]}" -e PORT="$PORT_B" -e BASE_URL="http://127.0.0.1:$PORT_B" "$IMAGE" >/dev/null
ok_a=0 ok_b=0
wait_listening "$C_A" "127.0.0.1:$PORT_A" 1 && ok_a=1
wait_listening "$C_B" "127.0.0.1:$PORT_B" 1 && ok_b=1
if [ "$ok_a" = 1 ] && [ "$ok_b" = 1 ]; then
  pass "servers A (:$PORT_A) and B (:$PORT_B) start on one PostgreSQL database"
  for p in "$PORT_A" "$PORT_B"; do
    http GET "http://127.0.0.1:$p/healthz"
    [ "$CODE" = 200 ] && pass "GET :$p/healthz -> 200" || fail "GET :$p/healthz -> $CODE $BODY"
  done
  if node docker/ws-check.mjs "http://127.0.0.1:$PORT_A" "http://127.0.0.1:$PORT_B" 2>"/tmp/mur-verify-ws-$RUN_ID.log"; then
    pass "a pattern created through A reaches a /ws/sync socket on B as pattern_created"
    sed 's/^/      /' "/tmp/mur-verify-ws-$RUN_ID.log"
  else
    fail "a pattern created through A reaches a /ws/sync socket on B"
    sed 's/^/      /' "/tmp/mur-verify-ws-$RUN_ID.log"
    docker logs --tail 10 "$C_B" 2>&1 | sed 's/^/      B: /'
  fi
  rm -f "/tmp/mur-verify-ws-$RUN_ID.log"
  for c in "$C_A" "$C_B"; do
    code="$(stop_exit_code "$c")"
    [ "$code" = 0 ] && pass "docker stop ${c%-"$RUN_ID"}: exits 0" || fail "docker stop ${c%-"$RUN_ID"}: exits $code"
  done
else
  fail "servers A and B start on one PostgreSQL database"
fi

# --- 4. the compose file --------------------------------------------------------------------
compose=()
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
fi
if [ "${#compose[@]}" -gt 0 ]; then
  if out="$(JWT_SECRET="$JWT_SECRET" "${compose[@]}" -f docker/docker-compose.yml config -q 2>&1)" &&
    services="$(JWT_SECRET="$JWT_SECRET" "${compose[@]}" -f docker/docker-compose.yml config --services 2>/dev/null | tr '\n' ' ')"; then
    pass "docker/docker-compose.yml is valid (${compose[*]} config; services: ${services% })"
  else
    fail "docker/docker-compose.yml is valid (${compose[*]} config)"
    echo "$out" | tail -n 10 | sed 's/^/      /'
  fi
else
  echo "SKIP: docker/docker-compose.yml not validated (neither 'docker compose' nor docker-compose is installed)"
fi

finish
