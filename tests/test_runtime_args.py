"""How timens-runtime reads the runc command lines engines write."""
import pytest

from timens.oci.args import last, parse

LINES = [
    # containerd's runc shim (Docker, ctr, Kubernetes)
    (["--root", "/run/r", "--log", "/b/log.json", "--log-format", "json", "create", "--bundle", "/b",
      "--pid-file", "/b/init.pid", "--console-socket", "/s", "abc"], "create", "abc", "/run/r", "/b"),
    # conmon (Podman): no --root, --bundle before the id
    (["--systemd-cgroup", "create", "--bundle", "/u", "--pid-file", "/p", "--no-pivot", "def"], "create", "def", None, "/u"),
    # the = spellings and urfave/cli's single dash
    (["-root=/r2", "run", "-b=/b2", "-d", "ghi"], "run", "ghi", "/r2", "/b2"),
    (["--root", "/r", "exec", "--process", "/tmp/p.json", "--detach", "--pid-file", "/x", "jkl"], "exec", "jkl", "/r", None),
    (["--root", "/r", "delete", "--force", "mno"], "delete", "mno", "/r", None),
    (["state", "pqr"], "state", "pqr", None, None),
]


@pytest.mark.parametrize("argv,command,cid,root,bundle", LINES, ids=[" ".join(line[0][:4]) for line in LINES])
def test_engine_command_lines(argv, command, cid, root, bundle):
    call = parse(argv)
    assert (call.command, call.container_id, call.root, last(call, "bundle", "b")) == (command, cid, root, bundle)
    assert call.argv == argv  # passed on untouched


def test_own_option_is_taken_out_wherever_it_stands():
    call = parse(["--root", "/r", "--timens-runtime=/usr/bin/crun", "--debug", "kill", "c1", "KILL"])
    assert call.runtime == "/usr/bin/crun"
    assert call.argv == ["--root", "/r", "--debug", "kill", "c1", "KILL"]
    assert parse(["--timens-runtime", "crun", "state", "c2"]).argv == ["state", "c2"]


def test_exec_arguments_after_the_id_are_the_command():
    call = parse(["exec", "-e", "A=1", "--tty", "c3", "sh", "-c", "echo --root"])
    assert call.container_id == "c3" and call.root is None
    assert last(call, "process", "p") is None


def test_no_command():
    call = parse(["--version"])
    assert call.command is None and call.argv == ["--version"]
