/* SPDX-License-Identifier: MIT */
/*
 * test_dict_mysql - mysql:/file.cf without a server: open errors with
 * file:line, flags, no connection for keys the query skips, TEMPFAIL
 * naming every host when none answers (never the password), the
 * retry_interval backoff ("no host available"), changed().  Lookups
 * against real MariaDB servers are in tests/e2e/08-sql.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "compat.h"
#include "dict.h"
#include "xalloc.h"

extern const struct dict_type dict_type_mysql;

struct fixture {
	char dir[64];
	struct dict_open_opts opts;
	unsigned port1, port2;	/* closed TCP ports on 127.0.0.1 */
};

/* A port that was free a moment ago (nothing listens on it). */
static unsigned
closed_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned port;

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_dict_mysql.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	dict_open_opts_init(&f->opts);
	f->opts.trusted_uid = getuid();
	f->port1 = closed_port();
	do
		f->port2 = closed_port();
	while (f->port2 == f->port1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->dir);

	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f);
	return 0;
}

static char *write_cf(struct fixture *f, const char *name, const char *fmt,
    ...) ATTR_FORMAT(3, 4);

static char *
write_cf(struct fixture *f, const char *name, const char *fmt, ...)
{
	char *path = xasprintf("%s/%s.cf", f->dir, name);
	char *text;
	va_list ap;
	FILE *fp;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, 0600), 0);
	free(text);
	return path;
}

static enum dict_status
get(struct dict *d, const char *key, char *err, size_t errsz)
{
	struct buf v;
	enum dict_status st;

	buf_init(&v, DICT_VALUE_MAX_BYTES);
	st = dict_get(d, key, &v, err, errsz);
	buf_deinit(&v);
	return st;
}

static void
test_open_errors(void **state)
{
	struct fixture *f = *state;
	char err[DICT_ERR_MAX_BYTES], *path, *want;

	path = write_cf(f, "bad", "hosts = 127.0.0.1\npassword = s3cr3t\n"
	    "dbpath = /x\nquery = SELECT 1\n");
	assert_null(dict_open_type(&dict_type_mysql, path, &f->opts, err,
	    sizeof(err)));
	want = xasprintf("%s, line 3: unknown parameter dbpath (known for "
	    "mysql:", path);
	assert_non_null(strstr(err, want));
	assert_null(strstr(err, "s3cr3t"));
	free(want);
	free(path);

	assert_null(dict_open_type(&dict_type_mysql, "", &f->opts, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "needs the path of a .cf file"));
	assert_null(dict_open_type(&dict_type_mysql, "mysqlname", &f->opts,
	    err, sizeof(err)));
	assert_non_null(strstr(err, "SQL parameters in main.cf are not "
	    "supported"));
}

static void
test_unreachable(void **state)
{
	struct fixture *f = *state;
	char err[DICT_ERR_MAX_BYTES], h1[64], h2[64];
	char *path = write_cf(f, "down",
	    "hosts = inet:127.0.0.1:%u, inet:127.0.0.1:%u\n"
	    "user = vmail\npassword = s3cr3t-pw\ndbname = vmail\n"
	    "query = SELECT maildir FROM mailbox WHERE username='%%u@%%d'\n"
	    "retry_interval = 3600\n", f->port1, f->port2);
	struct dict *d = dict_open_type(&dict_type_mysql, path, &f->opts, err,
	    sizeof(err));

	if (d == NULL)
		fail_msg("open: %s", err);
	assert_true(d->type->flags & DICT_TYPE_NETWORK);
	assert_true(d->type->flags & DICT_TYPE_FILE);
	snprintf(h1, sizeof(h1), "inet:127.0.0.1:%u: ", f->port1);
	snprintf(h2, sizeof(h2), "inet:127.0.0.1:%u: ", f->port2);

	/* Skipped keys never reach a server: NOTFOUND, not TEMPFAIL. */
	assert_int_equal(get(d, "nodomain", err, sizeof(err)), DICT_NOTFOUND);
	assert_int_equal(get(d, "@example.com", err, sizeof(err)),
	    DICT_NOTFOUND);
	assert_int_equal(get(d, "\xff@example.com", err, sizeof(err)),
	    DICT_NOTFOUND);

	/* Nothing answers: TEMPFAIL naming both hosts. */
	assert_int_equal(get(d, "alice@example.com", err, sizeof(err)),
	    DICT_TEMPFAIL);
	assert_non_null(strstr(err, "mysql:"));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, ": cannot connect to any host ("));
	assert_non_null(strstr(err, h1));
	assert_non_null(strstr(err, h2));
	assert_null(strstr(err, "s3cr3t"));

	/* Both wait out retry_interval: failing at once, saying so, with
	 * the last reasons. */
	assert_int_equal(get(d, "alice@example.com", err, sizeof(err)),
	    DICT_TEMPFAIL);
	assert_non_null(strstr(err, "no host available: all failed within "
	    "retry_interval (3600s)"));
	assert_non_null(strstr(err, h1));
	assert_null(strstr(err, "s3cr3t"));

	assert_false(dict_changed(d));
	{
		FILE *fp = fopen(path, "a");

		assert_non_null(fp);
		fputs("# edited\n", fp);
		fclose(fp);
	}
	assert_true(dict_changed(d));
	dict_close(d);
	free(path);
}

/* retry_interval 0: every lookup tries the hosts again. */
static void
test_no_backoff(void **state)
{
	struct fixture *f = *state;
	char err[DICT_ERR_MAX_BYTES];
	char *path = write_cf(f, "nobackoff",
	    "hosts = 127.0.0.1:%u\nquery = SELECT 1 WHERE '%%s' = 'x'\n"
	    "retry_interval = 0\n", f->port1);
	struct dict *d = dict_open_type(&dict_type_mysql, path, &f->opts, err,
	    sizeof(err));

	assert_non_null(d);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(get(d, "x", err, sizeof(err)), DICT_TEMPFAIL);
		assert_non_null(strstr(err, "cannot connect to any host"));
	}
	dict_close(d);
	free(path);
}

/* A UNIX socket that does not exist. */
static void
test_unix_missing(void **state)
{
	struct fixture *f = *state;
	char err[DICT_ERR_MAX_BYTES];
	char *path = write_cf(f, "unix",
	    "hosts = unix:%s/nosuch.sock\nquery = SELECT 1 WHERE '%%s' = 'x'\n",
	    f->dir);
	struct dict *d = dict_open_type(&dict_type_mysql, path, &f->opts, err,
	    sizeof(err));
	char *want = xasprintf("unix:%s/nosuch.sock: ", f->dir);

	assert_non_null(d);
	assert_int_equal(get(d, "x", err, sizeof(err)), DICT_TEMPFAIL);
	assert_non_null(strstr(err, want));
	dict_close(d);
	free(want);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unreachable, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_no_backoff, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unix_missing, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
