#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One benchmark run of activity-consumer against the database ceiling of this machine
# (docs/BENCHMARKS.md):
#   (f) database ceiling  bench-db-ceiling: the consumer's documents, written through the
#                         consumer's store (same write concern, unordered insert_many of
#                         CONSUMER_BATCH_SIZE), BENCH_EVENTS of them into an empty collection as
#                         in (g), with 1 thread and with CONSUMER_WORKERS threads
#   (g) drain rate        activity-consumer started on a queue pre-filled with BENCH_EVENTS
#                         messages in activity-api's format; seconds from its start until the
#                         queue is empty (then, untimed, the collection is counted)
#   (h) drain after load  activity-api and activity-consumer together under
#                         `wrk -t1 -c64 -d10s -s bench/post.lua` (the 202-path benchmark); seconds
#                         from wrk's end until the queue is empty
# Targets: (g) >= 0.80 x (f at the consumer's concurrency); (h) <= 5 s.
# It prints a table and writes it as Markdown to bench/results/consumer-<timestamp>.md.
#
# Assumes `scripts/services.sh up` (RabbitMQ and FerretDB on 127.0.0.1) and a Release build:
#   cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2
# and Python 3 with pika and pymongo (Debian: python3-pika python3-pymongo), which publish the
# pre-fill, watch the queue and count the collection. A drain is watched through the queue depth
# and the consumer's /metrics (CONSUMER_METRICS_PORT, bound to 127.0.0.1 by CONSUMER_METRICS_HOST,
# this script reads it on 127.0.0.1 only).
#
# Environment (defaults in brackets):
#   AT_BUILD_DIR [build]             where activity-api, src/consumer/activity-consumer and
#                                    bench/bench-db-ceiling are
#   BENCH_DB_CEILING_BIN [$AT_BUILD_DIR/bench/bench-db-ceiling]
#   RABBITMQ_URL [amqp://guest:guest@127.0.0.1:5672/]
#   MONGO_URL [mongodb://127.0.0.1:27017]   server only; the databases are named below
#   BENCH_RUNS [f g h]               which measurements to take
#   BENCH_EVENTS [100000]            size of the pre-filled queue in (g)
#   BENCH_CEILING_SECONDS [0]        0: each (f) run inserts BENCH_EVENTS documents (at most
#                                    BENCH_DRAIN_MAX s); N: each (f) run lasts N s instead
#   BENCH_WORKERS [nproc]            CONSUMER_WORKERS, and the threads of the second (f) run
#   BENCH_BATCH [100]                CONSUMER_BATCH_SIZE and bench-db-ceiling -b; when not 100,
#                                    CONSUMER_PREFETCH is set to ten times it (the default ratio)
#   BENCH_DURATION [10s]  BENCH_CONNECTIONS [64]   the load of (h)
#   BENCH_DRAIN_MAX [900]            give up waiting for a drain after this many seconds
#   BENCH_REPEAT [1]                 repeat the whole sequence; the checks then use medians
#   BENCH_QUIET_CORES [0.3]  BENCH_QUIET_WAIT [120]
#                                    before each measurement, wait up to QUIET_WAIT s until other
#                                    processes use at most QUIET_CORES cores (0 s: do not wait)
#   BENCH_API_PORT [3110]  BENCH_CONSUMER_METRICS_PORT [3111]  (the consumer's /metrics tells
#                                    when it has settled every message)
#   BENCH_QUEUE [bench.consumer]  BENCH_DB [bench_consumer]
#   BENCH_CEILING_DB [bench_db_ceiling]
#
# Every load is bounded in time and targets loopback only; every process started here is
# stopped on exit (trap), the benchmark queues are deleted and the benchmark databases dropped.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${AT_BUILD_DIR:-build}
[[ $BUILD == /* ]] || BUILD="$ROOT/$BUILD"
RABBITMQ_URL=${RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/}
MONGO_URL=${MONGO_URL:-mongodb://127.0.0.1:27017}
MONGO_URL=${MONGO_URL%/}
RUNS=${BENCH_RUNS:-f g h}
EVENTS=${BENCH_EVENTS:-100000}
CEILING_SECONDS=${BENCH_CEILING_SECONDS:-0}
WORKERS=${BENCH_WORKERS:-$(nproc)}
BATCH=${BENCH_BATCH:-100}
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-64}
DRAIN_MAX=${BENCH_DRAIN_MAX:-900}
REPEAT=${BENCH_REPEAT:-1}
QUIET_CORES=${BENCH_QUIET_CORES:-0.3}
QUIET_WAIT=${BENCH_QUIET_WAIT:-120}
API_PORT=${BENCH_API_PORT:-3110}
CONSUMER_METRICS_PORT=${BENCH_CONSUMER_METRICS_PORT:-3111}
QUEUE=${BENCH_QUEUE:-bench.consumer}
DB=${BENCH_DB:-bench_consumer}
CEILING_DB=${BENCH_CEILING_DB:-bench_db_ceiling}
HOST=127.0.0.1
ROUTE=/api/v1/activities
DRAIN_TARGET_S=5
RATIO_TARGET=0.80

API_BIN="$BUILD/activity-api"
CONSUMER_BIN="$BUILD/src/consumer/activity-consumer"
CEILING_BIN=${BENCH_DB_CEILING_BIN:-$BUILD/bench/bench-db-ceiling}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/at-bench-consumer.XXXXXX")
PIDS=()
TOUCHED=0 # 1 once a queue or database of ours may exist

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

# ---- the Python side: the pre-fill, watching a drain, counting the collection -----------------

cat >"$WORK/helper.py" <<'PY'
"""bench/consumer.sh's broker and database helper (pika, pymongo)."""
import sys
import time
import urllib.request

try:
    import pika
    import pymongo
except ImportError:  # another python3 first on PATH: use Debian's packages
    sys.path.append("/usr/lib/python3/dist-packages")
    import pika
    import pymongo


def broker(url):
    return pika.BlockingConnection(pika.URLParameters(url))


def declare(ch, queue):
    """The topology of DESIGN section 4, as activity-api and activity-consumer declare it."""
    ch.queue_declare(queue + ".dlq", durable=True)
    ch.queue_declare(queue, durable=True, arguments={
        "x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue + ".dlq"})


def ready(ch, queue):
    return ch.queue_declare(queue, passive=True).method.message_count


def cmd_fresh(url, queue):
    """Deletes the queue and its DLQ and declares them again, empty."""
    c = broker(url)
    ch = c.channel()
    ch.queue_delete(queue)
    ch.queue_delete(queue + ".dlq")
    declare(ch, queue)
    c.close()


def cmd_delete(url, queue):
    c = broker(url)
    ch = c.channel()
    ch.queue_delete(queue)
    ch.queue_delete(queue + ".dlq")
    c.close()


def cmd_publish(url, queue, path, count):
    """Publishes the messages of path (one per line) as activity-api does: persistent, JSON,
    message_id = the event id. Publisher confirms in pika's blocking API cost one round trip per
    message (~500 msg/s here), so instead the queue depth is read back on the same channel until
    it holds exactly count messages: every message is then in the queue."""
    c = broker(url)
    ch = c.channel()
    if ready(ch, queue) != 0:
        sys.exit("queue %s is not empty" % queue)
    t0 = time.monotonic()
    n = 0
    with open(path, "rb") as f:
        for line in f:
            body = line.rstrip(b"\n")
            if not body.startswith(b'{"id":"'):
                sys.exit("line %d is not an encoded activity" % (n + 1))
            props = pika.BasicProperties(
                content_type="application/json", delivery_mode=2,
                message_id=body[7:43].decode(), timestamp=int(time.time()), app_id="bench")
            ch.basic_publish("", queue, body, props)
            n += 1
    if n != count:
        sys.exit("%s holds %d messages, not %d" % (path, n, count))
    deadline = time.monotonic() + 120
    depth = ready(ch, queue)
    while depth < count and time.monotonic() < deadline:
        time.sleep(0.2)
        depth = ready(ch, queue)
    c.close()
    if depth != count:
        sys.exit("queue %s holds %d messages after publishing %d" % (queue, depth, count))
    print("published=%d seconds=%.1f msg/s=%.0f" % (n, time.monotonic() - t0,
                                                     n / (time.monotonic() - t0)))


def cmd_dropdb(mongo, db):
    m = pymongo.MongoClient(mongo, serverSelectionTimeoutMS=5000)
    m.drop_database(db)
    m.close()


def metric_sum(url, name, labels=None):
    """The sum of the samples of metric family name at url (a Prometheus text endpoint), over
    the label sets in labels (None: every sample)."""
    total = 0
    with urllib.request.urlopen(url, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if not line.startswith(name) or line[len(name):len(name) + 1] not in (" ", "{"):
                continue
            key, value = line.rsplit(" ", 1)
            if labels is None or any(lab in key for lab in labels):
                total += int(float(value))
    return total


SETTLED = ('result="stored"', 'result="duplicate"', 'result="poison"', 'result="rejected"')


def cmd_watch(url, queue, consumer_metrics, expect, since, timeout, samples):
    """Waits until the queue is empty: no ready message, and the consumer has settled (stored
    and acked, or dead-lettered) every expected message. The consumer's /metrics counts a batch
    once its ack is sent, so this reads neither rabbitmqctl (a second of CPU per call) nor the
    database (FerretDB's count reads every document: seconds on 100k, which would slow the very
    drain being measured). since is the Unix time the clock starts from; timeout bounds the
    wait. expect is a number, or the URL of activity-api's /metrics, whose confirmed publishes
    are the expected messages (re-read on every poll: the API may still confirm requests wrk
    gave up on at its end). Prints `seconds=... settled=... expect=... ready_at_start=...
    rate_10_90=...`; exit status 1 on timeout."""
    c = broker(url)
    ch = c.channel()

    def expected():
        if expect.isdigit():
            return int(expect)
        return metric_sum(expect, "activity_api_publish_results_total", ('result="confirmed"',))

    def settled():
        try:
            return metric_sum(consumer_metrics, "activity_consumer_messages_total", SETTLED)
        except OSError:
            return 0  # not listening yet

    tl = []  # (seconds since `since`, ready, settled)
    out = open(samples, "w")
    start_ready = None
    while True:
        r = ready(ch, queue)
        n = settled()
        e = expected()
        t = time.time() - since
        if start_ready is None:
            start_ready = r
        tl.append((t, r, n))
        out.write("%.3f\t%d\t%d\t%d\n" % (t, r, n, e))
        if r == 0 and n >= e:
            break
        if t > timeout:
            out.close()
            print("timeout after %.0f s: ready=%d settled=%d expect=%d" % (t, r, n, e))
            sys.exit(1)
        time.sleep(0.05)
    out.close()

    def when(frac):
        """Interpolated time at which frac of the expected messages were settled."""
        goal = e * frac
        prev = None
        for s in tl:
            if s[2] >= goal:
                if prev is None or s[2] == prev[2]:
                    return s[0]
                return prev[0] + (s[0] - prev[0]) * (goal - prev[2]) / (s[2] - prev[2])
            prev = s
        return None

    t10, t90 = when(0.1), when(0.9)
    rate = (0.8 * e / (t90 - t10)) if t10 is not None and t90 and t90 > t10 else 0
    print("seconds=%.2f settled=%d expect=%d ready_at_start=%d rate_10_90=%.0f"
          % (t, n, e, start_ready, rate))
    c.close()


def cmd_count(mongo, db):
    """Documents in the consumer's collection, counted exactly (slow on FerretDB)."""
    m = pymongo.MongoClient(mongo, serverSelectionTimeoutMS=5000, socketTimeoutMS=300000)
    print(int(m[db].command("count", "activities")["n"]))
    m.close()


if __name__ == "__main__":
    a = sys.argv[1:]
    {"fresh": lambda: cmd_fresh(a[1], a[2]),
     "delete": lambda: cmd_delete(a[1], a[2]),
     "publish": lambda: cmd_publish(a[1], a[2], a[3], int(a[4])),
     "dropdb": lambda: cmd_dropdb(a[1], a[2]),
     "watch": lambda: cmd_watch(a[1], a[2], a[3], a[4], float(a[5]), float(a[6]), a[7]),
     "count": lambda: cmd_count(a[1], a[2]),
     }[a[0]]()
PY

PY=python3
# Prefer an interpreter that has pika and pymongo (the helper also tries Debian's path).
for p in python3 /usr/bin/python3; do
    if "$p" -c 'import sys; sys.path.append("/usr/lib/python3/dist-packages"); import pika, pymongo' \
        2>/dev/null; then
        PY=$p
        break
    fi
done
helper() { timeout "${HELPER_TIMEOUT:-180}" "$PY" "$WORK/helper.py" "$@"; }

# ---- processes ---------------------------------------------------------------------------------

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${PIDS[@]}"; do
        stop_pid "$pid" 30
    done
    if ((TOUCHED)); then
        HELPER_TIMEOUT=60 helper delete "$RABBITMQ_URL" "$QUEUE" >/dev/null 2>&1 ||
            say "warning: cannot delete queue $QUEUE"
        HELPER_TIMEOUT=60 helper dropdb "$MONGO_URL" "$DB" >/dev/null 2>&1 ||
            say "warning: cannot drop database $DB"
        HELPER_TIMEOUT=60 helper dropdb "$MONGO_URL" "$CEILING_DB" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cpu_iowait() { # ticks all cores spent idle with I/O outstanding
    awk '/^cpu / { print $6; exit }' /proc/stat
}

ferretdb_pid() {
    local f=${AT_SERVICES_DIR:-/tmp/activity-tracker-services}/ferretdb/ferretdb.pid
    [[ -r $f ]] && cat "$f" || pgrep -o -x ferretdb || true
}

rabbit_pid() { pgrep -o -f 'beam.smp.*rabbit' || true; }

# cpu_snap [PID]: "wall busy ferretdb rabbit PID iowait ferretdb-pid rabbit-pid" (ticks), for
# the CPU share of a measurement. The services' pids are looked up every time: a service
# restarted meanwhile (by an outage test, say) makes its share unknown rather than wrong.
cpu_snap() {
    local fdb rmq
    fdb=$(ferretdb_pid)
    rmq=$(rabbit_pid)
    printf '%s %s %s %s %s %s %s %s\n' "$(date +%s.%N)" "$(cpu_busy)" "$(cpu_ticks "${fdb:-0}")" \
        "$(cpu_ticks "${rmq:-0}")" "$(cpu_ticks "${1:-0}")" "$(cpu_iowait)" "${fdb:-0}" "${rmq:-0}"
}

# cpu_share KEY "SNAP0" "SNAP1" DOCS: notes cores used by the machine, FerretDB, RabbitMQ and the
# consumer over the interval, and the consumer's CPU per document.
cpu_share() {
    local key=$1 docs=$4
    CPU[$key]=$(awk -v a="$2" -v b="$3" -v hz="$TICK" -v n="$docs" 'BEGIN {
        split(a, x, " "); split(b, y, " "); dt = y[1] - x[1]
        if (dt <= 0) exit
        s = sprintf("machine %.2f cores (+ %.2f in iowait), FerretDB %s, RabbitMQ %s",
                    (y[2] - x[2]) / hz / dt, (y[6] - x[6]) / hz / dt,
                    x[7] == y[7] && y[3] > x[3] ? sprintf("%.2f", (y[3] - x[3]) / hz / dt) : "n/a (restarted)",
                    x[8] == y[8] && y[4] >= x[4] && y[4] > 0 ? sprintf("%.2f", (y[4] - x[4]) / hz / dt) : "n/a (restarted)")
        if (y[5] > 0) s = s sprintf(", consumer %.2f (%.0f us/doc)", (y[5] - x[5]) / hz / dt,
                                   n > 0 ? (y[5] - x[5]) / hz * 1e6 / n : 0)
        print s }')
}

# wait_quiet KEY: waits (up to QUIET_WAIT s) until other processes use at most QUIET_CORES.
# Results, keyed by run and repetition ("f1_1", "g1", ...).
declare -A RATE STEADY NOTE CPU QUIET FAILED CMD SECS ACCEPTED

fail() {
    FAILED[$1]=$2
    say "($1) failed: $2"
    return 1
}

# start_consumer NAME: starts activity-consumer on QUEUE and DB; sets CONSUMER_PID.
start_consumer() {
    local cmd=(env RABBITMQ_URL="$RABBITMQ_URL" RABBITMQ_QUEUE="$QUEUE"
        DATABASE_URL="$MONGO_URL/$DB" CONSUMER_WORKERS="$WORKERS")
    ((BATCH != 100)) && cmd+=(CONSUMER_BATCH_SIZE="$BATCH" CONSUMER_PREFETCH=$((10 * BATCH)))
    cmd+=(CONSUMER_METRICS_HOST="$HOST" CONSUMER_METRICS_PORT="$CONSUMER_METRICS_PORT" LOG_LEVEL=warn "$CONSUMER_BIN")
    printf '%s\n' "${cmd[*]}" | sed "s|RABBITMQ_URL=[^ ]*|RABBITMQ_URL=\$RABBITMQ_URL|" \
        >>"$WORK/$1.cmd"
    "${cmd[@]}" 2>"$WORK/$1.consumer.log" &
    CONSUMER_PID=$!
    PIDS+=("$CONSUMER_PID")
}

stop_consumer() {
    local st=0
    if ! kill -0 "$CONSUMER_PID" 2>/dev/null; then
        wait "$CONSUMER_PID" 2>/dev/null || st=$?
        NOTE[$1]="${NOTE[$1]:+${NOTE[$1]}; }activity-consumer died (status $st)"
    fi
    stop_pid "$CONSUMER_PID" 30
    forget_pid "$CONSUMER_PID"
    if grep -q '"level":"error"' "$WORK/$1.consumer.log" 2>/dev/null; then
        NOTE[$1]="${NOTE[$1]:+${NOTE[$1]}; }consumer logged errors: $(grep -m1 '"level":"error"' \
            "$WORK/$1.consumer.log" | cut -c1-200)"
    fi
}

# fresh: an empty queue (and DLQ) and no benchmark database.
fresh() {
    TOUCHED=1
    helper fresh "$RABBITMQ_URL" "$QUEUE" && helper dropdb "$MONGO_URL" "$DB"
}

# ---- checks ------------------------------------------------------------------------------------

[[ $EVENTS =~ ^[1-9][0-9]*$ ]] || die "BENCH_EVENTS must be a positive integer"
[[ $CEILING_SECONDS =~ ^[0-9]+$ ]] || die "BENCH_CEILING_SECONDS must be whole seconds"
[[ $WORKERS =~ ^[1-9][0-9]*$ ]] || die "BENCH_WORKERS must be a positive integer"
[[ $BATCH =~ ^[1-9][0-9]*$ ]] || die "BENCH_BATCH must be a positive integer"
[[ $DURATION =~ ^[1-9][0-9]*s$ ]] || die "BENCH_DURATION must be whole seconds such as 10s"
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer"
[[ $DB == *bench* && $CEILING_DB == *bench* ]] ||
    die "BENCH_DB and BENCH_CEILING_DB must contain \"bench\" (they are dropped)"
"$PY" -c 'import sys; sys.path.append("/usr/lib/python3/dist-packages"); import pika, pymongo' \
    2>/dev/null || die "python3 with pika and pymongo is needed (apt-get install python3-pika python3-pymongo)"
has_run() { [[ " $RUNS " == *" $1 "* ]]; }
need() {
    [[ -x $1 ]] || die "$1 not found; build first:
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2"
}
need "$CEILING_BIN" # (g) uses it too, to encode the messages
{ has_run g || has_run h; } && need "$CONSUMER_BIN"
has_run h && need "$API_BIN"
has_run h && { command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"; }
HELPER_TIMEOUT=30 helper delete "$RABBITMQ_URL" "$QUEUE" 2>/dev/null ||
    die "RabbitMQ does not answer at the RABBITMQ_URL (run scripts/services.sh up)"
HELPER_TIMEOUT=30 helper dropdb "$MONGO_URL" "$DB" 2>/dev/null ||
    die "the database does not answer at $MONGO_URL (run scripts/services.sh up)"
TOUCHED=1

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
TICK=$(getconf CLK_TCK)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- measurements ------------------------------------------------------------------------------

kv() { # kv KEY TEXT: the value of KEY=value in TEXT
    sed -n "s/.*\(^\| \)$1=\([0-9.]*\).*/\2/p" <<<"$2"
}

measure_f() { # database ceiling with THREADS threads
    local k=$1 threads=$2 s0 s1 out limit=(-n "$EVENTS" -d "$DRAIN_MAX")
    ((CEILING_SECONDS > 0)) && limit=(-d "$CEILING_SECONDS")
    local cmd=("$CEILING_BIN" -t "$threads" -b "$BATCH" "${limit[@]}" "$MONGO_URL/$CEILING_DB")
    CMD[$k]="${cmd[*]}"
    say "($k) database ceiling: ${cmd[*]}"
    s0=$(cpu_snap)
    if ! timeout $((DRAIN_MAX + CEILING_SECONDS + 120)) "${cmd[@]}" >"$WORK/$k.out" 2>"$WORK/$k.err"; then
        fail "$k" "bench-db-ceiling: $(tail -n 2 "$WORK/$k.err" | tr '\n' ' ')"
        return 1
    fi
    s1=$(cpu_snap)
    out=$(tail -n 1 "$WORK/$k.out")
    say "($k) $out"
    RATE[$k]=$(sed -n 's/.*docs\/s=\([0-9.]*\).*/\1/p' <<<"$out")
    NOTE[$k]="$(kv docs "$out") documents, insert_many mean $(kv insert_ms_mean "$out") ms, p50 \
$(kv insert_ms_p50 "$out") ms, p99 $(kv insert_ms_p99 "$out") ms; $(sed -n \
        's/^bench-db-ceiling: .*write concern \([^,]*,[^,]*\),.*/write concern \1/p' "$WORK/$k.err")"
    cpu_share "$k" "$s0" "$s1" 0
}

# verify KEY EXPECTED: after a drain, outside the timed part: rabbitmqctl (which also sees
# unacknowledged messages) for what is left in the queue, and an exact count of the collection.
verify() {
    local k=$1 want=$2 left docs
    if command -v rabbitmqctl >/dev/null; then
        left=$(timeout 30 rabbitmqctl list_queues -q name messages 2>/dev/null |
            awk -v q="$QUEUE" '$1 == q { print $2 }' || true)
        [[ -n $left ]] && NOTE[$k]+="; afterwards rabbitmqctl: $left in $QUEUE"
        [[ -n $left && $left != 0 ]] && fail "$k" "$left messages left in $QUEUE"
    fi
    docs=$(HELPER_TIMEOUT=600 helper count "$MONGO_URL" "$DB" 2>/dev/null || true)
    NOTE[$k]+=", ${docs:-?} documents in $DB.activities"
    [[ $docs == "$want" ]] || fail "$k" "$DB.activities holds ${docs:-?} documents, not $want"
}

CONSUMER_METRICS="http://$HOST:$CONSUMER_METRICS_PORT/metrics"

# insert_profile SECONDS: from the consumer's /metrics, how full its batches were and how much
# of the drain its workers spent inside insert_many (1.00 = always one insert in flight per
# worker, as in (f) with as many threads).
insert_profile() {
    curl -s --max-time 5 "$CONSUMER_METRICS" 2>/dev/null | awk -v secs="$1" -v w="$WORKERS" '
        /^activity_consumer_messages_total\{result="(stored|duplicate)"\}/ { docs += $2 }
        /^activity_consumer_batches_total / { batches = $2 }
        /^activity_consumer_insert_duration_seconds_sum / { sum = $2 }
        /^activity_consumer_insert_duration_seconds_count / { n = $2 }
        END {
            if (batches == 0 || n == 0 || secs <= 0) exit
            printf "%d batches of %.0f on average, insert_many mean %.1f ms, workers inside " \
                   "insert_many %.0f%% of the time", batches, docs / batches, sum / n * 1000,
                   sum / (w * secs) * 100
        }' || true
}

measure_g() { # drain of a pre-filled queue
    local k=$1 t0 s0 s1 out
    say "($k) drain: $EVENTS messages pre-filled into $QUEUE, then activity-consumer ($WORKERS workers)"
    fresh || {
        fail "$k" "cannot prepare $QUEUE / $DB"
        return 1
    }
    [[ -s $WORK/messages ]] || "$CEILING_BIN" -e "$EVENTS" >"$WORK/messages"
    if ! helper publish "$RABBITMQ_URL" "$QUEUE" "$WORK/messages" "$EVENTS" >"$WORK/$k.pub" \
        2>&1; then
        fail "$k" "pre-fill: $(tail -n 1 "$WORK/$k.pub")"
        return 1
    fi
    say "($k) pre-filled: $(tail -n 1 "$WORK/$k.pub")"
    # Let the broker finish writing the persistent messages before the clock starts.
    sleep 3
    wait_quiet "$k"
    : >"$WORK/$k.cmd"
    t0=$(date +%s.%N)
    s0=$(cpu_snap)
    start_consumer "$k"
    if HELPER_TIMEOUT=$((DRAIN_MAX + 60)) helper watch "$RABBITMQ_URL" "$QUEUE" \
        "$CONSUMER_METRICS" "$EVENTS" "$t0" "$DRAIN_MAX" "$WORK/$k.samples" >"$WORK/$k.watch" \
        2>&1; then
        s1=$(cpu_snap "$CONSUMER_PID")
        out=$(tail -n 1 "$WORK/$k.watch")
        say "($k) $out"
        SECS[$k]=$(sed -n 's/^seconds=\([0-9.]*\).*/\1/p' <<<"$out")
        RATE[$k]=$(awk -v n="$EVENTS" -v s="${SECS[$k]}" 'BEGIN { printf "%.0f", n / s }')
        STEADY[$k]=$(sed -n 's/.*rate_10_90=\([0-9]*\).*/\1/p' <<<"$out")
        NOTE[$k]="$EVENTS messages settled in ${SECS[$k]} s from the consumer's start; steady rate (10-90%) ${STEADY[$k]} docs/s; $(insert_profile "${SECS[$k]}")"
        # s0 was taken before the consumer started: all of its ticks belong to the drain.
        cpu_share "$k" "$s0" "$s1" "$EVENTS"
    else
        fail "$k" "$(tail -n 1 "$WORK/$k.watch")"
    fi
    stop_consumer "$k"
    [[ -n ${SECS[$k]:-} ]] && verify "$k" "$EVENTS"
    return 0
}

measure_h() { # drain after the API 202-path load
    local k=$1 t_end s0 s1 out api_log="$WORK/$1.api.log"
    say "($k) drain after load: activity-api + activity-consumer, wrk -t1 -c$CONNS -d$DURATION"
    fresh || {
        fail "$k" "cannot prepare $QUEUE / $DB"
        return 1
    }
    local api=(env API_HOST="$HOST" API_PORT="$API_PORT" RABBITMQ_URL="$RABBITMQ_URL"
        RABBITMQ_QUEUE="$QUEUE" RATE_LIMIT_MAX_REQUESTS=1000000 RATE_LIMIT_MAX_CLIENTS=64
        LOG_LEVEL=warn "$API_BIN")
    printf '%s\n' "${api[*]}" | sed "s|RABBITMQ_URL=[^ ]*|RABBITMQ_URL=\$RABBITMQ_URL|" \
        >"$WORK/$k.cmd"
    "${api[@]}" 2>"$api_log" &
    local api_pid=$!
    PIDS+=("$api_pid")
    start_consumer "$k"
    local i ok=0
    for ((i = 0; i < 600; i++)); do
        kill -0 "$api_pid" 2>/dev/null || break
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$HOST:$API_PORT/ready") \
            == 200 ]] && {
            ok=1
            break
        }
        sleep 0.1
    done
    if ((!ok)); then
        fail "$k" "activity-api did not become ready: $(tail -n 1 "$api_log")"
        stop_pid "$api_pid"
        forget_pid "$api_pid"
        stop_consumer "$k"
        return 1
    fi
    wait_quiet "$k"
    local wrk=(wrk -t1 -c"$CONNS" -d"$DURATION" -s "$ROOT/bench/post.lua"
        "http://$HOST:$API_PORT$ROUTE")
    printf '%s\n' "${wrk[*]}" >>"$WORK/$k.cmd"
    say "($k) ${wrk[*]}"
    s0=$(cpu_snap "$CONSUMER_PID")
    if timeout 120 "${wrk[@]}" >"$WORK/$k.wrk" 2>&1; then
        t_end=$(date +%s.%N)
        if HELPER_TIMEOUT=$((DRAIN_MAX + 60)) helper watch "$RABBITMQ_URL" "$QUEUE" \
            "$CONSUMER_METRICS" "http://$HOST:$API_PORT/metrics" "$t_end" "$DRAIN_MAX" \
            "$WORK/$k.samples" >"$WORK/$k.watch" 2>&1; then
            s1=$(cpu_snap "$CONSUMER_PID")
            out=$(tail -n 1 "$WORK/$k.watch")
            say "($k) $out"
            SECS[$k]=$(sed -n 's/^seconds=\([0-9.]*\).*/\1/p' <<<"$out")
            local n backlog rps
            n=$(sed -n 's/.*expect=\([0-9]*\).*/\1/p' <<<"$out")
            backlog=$(sed -n 's/.*ready_at_start=\([0-9]*\).*/\1/p' <<<"$out")
            rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$WORK/$k.wrk")
            ACCEPTED[$k]=$n
            NOTE[$k]="$n events accepted (wrk: $rps req/s); $backlog ready in the queue when the load stopped"
            cpu_share "$k" "$s0" "$s1" "$n"
        else
            fail "$k" "$(tail -n 1 "$WORK/$k.watch")"
        fi
    else
        fail "$k" "wrk: $(tail -n 2 "$WORK/$k.wrk" | tr '\n' ' ')"
    fi
    stop_pid "$api_pid"
    forget_pid "$api_pid"
    stop_consumer "$k"
    [[ -n ${SECS[$k]:-} ]] && verify "$k" "${ACCEPTED[$k]}"
    return 0
}

for ((rep = 1; rep <= REPEAT; rep++)); do
    if has_run f; then
        wait_quiet "f1_$rep"
        measure_f "f1_$rep" 1 || true
        if ((WORKERS != 1)); then
            wait_quiet "f${WORKERS}_$rep"
            measure_f "f${WORKERS}_$rep" "$WORKERS" || true
        fi
    fi
    has_run g && { measure_g "g$rep" || true; }
    has_run h && { measure_h "h$rep" || true; }
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report ------------------------------------------------------------------------------------

median() { # median TABLE PREFIX SUFFIX: median over the repetitions of TABLE[PREFIX<rep>SUFFIX]
    local -n tab=$1
    local r vals=()
    for ((r = 1; r <= REPEAT; r++)); do
        [[ -n ${tab[$2$r${3:-}]:-} ]] && vals+=("${tab[$2$r${3:-}]}")
    done
    ((${#vals[@]})) || return 0
    printf '%s\n' "${vals[@]}" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

F1=$(median RATE f1_)
FW=$(median RATE "f${WORKERS}_")
G=$(median RATE g)
H=$(median SECS h)
RATIO=$(awk -v g="$G" -v f="$FW" 'BEGIN { if (g != "" && f > 0) printf "%.2f", g / f }')
REPORT="$ROOT/bench/results/consumer-$STAMP.md"
mkdir -p "$ROOT/bench/results"
{
    printf '# activity-consumer benchmark %s\n\n' "$STAMP"
    printf -- '- machine: %s cores, %s; load average before %s, after %s\n' "$(nproc)" \
        "$(uname -sr)" "$LOAD_BEFORE" "$LOAD_AFTER"
    printf -- '- consumer: %s workers, CONSUMER_BATCH_SIZE %s, CONSUMER_PREFETCH %s\n' \
        "$WORKERS" "$BATCH" "$( ((BATCH == 100)) && echo "${CONSUMER_PREFETCH:-1000}" || echo $((10 * BATCH)))"
    printf -- '- broker: %s\n' "$(broker_description)"
    printf -- '- commit: %s\n\n' "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    printf '| run | result | notes | CPU |\n|---|---|---|---|\n'
    for ((rep = 1; rep <= REPEAT; rep++)); do
        keys=("f1_$rep")
        ((WORKERS == 1)) || keys+=("f${WORKERS}_$rep")
        for k in "${keys[@]}" "g$rep" "h$rep"; do
            [[ -n ${RATE[$k]:-}${SECS[$k]:-}${FAILED[$k]:-} ]] || continue
            case $k in
            f*) r="${RATE[$k]:-} docs/s" ;;
            g*) r="${RATE[$k]:-} docs/s" ;;
            h*) r="${SECS[$k]:-} s to empty" ;;
            esac
            [[ -n ${FAILED[$k]:-} ]] && r="failed: ${FAILED[$k]}"
            printf '| %s | %s | %s%s | %s |\n' "$k" "$r" "${NOTE[$k]:-}" \
                "${QUIET[$k]:+; ${QUIET[$k]}}" "${CPU[$k]:-}"
        done
    done
    printf '\n| check | value | target | verdict |\n|---|---|---|---|\n'
    printf '| (g) drain / (f) ceiling at %s threads | %s (%s / %s docs/s) | >= %s | %s |\n' \
        "$WORKERS" "${RATIO:-n/a}" "${G:-n/a}" "${FW:-n/a}" "$RATIO_TARGET" \
        "$(verdict "$RATIO" '>=' "$RATIO_TARGET")"
    printf '| (g) steady drain (10-90%%) / (f) ceiling at %s threads | %s | (information) | |\n' \
        "$WORKERS" "$(awk -v g="$(median STEADY g)" -v f="$FW" \
            'BEGIN { if (g != "" && f > 0) printf "%.2f", g / f; else printf "n/a" }')"
    printf '| (g) drain / (f) ceiling at 1 thread | %s | (information) | |\n' \
        "$(awk -v g="$G" -v f="$F1" 'BEGIN { if (g != "" && f > 0) printf "%.2f", g / f; else printf "n/a" }')"
    printf '| (h) queue empty after the load stops | %s s | <= %s s | %s |\n' "${H:-n/a}" \
        "$DRAIN_TARGET_S" "$(verdict "$H" '<=' "$DRAIN_TARGET_S")"
    printf '\nCommands:\n\n'
    for ((rep = 1; rep <= REPEAT; rep++)); do
        keys=("f1_$rep")
        ((WORKERS == 1)) || keys+=("f${WORKERS}_$rep")
        for k in "${keys[@]}"; do
            [[ -n ${CMD[$k]:-} ]] && printf -- '- %s: `%s`\n' "$k" "${CMD[$k]}"
        done
        for k in "g$rep" "h$rep"; do
            [[ -s $WORK/$k.cmd ]] || continue
            while IFS= read -r line; do
                printf -- '- %s: `%s`\n' "$k" "$line"
            done <"$WORK/$k.cmd"
        done
    done
} >"$REPORT"
cat "$REPORT"
say "report written to $REPORT"
