"""A lease holder that keeps its deadline on CLOCK_MONOTONIC, as services do.

    lease.py hold STATE SECONDS   take a lease of SECONDS (or resume the one in
                                  STATE) and hold it until it expires
    lease.py remaining STATE      print how many ns the lease in STATE has left

`hold` prints one line per event: "taken PID T E" (lease taken at T, expires
at E), "resumed PID R" (R ns left), "expired LATE" (ns past the deadline).
All times are CLOCK_MONOTONIC nanoseconds as this process reads them.
"""
import json
import os
import sys
import time


def now():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def read(state):
    with open(state) as f:
        return json.load(f)


def hold(state, seconds):
    if os.path.exists(state):
        lease = read(state)
        print("resumed", os.getpid(), lease["expires_ns"] - now(), flush=True)
    else:
        taken = now()
        lease = {"taken_ns": taken, "expires_ns": taken + int(float(seconds) * 1e9)}
        with open(state + ".tmp", "w") as f:
            json.dump(lease, f)
        os.replace(state + ".tmp", state)
        print("taken", os.getpid(), lease["taken_ns"], lease["expires_ns"], flush=True)
    while (left := lease["expires_ns"] - now()) > 0:
        time.sleep(min(left / 1e9, 0.05))
    print("expired", now() - lease["expires_ns"], flush=True)


def main(argv):
    if argv[:1] == ["hold"] and len(argv) == 3:
        hold(argv[1], argv[2])
    elif argv[:1] == ["remaining"] and len(argv) == 2:
        print(read(argv[1])["expires_ns"] - now())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
