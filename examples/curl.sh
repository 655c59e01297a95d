#!/usr/bin/env bash
# One curl per status code and feature of activity-api (one event, a batch, a gzip body, API
# keys), printing each answer's status line, the headers that matter (Content-Type,
# RateLimit-Policy, RateLimit, Retry-After, Allow, Accept-Encoding, WWW-Authenticate, Connection)
# and its body.
#
# Usage: examples/curl.sh [BASE_URL]
#   BASE_URL         the API's base URL; default $API_URL, else http://127.0.0.1:3000
#   API_KEY          one of the server's API_KEYS (or a line of its API_KEYS_FILE): sent as
#                    "Authorization: Bearer $API_KEY" on every POST, and the 401 example runs;
#                    unset, the 401 example is skipped (the server must then need no key)
#   MAX_BODY_BYTES   the server's body limit (default 65536); the 413 example sends one byte more
#   MAX_429_REQUESTS most requests sent to reach a 429 (default 200)
#
# The 429 example spends the request budget of another loopback source address
# (curl --interface 127.0.0.N), not yours, so it runs only when the API is reached over IPv4
# loopback. The 503 cannot be provoked without stopping the broker; the script says how.
# Exits 1 if an answer is not the one the example expects (e.g. 503 instead of 202 while the
# broker is down), 2 if the API cannot be reached.
# Needs bash, curl, gzip, grep, sed, head, tail, tr, wc.
set -euo pipefail

BASE=${1:-${API_URL:-http://127.0.0.1:3000}}
BASE=${BASE%/}
ROUTE="$BASE/api/v1/activities"
BATCH="$BASE/api/v1/activities/batch"
MAX_BODY_BYTES=${MAX_BODY_BYTES:-65536}
MAX_429_REQUESTS=${MAX_429_REQUESTS:-200}
API_KEY=${API_KEY:-}
JSON='Content-Type: application/json'
AUTH=()  # the key header of every POST, when API_KEY is set
if [[ -n $API_KEY ]]; then
    AUTH=(-H "Authorization: Bearer $API_KEY")
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
last_r=""  # remaining budget (RateLimit r=) of this machine's own address, from its last POST
code=""

# Prints a command the way it could be typed, quoting the words that need it; files of $tmp are
# shown by their names, and the API key as $API_KEY.
show_cmd() {
    local out="\$" word sq="'" esc="'\\''"
    for word in "$@"; do
        word=${word//"$tmp/"/}
        if [[ -n $API_KEY && $word == *"$API_KEY"* ]]; then
            out+=" \"${word//"$API_KEY"/\$API_KEY}\""
        elif [[ $word =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
            out+=" $word"
        else
            out+=" '${word//$sq/$esc}'"
        fi
    done
    printf '%s\n' "$out"
}

# Sends one request (curl arguments in "$@"); headers go to $tmp/h, the body to $tmp/b and the
# status code to $code ("000" when no answer came).
send() {
    code=$(curl -sS --max-time 20 -D "$tmp/h" -o "$tmp/b" -w '%{http_code}' "$@" 2>"$tmp/e") ||
        true
    code=${code:-000}
}

# Prints the last answer: status line, the headers that matter, then at most $1 lines of body.
print_answer() {
    local lines=${1:-40}
    if [[ $code == 000 ]]; then
        printf 'no answer: %s\n' "$(cat "$tmp/e")"
        return
    fi
    # The last status line (a 100 Continue may precede the final answer).
    { grep -a '^HTTP/' "$tmp/h" | tail -n 1 | tr -d '\r'; } || true
    { grep -aiE '^(content-type|ratelimit-policy|ratelimit|retry-after|allow|accept-encoding|www-authenticate|connection):' \
        "$tmp/h" | tr -d '\r'; } || true
    echo
    head -n "$lines" "$tmp/b" >"$tmp/p"
    cat "$tmp/p"
    # A body without a final newline still ends its line.
    if [[ -s $tmp/p && $(tail -c 1 "$tmp/p" | wc -l) -eq 0 ]]; then
        echo
    fi
}

# Records whether the last answer had the expected status code.
expect() {
    if [[ $code != "$1" ]]; then
        printf '!! expected %s, got %s\n' "$1" "$code"
        failures=$((failures + 1))
    fi
}

# The value of parameter $1 (q, r, t, w) in header $2 of the last answer, or "".
header_param() {
    { grep -aiE "^$2:" "$tmp/h" | tr -d '\r' | sed -n "s/.*;$1=\([0-9]*\).*/\1/p" | head -n 1; } ||
        true
}

# example EXPECTED TITLE [BODY_LINES] -- CURL_ARGS...
example() {
    local expected=$1 title=$2 lines=40
    shift 2
    if [[ $1 != -- ]]; then
        lines=$1
        shift
    fi
    shift
    printf '\n=== %s %s\n' "$expected" "$title"
    show_cmd curl "$@"
    send "$@"
    print_answer "$lines"
    expect "$expected"
}

# A fresh, valid event.
event() {
    printf '{"userId":"u-1","eventType":"user_login","timestamp":"%s","payload":{"device":"desktop"}}' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}

echo "activity-api at $BASE"

# ---- operations endpoints (never rate-limited) -----------------------------------------------
example 200 "GET /health: liveness, always 200 while the process serves HTTP" -- "$BASE/health"
if [[ $code == 000 ]]; then
    echo "cannot reach $BASE: is activity-api running? (pass its URL as the first argument)" >&2
    exit 2
fi
example 200 "GET /ready: 200 when the broker connection is up (503 while it is not)" -- "$BASE/ready"
example 200 "GET /metrics: Prometheus text (first lines)" 12 -- "$BASE/metrics"

# ---- POST /api/v1/activities -------------------------------------------------------------------
example 202 "Accepted: the event is queued and the broker confirmed it" -- \
    -X POST "$ROUTE" -H "$JSON" "${AUTH[@]}" -d "$(event)"
last_r=$(header_param r ratelimit)
if [[ $code == 401 && -z $API_KEY ]]; then
    echo "# this API requires a key: run again with API_KEY=<one of its API_KEYS>"
fi

example 400 "Bad Request: every invalid field is listed" -- \
    -X POST "$ROUTE" -H "$JSON" "${AUTH[@]}" \
    -d '{"userId":"","eventType":"user_login","timestamp":"2023-10-27 10:00","payload":[],"extra":1}'
last_r=$(header_param r ratelimit)

head -c "$((MAX_BODY_BYTES + 1))" /dev/zero | tr '\0' 'a' >"$tmp/big"
example 413 "Content Too Large: MAX_BODY_BYTES + 1 bytes (problem+json; counted by the limiter)" -- \
    -X POST "$ROUTE" -H "$JSON" "${AUTH[@]}" --data-binary "@$tmp/big"
last_r=$(header_param r ratelimit)

example 415 "Unsupported Media Type: Content-Type must be application/json" -- \
    -X POST "$ROUTE" -H 'Content-Type: text/plain' "${AUTH[@]}" -d 'hello'
last_r=$(header_param r ratelimit)

# ---- compressed bodies ---------------------------------------------------------------------------
event >"$tmp/event.json"
gzip -c "$tmp/event.json" >"$tmp/event.json.gz"
printf '\n# event.json.gz: gzip -c event.json > event.json.gz, where event.json holds\n# %s\n' \
    "$(cat "$tmp/event.json")"
example 202 "Accepted: a gzip body (Content-Encoding: gzip; the limit counts the inflated bytes)" -- \
    -X POST "$ROUTE" -H "$JSON" -H 'Content-Encoding: gzip' "${AUTH[@]}" \
    --data-binary "@$tmp/event.json.gz"
last_r=$(header_param r ratelimit)

example 415 "Unsupported Media Type: Content-Encoding br (Accept-Encoding: gzip, deflate)" -- \
    -X POST "$ROUTE" -H "$JSON" -H 'Content-Encoding: br' "${AUTH[@]}" \
    --data-binary "@$tmp/event.json"
last_r=$(header_param r ratelimit)

# ---- POST /api/v1/activities/batch -------------------------------------------------------------
example 202 "Accepted: a batch of three events, one 202 with the ids in request order" -- \
    -X POST "$BATCH" -H "$JSON" "${AUTH[@]}" -d "{\"events\":[$(event),$(event),$(event)]}"
last_r=$(header_param r ratelimit)

example 400 "Bad Request: a batch is all or nothing; each error is named by its place" -- \
    -X POST "$BATCH" -H "$JSON" "${AUTH[@]}" \
    -d "{\"events\":[$(event),{\"userId\":\"\",\"eventType\":\"x\",\"timestamp\":\"2023-10-27 10:00\",\"payload\":{}},\"oops\"]}"
last_r=$(header_param r ratelimit)

# ---- API keys ------------------------------------------------------------------------------------
if [[ -n $API_KEY ]]; then
    example 401 "Unauthorized: no key (WWW-Authenticate; not counted by the rate limiter)" -- \
        -X POST "$ROUTE" -H "$JSON" -d "$(event)"
else
    printf '\n=== 401 Unauthorized: skipped\n'
    echo "Set API_KEY to one of the server's API_KEYS to see it: with keys configured, a POST"
    echo "without \"Authorization: Bearer <key>\" or \"X-API-Key: <key>\" is answered 401."
fi

example 404 "Not Found: an unknown path" -- "$BASE/nope"

example 405 "Method Not Allowed: events are POSTed (Allow: POST)" -- "$ROUTE"

# ---- 429 from another loopback address -------------------------------------------------------
printf '\n=== 429 Too Many Requests: one address past RATE_LIMIT_MAX_REQUESTS in the window\n'
hostport=${BASE#*://}
hostport=${hostport%%/*}
hostport=${hostport##*@}
host=${hostport%:*}
if [[ $host != 127.* && $host != localhost ]]; then
    echo "skipped: $host is not an IPv4 loopback address, so the requests would spend your own"
    echo "address's budget. Against a local API: examples/curl.sh http://127.0.0.1:3000"
else
    src="127.0.0.$((RANDOM % 200 + 30))"
    alt=(--ipv4 --interface "$src" -X POST "$ROUTE" -H "$JSON" "${AUTH[@]}" -d '{}')
    show_cmd curl "${alt[@]}"
    send "${alt[@]}"
    limit=$(header_param q ratelimit-policy)
    r=$(header_param r ratelimit)
    sent=1
    if [[ $code == 000 ]]; then
        print_answer
        expect 429
    elif [[ -n $last_r && -n $r && $r == $((last_r - 1)) && $code != 429 ]]; then
        # The first request from $src took one from this machine's own budget: something between
        # (a NAT, docker-proxy for a published port) makes every client one address to the API.
        echo "skipped: the API sees $src and this machine as one client (r went $last_r -> $r),"
        echo "so reaching a 429 would also lock you out for the window."
    elif [[ -z $limit || $limit -ge $MAX_429_REQUESTS ]]; then
        echo "skipped: the limit (q=${limit:-?}) needs more than MAX_429_REQUESTS=$MAX_429_REQUESTS requests"
    else
        while [[ $code != 429 && $sent -le $limit ]]; do
            send "${alt[@]}"
            sent=$((sent + 1))
        done
        echo "# $sent requests from $src (the 400s count too; a 429 does not); the last answer:"
        print_answer
        expect 429
    fi
fi

# ---- 503 -----------------------------------------------------------------------------------------
cat <<'EOF'

=== 503 Service Unavailable: not provoked here
A 503 means the broker did not confirm the event: it is down or blocks publishers, it nacked
or returned the message, the confirm did not come within PUBLISH_CONFIRM_TIMEOUT_MS, or the
publish ring is full. Seeing one needs the broker stopped, e.g. `rabbitmqctl stop_app` for a
local RabbitMQ or `docker compose stop rabbitmq`; then the POST of the 202 example answers
503 with Retry-After: 1 and the event id to retry with, and GET /ready answers 503 too.
A batch's 503 has no id: some of its events may have been queued, so retry it with the same
client ids (events without one were given new ids and may be stored twice).
EOF

echo
if [[ $failures -gt 0 ]]; then
    echo "$failures answer(s) differed from the example's expectation (see !! above)"
    exit 1
fi
echo "every answer was the expected one"
