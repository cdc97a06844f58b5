"""Real container engines for the timens-runtime tests, each started with
private state (a directory of its own for data, state, sockets and logs),
and the image they run, built from a local rootfs (no registry is reachable).
"""
