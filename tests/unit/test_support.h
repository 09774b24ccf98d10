/* SPDX-License-Identifier: MIT */
/*
 * test_support - helpers shared by the cmocka unit tests (linked into
 * every tests/unit/test_*.c by cmake/OstiaTests.cmake).  They fail the
 * running test (cmocka asserts) instead of returning errors.
 */
#ifndef OSTIA_TEST_SUPPORT_H
#define OSTIA_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>

struct diag_list;
struct event_base;

/* A path under the source tree ($OSTIA_SOURCE_DIR, set by ctest, or the
 * tree this file was compiled from); caller frees. */
char *test_source_path(const char *rel);
/* The whole file (at most 16 MiB), NUL-terminated; caller frees.
 * len_r may be NULL. */
char *test_read_file(const char *path, size_t *len_r);
/* Print diagnostics (shown by cmocka when a test fails). */
void test_print_diags(const struct diag_list *dl);

/*
 * A stream socket that a fake server of a test accepts on: on 127.0.0.1
 * with a free port, or a unix socket in a new directory under /tmp.
 */
struct test_listener {
	int fd;			/* bound, non-blocking, close-on-exec; -1 closed */
	unsigned port;		/* tcp: the port, else 0 */
	char dir[64];		/* unix: the directory, else "" */
	char path[128];		/* unix: dir/name, else "" */
};
/* Bind l (not yet listening: the caller picks the backlog).  tag names
 * the directory (/tmp/ostia-TAG-XXXXXX), name the socket in it. */
void test_listener_open(struct test_listener *l, bool tcp, const char *tag,
    const char *name);
/* Close the socket; the socket file stays, so connecting is refused. */
void test_listener_close(struct test_listener *l);
/* Close the socket and remove the socket file and its directory. */
void test_listener_remove(struct test_listener *l);

/* Send all n bytes on a (maybe non-blocking) socket. */
void test_write_all(int sock, const void *p, size_t n);

/* Run the loop until cond(arg) holds; fail the test after 10 s. */
typedef bool test_cond_fn(void *arg);
void test_run_until(struct event_base *base, test_cond_fn *cond, void *arg);
/* Run the loop for about ms milliseconds. */
void test_run_for(struct event_base *base, unsigned ms);

#endif
