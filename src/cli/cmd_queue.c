/* SPDX-License-Identifier: MIT */
/*
 * cmd_queue - `ostia queue` (a mailq-like summary), `ostia queue list
 * [QUEUE]`, `ostia queue show ID`, and the control requests flush, hold,
 * release, requeue and delete, which the queue process carries out
 * (queue_proto.h QUEUE_MSG_CTL; qmgr.h).
 *
 * Listing reads the queue files and status logs directly; it needs read
 * access to the spool (root or mail_owner).  Anybody else's summary and
 * flush go through the set-group-ID helper to the queue process's public
 * service (showq_proto.h), which decides by authorized_mailq_users and
 * authorized_flush_users.  Every file is checked with
 * queue_file_parse(): an invalid file is reported as such, never printed
 * as if it were mail.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "ipc.h"
#include "qmgr_status.h"
#include "config.h"
#include "file_read.h"
#include "log.h"
#include "queue_file.h"
#include "queue_listing.h"
#include "queue_proto.h"
#include "showq_proto.h"
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

/* print_problems - the lines of err, each as an error or a warning. */
static void
print_problems(struct buf *err)
{
	const char *p = buf_cstr(err);

	while (*p != '\0') {
		size_t n = strcspn(p, "\n");

		if (strncmp(p, "warning: ", 9) == 0)
			log_warning("%.*s", (int)n - 9, p + 9);
		else
			log_error("%.*s", (int)n, p);
		p += n;
		if (*p == '\n')
			p++;
	}
	buf_reset(err);
}

static int
load_message_in(const struct config *cf, const char *dir, const char *id,
    struct queue_envelope *env, struct buf *content)
{
	struct buf err;
	int r;

	buf_init(&err, 64 * 1024);
	r = queue_listing_load(config_str(config_main(cf), P_queue_directory),
	    dir, id, max_file_bytes(cf), env, content, &err);
	print_problems(&err);
	buf_deinit(&err);
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
	struct buf b;

	buf_init(&b, SIZE_MAX / 2);
	queue_listing_escape(&b, value);
	fputs(buf_cstr(&b), stdout);
	buf_deinit(&b);
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
queue_list(const struct config *cf, const char *qname)
{
	char *dir = xasprintf("%s/%s", config_str(config_main(cf),
	    P_queue_directory), qname);
	char **names;
	size_t n;
	int ret = 0, err;

	names = queue_listing_names(dir, &n, &err);
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

/* queue_summary - every queued message, like Postfix's mailq (or
 * postqueue -j). */
static int
queue_summary(const struct config *cf, enum queue_listing_format format)
{
	struct queue_listing *ql = queue_listing_open(config_str(
	    config_main(cf), P_queue_directory), max_file_bytes(cf), format);
	struct buf out, err;
	int more, ret;

	buf_init(&out, SIZE_MAX / 2);
	buf_init(&err, SIZE_MAX / 2);
	do {
		more = queue_listing_next(ql, &out, &err);
		fputs(buf_cstr(&out), stdout);
		buf_reset(&out);
		print_problems(&err);
	} while (more);
	ret = queue_listing_failed(ql) ? 1 : 0;
	queue_listing_free(ql);
	buf_deinit(&out);
	buf_deinit(&err);
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

/*
 * queue_public - a listing (words: "list") or a flush for a user who is
 * neither root nor mail_owner: through the set-group-ID helper to the
 * queue process's public service (showq_proto.h), which decides by
 * authorized_mailq_users / authorized_flush_users.  The answer's exit
 * status (0-2).
 */
static int
queue_public(const struct cli *cli, const struct config *cf, int nwords,
    char **words)
{
	const char *q = config_str(config_main(cf), P_queue_directory);
	char *helper, **argv, *line = NULL;
	size_t cap = 0;
	int pfd[2], status = -1, ws;
	FILE *in;
	pid_t pid;

	helper = cli_postdrop_helper(cli, strcmp(words[0], "flush") != 0 ?
	    "list the queue" : "flush the queue");
	if (helper == NULL)
		return 2;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		log_error("pipe: %s", strerror(errno));
		free(helper);
		return 2;
	}
	argv = xcalloc((size_t)nwords + 4, sizeof(*argv));
	argv[0] = helper;
	argv[1] = UNCONST("-s");
	argv[2] = UNCONST(q);
	for (int i = 0; i < nwords; i++)
		argv[3 + i] = words[i];
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		char *const envp[] = { NULL };

		if (dup2(pfd[1], 1) < 0)
			_exit(71);
		execve(helper, argv, envp);
		fprintf(stderr, "ostia: cannot run %s: %s\n", helper,
		    strerror(errno));
		_exit(71);
	}
	close(pfd[1]);
	free(argv);
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		close(pfd[0]);
		free(helper);
		return 2;
	}
	in = fdopen(pfd[0], "r");
	while (in != NULL && status < 0) {
		const char *text;
		size_t tlen;
		ssize_t n = getline(&line, &cap, in);
		int st = 0, k;

		if (n <= 0)
			break;
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		k = showq_reply_parse(line, (size_t)n, &text, &tlen, &st);
		if (k == 'O')
			printf("%.*s\n", (int)tlen, text);
		else if (k == 'E' && tlen > 9 && strncmp(text, "warning: ", 9) ==
		    0)
			log_warning("%.*s", (int)tlen - 9, text + 9);
		else if (k == 'E')
			log_error("%.*s", (int)tlen, text);
		else if (k == 'S')
			status = st;
		else
			break;
	}
	free(line);
	if (in != NULL)
		fclose(in);
	else
		close(pfd[0]);
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (status < 0) {
		/* The helper said why on standard error, or the answer
		 * broke off. */
		if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
			log_error("the queue process's answer ended early (see "
			    "its log)");
		status = 2;
	}
	free(helper);
	return status;
}

/* privileged - root or mail_owner: may read the spool itself. */
static bool
privileged(const struct config *cf)
{
	struct passwd *pw;
	uid_t uid = getuid();

	if (uid == 0)
		return true;
	pw = getpwnam(config_str(config_main(cf), P_mail_owner));
	return pw != NULL && pw->pw_uid == uid;
}

static const char queue_usage[] =
    "usage: ostia queue                         summary of queued mail\n"
    "       ostia queue json                    the same, a JSON object per "
    "message (postqueue -j)\n"
    "       ostia queue list [incoming|deferred|hold|corrupt]\n"
    "       ostia queue show ID\n"
    "       ostia queue flush [ID | -d DOMAIN]  deliver deferred mail now\n"
    "       ostia queue hold|release|requeue|delete ID|ALL "
    "[incoming|deferred|hold...]";

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
	if ((nw == 0 || (nw == 1 && strcmp(words[0], "json") == 0)) &&
	    !privileged(cf)) {
		char *list[] = { UNCONST(nw == 0 ? "list" : "json"), NULL };

		ret = queue_public(cli, cf, 1, list);
	} else if (nw == 0) {
		ret = queue_summary(cf, QUEUE_LISTING_TEXT);
	} else if (nw == 1 && strcmp(words[0], "json") == 0) {
		ret = queue_summary(cf, QUEUE_LISTING_JSON);
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
	    strcmp(words[0], "delete") == 0) && (nw == 2 || (nw <= 6 &&
	    strcmp(words[1], "ALL") == 0)))) {
		struct buf req;

		if (strcmp(words[0], "flush") == 0 && !privileged(cf)) {
			ret = queue_public(cli, cf, (int)nw, words);
			goto done;
		}
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
