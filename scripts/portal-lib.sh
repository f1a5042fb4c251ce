# Shared by the benchmark commands and the API fuzzing script: the release
# build, a portal on a fresh managed Postgres, wrk and pgbench runs and their
# numbers. Sourced, not run.

CONCURRENCY="${CONCURRENCY:-32}"
DURATION="${DURATION:-15}"
# Below the kernel's ephemeral range (32768-60999), so that no outgoing
# connection holds it, and the readiness probe never connects to itself.
PORT="${BENCH_PORT:-18300}"
PORTAL_BINARY="${PORTAL_BINARY:-target/release/privacy-portal}"
BASE="http://127.0.0.1:$PORT"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

ensure_wrk() {
    if ! command -v wrk >/dev/null 2>&1; then
        echo "==> Installing wrk (Debian package)"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    fi
}

build_release() {
    echo "==> Building the release binary"
    cargo build --release --locked -p server
}

# The cluster belongs to the postgres user when we are root.
as_cluster_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

DATA=""
PORTAL_PID=""
cleanup() {
    if [ -n "$PORTAL_PID" ]; then kill "$PORTAL_PID" 2>/dev/null || true; wait "$PORTAL_PID" 2>/dev/null || true; fi
    if [ -n "$DATA" ] && [ -f "$DATA/postgres/postmaster.pid" ]; then
        as_cluster_owner "$PGBIN/pg_ctl" -D "$DATA/postgres" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    [ -n "$DATA" ] && rm -rf "$DATA"
    return 0
}

# Starts the release portal on a fresh managed Postgres (the demo clinic is
# seeded on first start), with the extra VAR=value pairs given, and sets
# PGPORT and PGPASSWORD for psql and pgbench.
start_portal() {
    DATA=$(mktemp -d "${TMPDIR:-/tmp}/portal-bench.XXXXXX")
    chmod 755 "$DATA"
    trap cleanup EXIT
    echo "==> Starting the portal on a fresh managed Postgres"
    env PORTAL_DATA_DIR="$DATA" PORTAL_BIND="127.0.0.1:$PORT" PORTAL_BASE_URL="$BASE" \
        PORTAL_LOG=warn "$@" "$PORTAL_BINARY" serve >"$DATA/portal.log" 2>&1 &
    PORTAL_PID=$!
    for _ in $(seq 1 120); do
        kill -0 "$PORTAL_PID" 2>/dev/null || { cat "$DATA/portal.log"; exit 1; }
        curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break
        sleep 1
    done
    curl -fsS "$BASE/readyz" >/dev/null
    PGPORT=$(sed -n 4p "$DATA/postgres/postmaster.pid" | tr -d ' ')
    PGPASSWORD=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["superuser"])' "$DATA/postgres-credentials.json")
    export PGPORT PGPASSWORD
}

psql_portal() { "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -d portal -v ON_ERROR_STOP=1 -Atc "$1"; }

# Writes the next phase start after a checkpoint, so that none pays for the
# dirty pages of the one before.
checkpoint() { psql_portal "CHECKPOINT" >/dev/null; }

# pgbench single-row INSERT transactions at $CONCURRENCY clients; sets
# PG_TPS, PG_P50 and PG_P99 (ms).
run_pgbench() {
    psql_portal "SET client_min_messages = warning; CREATE TABLE IF NOT EXISTS bench_insert (id bigserial PRIMARY KEY, payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())" >/dev/null
    checkpoint
    rm -f "$DATA"/pgbench.*
    "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PGPORT" -U postgres -c "$CONCURRENCY" -j 2 -T "$DURATION" \
        -f bench/insert.sql -l --log-prefix="$DATA/pgbench" portal >"$DATA/pgbench.out" 2>&1
    PG_TPS=$(grep -oP 'tps = \K[0-9.]+' "$DATA/pgbench.out" | tail -1)
    # Per-transaction latencies (µs, third column of the log).
    read -r PG_P50 PG_P99 < <(cat "$DATA"/pgbench.[0-9]* | awk '{print $3}' | sort -n |
        awk '{v[NR]=$1} END {printf "%.2f %.2f\n", v[int(NR*0.50)]/1000, v[int(NR*0.99)]/1000}')
}

# wrk at $CONCURRENCY connections for $DURATION seconds into $DATA/NAME.out:
#   run_wrk NAME URL [wrk options...]
run_wrk() {
    local name=$1 url=$2
    shift 2
    wrk -t2 -c"$CONCURRENCY" -d"${DURATION}s" --latency "$@" "$url" >"$DATA/$name.out"
}

warm_up() {
    local url=$1
    shift
    wrk -t2 -c"$CONCURRENCY" -d3s "$@" "$url" >/dev/null
}

to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /ms$/) {sub(/ms/,"",v); print v} else if (v ~ /us$/) {sub(/us/,"",v); print v/1000} else {sub(/s$/,"",v); print v*1000} }'; }
wrk_rps() { awk '/^Requests\/sec/ {print $2}' "$DATA/$1.out"; }
wrk_total() { awk '/requests in/ {print $1}' "$DATA/$1.out"; }
wrk_non2xx() { local n; n=$(awk '/Non-2xx/ {print $5}' "$DATA/$1.out"); echo "${n:-0}"; }
wrk_p() { to_ms "$(awk -v q="$2%" '$1==q {print $2}' "$DATA/$1.out")"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
# Whether awk finds the comparison true: check "$x < 10"
check() { awk "BEGIN {exit !($1)}"; }

# Resident memory of the portal in MB.
rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$PORTAL_PID/status"; }
peak_rss_mb() { awk '/^VmHWM/ {printf "%.1f", $2/1024}' "/proc/$PORTAL_PID/status"; }

machine() { echo "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"; }
