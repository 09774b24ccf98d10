/* SPDX-License-Identifier: MIT */
/*
 * check_milter - the Milter part of `ostia check [--live]`: every entry
 * of smtpd_milters (per smtpd service) and non_smtpd_milters, checked as
 * the daemons will read it; where pickup's filters live (pickup runs
 * chrooted to queue_directory, so a unix: socket outside it cannot be
 * reached: the classic reason DKIM signing of sendmail mail "does
 * nothing"); and with --live, a connection to each filter from this
 * machine and the option negotiation, with what the filter answered.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "check_report.h"
#include "cli.h"
#include "config.h"
#include "endpoint.h"
#include "master_cf.h"
#include "milter_client.h"
#include "milter_proto.h"
#include "strv.h"
#include "xalloc.h"

/* Seconds a --live probe waits to connect and for the answer. */
#define PROBE_TIMEOUT_S 5


/* One entry and where it is used. */
struct entry {
	char *text;
	bool pickup;		/* in non_smtpd_milters */
	struct strv users;	/* "smtpd_milters of smtp", ... */
};

static void
add_entry(struct entry **v, size_t *n, const char *text, bool pickup,
    const char *user)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i].text, text) == 0 && (*v)[i].pickup ==
		    pickup) {
			strv_add(&(*v)[i].users, user);
			return;
		}
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[*n].text = xstrdup(text);
	(*v)[*n].pickup = pickup;
	strv_init(&(*v)[*n].users);
	strv_add(&(*v)[*n].users, user);
	(*n)++;
}

/* socket_path - where the daemon that uses the entry finds a unix:
 * socket, seen from here (smtpd: relative to queue_directory; pickup:
 * inside its chroot). */
static char *
socket_path(const char *path, bool pickup, const char *queue_dir)
{
	if (pickup)
		return xasprintf("%s%s%s", queue_dir, path[0] == '/' ? "" : "/",
		    path);
	if (path[0] == '/')
		return xstrdup(path);
	return xasprintf("%s/%s", queue_dir, path);
}

static int
wait_fd(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int n;

	do
		n = poll(&p, 1, PROBE_TIMEOUT_S * 1000);
	while (n < 0 && errno == EINTR);
	return n;
}

/* probe_connect - a connected socket, or -1 with why. */
static int
probe_connect(const struct endpoint *ep, const char *path, char *why,
    size_t whysz)
{
	struct endpoint_addrs a = { NULL, NULL };
	int fd = -1, e = 0, rc;

	if (ep->path != NULL) {
		fd = endpoint_unix_connect(path);
		if (fd < 0)
			snprintf(why, whysz, "cannot connect to %s: %s%s", path,
			    strerror(errno), errno == ENOENT ? " (is the "
			    "filter running, and is its socket there?)" :
			    errno == EACCES ? " (the socket's permissions "
			    "must let mail_owner connect)" : "");
		return fd;
	}
	rc = endpoint_inet_resolve(&a, ep->host, ep->port);
	if (rc != 0) {
		snprintf(why, whysz, "cannot look up %s: %s", ep->host,
		    gai_strerror(rc));
		return -1;
	}
	for (;;) {
		int sock;

		switch (endpoint_inet_try(&a, &sock)) {
		case 1:
			endpoint_addrs_free(&a);
			return sock;
		case 0:
			if (wait_fd(sock, POLLOUT) <= 0) {
				e = ETIMEDOUT;
			} else {
				e = endpoint_connect_error(sock);
				if (e == 0) {
					endpoint_addrs_free(&a);
					return sock;
				}
			}
			close(sock);
			if (a.next != NULL)
				continue;
			break;
		default:
			e = errno;
			break;
		}
		break;
	}
	endpoint_addrs_free(&a);
	snprintf(why, whysz, "cannot connect to %s port %s: %s%s", ep->host,
	    ep->port, strerror(e), e == ECONNREFUSED ? " (is the filter "
	    "running and listening there?)" : "");
	return -1;
}

/* read_packet - one whole packet into buf (at most bufsz), or -1. */
static int
read_packet(int fd, char *buf, size_t bufsz, size_t *len_r, char *why,
    size_t whysz)
{
	size_t got = 0;

	for (;;) {
		const char *data, *err;
		size_t dlen, used;
		char cmd;
		ssize_t n;
		int r = milter_pkt_parse(buf, got, &cmd, &data, &dlen, &used,
		    &err);

		if (r > 0) {
			*len_r = got;
			return 0;
		}
		if (r < 0 || got == bufsz) {
			char shown[40];
			size_t k = 0;

			for (size_t i = 0; i < got && k + 1 < sizeof(shown); i++)
				shown[k++] = buf[i] >= 0x20 && buf[i] < 0x7f ?
				    buf[i] : '.';
			shown[k] = '\0';
			snprintf(why, whysz, "the answer is not a Milter packet "
			    "(it starts with \"%s\"): is this an SMTP, HTTP or "
			    "other port?", shown);
			return -1;
		}
		if (wait_fd(fd, POLLIN) <= 0) {
			snprintf(why, whysz, "no answer to the option "
			    "negotiation within %d seconds", PROBE_TIMEOUT_S);
			return -1;
		}
		n = read(fd, buf + got, bufsz - got);
		if (n <= 0) {
			snprintf(why, whysz, "the filter closed the connection "
			    "without answering the option negotiation%s%s",
			    n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
			return -1;
		}
		got += (size_t)n;
	}
}

static void
flags_text(uint32_t actions, char *out, size_t outsz)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{ SMFIF_ADDHDRS, "add headers" },
		{ SMFIF_CHGHDRS, "change headers" },
		{ SMFIF_CHGBODY, "replace the body" },
		{ SMFIF_ADDRCPT, "add recipients" },
		{ SMFIF_ADDRCPT_PAR, "add recipients with parameters" },
		{ SMFIF_DELRCPT, "remove recipients" },
		{ SMFIF_CHGFROM, "change the sender" },
		{ SMFIF_QUARANTINE, "quarantine" },
		{ SMFIF_SETSYMLIST, "choose its macros" },
	};
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (actions & names[i].bit)
			n += (size_t)snprintf(out + n, n < outsz ? outsz - n : 0,
			    "%s%s", n ? ", " : "", names[i].name);
	if (n == 0)
		snprintf(out, outsz, "none (it only looks)");
}

/* probe - connect, OPTNEG, report, QUIT. */
static void
probe(const struct endpoint *ep, const char *path, struct check_report *r)
{
	char why[512], buf[MILTER_PKT_MAX + 8];
	struct buf out;
	struct milter_optneg o;
	const char *err = NULL, *data;
	size_t len, dlen, used;
	char cmd;
	int fd = probe_connect(ep, path, why, sizeof(why));

	if (fd < 0) {
		check_say(r, CHECK_ERROR, "%s", why);
		return;
	}
	buf_init(&out, 64);
	(void)milter_put_optneg(&out, MILTER_VERSION, MILTER_ACTIONS_ALL,
	    MILTER_PROTO_OFFER);
	if (write(fd, out.data, out.len) != (ssize_t)out.len) {
		check_say(r, CHECK_ERROR, "cannot send the option negotiation: %s",
		    strerror(errno));
		buf_deinit(&out);
		close(fd);
		return;
	}
	buf_deinit(&out);
	if (read_packet(fd, buf, sizeof(buf), &len, why, sizeof(why)) < 0) {
		check_say(r, CHECK_ERROR, "%s", why);
		close(fd);
		return;
	}
	(void)milter_pkt_parse(buf, len, &cmd, &data, &dlen, &used, &err);
	if (cmd != SMFIC_OPTNEG || milter_optneg_parse(data, dlen, &o,
	    &err) < 0) {
		check_say(r, CHECK_ERROR, "the filter did not answer the option "
		    "negotiation as a Milter does (%s)", cmd != SMFIC_OPTNEG ?
		    "another packet came" : err);
		if (cmd == SMFIC_OPTNEG)
			milter_optneg_deinit(&o);
		close(fd);
		return;
	}
	{
		char acts[256];
		static const char quit[5] = { 0, 0, 0, 1, SMFIC_QUIT };

		flags_text(o.actions, acts, sizeof(acts));
		if ((o.actions & ~MILTER_ACTIONS_ALL) != 0 ||
		    (o.proto & ~MILTER_PROTO_OFFER) != 0)
			check_say(r, CHECK_ERROR, "the filter asks for actions or steps "
			    "Ostia does not offer (actions 0x%x, steps 0x%x): "
			    "it will be treated as failed", o.actions, o.proto);
		else
			check_say(r, CHECK_OK, "a Milter answers (protocol version %u); it "
			    "may: %s", o.version, acts);
		if (write(fd, quit, sizeof(quit)) < 0)
			(void)0;	/* closing anyway */
	}
	milter_optneg_deinit(&o);
	close(fd);
}

static void
check_entry(const struct entry *e, const char *queue_dir, bool live,
    struct check_report *r)
{
	struct endpoint ep = { NULL, NULL, NULL };
	char err[512], *path = NULL;
	char *users = NULL;

	for (size_t i = 0; i < e->users.n; i++) {
		char *u = xasprintf("%s%s%s", users ? users : "",
		    users ? ", " : "", e->users.v[i]);

		free(users);
		users = u;
	}
	printf("  %s (%s)\n", e->text, users);
	free(users);
	if (milter_spec_endpoint(e->text, &ep, err, sizeof(err)) < 0) {
		check_say(r, CHECK_ERROR, "%s; the daemons answer 451 4.7.1 to every "
		    "session until it is fixed", err);
		return;
	}
	if (ep.path != NULL) {
		struct stat st;

		path = socket_path(ep.path, e->pickup, queue_dir);
		if (e->pickup && ep.path[0] == '/')
			check_say(r, CHECK_NOTE, "pickup runs chrooted to "
			    "queue_directory: it looks for this socket as %s",
			    path);
		if (stat(path, &st) < 0)
			check_say(r, CHECK_WARNING, "%s does not exist%s", path,
			    e->pickup ? " (put the filter's socket inside "
			    "queue_directory, or use inet:host:port)" :
			    " (not running yet, or another path?)");
		else if (!S_ISSOCK(st.st_mode))
			check_say(r, CHECK_ERROR, "%s is not a socket", path);
	}
	if (live)
		probe(&ep, path, r);
	free(path);
	endpoint_clear(&ep);
}

int
check_milter(const struct config *cf, bool live)
{
	const struct master_cf *mcf = config_master(cf);
	const struct config_view *main = config_main(cf);
	const char *queue_dir = config_str(main, P_queue_directory);
	struct entry *v = NULL;
	size_t n = 0;
	struct check_report r = { 0, 0 };
	char **list;

	for (size_t i = 0; mcf != NULL && i < mcf->nservices; i++) {
		const struct master_service *ms = &mcf->services[i];
		char user[200];

		if (strcmp(ms->command, "smtpd") != 0)
			continue;
		snprintf(user, sizeof(user), "smtpd_milters of %s", ms->name);
		list = config_list(config_service(cf, i), P_smtpd_milters);
		for (size_t k = 0; list != NULL && list[k] != NULL; k++)
			add_entry(&v, &n, list[k], false, user);
		strv_free(&list);
	}
	list = config_list(main, P_non_smtpd_milters);
	for (size_t k = 0; list != NULL && list[k] != NULL; k++)
		add_entry(&v, &n, list[k], true, "non_smtpd_milters");
	strv_free(&list);
	if (n == 0) {
		printf("\nMilters: none (smtpd_milters, non_smtpd_milters)\n");
		return 0;
	}
	printf("\nMilters: %zu filter%s%s:\n", n, n == 1 ? "" : "s",
	    live ? " (--live: connecting to each)" : "");
	(void)signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < n; i++) {
		check_entry(&v[i], queue_dir, live, &r);
		free(v[i].text);
		strv_deinit(&v[i].users);
	}
	free(v);
	return check_summary("Milters", &r);
}
