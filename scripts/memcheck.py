#!/usr/bin/python3
"""Run the Check suites of a ctest build directory under valgrind memcheck.

Usage: scripts/memcheck.py BUILD_DIR LOG_DIR [JOBS]

The suites (tests named check_*) are read from `ctest --show-only=json-v1`, so each runs with
the command, working directory and ENVIRONMENT properties ctest would use, plus CK_FORK=no
(Check runs the tests in-process, where valgrind sees them) and OPENBLAS_NUM_THREADS=1
(no BLAS thread pool to slow valgrind down). A suite fails on any memcheck error, on a
definite or indirect leak in the suite's own process, or on a failing test. In processes a
test fork()s itself (without exec), memory errors count but leak reports do not: a child
that _exit()s leaves the parent's live objects unreferenced, a false "leak". Prints one line
per suite and, for each failure, valgrind's log.
"""
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

VALGRIND = [
    "valgrind", "--tool=memcheck", "--leak-check=full",
    "--show-leak-kinds=definite,indirect", "--errors-for-leak-kinds=definite,indirect",
    "--num-callers=30", "--trace-children=no",
]
TIMEOUT_S = 1800
MEMORY_ERROR = re.compile(r"^==(\d+)== (Invalid (read|write|free)|Conditional jump"
                          r"|Use of uninitialised|Syscall param|Mismatched free"
                          r"|Source and destination overlap|Argument .* of function)", re.M)
SUMMARY = re.compile(r"^==(\d+)== ERROR SUMMARY: (\d+) errors", re.M)
CHECK_SUMMARY = re.compile(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)")


def suites(build_dir):
    out = subprocess.run(["ctest", "--show-only=json-v1"], cwd=build_dir, check=True,
                         capture_output=True, text=True).stdout
    for t in json.loads(out)["tests"]:
        if not t["name"].startswith("check_") or "command" not in t:
            continue
        env, cwd = {}, build_dir
        for p in t.get("properties", []):
            if p["name"] == "ENVIRONMENT":
                for kv in p["value"]:
                    k, _, v = kv.partition("=")
                    env[k] = v
            elif p["name"] == "WORKING_DIRECTORY":
                cwd = p["value"]
        yield t["name"], t["command"], env, cwd


def memcheck_errors(text):
    """Errors of the suite's own process (the first pid in the log, leaks included) plus
    memory errors (not leaks) of the processes it forked."""
    pids = re.findall(r"^==(\d+)== ", text, flags=re.M)
    if not pids:
        return 1  # valgrind did not run
    main_pid = pids[0]
    errors = sum(int(n) for pid, n in SUMMARY.findall(text) if pid == main_pid)
    errors += sum(1 for m in MEMORY_ERROR.finditer(text) if m.group(1) != main_pid)
    return errors


def run(name, command, env, cwd, log_dir):
    log = os.path.join(log_dir, name + ".log")
    full_env = dict(os.environ, **env, CK_FORK="no", OPENBLAS_NUM_THREADS="1")
    start = time.monotonic()
    with open(log, "w") as f:
        try:
            rc = subprocess.run(VALGRIND + command, cwd=cwd, env=full_env, stdout=f,
                                stderr=subprocess.STDOUT, timeout=TIMEOUT_S).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    with open(log, errors="replace") as f:
        text = f.read()
    n_err = memcheck_errors(text)
    verdict = "clean" if rc == 0 else "FAILED (status %s)" % rc
    if n_err:
        verdict = "MEMCHECK ERRORS (%d)" % n_err
    m = CHECK_SUMMARY.search(text)
    if m and (m.group(2) != "0" or m.group(3) != "0"):
        # In-process (CK_FORK=no), a failed assertion leaves the test's allocations behind:
        # look at the failure first, the leaks may only follow from it.
        verdict += ", %d/%s tests failed" % (int(m.group(2)) + int(m.group(3)), m.group(1))
    ok = rc == 0 and n_err == 0
    return name, ok, verdict, time.monotonic() - start, log


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    build_dir, log_dir = sys.argv[1], sys.argv[2]
    jobs = int(sys.argv[3]) if len(sys.argv) == 4 else 2
    os.makedirs(log_dir, exist_ok=True)
    todo = list(suites(build_dir))
    if not todo:
        print("memcheck: no check_* tests in", build_dir)
        return 1
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(lambda s: run(*s, log_dir), todo))
    for name, ok, verdict, secs, log in results:
        print("memcheck: %-28s %-44s %6.1fs" % (name, verdict, secs))
    failed = [r for r in results if not r[1]]
    for name, ok, verdict, secs, log in failed:
        print("---- valgrind log of %s (%s)" % (name, log))
        with open(log, errors="replace") as f:
            sys.stdout.write(f.read())
    print("memcheck: %d suites, %d clean, %d failed" % (len(results), len(results) - len(failed),
                                                        len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
