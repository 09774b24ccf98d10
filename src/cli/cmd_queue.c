/* SPDX-License-Identifier: MIT */
/*
 * cmd_queue - `ostia queue list` and `ostia queue show ID`.
 *
 * Reads queue files in $queue_directory/incoming (the queue process's
 * committed messages) and prints them; needs read access to the spool
 * (root or mail_owner).  Every file is checked with queue_file_parse():
 * an invalid file is reported as such, never printed as if it were mail.
 * Until the queue manager exists, this is how queued mail is seen.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
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

static int
load_message(const struct config *cf, const char *id,
    struct queue_envelope *env, struct buf *content)
{
	char *path, *err = NULL, *text;
	const char *perr = NULL;
	size_t len = 0;
	int e = 0, r;

	path = xasprintf("%s/%s/%s", config_str(config_main(cf),
	    P_queue_directory), QUEUE_INCOMING_DIR, id);
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
	if (r < 0)
		log_error("%s: not a valid queue file: %s", path, perr);
	free(text);
	free(path);
	return r;
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

static int
queue_list(const struct config *cf)
{
	char *dir = xasprintf("%s/%s", config_str(config_main(cf),
	    P_queue_directory), QUEUE_INCOMING_DIR);
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	int ret = 0;

	if (d == NULL) {
		log_error("%s: %s", dir, strerror(errno));
		free(dir);
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!queue_id_is_valid(de->d_name))
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		struct queue_envelope env;

		if (load_message(cf, names[i], &env, NULL) < 0) {
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

int
cmd_queue(struct cli *cli, int argc, char **argv)
{
	struct diag_list diags;
	struct config *cf;
	const char *sub = NULL, *id = NULL;
	int ret = 2;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			cli->config_dir = argv[++i];
		else if (sub == NULL)
			sub = argv[i];
		else if (id == NULL)
			id = argv[i];
		else
			sub = "";
	}
	if (sub == NULL || (strcmp(sub, "list") != 0 &&
	    strcmp(sub, "show") != 0) || (strcmp(sub, "show") == 0) !=
	    (id != NULL)) {
		log_error("usage: ostia queue list | ostia queue show ID");
		return 2;
	}
	diag_list_init(&diags);
	cf = config_load(cli->config_dir, CONFIG_LOAD_NO_MASTER |
	    CONFIG_LOAD_QUIET | CONFIG_LOAD_LENIENT, &diags);
	diag_list_deinit(&diags);
	if (cf == NULL) {
		log_error("cannot read the configuration in %s",
		    cli->config_dir);
		return 1;
	}
	if (strcmp(sub, "list") == 0)
		ret = queue_list(cf);
	else
		ret = queue_show(cf, id);
	config_free(&cf);
	return ret;
}
