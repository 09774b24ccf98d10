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

#include <stdbool.h>

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
	enum master_type run_type;	/* PROGRAM_RUN: the only service
					 * type it runs as */
};

/* The definition of a command for a service type (smtpd runs only as an
 * inet service for now, the delivery agents discard, error, lmtp, pipe
 * and virtual only as unix services; on another type they are
 * PROGRAM_LATER).  Never NULL: unknown commands get a PROGRAM_UNKNOWN
 * definition. */
const struct program_def *master_program_for(const struct master_service *s);
/*
 * Add one warning per service Ostia will not run (LATER, UNKNOWN), and
 * an error for a delivery agent service whose name is reserved (its
 * socket would be the queue or lookup process's), or for a postscreen
 * service without the pass service it hands clients to.  The pass
 * service of a postscreen runs in the postscreen service's processes
 * (smtpd_screen.h): no warning for it.  config (cf's, or NULL: every
 * smtpd_service_name is its default, smtpd) gives each postscreen
 * service's smtpd_service_name.
 */
struct config;
void master_programs_check(const struct master_cf *cf,
    const struct config *config, struct diag_list *diags);
/* True for the names of the internal services' sockets under
 * private/ ("queue", "lookup"), which no master.cf service that Ostia
 * runs on a Unix socket may use. */
bool master_service_name_is_reserved(const char *name);

#endif
