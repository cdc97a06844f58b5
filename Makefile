# Two entry points: `make demo` and `make test`. Both set everything up from
# scratch on a fresh Debian 12 machine (as root): Debian packages, .venv,
# the C library and helper (built by the package's own setup.py).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.timens-installed
# gcc builds libtimens.so and the test probes; util-linux gives unshare and
# setpriv; perl, tcl and nodejs are runtimes the REALTIME tests read dates from;
# libfaketime is the peer the benchmark compares against; openssl makes the
# certificate that the pytest plugin's TLS test lets expire. docker.io,
# podman, containerd and runc are the engines the timens-runtime tests
# start; busybox-static is the base of the image they run, and with musl-tools
# and golang-go gives the static, musl and Go programs the vDSO patch is tested
# on (binutils: objdump, ld, objcopy for the injected code; strace: a command
# traced already).
DEBIAN_PACKAGES := gcc libc6-dev binutils make util-linux procps python3-venv perl tcl nodejs libfaketime openssl \
	docker.io podman containerd runc busybox-static musl-tools golang-go strace
NATIVE_SOURCES := $(wildcard src/timens/native/*.c src/timens/native/*.h src/timens/native/libtimens/*.[ch] \
	src/timens/native/vdso/*.[ch] src/timens/native/vdso/*.ld)

.PHONY: demo test bench setup debian-packages clean

demo: setup
	@PATH="$(CURDIR)/$(BIN):$$PATH" ./scripts/demo.sh

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/run_all.py

setup: debian-packages $(STAMP)

debian-packages:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages: $$missing (install them as root)"; exit 1; fi; \
		echo "installing Debian packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml setup.py $(NATIVE_SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	rm -rf build
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) build src/*.egg-info src/timens/native/libtimens.so src/timens/native/libtimens-page.so src/timens/native/timens-helper \
		src/timens/native/timens-tracer
