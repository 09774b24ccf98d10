/* SPDX-License-Identifier: MIT */
/*
 * check_sasl - the Dovecot SASL part of `ostia check`.
 *
 * Every smtpd service with smtpd_sasl_auth_enable = yes and
 * smtpd_sasl_type = dovecot names Dovecot's auth socket
 * (smtpd_sasl_path: "private/auth" under queue_directory, an absolute
 * path, or inet:host:port).  When smtpd cannot talk to it, AUTH is not
 * offered and users cannot send: the commonest causes are a path that
 * does not match Dovecot's unix_listener, Dovecot not running, and a
 * listener whose user/mode lets root connect but not mail_owner.  With
 * --live each distinct socket is tried as smtpd would: in a child
 * process that changes to queue_directory, chroots there when the
 * service does, becomes mail_owner, connects and completes Dovecot's
 * handshake; the mechanisms it offers are shown, or the reason it
 * failed.  Without --live the sockets are listed, not tried.
 */
#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "check_report.h"
#include "cli.h"
#include "config.h"
#include "master_cf.h"
#include "log.h"
#include "privs.h"
#include "sasl_dovecot.h"
#include "strv.h"
#include "xalloc.h"

/* The handshake's time limit in the probe. */
#define CHECK_SASL_TIMEOUT_MS 5000

struct sasl_entry {
	char *path;
	bool chroot;
	struct strv services;
};

struct probe_result {
	struct event_base *base;
	char text[1024];
	bool ok;
	bool done;
};

static void
on_wait(void *ctx, enum sasl_step step, const char *data, const char *user)
{
	struct probe_result *pr = ctx;

	(void)user;
	pr->ok = step == SASL_STEP_OK;
	snprintf(pr->text, sizeof(pr->text), "%s", data != NULL ? data : "");
	pr->done = true;
	event_base_loopbreak(pr->base);
}

/*
 * probe_child - in the child: become what smtpd is, talk to Dovecot,
 * write "OK mechanisms" or "FAIL reason" to fd.  Never returns.
 */
static void
probe_child(const struct config *cf, const struct sasl_entry *e, int fd)
{
	const char *q = config_str(config_main(cf), P_queue_directory);
	struct probe_result pr;
	struct privs_user u;
	struct sasl_dovecot *d;
	const char *err = NULL;
	char *uerr = NULL;
	FILE *out = fdopen(fd, "w");

	if (out == NULL)
		_exit(1);
	if (chdir(q) < 0) {
		fprintf(out, "FAIL cannot change to %s: %s\n", q,
		    strerror(errno));
		_exit(0);
	}
	if (privs_user_resolve(config_str(config_main(cf), P_mail_owner),
	    false, &u, &uerr) < 0) {
		fprintf(out, "FAIL %s\n", uerr);
		_exit(0);
	}
	privs_drop(&u, e->chroot && geteuid() == 0 ? q : NULL);
	memset(&pr, 0, sizeof(pr));
	pr.base = event_base_new();
	d = pr.base != NULL ? sasl_dovecot_new(pr.base, e->path, &err) :
	    NULL;
	if (d == NULL) {
		fprintf(out, "FAIL %s\n", err != NULL ? err :
		    "no event loop");
		_exit(0);
	}
	sasl_dovecot_set_timeouts(d, CHECK_SASL_TIMEOUT_MS,
	    CHECK_SASL_TIMEOUT_MS, 0, 0);
	(void)sasl_dovecot_wait(d, on_wait, &pr);
	if (!pr.done) {
		struct timeval tv = { CHECK_SASL_TIMEOUT_MS / 1000 + 2, 0 };

		event_base_loopexit(pr.base, &tv);
		event_base_dispatch(pr.base);
	}
	if (!pr.done)
		fprintf(out, "FAIL no answer within %d s\n",
		    CHECK_SASL_TIMEOUT_MS / 1000 + 2);
	else
		fprintf(out, "%s %s\n", pr.ok ? "OK" : "FAIL", pr.text);
	fclose(out);
	_exit(0);
}

static void
probe(const struct config *cf, const struct sasl_entry *e, const char *users,
    struct check_report *r)
{
	const char *owner = config_str(config_main(cf), P_mail_owner);
	char line[1200];
	int pfd[2], st;
	ssize_t n = 0;
	pid_t pid;

	if (pipe(pfd) < 0) {
		check_say(r, CHECK_ERROR, "%s: pipe: %s", e->path,
		    strerror(errno));
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		probe_child(cf, e, pfd[1]);
	}
	close(pfd[1]);
	if (pid > 0) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		size_t got = 0;

		while (got < sizeof(line) - 1 && poll(&p, 1,
		    CHECK_SASL_TIMEOUT_MS * 2) > 0) {
			n = read(pfd[0], line + got, sizeof(line) - 1 - got);
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		line[got] = '\0';
		kill(pid, SIGKILL);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	} else {
		snprintf(line, sizeof(line), "FAIL fork: %s", strerror(errno));
	}
	close(pfd[0]);
	line[strcspn(line, "\n")] = '\0';
	if (strncmp(line, "OK ", 3) == 0)
		check_say(r, CHECK_OK, "%s (%s): Dovecot answers %s, offering "
		    "%s", e->path, users, owner, line[3] != '\0' ? line + 3 :
		    "no mechanism");
	else
		check_say(r, CHECK_ERROR, "%s (%s): smtpd, as %s, cannot use "
		    "Dovecot's auth service: %s; until this is fixed AUTH is "
		    "not offered and users cannot send (Dovecot's service auth "
		    "{ unix_listener } must be this path, with a user or mode "
		    "that lets %s connect)", e->path, users, owner,
		    strncmp(line, "FAIL ", 5) == 0 ? line + 5 :
		    "the probe ended without an answer", owner);
}

/* join - the service names, ", " between them (a new string). */
static char *
join(const struct strv *sv)
{
	struct buf b;
	char *s;

	buf_init(&b, 64 * 1024);
	for (size_t i = 0; i < sv->n; i++)
		(void)buf_appendf(&b, "%s%s", i ? ", " : "", sv->v[i]);
	s = xstrdup(buf_cstr(&b));
	buf_deinit(&b);
	return s;
}

int
check_sasl(const struct config *cf, bool live)
{
	const struct master_cf *mcf = config_master(cf);
	struct check_report r = { 0, 0 };
	struct sasl_entry *v = NULL;
	size_t n = 0;

	for (size_t i = 0; mcf != NULL && i < mcf->nservices; i++) {
		const struct master_service *ms = &mcf->services[i];
		const struct config_view *sv = config_service(cf, i);
		const char *path;
		bool chroot = ms->chroot_flag == 1;
		size_t k;

		if (strcmp(ms->command, "smtpd") != 0 &&
		    strcmp(ms->command, "postscreen") != 0)
			continue;
		if (!config_bool(sv, P_smtpd_sasl_auth_enable) ||
		    strcmp(config_str(sv, P_smtpd_sasl_type), "dovecot") != 0)
			continue;
		path = config_str(sv, P_smtpd_sasl_path);
		for (k = 0; k < n; k++)
			if (strcmp(v[k].path, path) == 0 &&
			    v[k].chroot == chroot)
				break;
		if (k == n) {
			v = xreallocarray(v, n + 1, sizeof(*v));
			v[n].path = xstrdup(path);
			v[n].chroot = chroot;
			strv_init(&v[n].services);
			n++;
		}
		strv_add(&v[k].services, ms->name);
	}
	if (n == 0) {
		printf("\nSASL (Dovecot): none (no smtpd service with "
		    "smtpd_sasl_auth_enable = yes and smtpd_sasl_type = "
		    "dovecot)\n");
		return 0;
	}
	printf("\nSASL (Dovecot): %zu auth socket%s%s:\n", n, n == 1 ? "" :
	    "s", live ? " (--live: connecting as smtpd does)" : "");
	for (size_t i = 0; i < n; i++) {
		char *users = join(&v[i].services);
		char *what = xasprintf("smtpd_sasl_path of %s", users);

		if (live)
			probe(cf, &v[i], what, &r);
		else
			check_say(&r, CHECK_NOTE, "%s (%s): not tried (`ostia "
			    "check --live` connects as smtpd does)", v[i].path,
			    what);
		free(what);
		free(users);
		free(v[i].path);
		strv_deinit(&v[i].services);
	}
	free(v);
	return check_summary("SASL (Dovecot)", &r);
}
