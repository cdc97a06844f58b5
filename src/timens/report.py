"""`timens show`: what each clock reads inside a namespace, next to the host.

The inside readings come from a process in the namespace (timens-helper
clocks, with libtimens.so loaded when there is a page), taken within a few
microseconds of each other. The host column is the host's own clocks (the
initial namespace), also when `timens show` itself runs in a namespace:
MONOTONIC and BOOTTIME read right after, REALTIME read by the helper at the
same instant through the raw syscall.
"""
from . import kernel
from .values import CLOCKS, KERNEL_CLOCKS, NSEC_PER_SEC, format_instant, format_offset, format_seconds


def clock_report(ns):
    inside = ns.clocks()
    # The host's own clocks (the initial namespace), whatever namespace this
    # process runs in: its readings less its own kernel offsets, and the
    # REALTIME the helper read with the raw syscall, next to the inside ones.
    own = kernel.own_clocks()
    host = {c: reading - offset for c, (reading, offset) in own.items()}
    host["realtime"] = inside["host_realtime"]
    with open("/proc/uptime") as f:
        host_uptime = float(f.read().split()[0]) - own["boottime"][1] / NSEC_PER_SEC
    offsets = ns.offsets()
    state = ns.clock_state()
    return {
        "schema": "timens.show/1",
        "inode": ns.inode,
        "name": ns.name,
        "pid": ns.pid,
        "offsets": offsets.as_json(),
        "frozen": bool(state and state.frozen),
        "frozen_at_ns": state.frozen_at_ns if state else None,
        "advanced": {"monotonic_ns": state.monotonic_ns, "boottime_ns": state.boottime_ns} if state else None,
        "clocks": {
            clock: {"inside_ns": inside[clock], "host_ns": host[clock]}
            for clock in CLOCKS
        },
        "uptime": {"inside": inside.get("uptime"), "host": f"{host_uptime:.2f}"},
        "read_spread_ns": inside.get("spread_ns"),
    }


def print_report(report):
    label = f'"{report["name"]}"' if report["name"] else f"of pid {report['pid']}" if report["pid"] else ""
    print(f"namespace {label} inode {report['inode']}".replace("  ", " "))
    rows = [("CLOCK", "INSIDE", "HOST", "OFFSET")]
    offsets = report["offsets"]
    advanced = report.get("advanced") or {}
    for clock in KERNEL_CLOCKS:
        c = report["clocks"][clock]
        offset = format_offset(offsets[clock + "_ns"], 3)
        if advanced.get(clock + "_ns"):
            offset += f", advanced {format_offset(advanced[clock + '_ns'], 3)}"
        rows.append((clock.upper(), secs(c["inside_ns"]), secs(c["host_ns"]), offset))
    rows.append(("uptime", report["uptime"]["inside"] + " s", report["uptime"]["host"] + " s", ""))
    rt = report["clocks"]["realtime"]
    rt_offset = offsets["realtime_ns"]
    rows.append(
        (
            "REALTIME",
            format_instant(rt["inside_ns"]),
            format_instant(rt["host_ns"]),
            "none (host time)" if rt_offset is None
            else f"frozen (offset now {format_offset(rt_offset, 3)})" if report.get("frozen")
            else format_offset(rt_offset, 3),
        )
    )
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[3])


def secs(ns):
    return format_seconds(ns) + " s"
