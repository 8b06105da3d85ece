#!/usr/bin/env python3
"""py_sum.py - the Python baseline prunner started from: the seed's sum on
concurrent.futures.ProcessPoolExecutor, one task per function call.

Usage: py_sum.py [N [WORKERS]]        (defaults: N = 2000, WORKERS = 10)

prunner.py ran the sum on 10 processes sharing a dict and a lock:

    begin:      dict['sum'] = 0; post init(range(N))
    init:       post add_one(i) for i in range(N)
    add_one(n): post double(n + 1)
    double(n):  post sum_up(n) twice
    sum_up(n):  with global_lock(): dict['sum'] += n

Worker processes cannot cheaply post into a shared queue or share a dict,
so this is the simplest honest rendering that keeps "a task per call":
every call is submitted to the pool as its own task; a task returns the
follow-up calls it would have posted, as (function, argument) pairs, and
the driver loop in the main process submits them; sum_up returns its n
and the main process adds it to the total (the part prunner.py did under
the global lock).  4N + 1 tasks, and the total must be N * (N + 1).

It prints the benchmark contract's line (see common.h):

    RESULT system=python-processpool workload=sum n=N workers=W tasks=T
           seconds=S maxrss_kb=M check=ok

where S is the whole run: creating the pool, every task, shutting the
pool down (processes are started lazily by the executor, so pool creation
cannot be separated from the first tasks), and M is the main process's
peak RSS.  On a wrong total it prints check=FAIL without seconds and exits
1; bad arguments exit 2.
"""

import concurrent.futures as cf
import resource
import sys
import time

SYSTEM = "python-processpool"


# The tasks.  Each returns ("post", [(fn, arg), ...]) or ("add", n).

def init(n):
    return ("post", [(add_one, i) for i in range(n)])


def add_one(n):
    return ("post", [(double, n + 1)])


def double(n):
    return ("post", [(sum_up, n), (sum_up, n)])


def sum_up(n):
    return ("add", n)


def run(n, workers):
    total = 0
    tasks = 0
    with cf.ProcessPoolExecutor(max_workers=workers) as pool:
        pending = {pool.submit(init, n)}
        tasks += 1
        while pending:
            done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                kind, value = fut.result()
                if kind == "add":
                    total += value
                else:
                    for fn, arg in value:
                        pending.add(pool.submit(fn, arg))
                        tasks += 1
    return total, tasks


def usage():
    sys.stderr.write("usage: py_sum.py [N [WORKERS]]   (N >= 0, WORKERS >= 1; defaults 2000 10)\n")
    sys.exit(2)


def main():
    args = sys.argv[1:]
    if len(args) > 2:
        usage()
    try:
        n = int(args[0]) if len(args) > 0 else 2000
        workers = int(args[1]) if len(args) > 1 else 10
    except ValueError:
        usage()
    if n < 0 or workers < 1:
        usage()

    t0 = time.monotonic()
    total, tasks = run(n, workers)
    t1 = time.monotonic()

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    head = "RESULT system=%s workload=sum n=%d workers=%d tasks=%d" % (SYSTEM, n, workers, tasks)
    if total != n * (n + 1) or tasks != 4 * n + 1:
        sys.stderr.write("py_sum.py: got %d, expected %d (%d tasks)\n" % (total, n * (n + 1), tasks))
        print("%s maxrss_kb=%d check=FAIL" % (head, maxrss), flush=True)
        sys.exit(1)
    print("%s seconds=%.9f maxrss_kb=%d check=ok" % (head, t1 - t0, maxrss), flush=True)


if __name__ == "__main__":
    main()
