/* SPDX-License-Identifier: MIT */
/*
 * master_programs - master.cf commands; see master_programs.h.
 */
#include <string.h>

#include "config.h"
#include "master_programs.h"

static const struct program_def programs[] = {
	{ "smtpd", PROGRAM_RUN, "SMTP server", MASTER_TYPE_INET },
	/* smtpd with postscreen's tests (smtpd_screen.h). */
	{ "postscreen", PROGRAM_RUN, "postscreen", MASTER_TYPE_INET },
	/* Delivery agents (src/deliver), on private/NAME sockets. */
	{ "discard", PROGRAM_RUN, "discard delivery agent", MASTER_TYPE_UNIX },
	{ "error", PROGRAM_RUN, "error delivery agent", MASTER_TYPE_UNIX },
	{ "lmtp", PROGRAM_RUN, "LMTP delivery agent", MASTER_TYPE_UNIX },
	{ "local", PROGRAM_RUN, "local delivery agent", MASTER_TYPE_UNIX },
	{ "pipe", PROGRAM_RUN, "pipe delivery agent", MASTER_TYPE_UNIX },
	{ "smtp", PROGRAM_RUN, "SMTP delivery agent", MASTER_TYPE_UNIX },
	{ "virtual", PROGRAM_RUN, "virtual mailbox delivery agent",
	    MASTER_TYPE_UNIX },
	/* A command per connection (src/spawn), on unix or inet. */
	{ "spawn", PROGRAM_RUN, "spawn", MASTER_TYPE_UNIX },

	{ "anvil", PROGRAM_BUILTIN, "connection counting", 0 },
	{ "bounce", PROGRAM_BUILTIN, "bounce and delay notices", 0 },
	{ "cleanup", PROGRAM_BUILTIN, "message cleanup", 0 },
	{ "flush", PROGRAM_BUILTIN, "fast flush service", 0 },
	{ "oqmgr", PROGRAM_BUILTIN, "queue manager", 0 },
	{ "pickup", PROGRAM_BUILTIN, "local mail pickup", 0 },
	{ "postlogd", PROGRAM_BUILTIN, "logging to maillog_file", 0 },
	{ "proxymap", PROGRAM_BUILTIN, "lookup table proxy", 0 },
	{ "qmgr", PROGRAM_BUILTIN, "queue manager", 0 },
	{ "scache", PROGRAM_BUILTIN, "connection cache", 0 },
	{ "showq", PROGRAM_BUILTIN, "queue listing", 0 },
	{ "tlsmgr", PROGRAM_BUILTIN, "TLS session cache and keys", 0 },
	{ "trivial-rewrite", PROGRAM_BUILTIN, "address rewriting", 0 },
	{ "verify", PROGRAM_BUILTIN, "address verification cache", 0 },

	/* postscreen's helpers: its smtpd asks the DNSBLs itself. */
	{ "dnsblog", PROGRAM_BUILTIN, "DNSBL lookups for postscreen", 0 },
	{ "tlsproxy", PROGRAM_BUILTIN, "TLS for postscreen", 0 },
	{ "qmqpd", PROGRAM_LATER, "QMQP server", 0 },

};

/* The programs Ostia runs, on a service of another type. */
static const struct program_def wrong_type[] = {
	{ "smtpd", PROGRAM_LATER, "SMTP server on a non-inet service", 0 },
	{ "postscreen", PROGRAM_LATER, "postscreen on a non-inet service", 0 },
	{ "discard", PROGRAM_LATER, "discard delivery agent on a non-unix "
	    "service", 0 },
	{ "error", PROGRAM_LATER, "error delivery agent on a non-unix "
	    "service", 0 },
	{ "lmtp", PROGRAM_LATER, "LMTP delivery agent on a non-unix service",
	    0 },
	{ "local", PROGRAM_LATER, "local delivery agent on a non-unix "
	    "service", 0 },
	{ "pipe", PROGRAM_LATER, "pipe delivery agent on a non-unix service",
	    0 },
	{ "smtp", PROGRAM_LATER, "SMTP delivery agent on a non-unix service",
	    0 },
	{ "virtual", PROGRAM_LATER, "virtual mailbox delivery agent on a "
	    "non-unix service", 0 },
};

static const struct program_def unknown_program = {
	"", PROGRAM_UNKNOWN, "unknown program", 0
};

bool
master_service_name_is_reserved(const char *name)
{
	return strcmp(name, "queue") == 0 || strcmp(name, "lookup") == 0;
}

const struct program_def *
master_program_for(const struct master_service *s)
{
	const char *cmd = s->command;
	const char *slash = strrchr(cmd, '/');

	if (slash != NULL)
		cmd = slash + 1;
	for (size_t i = 0; i < N_ELEMENTS(programs); i++) {
		if (strcmp(programs[i].command, cmd) != 0)
			continue;
		if (programs[i].kind == PROGRAM_RUN &&
		    s->type != programs[i].run_type) {
			for (size_t k = 0; k < N_ELEMENTS(wrong_type); k++)
				if (strcmp(wrong_type[k].command, cmd) == 0)
					return &wrong_type[k];
		}
		return &programs[i];
	}
	return &unknown_program;
}

static const char *
basename_of(const char *cmd)
{
	const char *slash = strrchr(cmd, '/');

	return slash != NULL ? slash + 1 : cmd;
}

/*
 * screen_check - each postscreen service needs a pass service running
 * smtpd, named by its smtpd_service_name.  True when service i is such
 * a pass service (it runs inside the postscreen service's processes).
 */
static bool
screen_check(const struct master_cf *cf, const struct config *config,
    size_t i, struct diag_list *diags)
{
	const struct master_service *s = &cf->services[i];
	bool served = false;

	for (size_t k = 0; k < cf->nservices; k++) {
		const struct master_service *ps = &cf->services[k];
		const char *want;

		if (ps->type != MASTER_TYPE_INET ||
		    strcmp(basename_of(ps->command), "postscreen") != 0)
			continue;
		want = config != NULL ? config_str(config_service(config,
		    k), P_smtpd_service_name) : "smtpd";
		if (s->type == MASTER_TYPE_PASS &&
		    strcmp(s->name, want) == 0 &&
		    strcmp(basename_of(s->command), "smtpd") == 0)
			served = true;
		if (k != i)
			continue;
		/* Service i is a postscreen: is its pass service there? */
		{
			bool found = false;

			for (size_t j = 0; j < cf->nservices; j++)
				if (cf->services[j].type == MASTER_TYPE_PASS &&
				    strcmp(cf->services[j].name, want) == 0 &&
				    strcmp(basename_of(cf->services[j].command),
				    "smtpd") == 0)
					found = true;
			if (!found)
				diag_add(diags, DIAG_ERROR, s->file, s->line,
				    "service %s/inet runs postscreen, which "
				    "hands the clients that pass its tests to "
				    "the pass service \"%s\" "
				    "(smtpd_service_name), but there is no "
				    "line \"%s pass - - n - - smtpd\" in "
				    "master.cf", s->name, want, want);
		}
	}
	return served;
}

void
master_programs_check(const struct master_cf *cf,
    const struct config *config, struct diag_list *diags)
{
	for (size_t i = 0; i < cf->nservices; i++) {
		const struct master_service *s = &cf->services[i];
		const struct program_def *p = master_program_for(s);

		if (screen_check(cf, config, i, diags))
			continue;	/* runs in postscreen's processes */
		if (p->kind == PROGRAM_RUN && s->type == MASTER_TYPE_UNIX &&
		    master_service_name_is_reserved(s->name))
			diag_add(diags, DIAG_ERROR, s->file, s->line,
			    "service %s/%s: the name %s is reserved for "
			    "Ostia's own %s process (its socket is "
			    "private/%s); give the %s another name", s->name,
			    master_type_name(s->type), s->name, s->name,
			    s->name, p->what);
		else if (p->kind == PROGRAM_LATER)
			diag_add(diags, DIAG_WARNING, s->file, s->line,
			    "service %s/%s: the %s (%s) is not implemented "
			    "yet in Ostia %s; this service is not started",
			    s->name, master_type_name(s->type), p->what,
			    s->command, OSTIA_VERSION);
		else if (p->kind == PROGRAM_UNKNOWN)
			diag_add(diags, DIAG_WARNING, s->file, s->line,
			    "service %s/%s: Ostia has no program called "
			    "\"%s\"; this service is not started",
			    s->name, master_type_name(s->type), s->command);
	}
}
