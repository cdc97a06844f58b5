/*
 * timens-runtime: the command engines run as their OCI runtime.
 *
 * An engine calls its runtime about four times per container (create,
 * start, delete, delete --force). A Python start on each would add more to
 * a container's start than runc itself takes, so this front end decides,
 * without Python, whether a call needs timens at all:
 *
 *   - no: exec the real runtime with the arguments untouched (minus our own
 *     --timens-runtime PATH), exactly as Python's exec_real() does;
 *   - inside: a container with a namespace, and a command that only runs
 *     the real runtime inside it (start, state, kill...): join the
 *     namespace as timens-helper enter does, and exec the real runtime,
 *     as Python's exec_in_namespace() does;
 *   - maybe: exec the Python implementation (timens-runtime-py, next to
 *     this program), which decides again, with the whole picture.
 *
 * Every test here may answer "maybe" wrongly, never "no": a container with
 * clocks, create, exec and delete of a container with a namespace, and any
 * call while a namespace may be due for removal always reach Python, and
 * so does anything that fails here. Python alone makes and removes
 * namespaces; the rules this mirrors live in timens/oci/args.py (the
 * command line), runtime.py (real_runtime, create, open_owned, reconcile)
 * and rundir.py (default_rundir).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/nsfs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "join.h"
#include "rundir.h"
#include "timens_page.h"

#define OWN_OPTION "timens-runtime"
#define PYTHON_SIDE "timens-runtime-py"
#define RUNTIME_ENV "TIMENS_RUNTIME"
#define META_KEY "\"oci\": {" /* runtime.py META_KEY, as write_meta() writes it */

/* args.py GLOBAL_VALUE_OPTIONS and COMMAND_VALUE_OPTIONS: with them, the
 * container id is found where Python finds it. */
static const char *const global_value_options[] = {
	"root", "log", "log-format", "criu", "rootless", "cgroup-manager", OWN_OPTION, NULL,
};
static const char *const create_value_options[] = {
	"bundle", "b", "console-socket", "pid-file", "preserve-fds", "config", "f", NULL,
};
static const char *const exec_value_options[] = {
	"console-socket", "cwd", "env", "e", "user", "u", "additional-gids", "g", "process", "p",
	"process-label", "apparmor", "pid-file", "cap", "c", "preserve-fds", "cgroup", NULL,
};

/* Words a config that asks for clocks must contain (spec.py: annotations
 * io.timens.*, env TIMENS_*), "\u" because JSON may spell them with escapes;
 * and see time_namespace(). */
static const char *const clock_markers[] = { "io.timens.", "TIMENS_", "\\u", NULL };

struct call {
	char **argv; /* for the real runtime: ours minus --timens-runtime */
	int argc;
	const char *runtime, *root, *command, *container_id, *bundle, *config;
};

static int listed(const char *const *list, const char *name, size_t len)
{
	for (; *list; list++)
		if (strlen(*list) == len && !strncmp(*list, name, len))
			return 1;
	return 0;
}

/* args.py split_option(): the name's span, and the value after '=' or NULL. */
static int split_option(const char *word, const char **name, size_t *len, const char **value)
{
	if (word[0] != '-' || !word[1] || !strcmp(word, "--"))
		return 0;
	while (*word == '-')
		word++;
	const char *eq = strchr(word, '=');
	*name = word;
	*len = eq ? (size_t)(eq - word) : strlen(word);
	*value = eq ? eq + 1 : NULL;
	return 1;
}

/* args.py parse(), keeping only what the decision needs. */
static void parse(int argc, char **argv, struct call *call)
{
	const char *name, *value;
	size_t len;
	int i = 1;

	call->argv[call->argc++] = NULL; /* argv[0]: the real runtime, set later */
	while (i < argc && split_option(argv[i], &name, &len, &value)) {
		int takes = listed(global_value_options, name, len);
		int first = i++;
		if (takes && !value && i < argc)
			value = argv[i++];
		if (len == strlen(OWN_OPTION) && !strncmp(name, OWN_OPTION, len)) {
			call->runtime = value;
			continue;
		}
		if (len == 4 && !strncmp(name, "root", 4))
			call->root = value;
		while (first < i)
			call->argv[call->argc++] = argv[first++];
	}
	for (int k = i; k < argc; k++)
		call->argv[call->argc++] = argv[k];
	call->argv[call->argc] = NULL;
	if (i >= argc || !strcmp(argv[i], "--"))
		return;
	call->command = argv[i++];
	int creates = !strcmp(call->command, "create") || !strcmp(call->command, "run");
	const char *const *value_options = creates ? create_value_options
					   : !strcmp(call->command, "exec") ? exec_value_options : NULL;
	while (i < argc) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!split_option(argv[i], &name, &len, &value))
			break;
		int takes = value_options && listed(value_options, name, len);
		if (takes && !value && i + 1 < argc)
			value = argv[++i];
		if (creates && ((len == 6 && !strncmp(name, "bundle", 6)) || (len == 1 && *name == 'b')))
			call->bundle = value;
		if (creates && ((len == 6 && !strncmp(name, "config", 6)) || (len == 1 && *name == 'f')))
			call->config = value;
		i++;
	}
	if (i < argc)
		call->container_id = argv[i];
}

/* runtime.py which(): an executable regular file named NAME, other than us. */
static int find_program(const char *name, const char *self, char *out)
{
	const char *path = strchr(name, '/') ? "" : getenv("PATH");
	if (!path)
		path = "/bin:/usr/bin"; /* os.defpath */
	for (;;) {
		const char *end = strchrnul(path, ':');
		struct stat st;
		char real[PATH_MAX];
		int n = end > path ? snprintf(out, PATH_MAX, "%.*s/%s", (int)(end - path), path, name)
				   : snprintf(out, PATH_MAX, "%s", name);
		if (n > 0 && n < PATH_MAX && !stat(out, &st) && S_ISREG(st.st_mode) && !access(out, X_OK) &&
		    !(realpath(out, real) && !strcmp(real, self)))
			return 1;
		if (!*end)
			return 0;
		path = end + 1;
	}
}

/* runtime.py real_runtime(); 0 leaves the error message to Python. */
static int real_runtime(const struct call *call, const char *self, char *out)
{
	const char *named = call->runtime ? call->runtime : getenv(RUNTIME_ENV);
	if (named && *named)
		return find_program(named, self, out);
	return find_program("runc", self, out) || find_program("crun", self, out);
}

/* OUT = "A/B" (or B alone without A); 0 if it does not fit. */
static int join(char *out, const char *a, const char *b)
{
	int n = a ? snprintf(out, PATH_MAX, "%s/%s", a, b) : snprintf(out, PATH_MAX, "%s", b);
	return n > 0 && n < PATH_MAX;
}

/* The run directory (rundir.h), absolute as rundir.py makes it. */
static int run_dir(char *out)
{
	char cwd[PATH_MAX];

	if (!timens_run_dir(out, PATH_MAX))
		return 0;
	return out[0] == '/' || (getcwd(cwd, sizeof(cwd)) && join(out, cwd, strdupa(out)));
}

/* Does FILE (at most a config's size) contain any of WORDS, or pass CHECK?
 * An unreadable file answers 0: the real runtime (or nobody) will read it
 * either; one too long to read answers UNKNOWN. */
static int file_has_any(const char *file, const char *const *words, int (*check)(const char *), int unknown)
{
	static char buf[1 << 20];
	int fd = open(file, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	ssize_t n = 0, got;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	while (n < (ssize_t)sizeof(buf) - 1 && (got = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += got;
	close(fd);
	if (n >= (ssize_t)sizeof(buf) - 1)
		return unknown; /* too long to tell */
	buf[n] = 0;
	for (; *words; words++)
		if (memmem(buf, n, *words, strlen(*words)))
			return 1;
	return check && check(buf);
}

/* A namespace of "type": "time" (timeOffsets count only with one). Not a
 * bare "time": every Docker config lists the syscall of that name. */
static int time_namespace(const char *text)
{
	for (const char *at = text; (at = strstr(at, "\"time\"")); at++) {
		const char *p = at;
		while (p > text && strchr(" \t\r\n", p[-1]))
			p--;
		if (p == text || *--p != ':')
			continue;
		while (p > text && strchr(" \t\r\n", p[-1]))
			p--;
		if (p - text >= 6 && !strncmp(p - 6, "\"type\"", 6))
			return 1;
	}
	return 0;
}

static int owned(const char *rundir, const char *name)
{
	static const char *const key[] = { META_KEY, NULL };
	char meta[PATH_MAX];
	if (snprintf(meta, sizeof(meta), "%s/meta/%s.json", rundir, name) >= (int)sizeof(meta))
		return 1;
	return file_has_any(meta, key, NULL, 1);
}

static int is_dir(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	return join(path, dir, name) && !stat(path, &st) && S_ISDIR(st.st_mode);
}

/*
 * Is any namespace timens-runtime made still in the run directory (ANY),
 * or one whose container's state directory is gone from ROOT, which
 * reconcile() would look into? ROOT is this call's; the owner's (in its
 * metadata, which Python reads) is the same for one engine, and another
 * engine's containers are missing here, so Python looks at them: only a
 * container id alive under both roots would hide a dead one.
 */
static int owned_namespaces(const char *rundir, const char *root, int any)
{
	char ns[PATH_MAX];
	DIR *dir;
	struct dirent *e;
	int found = 0;

	if (!join(ns, rundir, "ns"))
		return 1;
	if (!(dir = opendir(ns)))
		return 0;
	while (!found && (e = readdir(dir)))
		if (e->d_name[0] != '.' && owned(rundir, e->d_name))
			found = any || !root || !is_dir(root, e->d_name);
	closedir(dir);
	return found;
}

/* runtime.py state_dir_exists(): where runc and crun keep their state by default. */
static const char *state_root(const struct call *call, const char *real)
{
	const char *base = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
	if (call->root)
		return call->root;
	return !strcmp(base, "runc") ? "/run/runc" : !strcmp(base, "crun") ? "/run/crun" : NULL;
}

enum route { REAL, INSIDE, PYTHON };

static enum route route(const struct call *call, const char *real, char *ns)
{
	char rundir[PATH_MAX], path[PATH_MAX];
	struct stat st;

	if (!run_dir(rundir))
		return PYTHON;
	if (call->command && (!strcmp(call->command, "create") || !strcmp(call->command, "run"))) {
		/* create reconciles in full: stopped containers' namespaces too */
		if (owned_namespaces(rundir, NULL, 1))
			return PYTHON;
		if (!call->container_id)
			return REAL;
		if (!(call->config ? join(path, NULL, call->config)
				   : join(path, call->bundle ? call->bundle : ".", "config.json")))
			return PYTHON;
		return file_has_any(path, clock_markers, time_namespace, 1) ? PYTHON : REAL;
	}
	if (owned_namespaces(rundir, state_root(call, real), 0))
		return PYTHON;
	/* rundir.py validate_name(): no such name can have a namespace */
	if (!call->container_id || strchr(call->container_id, '/') || !owned(rundir, call->container_id))
		return REAL;
	if (snprintf(ns, PATH_MAX, "%s/ns/%s", rundir, call->container_id) >= PATH_MAX)
		return PYTHON;
	if (lstat(ns, &st))
		return REAL; /* metadata alone: runtime.py open_owned() passes it by */
	return !strcmp(call->command, "exec") || !strcmp(call->command, "delete") ? PYTHON : INSIDE;
}

/* Join the time namespace at NS (only if it is one) for good; 0 if done. */
static int join_namespace(const char *ns)
{
	int fd = open(ns, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	int ok = fd >= 0 && ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWTIME && setns(fd, CLONE_NEWTIME) == 0;

	if (fd >= 0)
		close(fd);
	if (!ok || drop_cap_sys_time() != 0)
		return -1;
	unsetenv("LD_PRELOAD"); /* the runtime's own times stay the host's: nothing else of ours matters to it */
	return 0;
}

int main(int argc, char **argv)
{
	static char self[PATH_MAX], real[PATH_MAX], python[PATH_MAX];
	struct call call = { .argv = calloc(argc + 1, sizeof(char *)) };

	if (!call.argv || !realpath("/proc/self/exe", self))
		self[0] = 0;
	if (call.argv) {
		parse(argc, argv, &call);
		static char ns[PATH_MAX];
		enum route to = real_runtime(&call, self, real) ? route(&call, real, ns) : PYTHON;
		if (to == INSIDE && join_namespace(ns) != 0)
			to = PYTHON; /* which says why, or goes in by its own way */
		if (to != PYTHON) {
			call.argv[0] = real;
			execv(real, call.argv);
		}
	}
	/* Anything unsure, including a failed exec, is Python's to decide and to word. */
	char *slash = strrchr(self, '/');
	if (slash && (size_t)(slash - self) + sizeof("/" PYTHON_SIDE) <= sizeof(python)) {
		snprintf(python, sizeof(python), "%.*s/%s", (int)(slash - self), self, PYTHON_SIDE);
		argv[0] = python;
		execv(python, argv);
	}
	fprintf(stderr, "timens-runtime: cannot run %s next to %s: %m\n", PYTHON_SIDE, self);
	return 125;
}
