/*
 * control.c - let a running process switch to another clock page.
 *
 * A process that forks workers sharing one environment (pytest-xdist,
 * multiprocessing) gives each of them its parent's page, mapped by the
 * constructor before the worker runs any code of its own. A worker that
 * wants clocks of its own makes a page and calls timens_attach_page() (for
 * instance through ctypes); the processes it starts afterwards follow when
 * it also sets TIMENS_PAGE to the same path.
 *
 * The page in use until then stays mapped forever: another thread may be
 * inside a read of it at this very moment, and readers take no lock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libtimens.h"

/*
 * Map the page at PATH (absolute) and make every later clock read of this
 * process use it. Returns 0, or a negative errno: -EINVAL for a relative
 * path or a file that is not a clock page of this version and namespace,
 * -ENAMETOOLONG, or the error of open/mmap. On error the page in use does
 * not change.
 */
TIMENS_EXPORT int timens_attach_page(const char *path)
{
	const struct timens_page *p;
	const char *why;
	struct stat st;
	size_t len;
	int fd;

	if (path == NULL || path[0] != '/')
		return -EINVAL;
	len = strlen(path);
	if (len >= PATH_MAX)
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);  /* a FIFO must not hang us */
	if (fd < 0)
		return -errno;
	p = timens_map_page_fd(fd, &st, &why);
	if (p == NULL)
		return -errno;
	/* settime.c writes the file by this path and identity: name the new one first. */
	memcpy(timens_page_path, path, len + 1);
	timens_use_page(p, &st);
	return 0;
}
