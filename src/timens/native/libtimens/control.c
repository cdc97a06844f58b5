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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libtimens.h"

/*
 * Map the page at PATH (absolute) and make every later clock read of this
 * process use it. Returns 0, or a negative errno: -EINVAL for a relative
 * path or a file that is not a clock page of this version, -ENAMETOOLONG,
 * or the error of open/mmap. On error the page in use does not change.
 */
TIMENS_EXPORT int timens_attach_page(const char *path)
{
	const struct timens_page *p;
	struct timens_view v;
	struct stat st;
	size_t len;
	int fd, err;

	if (path == NULL || path[0] != '/')
		return -EINVAL;
	len = strlen(path);
	if (len >= PATH_MAX)
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < TIMENS_PAGE_SIZE) {
		close(fd);
		return -EINVAL;
	}
	p = mmap(NULL, TIMENS_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	err = errno;
	close(fd);
	if (p == MAP_FAILED)
		return -err;
	if (p->magic != TIMENS_PAGE_MAGIC || p->version != TIMENS_PAGE_VERSION) {
		munmap((void *)p, TIMENS_PAGE_SIZE);
		return -EINVAL;
	}
	/* settime.c writes the file by this path and identity: name the new one first. */
	memcpy(timens_page_path, path, len + 1);
	timens_page_dev = st.st_dev;
	timens_page_ino = st.st_ino;
	if (timens_page_try_read(p, &v))
		timens_keep(&v);  /* the old page's snapshot must not stand in for this one */
	__atomic_store_n(&timens_page, p, __ATOMIC_RELEASE);
	return 0;
}
