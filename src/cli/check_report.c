/* SPDX-License-Identifier: MIT */
/*
 * check_report - report lines of `ostia check`; see check_report.h.
 */
#include <stdarg.h>
#include <stdio.h>

#include "check_report.h"

void
check_say(struct check_report *r, enum check_sev sev, const char *fmt, ...)
{
	static const char *const prefix[] = { "ok", "note", "warning",
	    "error" };
	va_list ap;

	if (sev == CHECK_ERROR)
		r->errors++;
	else if (sev == CHECK_WARNING)
		r->warnings++;
	printf("  %s: ", prefix[sev]);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

int
check_status(const struct check_report *r)
{
	return r->errors > 0 ? 2 : r->warnings > 0 ? 1 : 0;
}

int
check_summary(const char *part, const struct check_report *r)
{
	printf("\n%s: %u error%s, %u warning%s\n", part, r->errors,
	    r->errors == 1 ? "" : "s", r->warnings, r->warnings == 1 ? "" :
	    "s");
	return check_status(r);
}
