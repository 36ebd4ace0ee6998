#!/usr/bin/env bash
# crndm vs PMDK libpmemobj, same machine, same run, same emulated pmem (DESIGN §10).
#
#   bench/compare-pmdk/run.sh [RUNS]          # default 5 runs
#   bench/compare-pmdk/run.sh --install-only  # just make sure libpmemobj-dev is there
#
# Environment: N_MICRO (operations per micro run, default 200000), N_WORK (keys/values
# per workload run, default 100000), PMEM_DIR (default /dev/shm).
#
# What it does:
#   1. installs libpmemobj-dev with apt-get if it is missing (needs root or sudo);
#   2. builds pmdk_bench.c with cc against libpmemobj, and crndm's `pmdk_ops` bench and
#      `bst`, `kvstore`, `list`, `btree` examples with cargo (release);
#   3. runs every operation RUNS times, alternating which side goes first, both on
#      PMEM_DIR: PMDK with PMEM_IS_PMEM_FORCE=1, crndm with CRNDM_FORCE_PMEM=1, so both
#      flush with clwb/clflushopt + sfence;
#   4. prints, per operation, the median ns/op of each side, the ratio crndm ÷ PMDK
#      (lower is better for crndm), crndm's flushes, fences and streamed lines per op
#      (cache lines written with non-temporal stores, which need no flush), and the
#      target.
#
# Not part of CI: it needs PMDK and minutes of a quiet machine.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

ensure_pmdk() {
    if ! dpkg -s libpmemobj-dev >/dev/null 2>&1; then
        echo "installing libpmemobj-dev with apt-get ..." >&2
        local sudo=""
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        $sudo apt-get update -qq
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpmemobj-dev
    fi
}

if [ "${1:-}" = "--install-only" ]; then
    ensure_pmdk
    exit 0
fi

RUNS="${1:-5}"
N_MICRO="${N_MICRO:-200000}"
N_WORK="${N_WORK:-100000}"
PMEM_DIR="${PMEM_DIR:-/dev/shm}"
BUILD="$ROOT/target/compare-pmdk"
mkdir -p "$BUILD"

ensure_pmdk

echo "building the PMDK side ..." >&2
cc -O2 -Wall -Wextra -o "$BUILD/pmdk_bench" "$HERE/pmdk_bench.c" -lpmemobj

echo "building the crndm side ..." >&2
cd "$ROOT"
cargo build --release --quiet -p crndm --example bst --example kvstore --example list \
    --example btree
OPS_BIN="$(cargo bench --no-run --quiet -p crndm --bench pmdk_ops --message-format=json \
    | grep -o '"executable":"[^"]*pmdk_ops[^"]*"' | tail -1 | cut -d'"' -f4)"
EXAMPLES="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples"
[ -x "$OPS_BIN" ] || { echo "no pmdk_ops bench binary" >&2; exit 1; }

RESULTS="$BUILD/results.txt"
: >"$RESULTS"

# run_side SIDE TEST: runs one side of one test, appending "SIDE name ns [fl fe [nt]]"
# lines (nt: lines streamed with non-temporal stores, micro operations only).
run_side() {
    local side="$1" test="$2"
    if [ "$side" = pmdk ]; then
        case "$test" in
            bst | kv | list | btree) n="$N_WORK" ;;
            *) n="$N_MICRO" ;;
        esac
        PMEM_IS_PMEM_FORCE=1 "$BUILD/pmdk_bench" "$test" "$n" "$PMEM_DIR"
    else
        case "$test" in
            bst) CRNDM_FORCE_PMEM=1 "$EXAMPLES/bst" "$N_WORK" --dir "$PMEM_DIR" 2>/dev/null ;;
            kv) CRNDM_FORCE_PMEM=1 "$EXAMPLES/kvstore" "$N_WORK" --dir "$PMEM_DIR" 2>/dev/null ;;
            list) CRNDM_FORCE_PMEM=1 "$EXAMPLES/list" "$N_WORK" --dir "$PMEM_DIR" 2>/dev/null ;;
            btree) CRNDM_FORCE_PMEM=1 "$EXAMPLES/btree" "$N_WORK" --dir "$PMEM_DIR" 2>/dev/null ;;
            *) CRNDM_FORCE_PMEM=1 "$OPS_BIN" "$test" "$N_MICRO" "$PMEM_DIR" ;;
        esac
    fi | awk -v side="$side" -v test="$test" '$1 == "RESULT" {
        # The examples print ops/s sixth; only the micro operations print streamed lines.
        nt = (test ~ /^(bst|kv|list|btree)$/) ? "" : $6
        print side, $2, $3, $4, $5, nt
    }' >>"$RESULTS"
}

TESTS="empty update8 update1k update4k update16k update64k allocfree64 alloc64+free64 free64 bst kv list btree"
for run in $(seq 1 "$RUNS"); do
    echo "run $run of $RUNS ..." >&2
    for test in $TESTS; do
        # Interleave, and alternate which side goes first, so drift hits both alike.
        if [ $((run % 2)) -eq 1 ]; then
            run_side pmdk "$test"
            run_side crndm "$test"
        else
            run_side crndm "$test"
            run_side pmdk "$test"
        fi
    done
done

echo
echo "crndm ÷ PMDK libpmemobj, median of $RUNS runs; $(nproc) CPUs; pool dir $PMEM_DIR;"
echo "micro ops: $N_MICRO per run; workloads: $N_WORK keys/values per run"
echo
awk '
function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
    key = $2
    if (!(key in seen)) { seen[key] = 1; order[++count] = key }
    t[$1, key] = t[$1, key] " " $3
    if ($1 == "crndm") { fl[key] = $4; fe[key] = $5; nt[key] = ($6 == "") ? 0 : $6 }
}
END {
    target["update8"] = "<= 0.7"; target["allocfree64"] = "<= 0.7";
    target["update4k"] = "<= 0.7"; target["free64"] = "<= 0.5";
    target["bst_insert"] = "<= 0.7"; target["kv_put"] = "<= 0.7"
    target["btree_insert"] = "<= 1.0"; target["btree_lookup"] = "<= 1.0"; target["btree_remove"] = "<= 1.0"
    printf "| %-16s | %12s | %12s | %8s | %-20s | %8s | %-7s |\n", "operation", "PMDK ns/op", "crndm ns/op", "ratio", "crndm flushes/fences", "streamed", "target"
    printf "|%s|%s|%s|%s|%s|%s|%s|\n", "------------------", "--------------", "--------------", "----------", "----------------------", "----------", "---------"
    for (i = 1; i <= count; i++) {
        k = order[i]
        p = median(t["pmdk", k]); c = median(t["crndm", k])
        tg = (k in target) ? target[k] : "<= 1.0"
        printf "| %-16s | %12.0f | %12.0f | %8.2f | %9.2f / %-8.2f | %8.2f | %-7s |\n", k, p, c, c / p, fl[k], fe[k], nt[k], tg
    }
}' "$RESULTS"
echo
echo "raw results: $RESULTS"
