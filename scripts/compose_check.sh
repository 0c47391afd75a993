#!/usr/bin/env bash
# Runs docker-compose.yml for real, end to end: builds the image, starts PostgreSQL, the app and two
# workers (--scale worker=2), adds a second project, queues one training run in each of the two projects
# at once, waits for both, prints the runs table from the database and a one-line verdict: PASS when two
# different worker containers trained the two runs at overlapping times, both succeeded and are active.
# Then `down -v` (containers and volumes; the images stay for the next run).
#
# Not part of ./test.sh: it needs a Docker daemon, builds a ~2 GB image and trains twice (about 15
# minutes on 2 CPU cores the first time).
#
# Usage: scripts/compose_check.sh [--screenshot PATH] [--keep]
#   --screenshot PATH   also save the Train page's versions tables of both projects (needs .venv with the
#                       dev requirements and Chromium)
#   --keep              leave the stack running (tear down later with the `down -v` line it prints)
#
# Machines that cannot pull from Docker Hub: when python:3.11-slim or postgres:16 is neither present nor
# pullable, it builds LOCAL STAND-INS, named so (teach-standin/python:3.11-slim: Debian bookworm minbase
# with its Python 3.11, made with debootstrap; teach-standin/postgres:15: Debian's PostgreSQL 15 with an
# entrypoint that honours POSTGRES_USER/PASSWORD/DB, scripts/compose_standins/postgres). They are not the
# official images. STANDINS=always uses them even when the official ones are available, STANDINS=never
# refuses to. When no Docker daemon answers and `dockerd` is installed, it starts one (log in
# /tmp/dockerd.log) and stops it again at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

SCREENSHOT=""
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --screenshot) SCREENSHOT=$(realpath -m "$2"); shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "usage: $0 [--screenshot PATH] [--keep]" >&2; exit 2 ;;
  esac
done

PROJECT_NAME=${COMPOSE_PROJECT_NAME:-teachcheck}
STANDINS=${STANDINS:-auto}
FIRST="Demo: physical violence"  # created by run.sh on an empty database
SECOND="Second project"
ADMIN=admin
export COMPOSE_CHECK_PASSWORD=${COMPOSE_CHECK_PASSWORD:-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')}
export POSTGRES_PASSWORD=${POSTGRES_PASSWORD:-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')}
log() { printf '\n== %s\n' "$*"; }

started_dockerd=""
http_pid=""
tmp=$(mktemp -d /var/tmp/compose-check.XXXXXX)
cleanup() {
  local rc=$?
  if [ -n "${COMPOSE[*]:-}" ] && [ "$KEEP" = 0 ]; then
    log "tearing down"
    "${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  fi
  [ -n "$http_pid" ] && kill "$http_pid" 2>/dev/null || true
  if [ -n "$started_dockerd" ] && [ "$KEEP" = 0 ]; then
    kill "$started_dockerd" 2>/dev/null || true
    wait "$started_dockerd" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT

# --- a Docker daemon and Compose ---------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null || [ "$(id -u)" != 0 ]; then
    echo "error: no Docker daemon answers. Start one (or install docker.io: apt-get install docker.io docker-compose)." >&2
    exit 1
  fi
  log "starting dockerd (log: /tmp/dockerd.log)"
  dockerd >/tmp/dockerd.log 2>&1 &
  started_dockerd=$!
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "error: dockerd did not start; see /tmp/dockerd.log" >&2; exit 1; }
fi
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose -p "$PROJECT_NAME")
elif command -v docker-compose >/dev/null; then
  COMPOSE=(docker-compose -p "$PROJECT_NAME")  # Compose v1 (Debian's docker-compose package)
else
  echo "error: neither 'docker compose' nor 'docker-compose' is installed." >&2
  exit 1
fi
echo "Docker daemon $(docker version --format '{{.Server.Version}}'); $("${COMPOSE[@]}" version 2>/dev/null | head -1)"

# --- base images: the official ones, else local stand-ins ---------------------------------------------
have_image() { docker image inspect "$1" >/dev/null 2>&1; }
official_available() {  # present, or pullable within a minute
  have_image "$1" || timeout 60 docker pull -q "$1" >/dev/null 2>&1
}
use_official() {
  case "$STANDINS" in
    always) return 1 ;;
    never) official_available "$1" || { echo "error: cannot pull $1 and STANDINS=never" >&2; exit 1; } ;;
    *) official_available "$1" ;;
  esac
}

export BASE_IMAGE=python:3.11-slim POSTGRES_IMAGE=postgres:16
if ! use_official python:3.11-slim; then
  BASE_IMAGE=teach-standin/python:3.11-slim
  if ! have_image "$BASE_IMAGE"; then
    log "building the STAND-IN $BASE_IMAGE (debootstrap bookworm minbase + python3)"
    command -v debootstrap >/dev/null || { echo "error: install debootstrap (apt-get install debootstrap)" >&2; exit 1; }
    nice -n 10 debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
      bookworm "$tmp/rootfs" http://deb.debian.org/debian >"$tmp/debootstrap.log" 2>&1 \
      || { tail -20 "$tmp/debootstrap.log" >&2; exit 1; }
    # A machine whose egress re-signs TLS trusts an extra CA; the stand-in must too, or pip inside the
    # build cannot reach PyPI. (The stand-in is built here for here and never pushed anywhere.)
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
      cp /usr/local/share/ca-certificates/*.crt "$tmp/rootfs/usr/local/share/ca-certificates/"
      chroot "$tmp/rootfs" update-ca-certificates >/dev/null 2>&1
    fi
    rm -rf "$tmp"/rootfs/var/cache/apt/archives/*.deb "$tmp"/rootfs/var/lib/apt/lists/*
    tar -C "$tmp/rootfs" -c . | docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
      --change 'LABEL org.opencontainers.image.description="LOCAL STAND-IN for python:3.11-slim: Debian bookworm minbase + python3 3.11 (debootstrap), built by scripts/compose_check.sh"' \
      - "$BASE_IMAGE" >/dev/null
    rm -rf "$tmp/rootfs"
  fi
fi
if ! use_official postgres:16; then
  POSTGRES_IMAGE=teach-standin/postgres:15
  if ! have_image "$POSTGRES_IMAGE"; then
    log "building the STAND-IN $POSTGRES_IMAGE (Debian's PostgreSQL 15)"
    nice -n 10 docker build -q --network host --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$POSTGRES_IMAGE" \
      scripts/compose_standins/postgres >/dev/null
  fi
fi
echo "base image: $BASE_IMAGE; database image: $POSTGRES_IMAGE"

# --- the app's image ------------------------------------------------------------------------------------
# constraints.txt pins torch 2.13.0+cpu, which PyPI does not carry. This project's machines keep that
# wheel in /opt/wheels and a PyPI mirror in /opt/pypi*: serve them to the build over loopback (the build
# runs with --network host). Elsewhere PyTorch's CPU index serves it.
if [ -z "${PIP_EXTRA_INDEX_URL:-}" ]; then
  wheel=$(ls /opt/wheels/torch-2.13.0+cpu-*.whl 2>/dev/null | head -1 || true)
  if [ -n "$wheel" ]; then
    mkdir -p "$tmp/www/torch-cpu/simple/torch"
    ln -s "$wheel" "$tmp/www/torch-cpu/simple/torch/"
    urls="torch-cpu/simple"
    for mirror in /opt/pypi /opt/pypi-more; do
      [ -d "$mirror/simple" ] && ln -s "$mirror" "$tmp/www/$(basename "$mirror")" && urls="$urls $(basename "$mirror")/simple"
    done
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    python3 -m http.server "$port" --bind 127.0.0.1 --directory "$tmp/www" >"$tmp/http.log" 2>&1 &
    http_pid=$!
    PIP_EXTRA_INDEX_URL=""
    for u in $urls; do PIP_EXTRA_INDEX_URL="$PIP_EXTRA_INDEX_URL http://127.0.0.1:$port/$u"; done
    PIP_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL# }
    sleep 1
  else
    PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
  fi
fi
export PIP_EXTRA_INDEX_URL
log "building teach-the-classifier (docker build, base $BASE_IMAGE)"
# docker build rather than `compose build`: Compose has no command-line switch for the build's network.
nice -n 10 docker build --network host --build-arg BASE_IMAGE="$BASE_IMAGE" \
  --build-arg PIP_EXTRA_INDEX_URL="$PIP_EXTRA_INDEX_URL" -t teach-the-classifier . >"$tmp/build.log" 2>&1 \
  || { tail -30 "$tmp/build.log" >&2; exit 1; }
[ -n "$http_pid" ] && { kill "$http_pid" 2>/dev/null || true; http_pid=""; }

# --- up, with two workers -------------------------------------------------------------------------------
log "${COMPOSE[*]} up -d --scale worker=2"
"${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1 || true  # a fresh database every time
"${COMPOSE[@]}" up -d --scale worker=2
for _ in $(seq 120); do
  curl -fsS http://localhost:8501/_stcore/health >/dev/null 2>&1 && break
  sleep 2
done
curl -fsS http://localhost:8501/_stcore/health >/dev/null || { "${COMPOSE[@]}" logs --tail=40 >&2; exit 1; }
echo "app healthy at http://localhost:8501/_stcore/health"

core() { "${COMPOSE[@]}" exec -T app .venv/bin/python -m core "$@"; }
psql_q() { "${COMPOSE[@]}" exec -T postgres psql -U teach -d teach -v ON_ERROR_STOP=1 "$@"; }

log "first admin and a second project"
printf '%s\n' "$COMPOSE_CHECK_PASSWORD" | "${COMPOSE[@]}" exec -T app .venv/bin/python -m core users add "$ADMIN" --role admin --password-stdin
# The second project: the demo's sentences and labels under another name (export, then import).
core export --project "$FIRST" --format csv --output /tmp/first.csv >/dev/null
core import /tmp/first.csv --project "$SECOND" --labels "other,physical violence" --label-column label_name
core projects

# Both workers refresh suggestions with the base model when they start and when a project appears;
# wait until both have registered and then a little, so both are free when the runs arrive.
for _ in $(seq 60); do
  [ "$(psql_q -tAc "SELECT count(*) FROM workers WHERE NOT stopped")" -ge 2 ] && break
  sleep 2
done
sleep 30

log "queueing one training run in each project at once"
core train --project "$FIRST" >/dev/null &
first_pid=$!
core train --project "$SECOND" >/dev/null
wait "$first_pid"
for _ in $(seq 360); do  # 30 minutes at most
  [ "$(psql_q -tAc "SELECT count(*) FROM training_runs WHERE finished_at IS NULL")" = 0 ] && break
  sleep 5
done

log "runs (PostgreSQL, table training_runs)"
psql_q -c "SELECT r.id, p.name AS project, r.status, r.host AS worker_host,
                  to_char(r.started_at, 'HH24:MI:SS') AS started, to_char(r.finished_at, 'HH24:MI:SS') AS finished,
                  (p.active_run_id = r.id) AS active
           FROM training_runs r JOIN projects p ON p.id = r.project_id ORDER BY r.id"
# A container's host name is its short id: name each worker container.
for id in $("${COMPOSE[@]}" ps -q worker); do
  echo "worker_host ${id:0:12} = $(docker inspect --format '{{.Name}}' "$id" | tr -d /)"
done

log "the app container's view (python -m core runs; * = active)"
core runs --project "$FIRST"
core runs --project "$SECOND"

if [ -n "$SCREENSHOT" ]; then
  log "screenshot"
  .venv/bin/python scripts/compose_screenshot.py http://localhost:8501 "$ADMIN" - "$SCREENSHOT" "$FIRST" "$SECOND"
fi

verdict=$(psql_q -tA -F ' ' -c "
  SELECT count(*) = 2
     AND bool_and(r.status = 'succeeded' AND p.active_run_id = r.id)
     AND count(DISTINCT r.host) = 2
     AND max(r.started_at) < min(r.finished_at),
         round(extract(epoch FROM min(r.finished_at) - max(r.started_at)))
  FROM training_runs r JOIN projects p ON p.id = r.project_id WHERE r.kind = 'train'")
read -r ok overlap <<<"$verdict"
if [ "$ok" = t ]; then
  echo "PASS: two worker containers trained the two projects' runs at the same time (overlap ${overlap} s); both succeeded and are active"
else
  echo "FAIL: expected 2 succeeded, active runs on 2 different worker hosts with overlapping times (see the table above)"
  "${COMPOSE[@]}" logs --tail=30 worker >&2
  exit 1
fi
if [ "$KEEP" = 1 ]; then
  echo "left running; tear down with: ${COMPOSE[*]} down -v"
fi
