"""timens-runtime: an OCI runtime that wraps the real one (runc, crun).

Shaped like NVIDIA's container runtime: find the bundle's config.json among
the runtime's arguments, change the spec, run the real runtime with the
arguments untouched. The only change of substance is where the real runtime
runs: inside a named time namespace, so that the container inherits it.

    args.py     the runc command line: global options, command, container id
    spec.py     what a config asks for, and the config the real runtime sees
    runtime.py  the commands: create/run, exec, delete, and reconciling
"""
