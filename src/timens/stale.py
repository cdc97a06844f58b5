"""Stale clock pages: pages whose namespace is gone or is another one now.

A page is named by the inode of its namespace, and the kernel reuses
inodes. A page belongs to a namespace that still exists (some process is in
it or made it for its children, a mount or an open file refers to it) and
whose kernel id (NS_GET_ID) is the one the page was made for. Any other
page is stale: `sweep` removes it, so that no new namespace reads an old
namespace's REALTIME. create, run and list sweep.
"""
import os

from . import kernel


def holders(wanted, processes=None):
    """{inode: a path that opens that time namespace} for the inodes in
    WANTED that some process, mount or open file still refers to. Cheap
    sources first: most namespaces have a process in them. PROCESSES is
    kernel.time_ns_of_processes(), if the caller has it already."""
    found, wanted = {}, set(wanted)
    if processes is None:
        processes = kernel.time_ns_of_processes()
    for pid, time_ns, children in processes:
        for link, inode in (("time", time_ns), ("time_for_children", children)):
            if inode in wanted and inode not in found:
                found[inode] = kernel.proc(pid, "ns", link)
    if wanted <= found.keys():
        return found
    pids = [pid for pid, _, _ in processes]
    for root, mount_point in kernel.mounts():
        inode = kernel.time_ns_inode(root)
        if inode in wanted:
            found.setdefault(inode, mount_point)
    for pid in pids:
        if wanted <= found.keys():
            break
        try:
            fds = os.listdir(kernel.proc(pid, "fd"))
        except OSError:
            continue
        for fd in fds:
            path = kernel.proc(pid, "fd", fd)
            try:
                inode = kernel.time_ns_inode(os.readlink(path))
            except OSError:
                continue
            if inode in wanted:
                found.setdefault(inode, path)
    return found


def live_id(path):
    """The kernel id of the namespace at PATH; None if it cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return kernel.ns_id(fd)
    except OSError:
        return None
    finally:
        os.close(fd)


def page_view(path):
    """The page at PATH, read (a PageView), or None if PATH is no page."""
    from .page import ClockPage, PageError

    if not kernel.is_regular_file(path):
        return None
    try:
        with ClockPage.open(path, writable=False) as page:
            return page.read()
    except (OSError, PageError):
        return None


def page_id(path):
    """The namespace id a page was made for (0: unknown), or None if PATH is no page."""
    view = page_view(path)
    return None if view is None else view.ns_id


def is_stale(page_ns_id, namespace_id):
    """A page made for PAGE_NS_ID, for a namespace of NAMESPACE_ID (None: gone)."""
    if namespace_id is None:
        return True
    return bool(page_ns_id and namespace_id and page_ns_id != namespace_id)


_TEMPORARY = r"\..+\.(\d+)\.[0-9a-f]+\.tmp"  # .NAME.PID.RANDOM.tmp, as writers name them


def sweep_temporaries(directory):
    """Remove the temporary files of writers that died (killed mid-write)."""
    try:
        names = [n for n in os.listdir(directory) if n.startswith(".") and n.endswith(".tmp")]
    except OSError:
        return
    if not names:
        return
    import re  # only now: most runs find nothing to sweep

    for name in names:
        match = re.fullmatch(_TEMPORARY, name)
        if match and not kernel.process_exists(int(match.group(1))):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass


def sweep(rundir, processes=None):
    """Remove the stale pages of RUNDIR (a RunDir or its path; those pages the
    caller may remove), and what writers killed mid-write left there.

    Returns {inode: PageView} of the pages of live namespaces, as read
    here, so that a caller need not open them again. PROCESSES as for
    `holders`."""
    from .layout import PAGES_SUBDIR
    from .rundir import META_SUBDIR

    rundir = os.fspath(getattr(rundir, "root", rundir))  # a RunDir or its path
    pages_dir = os.path.join(rundir, PAGES_SUBDIR)
    for directory in (pages_dir, os.path.join(rundir, META_SUBDIR)):
        sweep_temporaries(directory)
    try:
        paths = {int(e.name): e.path for e in os.scandir(pages_dir) if e.name.isdigit()}
    except OSError:
        return {}
    if not paths:
        return {}
    alive = holders(paths, processes)
    live = {}
    for inode, path in paths.items():
        view = page_view(path)
        if view is None:
            continue  # no page (a FIFO, a directory, gone): not ours to remove
        if not is_stale(view.ns_id, live_id(alive[inode]) if inode in alive else None):
            live[inode] = view
            continue
        if page_id(path) != view.ns_id:
            continue  # replaced meanwhile by a new namespace's page
        try:
            os.unlink(path)
        except OSError:
            pass
    return live


def has_processes(inode):
    """Does any process (that the caller can see) live in namespace INODE?"""
    return any(kernel.ns_inode_of_link(pid, "time") == inode for pid in kernel.list_pids())
