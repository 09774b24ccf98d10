/* SPDX-License-Identifier: MIT */
/*
 * master_programs - what Ostia does with each master.cf command.
 *
 * A Postfix master.cf names programs (smtpd, qmgr, pipe, ...).  Ostia
 * runs its own process for those it implements, needs no entry for the
 * jobs its fixed processes do (pickup, cleanup, qmgr, tlsmgr,
 * proxymap...), and names the rest in a warning, one per service,
 * instead of ignoring them silently.
 */
#ifndef OSTIA_MASTER_PROGRAMS_H
#define OSTIA_MASTER_PROGRAMS_H

#include "diag.h"
#include "master_cf.h"

enum program_kind {
	PROGRAM_RUN,		/* the master starts it */
	PROGRAM_BUILTIN,	/* done by Ostia's own processes */
	PROGRAM_LATER,		/* known, not implemented yet */
	PROGRAM_UNKNOWN,
};

struct program_def {
	const char *command;
	enum program_kind kind;
	const char *what;	/* plain words for messages */
};

/* The definition of a command for a service type (smtpd runs only as an
 * inet service for now).  Never NULL: unknown commands get a
 * PROGRAM_UNKNOWN definition. */
const struct program_def *master_program_for(const struct master_service *s);
/* Add one warning per service Ostia will not run (LATER, UNKNOWN). */
void master_programs_check(const struct master_cf *cf,
    struct diag_list *diags);

#endif
