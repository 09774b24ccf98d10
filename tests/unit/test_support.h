/* SPDX-License-Identifier: MIT */
/*
 * test_support - helpers shared by the cmocka unit tests (linked into
 * every tests/unit/test_*.c by cmake/OstiaTests.cmake).  They fail the
 * running test (cmocka asserts) instead of returning errors.
 */
#ifndef OSTIA_TEST_SUPPORT_H
#define OSTIA_TEST_SUPPORT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "buf.h"

struct diag_list;
struct event_base;

/*
 * fork() for a helper process a test keeps running (a fake server):
 * the child is killed (SIGKILL) when the test process dies, so a test
 * that aborts (a failed assert, a sanitizer report) never leaves an
 * orphan holding its output pipe open.  Returns as fork() does; the
 * test fails when fork fails.
 */
pid_t test_fork_helper(void);

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

/* rm -rf path (test scratch only; directories made writable first). */
void test_remove_tree(const char *path);

/* Send all n bytes on a (maybe non-blocking) socket. */
void test_write_all(int sock, const void *p, size_t n);

/* Run the loop until cond(arg) holds; fail the test after 10 s. */
typedef bool test_cond_fn(void *arg);
void test_run_until(struct event_base *base, test_cond_fn *cond, void *arg);
/* Run the loop for about ms milliseconds. */
void test_run_for(struct event_base *base, unsigned ms);

/*
 * A scripted SMTP/LMTP server in a thread, for the clients' tests
 * (test_lmtp_client, test_smtp_conn, test_tls_client): it follows
 * steps, one at a time, on one connection at a time, and notes the
 * first thing that went differently (test_script_finish fails the test
 * with it).
 */
enum test_step_kind {
	TS_END = 0,
	TS_SEND,	/* send text */
	TS_EXPECT,	/* read a command line, which must equal text */
	TS_BODY,	/* read the message up to and with ".\r\n" into body */
	TS_BODY_SLOW,	/* the same, 8 KB at a time with pauses */
	TS_BODY_PART,	/* read some of the message (at least 100 bytes) */
	TS_QUIET,	/* nothing more may arrive for a while, else
			 * pipelined is set (no pipelining without
			 * PIPELINING) */
	TS_CLOSE,	/* close the connection */
	TS_HANG,	/* say nothing until the client goes away */
	TS_ACCEPT,	/* accept the next connection */
	TS_EOF,		/* the client closes without sending more */
	TS_STARTTLS,	/* nothing may be buffered; SSL_accept (tls) */
	TS_TLS_FAIL,	/* nothing may be buffered; SSL_accept must fail */
};

struct test_step {
	enum test_step_kind kind;
	const char *text;
};

struct test_script {
	struct test_listener l;
	const struct test_step *steps;
	SSL_CTX *tls;		/* TS_STARTTLS's, not owned */
	SSL *ssl;
	pthread_t th;
	int fd;
	char in[65536];
	size_t inlen;
	struct buf body;	/* what TS_BODY read, as sent */
	struct buf lines;	/* every command line, LF-separated */
	char *problem;		/* first thing that went wrong */
	bool pipelined;
	char sni[256];		/* the last handshake's SNI, "" none */
};

/* Listen (tcp: on 127.0.0.1, else a unix socket) and run steps in a
 * thread; tls may be NULL (no TS_STARTTLS). */
void test_script_start(struct test_script *s, const struct test_step *steps,
    bool tcp, SSL_CTX *tls);
/* Wait for the script's end (the thread); fail on its problems; free. */
void test_script_finish(struct test_script *s);
/* "inet:127.0.0.1:PORT" or "unix:PATH" (caller frees). */
char *test_script_dest(const struct test_script *s);
/* A server context with a new self-signed certificate for cn (caller
 * frees with SSL_CTX_free). */
SSL_CTX *test_tls_server_ctx(const char *cn);

#endif
