/* SPDX-License-Identifier: MIT */
/*
 * master_cf - parse master.cf (Postfix master(5) syntax).
 *
 *   service type private unpriv chroot wakeup maxproc command [args...]
 *
 * with continuation lines (cf_lines.h), "-o name=value" (also
 * "-o name = value" split over words and Postfix 3's "-o { name = value }")
 * overrides per service, and "{ ... }" grouping of arguments that contain
 * white space.  Only syntax and field values are checked here; whether an
 * -o parameter name and value are valid is config.c's job, which knows
 * the parameter table.
 */
#ifndef OSTIA_MASTER_CF_H
#define OSTIA_MASTER_CF_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

/* Largest master.cf accepted. */
#define MASTER_CF_MAX_BYTES (4 * 1024 * 1024)
/* Longest name of a service that is not of type inet (a socket file
 * name, and a transport name in the delivery protocol). */
#define MASTER_SERVICE_NAME_MAX 64
/* Most processes the master starts for one service. */
#define MASTER_SERVICE_PROCS_MAX 64
/* Deliveries at once of an event-driven agent's service. */
#define MASTER_SERVICE_CONCURRENCY_MAX 1000

struct config_view;

enum master_type {
	MASTER_TYPE_INET,
	MASTER_TYPE_UNIX,
	MASTER_TYPE_UNIX_DGRAM,
	MASTER_TYPE_FIFO,
	MASTER_TYPE_PASS,
};

struct master_option {
	char *name;
	char *value;	/* raw, not expanded; may be "" */
};

struct master_service {
	char *name;		/* field 1 as written, e.g. "127.0.0.1:10025" */
	enum master_type type;
	int private_flag;	/* 1 y, 0 n, -1 "-" (default) */
	int unpriv_flag;	/* 1 y, 0 n, -1 "-" */
	int chroot_flag;	/* 1 y, 0 n, -1 "-" */
	unsigned wakeup;	/* seconds, 0 = never ("-" or "0") */
	bool wakeup_if_used;	/* "300?" */
	int maxproc;		/* -1 for "-" (default_process_limit) */
	char *command;		/* field 8, e.g. "smtpd" */
	char **args;		/* NULL-terminated; command args other than -o */
	struct master_option *opts;	/* -o overrides, in file order */
	size_t nopts;
	char *inet_host;	/* inet: host, NULL = all of inet_interfaces */
	char *inet_port;	/* inet: port number or service name */
	char *file;
	unsigned line;		/* first line of the entry */
};

struct master_cf {
	struct master_service *services;
	size_t nservices;
};

/*
 * Parse master.cf text of len bytes; filename is used in diagnostics.
 * Every problem is added to diags with file:line.  Returns 0 with *cf_r
 * set (caller frees with master_cf_free) when there were no errors; -1
 * with *cf_r NULL when there was at least one error.
 */
int master_cf_parse(const char *text, size_t len, const char *filename,
    struct master_cf **cf_r, struct diag_list *diags);
/* Read and parse a file (at most MASTER_CF_MAX_BYTES); same returns.  A
 * missing or unreadable file is an error in diags. */
int master_cf_load(const char *path, struct master_cf **cf_r,
    struct diag_list *diags);
void master_cf_free(struct master_cf **cfp);

/* The service called name with that type, or NULL. */
const struct master_service *master_cf_find(const struct master_cf *cf,
    const char *name, enum master_type type);
/* The index of the first service of that type whose command's base
 * name is program ("qmgr" matches "qmgr" and "/usr/lib/x/qmgr"), or -1.
 * cf may be NULL (-1). */
long master_cf_find_program(const struct master_cf *cf, const char *program,
    enum master_type type);
/* True if a and b are the same entry: every parsed field, -o options
 * and arguments in order; file and line are not compared. */
bool master_service_equal(const struct master_service *a,
    const struct master_service *b);
/*
 * True if name can be a file name under $queue_directory/private: 1 to
 * MASTER_SERVICE_NAME_MAX bytes of letters, digits, '.', '_' and '-',
 * not starting with '.' or '-' (so never "..", never a '/').  Services
 * of every type but inet must have such a name (master_cf_parse refuses
 * others with file:line).
 */
bool master_service_name_is_safe(const char *name);
/*
 * How many processes the master runs for service ms (v: its view), at
 * least 1 and at most MASTER_SERVICE_PROCS_MAX; the queue manager uses
 * the same number as a delivery agent's concurrency.  smtpd: maxproc,
 * or one per CPU core when maxproc is "-" or 0.  Delivery agents (every
 * other command): maxproc when given (0 counts as "-"), else
 * min(default_process_limit, 4 x CPU cores).  An event-driven agent
 * (master_service_is_event_driven): min(its concurrency, CPU cores).
 */
unsigned master_service_process_count(const struct master_service *ms,
    const struct config_view *v);

/* True for a delivery agent whose processes each serve many deliveries
 * at once on an event loop (smtp). */
bool master_service_is_event_driven(const struct master_service *ms);
/*
 * How many deliveries service ms runs at once (the queue manager's
 * limit for the transport): for an event-driven agent, maxproc as
 * Postfix means it (deliveries, not processes: "-" or 0 is
 * default_process_limit), at most MASTER_SERVICE_CONCURRENCY_MAX,
 * shared out over master_service_process_count() processes; for every
 * other service, master_service_process_count().
 */
unsigned master_service_concurrency(const struct master_service *ms,
    const struct config_view *v);
/* "inet", "unix", ... */
const char *master_type_name(enum master_type type);
/*
 * One service as `ostia conf -M` prints it, like `postconf -M`: the eight
 * fields separated by white space ("-" for defaults), then each
 * "-o name=value", then the other arguments (options first: like Postfix
 * daemons, the parser stops taking -o at the first other argument); one
 * line, no newline, caller frees.
 */
char *master_service_format(const struct master_service *s);

#endif
