/* SPDX-License-Identifier: MIT */
/*
 * cmd_queue - `ostia queue` (a mailq-like summary), `ostia queue list
 * [QUEUE]`, `ostia queue show ID`, and the control requests flush, hold,
 * release, requeue and delete, which the queue process carries out
 * (queue_proto.h QUEUE_MSG_CTL; qmgr.h).
 *
 * Listing reads the queue files and status logs directly; it needs read
 * access to the spool (root or mail_owner).  Every file is checked with
 * queue_file_parse(): an invalid file is reported as such, never printed
 * as if it were mail.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ipc.h"
#include "qmgr_status.h"
#include "config.h"
#include "file_read.h"
#include "log.h"
#include "queue_file.h"
#include "queue_proto.h"
#include "xalloc.h"

/* Largest queue file read: message_size_limit plus envelope room. */
static size_t
max_file_bytes(const struct config *cf)
{
	uint64_t limit = config_size(config_main(cf), P_message_size_limit);

	if (limit == 0 || limit > ((uint64_t)1 << 32))
		return (size_t)1 << 32;
	return (size_t)(limit * 2 + 1024 * 1024);
}

static const char *const queue_dirs[] = {
	QUEUE_INCOMING_DIR, QUEUE_DEFERRED_DIR, QUEUE_HOLD_DIR,
	QUEUE_CORRUPT_DIR,
};

/* The directory under queue_directory that holds id (incoming/ when
 * none does, so that the error names it). */
static const char *
dir_of(const struct config *cf, const char *id)
{
	for (size_t i = 0; i < N_ELEMENTS(queue_dirs); i++) {
		char *p = xasprintf("%s/%s/%s", config_str(config_main(cf),
		    P_queue_directory), queue_dirs[i], id);
		struct stat st;
		int r = lstat(p, &st);

		free(p);
		if (r == 0 && !queue_file_partial(&st))
			return queue_dirs[i];
	}
	return QUEUE_INCOMING_DIR;
}

static int
load_message_in(const struct config *cf, const char *dir, const char *id,
    struct queue_envelope *env, struct buf *content)
{
	char *path, *err = NULL, *text;
	const char *perr = NULL;
	struct stat st;
	size_t len = 0;
	int e = 0, r;

	path = xasprintf("%s/%s/%s", config_str(config_main(cf),
	    P_queue_directory), dir, id);
	if (lstat(path, &st) == 0 && queue_file_partial(&st)) {
		log_error("%s: still being received (not queued yet)", path);
		free(path);
		return -1;
	}
	text = file_read_capped(path, max_file_bytes(cf), &len, &e, &err);
	if (text == NULL) {
		log_error("%s: %s%s", path, err, e == ENOENT ?
		    " (no queued message with that ID)" : "");
		free(err);
		free(path);
		return -1;
	}
	memset(env, 0, sizeof(*env));
	r = queue_file_parse(text, len, env, content, &perr);
	if (r == 0 && (env->id == NULL || strcmp(env->id, id) != 0)) {
		queue_envelope_deinit(env);
		r = -1;
	}
	if (r < 0) {
		char *why = queue_file_reused_why(text, len, id, perr);

		if (why != NULL)
			log_error("%s: %s; the queue manager never delivers "
			    "it", path, why);
		else
			log_error("%s: not a valid queue file: %s", path,
			    perr != NULL ? perr : "it names another queue ID");
		free(why);
	}
	free(text);
	free(path);
	return r;
}

static int
load_message(const struct config *cf, const char *id,
    struct queue_envelope *env, struct buf *content)
{
	return load_message_in(cf, dir_of(cf, id), id, env, content);
}

/*
 * show - value with control characters as \ooo, so that text a client
 * chose cannot forge lines or drive the terminal; UTF-8 stays readable.
 */
static void
show(const char *value)
{
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			printf("\\%03o", *p);
		else
			putchar(*p);
	}
}

/* field - "label: <value>\n"; nothing when value is NULL. */
static void
field(const char *label, const char *pre, const char *value,
    const char *post)
{
	if (value == NULL)
		return;
	printf("%s: %s", label, pre);
	show(value);
	printf("%s\n", post);
}

static int
queue_show(const struct config *cf, const char *id)
{
	struct queue_envelope env;
	struct buf content;
	int ret;

	if (!queue_id_is_valid(id)) {
		log_error("\"%s\" is not a queue ID (16 characters, as "
		    "printed by `ostia queue list`)", id);
		return 1;
	}
	buf_init(&content, max_file_bytes(cf));
	if (load_message(cf, id, &env, &content) < 0) {
		buf_deinit(&content);
		return 1;
	}
	/* Envelope text came from a client: never print it raw. */
	field("id", "", env.id, "");
	field("arrival", "", env.arrival, "");
	{
		char *who = xasprintf("%s[%s]", env.client_name,
		    env.client_addr);

		field("client", "", who, "");
		free(who);
	}
	field("helo", "", env.helo, "");
	field("protocol", "", env.protocol, "");
	field("service", "", env.service, "");
	field("sender", "<", env.sender, ">");
	field("size-declared", "", env.size, "");
	field("body", "", env.body, "");
	if (env.smtputf8)
		printf("smtputf8: yes\n");
	field("dsn-ret", "", env.ret, "");
	field("dsn-envid", "", env.envid, "");
	field("sasl-user", "", env.sasl_user, "");
	field("tls", "", env.tls, "");
	for (size_t i = 0; i < env.nrcpts; i++) {
		printf("recipient: <");
		show(env.rcpts[i].addr);
		printf(">");
		if (env.rcpts[i].notify != NULL) {
			printf(" notify=");
			show(env.rcpts[i].notify);
		}
		if (env.rcpts[i].orcpt != NULL) {
			printf(" orcpt=");
			show(env.rcpts[i].orcpt);
		}
		printf("\n");
	}
	/* What was decided after the message (trailer records). */
	field("refused", "", env.refused, "");
	field("content-filter", "", env.filter, "");
	field("hold", "", env.hold, "");
	field("redirect", "<", env.redirect, ">");
	for (size_t i = 0; i < env.nbccs; i++)
		field("bcc", "<", env.bccs[i], ">");
	printf("message-size: %llu\n\n", (unsigned long long)env.content_size);
	ret = fwrite(content.data, 1, content.len, stdout) == content.len ?
	    0 : 1;
	queue_envelope_deinit(&env);
	buf_deinit(&content);
	return ret;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * queue_names - the queue IDs in dir, sorted, leaving out partial files
 * (messages still being received: queue_proto.h).  NULL with *n_r 0
 * when there are none; -1 in *err_r when dir cannot be read (errno).
 */
static char **
queue_names(const char *dir, size_t *n_r, int *err_r)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;

	*n_r = 0;
	*err_r = 0;
	if (d == NULL) {
		*err_r = -1;
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (!queue_id_is_valid(de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    0 && queue_file_partial(&st))
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	*n_r = n;
	return names;
}

static int
queue_list(const struct config *cf, const char *qname)
{
	char *dir = xasprintf("%s/%s", config_str(config_main(cf),
	    P_queue_directory), qname);
	char **names;
	size_t n;
	int ret = 0, err;

	names = queue_names(dir, &n, &err);
	if (err < 0) {
		log_error("%s: %s", dir, strerror(errno));
		free(dir);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct queue_envelope env;

		if (load_message_in(cf, qname, names[i], &env, NULL) < 0) {
			ret = 1;
			free(names[i]);
			continue;
		}
		printf("%s %s %llu", env.id, env.arrival,
		    (unsigned long long)env.content_size);
		printf(" <");
		show(env.sender);
		printf(">");
		for (size_t k = 0; k < env.nrcpts; k++) {
			printf(" <");
			show(env.rcpts[k].addr);
			printf(">");
		}
		printf("\n");
		queue_envelope_deinit(&env);
		free(names[i]);
	}
	printf("-- %zu message%s in %s\n", n, n == 1 ? "" : "s", dir);
	free(names);
	free(dir);
	return ret;
}

/* The sender as mailq shows it. */
static void
show_sender(const char *sender)
{
	if (sender[0] == '\0')
		printf("MAILER-DAEMON");
	else
		show(sender);
}

/*
 * summary_one - one message of the mailq-like listing: "ID[*!] SIZE
 * DATE SENDER", the last deferral reason in parentheses, then the
 * recipients not done yet.  Returns the file size, or -1.
 */
static long long
summary_one(const struct config *cf, const char *dir, const char *id,
    char mark)
{
	const char *q = config_str(config_main(cf), P_queue_directory);
	struct queue_envelope env;
	struct qstatus log;
	char *path, date[64];
	struct stat st;
	time_t t;
	const char *why = NULL;

	path = xasprintf("%s/%s/%s", q, dir, id);
	if (stat(path, &st) < 0 || load_message_in(cf, dir, id, &env,
	    NULL) < 0) {
		free(path);
		return -1;
	}
	free(path);
	path = xasprintf("%s/%s/%s", q, QUEUE_STATUS_DIR, id);
	if (qstatus_load(path, &log) < 0)
		memset(&log, 0, sizeof(log));
	free(path);
	t = (time_t)strtoll(env.arrival, NULL, 10);
	strftime(date, sizeof(date), "%a %b %e %H:%M:%S", localtime(&t));
	printf("%-16s%c %8lld %s  ", id, mark, (long long)st.st_size, date);
	show_sender(env.sender);
	printf("\n");
	for (size_t i = log.n; i-- > 0;)
		if (log.e[i].action == QSTATUS_DEFERRED) {
			why = log.e[i].text;
			break;
		}
	if (mark == '!' && env.hold != NULL && why == NULL)
		why = env.hold;
	if (why != NULL) {
		printf("%18s(", "");
		show(why);
		printf(")\n");
	}
	for (size_t i = 0; i < env.nrcpts; i++) {
		const struct qstatus_entry *e = qstatus_find(&log, (long)i,
		    NULL);

		if (e != NULL && (e->action == QSTATUS_SENT ||
		    e->action == QSTATUS_BOUNCED) &&
		    env.redirect == NULL)
			continue;
		printf("%45s", "");
		show(env.rcpts[i].addr);
		printf("\n");
	}
	printf("\n");
	qstatus_free(&log);
	queue_envelope_deinit(&env);
	return (long long)st.st_size;
}

/* queue_summary - every queued message, like Postfix's mailq. */
static int
queue_summary(const struct config *cf)
{
	static const struct { const char *dir; char mark; } qs[] = {
		{ QUEUE_INCOMING_DIR, '*' },
		{ QUEUE_DEFERRED_DIR, ' ' },
		{ QUEUE_HOLD_DIR, '!' },
	};
	const char *q = config_str(config_main(cf), P_queue_directory);
	long long bytes = 0;
	size_t count = 0;
	int ret = 0;

	for (size_t k = 0; k < N_ELEMENTS(qs); k++) {
		char *dir = xasprintf("%s/%s", q, qs[k].dir);
		char **names;
		size_t n;
		int err;

		names = queue_names(dir, &n, &err);
		if (err < 0) {
			if (errno != ENOENT) {
				log_error("%s: %s", dir, strerror(errno));
				ret = 1;
			}
			free(dir);
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			long long sz;

			if (count == 0 && bytes == 0)
				printf("-Queue ID-       --Size-- ----Arrival "
				    "Time---- -Sender/Recipient-------\n");
			sz = summary_one(cf, qs[k].dir, names[i], qs[k].mark);
			if (sz < 0) {
				ret = 1;
			} else {
				bytes += sz;
				count++;
			}
			free(names[i]);
		}
		free(names);
		free(dir);
	}
	{
		char *cdir = xasprintf("%s/%s", q, QUEUE_CORRUPT_DIR);
		DIR *d = opendir(cdir);
		struct dirent *de;
		size_t nc = 0;

		while (d != NULL && (de = readdir(d)) != NULL)
			if (queue_id_is_valid(de->d_name))
				nc++;
		if (d != NULL)
			closedir(d);
		if (nc > 0)
			log_warning("%zu damaged queue file%s in %s (never "
			    "delivered; see the log)", nc, nc == 1 ? "" : "s",
			    cdir);
		free(cdir);
	}
	if (count == 0)
		printf("Mail queue is empty\n");
	else
		printf("-- %lld Kbytes in %zu Request%s.\n",
		    (bytes + 1023) / 1024, count, count == 1 ? "" : "s");
	return ret;
}

/*
 * queue_control - send one request to the queue process and print its
 * answer.  Exit status: 0 done, 1 nothing matched, 2 a bad request or
 * the queue process cannot be reached.
 */
static int
queue_control(const struct config *cf, const char *request)
{
	const char *q = config_str(config_main(cf), P_queue_directory);
	struct sockaddr_un sun;
	struct ipc_conn ic;
	struct ipc_out o;
	struct ipc_in in;
	uint32_t type, status;
	int fd, pfd, r, ret = 2;
	char *text;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", q,
	    QUEUE_SOCKET_PATH) >= sizeof(sun.sun_path)) {
		log_error("queue_directory %s is too long for a socket path",
		    q);
		return 2;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		log_error("cannot reach the queue process at %s: %s (is Ostia "
		    "running? `ostia status`)", sun.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 2;
	}
	ipc_out_init(&o);
	ipc_put_str(&o, request);
	if (ipc_send(fd, QUEUE_MSG_CTL, &o, -1) < 0) {
		log_error("cannot send the request: %s", strerror(errno));
		close(fd);
		return 2;
	}
	ipc_conn_init(&ic, fd);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		r = ipc_conn_next(&ic, &type, &in, &pfd);
		if (r != 0)
			break;
		if (poll(&p, 1, 30000) <= 0) {
			log_error("the queue process did not answer in 30 s");
			goto out;
		}
		if (ipc_conn_fill(&ic) < 0 || ic.eof) {
			log_error("the queue process closed the connection "
			    "without an answer (see its log)");
			goto out;
		}
	}
	if (r < 0 || type != QUEUE_MSG_CTL_REPLY) {
		log_error("malformed answer from the queue process");
		goto out;
	}
	if (pfd >= 0)
		close(pfd);
	status = ipc_get_u32(&in);
	text = ipc_get_str(&in, IPC_PAYLOAD_MAX_BYTES);
	if (text == NULL || !ipc_in_done(&in) || status > 2) {
		free(text);
		log_error("malformed answer from the queue process");
		goto out;
	}
	if (status == 0)
		fputs(text, stdout);
	else
		fputs(text, stderr);
	free(text);
	ret = (int)status;
out:
	ipc_conn_deinit(&ic);
	close(fd);
	return ret;
}

static const char queue_usage[] =
    "usage: ostia queue                         summary of queued mail\n"
    "       ostia queue list [incoming|deferred|hold|corrupt]\n"
    "       ostia queue show ID\n"
    "       ostia queue flush [ID | -d DOMAIN]  deliver deferred mail now\n"
    "       ostia queue hold|release|requeue|delete ID|ALL";

int
cmd_queue(struct cli *cli, int argc, char **argv)
{
	struct diag_list diags;
	struct config *cf;
	char **words = NULL;
	size_t nw = 0;
	int ret = 2;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc &&
		    nw == 0) {
			cli->config_dir = argv[++i];
			continue;
		}
		words = xreallocarray(words, nw + 1, sizeof(*words));
		words[nw++] = argv[i];
	}
	diag_list_init(&diags);
	cf = config_load(cli->config_dir, CONFIG_LOAD_NO_MASTER |
	    CONFIG_LOAD_QUIET | CONFIG_LOAD_LENIENT, &diags);
	diag_list_deinit(&diags);
	if (cf == NULL) {
		log_error("cannot read the configuration in %s",
		    cli->config_dir);
		free(words);
		return 1;
	}
	if (nw == 0) {
		ret = queue_summary(cf);
	} else if (strcmp(words[0], "list") == 0 && nw <= 2) {
		const char *qn = nw == 2 ? words[1] : QUEUE_INCOMING_DIR;
		bool ok = false;

		for (size_t i = 0; i < N_ELEMENTS(queue_dirs); i++)
			ok |= strcmp(qn, queue_dirs[i]) == 0;
		if (!ok)
			log_error("%s", queue_usage);
		else
			ret = queue_list(cf, qn);
	} else if (strcmp(words[0], "show") == 0 && nw == 2) {
		ret = queue_show(cf, words[1]);
	} else if ((strcmp(words[0], "flush") == 0 && (nw == 1 || nw == 2 ||
	    (nw == 3 && strcmp(words[1], "-d") == 0))) ||
	    ((strcmp(words[0], "hold") == 0 ||
	    strcmp(words[0], "release") == 0 ||
	    strcmp(words[0], "requeue") == 0 ||
	    strcmp(words[0], "delete") == 0) && nw == 2)) {
		struct buf req;

		buf_init(&req, 512);
		for (size_t i = 0; i < nw; i++) {
			if (strpbrk(words[i], " \t\r\n,") != NULL) {
				log_error("\"%s\": not a queue ID or domain",
				    words[i]);
				buf_deinit(&req);
				goto done;
			}
			if (buf_appendf(&req, "%s%s", i ? " " : "",
			    words[i]) < 0) {
				log_error("request too long");
				buf_deinit(&req);
				goto done;
			}
		}
		ret = queue_control(cf, buf_cstr(&req));
		buf_deinit(&req);
	} else {
		log_error("%s", queue_usage);
	}
done:
	config_free(&cf);
	free(words);
	return ret;
}
