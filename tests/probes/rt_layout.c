/*
 * rt_layout: the page layout as the C compiler sees it, "NAME value" per
 * line, for the test that timens/page.py parsed the same header the same way.
 */
#include <stddef.h>
#include <stdio.h>

#include "timens_page.h"
#include "timens_page_read.h"

#define SHOW(name) printf("%s %lld\n", #name, (long long)(name))

int main(void)
{
	SHOW(TIMENS_PAGE_MAGIC);
	SHOW(TIMENS_PAGE_VERSION);
	SHOW(TIMENS_PAGE_SIZE);
	SHOW(TIMENS_OFF_MAGIC);
	SHOW(TIMENS_OFF_VERSION);
	SHOW(TIMENS_OFF_SEQ);
	SHOW(TIMENS_OFF_FLAGS);
	SHOW(TIMENS_OFF_REALTIME_SEC);
	SHOW(TIMENS_OFF_REALTIME_NSEC);
	SHOW(TIMENS_OFF_MONOTONIC_SEC);
	SHOW(TIMENS_OFF_MONOTONIC_NSEC);
	SHOW(TIMENS_OFF_BOOTTIME_SEC);
	SHOW(TIMENS_OFF_BOOTTIME_NSEC);
	SHOW(TIMENS_OFF_GENERATION);
	SHOW(TIMENS_OFF_FROZEN_SEC);
	SHOW(TIMENS_OFF_FROZEN_NSEC);
	SHOW(TIMENS_OFF_NS_ID);
	SHOW(TIMENS_OFF_WAKE);
	SHOW(TIMENS_FLAG_FROZEN);
	printf("TIMENS_PAGES_SUBDIR %s\n", TIMENS_PAGES_SUBDIR);
	printf("TIMENS_DEFAULT_RUNDIR %s\n", TIMENS_DEFAULT_RUNDIR);
	printf("sizeof %zu\n", sizeof(struct timens_page));
	return 0;
}
