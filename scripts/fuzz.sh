#!/usr/bin/env bash
# The fuzz command: installs what is missing, builds the libFuzzer targets of tests/fuzz with
# clang and ASan+UBSan in their own build directory, and runs each for a while.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 30 seconds, every target)
#
# Each target runs SECONDS (-max_total_time) with -timeout=10 and a memory limit, on a temporary
# copy of its seed corpus tests/fuzz/corpus/<target>, so the inputs it finds never land in the
# repository. A crash, a failed invariant, a leak, a timeout or running out of memory fails that
# target: the script goes on with the others, prints where the failing input was saved and how to
# replay it, and exits 1. tests/fuzz/README.md says what each target checks.
#
# Environment:
#   AT_FUZZ_BUILD_DIR  build directory (default build-fuzz; the main build is not touched)
#   AT_FUZZ_ARTIFACTS  where failing inputs are saved (default <build dir>/fuzz-artifacts)
#   AT_FUZZ_RSS_MB     memory limit of each target in MiB (default 2048)
#   AT_FUZZ_CC         the C compiler (default clang)
#   AT_NO_INSTALL      1 = never install packages, only report what is missing
#   AT_JOBS            build parallelism (default 2)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
AT_PROG=fuzz.sh
cd "$AT_ROOT"

ALL_TARGETS=(fuzz_validate fuzz_validate_batch fuzz_inflate fuzz_rfc3339 fuzz_client_addr
    fuzz_document fuzz_jsonesc fuzz_brokerurl)

case ${1:-} in
-h | --help)
    at_print_help
    exit 0
    ;;
esac
SECS=${1:-30}
[[ $SECS =~ ^[1-9][0-9]*$ ]] || at_die "SECONDS must be a positive integer, not '$SECS'"
shift $(($# > 0 ? 1 : 0))
TARGETS=("$@")
if ((${#TARGETS[@]} == 0)); then
    TARGETS=("${ALL_TARGETS[@]}")
fi
for t in "${TARGETS[@]}"; do
    [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || at_die "unknown target '$t' (have: ${ALL_TARGETS[*]})"
done

BUILD=${AT_FUZZ_BUILD_DIR:-build-fuzz}
ARTIFACTS=${AT_FUZZ_ARTIFACTS:-$BUILD/fuzz-artifacts}
RSS_MB=${AT_FUZZ_RSS_MB:-2048}
CC_FUZZ=${AT_FUZZ_CC:-clang}
JOBS=${AT_JOBS:-2}

# What the root CMakeLists.txt needs to configure at all, plus clang. libFuzzer's runtime comes
# in a package named after clang's major version (Debian 12: libclang-rt-14-dev).
PACKAGES=(
    build-essential cmake pkg-config clang
    libh2o-dev libuv1-dev libssl-dev librabbitmq-dev libmongoc-dev libbson-dev libjson-c-dev
    zlib1g-dev check libsubunit-dev
)

# libfuzzer_links: true when $CC_FUZZ links a libFuzzer target with ASan+UBSan.
libfuzzer_links() {
    local dir ok=1
    dir=$(mktemp -d)
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
        >"$dir/probe.c"
    "$CC_FUZZ" -fsanitize=fuzzer,address,undefined -o "$dir/probe" "$dir/probe.c" \
        >"$dir/log" 2>&1 && ok=0
    rm -rf "$dir"
    return "$ok"
}

at_section "Dependencies"
at_apt_install "${PACKAGES[@]}"
command -v "$CC_FUZZ" >/dev/null 2>&1 || at_die "no C compiler '$CC_FUZZ' on PATH"
if ! libfuzzer_links; then
    major=$("$CC_FUZZ" -dumpversion | cut -d. -f1)
    at_apt_install "libclang-rt-$major-dev"
    libfuzzer_links || at_die "$CC_FUZZ cannot link with -fsanitize=fuzzer (libclang-rt-$major-dev installed)"
fi
at_info "$("$CC_FUZZ" --version | head -n 1): -fsanitize=fuzzer links"

at_section "Build $BUILD"
build_start=$SECONDS
cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER="$CC_FUZZ" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DAT_FUZZ=ON -DAT_SANITIZE=address -DAT_ASSERTS=ON -DAT_WERROR=ON
cmake --build "$BUILD" --target "${TARGETS[@]}" -j "$JOBS"
at_info "built ${#TARGETS[@]} targets in $((SECONDS - build_start)) s"

# Sanitizers stop at the first report; LeakSanitizer stays on. libFuzzer turns a report into a
# failing exit status and saves the input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1:check_initialization_order=1:print_stacktrace=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/at-fuzz.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
LOGS="$BUILD/fuzz-logs"
mkdir -p "$LOGS"

# fuzz_stat LOG NAME: the value of libFuzzer's final "stat::NAME:" line in LOG.
fuzz_stat() {
    sed -n "s/^stat::$2:[[:space:]]*//p" "$1" | tail -n 1
}

RESULTS=()
PASSED=0
FAILED=0
for t in "${TARGETS[@]}"; do
    at_section "Fuzz $t (${SECS} s)"
    corpus="$WORK/$t"
    mkdir -p "$corpus" "$ARTIFACTS/$t"
    cp -R "tests/fuzz/corpus/$t/." "$corpus/"
    seeds=$(find "$corpus" -type f | wc -l)
    log="$LOGS/$t.log"
    rc=0
    # The outer timeout only guards against a wedged process; libFuzzer stops itself at SECS.
    timeout -k 10 $((SECS + 300)) "$BUILD/tests/fuzz/$t" -max_total_time="$SECS" -timeout=10 \
        -rss_limit_mb="$RSS_MB" -malloc_limit_mb="$RSS_MB" -print_final_stats=1 \
        -artifact_prefix="$ARTIFACTS/$t/" "$corpus" >"$log" 2>&1 || rc=$?
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
    if ((rc == 0)); then
        PASSED=$((PASSED + 1))
        summary="$(fuzz_stat "$log" number_of_executed_units) runs,"
        summary+=" $(fuzz_stat "$log" average_exec_per_sec) exec/s,"
        summary+=" $(sed -E 's/.*(cov: [0-9]+ ft: [0-9]+ corp: [0-9]+\/[^ ]+).*/\1/' <<<"$done_line"),"
        summary+=" $seeds seeds, peak rss $(fuzz_stat "$log" peak_rss_mb) MB"
        at_info "$t: ok: $summary"
        RESULTS+=("passed  $t: $summary")
    else
        FAILED=$((FAILED + 1))
        # The report's end, lines cut (libFuzzer dumps the input as one line of hex); then the
        # input in base64 when short, so it can be replayed from a CI log alone.
        printf -- '---- last 60 lines of %s (cut to 300 columns) ----\n' "$log" >&2
        tail -n 60 "$log" | cut -c 1-300 >&2
        printf -- '---- end of %s ----\n' "$log" >&2
        b64=$(grep -E '^Base64: ' "$log" | tail -n 1 || true)
        if [[ -n $b64 && ${#b64} -le 8192 ]]; then
            printf 'failing input, %s\n' "$b64" >&2
        fi
        saved=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        if [[ -n $saved ]]; then
            at_warn "$t failed (exit $rc); the failing input was saved to $saved"
            at_warn "replay it with: $BUILD/tests/fuzz/$t $saved"
            RESULTS+=("FAILED  $t (exit $rc): input saved to $saved")
        else
            at_warn "$t failed (exit $rc) without saving an input; see $log"
            RESULTS+=("FAILED  $t (exit $rc): see $log")
        fi
    fi
done

at_section "Summary"
printf '  %s\n' "${RESULTS[@]}"
printf 'fuzz: %d passed, %d failed\n' "$PASSED" "$FAILED"
((FAILED == 0))
