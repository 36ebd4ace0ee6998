#!/usr/bin/env python3
"""Interleaved A/B timing of one micro operation across several binaries.

    bench/compare-pmdk/ab.py OP ROUNDS N LABEL=BINARY [LABEL=BINARY ...]

Each BINARY is `pmdk_bench` (target/compare-pmdk/, built by run.sh) or a build of the
`pmdk_ops` bench (`cargo bench --no-run -p crndm --bench pmdk_ops` prints its path; copy
it aside before rebuilding another variant). Every round runs each binary once with
`OP N /dev/shm`, pinned to CPU 1 (`taskset -c 1`), in alternating order; the script
prints each label's median and minimum ns/op, its ratio to the first label's median, and
every round's value. On a noisy machine, decide between builds by this, not by two
single runs: bench/RESULTS.md ("Issue 20 done") shows how far one process can be from
the next.
"""
import os
import statistics
import subprocess
import sys


def main() -> None:
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    op, rounds, n = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sides = [a.split("=", 1) for a in sys.argv[4:]]
    env = dict(os.environ, PMEM_IS_PMEM_FORCE="1", CRNDM_FORCE_PMEM="1")
    times = {label: [] for label, _ in sides}
    for r in range(rounds):
        for label, binary in sides if r % 2 == 0 else sides[::-1]:
            out = subprocess.run(
                ["taskset", "-c", "1", binary, op, n, "/dev/shm"],
                capture_output=True, text=True, env=env, check=True,
            ).stdout
            line = next(x for x in out.splitlines() if x.startswith("RESULT"))
            times[label].append(float(line.split()[2]))
    base = statistics.median(times[sides[0][0]])
    for label, _ in sides:
        t = times[label]
        m = statistics.median(t)
        print(f"{op:10} {label:10} median {m:8.1f} ns  x{m / base:.3f}  min {min(t):.1f}")
    for label, _ in sides:
        print(label, " ".join(f"{x:.0f}" for x in times[label]))


if __name__ == "__main__":
    main()
