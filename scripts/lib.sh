# shellcheck shell=bash
# Helpers shared by the scripts of scripts/. Source it; it defines functions and
# variables only and changes no shell options of the caller.

AT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Where the local services keep their data, logs and pid files.
AT_SERVICES_DIR=${AT_SERVICES_DIR:-/tmp/activity-tracker-services}

AT_FERRETDB_VERSION=v1.24.2
# FerretDB's go.mod asks for Go 1.24; without a new enough Go we fetch this toolchain, which the Go
# module proxy serves as the module golang.org/toolchain. The checksum is that of the zip the proxy
# serves (the go command verified it against sum.golang.org when it was recorded here).
AT_GO_MIN_MINOR=24
AT_GO_TOOLCHAIN_VERSION=v0.0.1-go1.24.3.linux-amd64
AT_GO_TOOLCHAIN_SHA256=8a1b88943b81e6ac2e38890b492cf38f848909b867632f48f77caf83608cb107
AT_CACHE_DIR=${AT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/activity-tracker}

at_section() {
    printf '\n==== %s ====\n' "$*"
}

at_info() {
    printf '%s: %s\n' "${AT_PROG:-${0##*/}}" "$*"
}

at_warn() {
    printf '%s: warning: %s\n' "${AT_PROG:-${0##*/}}" "$*" >&2
}

at_die() {
    printf '%s: error: %s\n' "${AT_PROG:-${0##*/}}" "$*" >&2
    exit 1
}

# at_print_help: prints the calling script's header comment (line 2 up to its `set -euo` line)
# without the comment marks: every script's --help.
at_print_help() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

# at_tail_log FILE [LINES]: show the end of a log file on stderr, to explain a failure.
at_tail_log() {
    local file=$1 lines=${2:-40}
    if [[ -r $file ]]; then
        printf -- '---- last %s lines of %s ----\n' "$lines" "$file" >&2
        tail -n "$lines" "$file" >&2
        printf -- '---- end of %s ----\n' "$file" >&2
    else
        printf '(no log at %s)\n' "$file" >&2
    fi
}

# at_wait SECONDS DESCRIPTION COMMAND...: run COMMAND every second until it succeeds; 1 on timeout.
at_wait() {
    local timeout=$1 what=$2 start=$SECONDS
    shift 2
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS - start >= timeout)); then
            at_warn "timed out after ${timeout}s waiting for $what"
            return 1
        fi
        sleep 1
    done
}

# at_tcp_open HOST PORT: true when something accepts TCP connections there (bounded to 2 s).
at_tcp_open() {
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# at_root_cmd COMMAND...: run as root (directly, or through sudo when available).
at_root_cmd() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        at_die "need root to run: $*"
    fi
}

# at_apt_install PACKAGE...: installs with apt-get those of the Debian packages that dpkg does not
# list as installed; with AT_NO_INSTALL=1 it only names them and fails.
at_apt_install() {
    local missing=() p
    for p in "$@"; do
        if [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) != ii* ]]; then
            missing+=("$p")
        fi
    done
    if ((${#missing[@]} == 0)); then
        at_info "all $# Debian packages are installed"
        return 0
    fi
    if [[ ${AT_NO_INSTALL:-0} == 1 ]]; then
        at_die "missing Debian packages (AT_NO_INSTALL=1): ${missing[*]}"
    fi
    at_info "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    at_root_cmd apt-get update -q
    at_root_cmd apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

# ---- Go and FerretDB -----------------------------------------------------------------------------

# at_go_ok GO: true when GO runs and is at least Go 1.AT_GO_MIN_MINOR.
at_go_ok() {
    local v
    v=$("$1" env GOVERSION 2>/dev/null) || return 1
    [[ $v =~ ^go1\.([0-9]+) ]] || return 1
    ((BASH_REMATCH[1] >= AT_GO_MIN_MINOR))
}

# at_find_go: print the path of a usable go command, or return 1.
at_find_go() {
    local g
    for g in "${GO:-}" "$(command -v go 2>/dev/null)" /usr/local/go/bin/go "$AT_CACHE_DIR/go/bin/go"; do
        if [[ -n $g && -x $g ]] && at_go_ok "$g"; then
            printf '%s\n' "$g"
            return 0
        fi
    done
    return 1
}

# at_fetch_go_toolchain: download the pinned Go toolchain from the Go module proxy into
# $AT_CACHE_DIR/go (needs curl and python3).
at_fetch_go_toolchain() {
    local arch proxy url zip tmp
    arch=$(uname -m)
    [[ $arch == x86_64 ]] ||
        at_die "no Go >= 1.$AT_GO_MIN_MINOR found and no pinned toolchain for $arch; install Go and put it on PATH"
    proxy=${GOPROXY:-https://proxy.golang.org}
    proxy=${proxy%%[,|]*}
    [[ $proxy == http* ]] || proxy=https://proxy.golang.org
    url="$proxy/golang.org/toolchain/@v/$AT_GO_TOOLCHAIN_VERSION.zip"
    mkdir -p "$AT_CACHE_DIR"
    tmp=$(mktemp -d "$AT_CACHE_DIR/go-download.XXXXXX")
    zip="$tmp/toolchain.zip"
    at_info "no Go >= 1.$AT_GO_MIN_MINOR found: downloading $url"
    if ! curl -fsSL --retry 3 -o "$zip" "$url"; then
        rm -rf "$tmp"
        at_die "could not download the Go toolchain from $url"
    fi
    if ! echo "$AT_GO_TOOLCHAIN_SHA256  $zip" | sha256sum -c --quiet -; then
        rm -rf "$tmp"
        at_die "checksum mismatch for $url"
    fi
    python3 - "$zip" "$tmp/x" "golang.org/toolchain@$AT_GO_TOOLCHAIN_VERSION/" <<'EOF' ||
import os, sys, zipfile
zip_path, dest_dir, prefix = sys.argv[1:4]
with zipfile.ZipFile(zip_path) as zf:
    for info in zf.infolist():
        # A module zip holds every file under "<module>@<version>/".
        if not info.filename.startswith(prefix) or info.filename.endswith("/"):
            continue
        dest = os.path.join(dest_dir, info.filename[len(prefix):])
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with zf.open(info) as src, open(dest, "wb") as out:
            out.write(src.read())
        mode = (info.external_attr >> 16) & 0o777
        os.chmod(dest, mode or 0o644)
EOF
        { rm -rf "$tmp"; at_die "could not unpack the Go toolchain"; }
    rm -rf "$AT_CACHE_DIR/go"
    mv "$tmp/x" "$AT_CACHE_DIR/go"
    rm -rf "$tmp"
    chmod -R a+rX "$AT_CACHE_DIR/go"
    chmod a+x "$AT_CACHE_DIR/go/bin/"* "$AT_CACHE_DIR/go/pkg/tool/"*/* 2>/dev/null || true
}

# at_ensure_go: print the path of a usable go command, fetching the pinned toolchain if needed.
at_ensure_go() {
    local g
    if g=$(at_find_go); then
        printf '%s\n' "$g"
        return 0
    fi
    at_fetch_go_toolchain >&2
    g=$(at_find_go) || at_die "the downloaded Go toolchain does not run"
    printf '%s\n' "$g"
}

# at_ferretdb_bin: print where the ferretdb binary is (or is to be installed): $FERRETDB_BIN, else
# $(go env GOPATH)/bin/ferretdb, else ~/go/bin/ferretdb.
at_ferretdb_bin() {
    if [[ -n ${FERRETDB_BIN:-} ]]; then
        printf '%s\n' "$FERRETDB_BIN"
        return
    fi
    local g gopath=
    if g=$(at_find_go); then
        gopath=$("$g" env GOPATH 2>/dev/null | cut -d: -f1)
    fi
    printf '%s/bin/ferretdb\n' "${gopath:-$HOME/go}"
}

# at_ferretdb_ok BIN: true when BIN is a runnable FerretDB of the pinned version.
at_ferretdb_ok() {
    local out
    [[ -x $1 ]] && out=$("$1" --version 2>/dev/null) && [[ $'\n'$out$'\n' == *$'\n'"version: $AT_FERRETDB_VERSION"$'\n'* ]]
}

# ensure_ferretdb: build and install FerretDB $AT_FERRETDB_VERSION unless a working one is there.
#
# Why not a plain `go install .../cmd/ferretdb@v1.24.2`: the module as published lacks the generated
# build/version/version.txt, and a binary built from it panics at start ("Invalid
# build/version/version.txt file content"). So the module is downloaded through the proxy, copied
# to a scratch directory, given the version.txt that FerretDB's own build generates, and built there.
ensure_ferretdb() {
    local bin go dir src
    bin=$(at_ferretdb_bin)
    if at_ferretdb_ok "$bin"; then
        return 0
    fi
    go=$(at_ensure_go) || return 1
    at_info "building FerretDB $AT_FERRETDB_VERSION into $bin (first time only; takes a few minutes)"
    dir=$(cd /tmp && GOFLAGS=-mod=mod "$go" mod download -json "github.com/FerretDB/FerretDB@$AT_FERRETDB_VERSION" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])') ||
        at_die "could not download github.com/FerretDB/FerretDB@$AT_FERRETDB_VERSION through the Go module proxy"
    src=$(mktemp -d /tmp/ferretdb-src.XXXXXX)
    cp -r "$dir/." "$src/"
    chmod -R u+w "$src"
    printf '%s\n' "$AT_FERRETDB_VERSION" >"$src/build/version/version.txt"
    mkdir -p "$(dirname "$bin")"
    if ! (cd "$src" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false "$go" build -trimpath -o "$bin.new" ./cmd/ferretdb); then
        rm -rf "$src" "$bin.new"
        at_die "building FerretDB failed"
    fi
    rm -rf "$src"
    mv -f "$bin.new" "$bin"
    at_ferretdb_ok "$bin" || at_die "the FerretDB binary built at $bin does not report $AT_FERRETDB_VERSION"
    at_info "FerretDB $AT_FERRETDB_VERSION installed at $bin"
}

# ---- RabbitMQ nodes started on this machine ---------------------------------------------------------
# (scripts/cluster.sh uses these; they follow what scripts/services.sh does for its own node.)

# at_rmq_loopback_dist_env: keeps a node's Erlang distribution on loopback. epmd is bound to
# 127.0.0.1 only when this host's name resolves there, exactly as scripts/services.sh decides, so
# whichever of the two scripts starts the shared epmd first, the other's nodes can still use it.
# Exports ERL_EPMD_ADDRESS (maybe) and adds -kernel inet_dist_use_interface to
# RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS; call it in the (sub)shell that starts the node.
at_rmq_loopback_dist_env() {
    local addr
    addr=$(getent ahostsv4 "$(hostname -s 2>/dev/null || hostname)" 2>/dev/null | awk 'NR == 1 { print $1 }')
    if [[ $addr == 127.* ]]; then
        export ERL_EPMD_ADDRESS=127.0.0.1
    fi
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="${RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:-} -kernel inet_dist_use_interface {127,0,0,1}"
}

# at_rmq_lazy_policy CTL...: on a broker older than 3.12, the policy lazy-classic-queues that puts
# every queue in lazy mode, as scripts/services.sh sets on the broker it starts (classic queues
# behave so from 3.12 on; see README "Running on the host"). CTL is the rabbitmqctl command to use,
# e.g. `rabbitmqctl -n rmq1@localhost`. Returns 0 when set or not needed, 1 when it failed.
at_rmq_lazy_policy() {
    local version
    version=$(timeout 30 "$@" version 2>/dev/null || true)
    [[ $version =~ ^3\.([0-9]+)\. ]] && ((BASH_REMATCH[1] < 12)) || return 0
    if timeout 30 "$@" set_policy --apply-to queues --priority 0 lazy-classic-queues '.*' \
        '{"queue-mode":"lazy"}' >/dev/null 2>&1; then
        at_info "RabbitMQ $version: every queue in lazy mode (policy lazy-classic-queues), as from 3.12 on"
    else
        at_warn "RabbitMQ $version: cannot set the lazy-classic-queues policy"
        return 1
    fi
}

# at_pid_alive PIDFILE PATTERN: print the pid in PIDFILE when that process runs and its command
# line or environment holds PATTERN (so a reused pid is not mistaken for it); 1 otherwise.
at_pid_alive() {
    local pid text
    [[ -r $1 ]] || return 1
    pid=$(tr -d ' \n' <"$1")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    # Read whole before matching: `... | grep -q` can fail under pipefail (grep exits early).
    text=$(cat "/proc/$pid/cmdline" "/proc/$pid/environ" 2>/dev/null | tr '\0' '\n') || true
    grep -qF -- "$2" <<<"$text" || return 1
    printf '%s\n' "$pid"
}
