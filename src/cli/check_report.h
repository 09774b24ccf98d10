/* SPDX-License-Identifier: MIT */
/*
 * check_report - the lines of `ostia check`'s report and their count,
 * shared by its parts (check_tls.c, check_milter.c, check_screen.c).
 */
#ifndef OSTIA_CHECK_REPORT_H
#define OSTIA_CHECK_REPORT_H

#include "compat.h"

enum check_sev {
	CHECK_OK,
	CHECK_NOTE,
	CHECK_WARNING,
	CHECK_ERROR,
};

struct check_report {
	unsigned errors;
	unsigned warnings;
};

/* One indented line "  SEVERITY: text" on stdout, counted. */
void check_say(struct check_report *r, enum check_sev sev, const char *fmt,
    ...) ATTR_FORMAT(3, 4);
/* The part's exit status: 2 errors, 1 warnings only, 0 neither. */
int check_status(const struct check_report *r);
/* The part's last line "\nPART: N errors, M warnings"; its exit status. */
int check_summary(const char *part, const struct check_report *r);

#endif
