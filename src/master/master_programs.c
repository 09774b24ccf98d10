/* SPDX-License-Identifier: MIT */
/*
 * master_programs - master.cf commands; see master_programs.h.
 */
#include <string.h>

#include "master_programs.h"

static const struct program_def programs[] = {
	{ "smtpd", PROGRAM_RUN, "SMTP server" },

	{ "anvil", PROGRAM_BUILTIN, "connection counting" },
	{ "bounce", PROGRAM_BUILTIN, "bounce and delay notices" },
	{ "cleanup", PROGRAM_BUILTIN, "message cleanup" },
	{ "flush", PROGRAM_BUILTIN, "fast flush service" },
	{ "oqmgr", PROGRAM_BUILTIN, "queue manager" },
	{ "pickup", PROGRAM_BUILTIN, "local mail pickup" },
	{ "postlogd", PROGRAM_BUILTIN, "logging to maillog_file" },
	{ "proxymap", PROGRAM_BUILTIN, "lookup table proxy" },
	{ "qmgr", PROGRAM_BUILTIN, "queue manager" },
	{ "scache", PROGRAM_BUILTIN, "connection cache" },
	{ "showq", PROGRAM_BUILTIN, "queue listing" },
	{ "tlsmgr", PROGRAM_BUILTIN, "TLS session cache and keys" },
	{ "trivial-rewrite", PROGRAM_BUILTIN, "address rewriting" },
	{ "verify", PROGRAM_BUILTIN, "address verification cache" },

	{ "discard", PROGRAM_LATER, "discard delivery agent" },
	{ "dnsblog", PROGRAM_LATER, "DNSBL logger for postscreen" },
	{ "error", PROGRAM_LATER, "error delivery agent" },
	{ "lmtp", PROGRAM_LATER, "LMTP delivery agent" },
	{ "local", PROGRAM_LATER, "local delivery agent" },
	{ "pipe", PROGRAM_LATER, "pipe delivery agent" },
	{ "postscreen", PROGRAM_LATER, "postscreen" },
	{ "qmqpd", PROGRAM_LATER, "QMQP server" },
	{ "smtp", PROGRAM_LATER, "SMTP delivery agent" },
	{ "spawn", PROGRAM_LATER, "spawn" },
	{ "tlsproxy", PROGRAM_LATER, "TLS proxy" },
	{ "virtual", PROGRAM_LATER, "virtual mailbox delivery agent" },
};

static const struct program_def unknown_program = {
	"", PROGRAM_UNKNOWN, "unknown program"
};

static const struct program_def smtpd_not_inet = {
	"smtpd", PROGRAM_LATER, "SMTP server on a non-inet service"
};

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
		    s->type != MASTER_TYPE_INET)
			return &smtpd_not_inet;
		return &programs[i];
	}
	return &unknown_program;
}

void
master_programs_check(const struct master_cf *cf, struct diag_list *diags)
{
	for (size_t i = 0; i < cf->nservices; i++) {
		const struct master_service *s = &cf->services[i];
		const struct program_def *p = master_program_for(s);

		if (p->kind == PROGRAM_LATER)
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
