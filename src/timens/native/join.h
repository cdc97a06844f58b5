/*
 * join.h - what every process timens runs inside a namespace goes
 * through, shared by timens-helper (enter) and the timens-runtime front end.
 */
#ifndef TIMENS_JOIN_H
#define TIMENS_JOIN_H

#include <linux/capability.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/*
 * Nothing timens starts may set the host's clock: drop CAP_SYS_TIME from
 * the bounding, inheritable and ambient sets, so that not even a root
 * process inside (or anything it runs) can get it back. A settime inside
 * then moves the namespace's REALTIME (libtimens) or fails with EPERM, as
 * in a container.
 */
static int drop_cap_sys_time(void)
{
	struct __user_cap_header_struct head = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, CAP_SYS_TIME, 0, 0);
	if (prctl(PR_CAPBSET_DROP, CAP_SYS_TIME, 0, 0, 0) != 0 && prctl(PR_CAPBSET_READ, CAP_SYS_TIME, 0, 0, 0) != 0)
		return -1;  /* could not drop it, and it is still there */
	if (syscall(SYS_capget, &head, data) != 0)
		return -1;
	data[CAP_TO_INDEX(CAP_SYS_TIME)].inheritable &= ~CAP_TO_MASK(CAP_SYS_TIME);
	return (int)syscall(SYS_capset, &head, data);
}

#endif
