/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pipe_argv - the pipe service's arguments (pipe_args_parse) on
 * arbitrary words: the input split at newlines, one master.cf argument
 * per line.  When it parses, the command is expanded for a recipient
 * and for none and must hold: argv[0] the absolute path as given, as
 * many words as the template, words without '$' unchanged.  The whole
 * input also goes through the smaller parsers (flags=, eol=, one
 * argument's macros, address parts and quoting).  abort() on any broken
 * promise; errors must come with words.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipe_argv.h"
#include "strv.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Most lines taken from one input. */
#define FUZZ_WORDS_MAX 400

static void
check_error(int r, char *error)
{
	if (r < 0 && (error == NULL || strlen(error) < 8))
		abort();
	if (r == 0 && error != NULL)
		abort();
	free(error);
}

static void
expand_and_check(const struct pipe_args *pa, const char *rcpt)
{
	struct pipe_macros m;
	char *error = NULL, **v;
	size_t n = 0;

	memset(&m, 0, sizeof(m));
	m.sender = rcpt != NULL ? "" : "Sender@Example.NET";
	m.recipient = rcpt;
	m.original_recipient = rcpt;
	m.nexthop = "Next.Hop";
	m.queue_id = "0123456789ABCDEF";
	m.client_address = "192.0.2.1";
	m.delimiters = "+-";
	m.size = 42;
	v = pipe_argv_expand(pa, &m, &error);
	if (v == NULL) {
		check_error(-1, error);
		return;
	}
	while (v[n] != NULL)
		n++;
	if (n != pa->argc || strcmp(v[0], pa->argv[0]) != 0 ||
	    v[0][0] != '/')
		abort();
	for (size_t i = 1; i < n; i++)
		if (strchr(pa->argv[i], '$') == NULL &&
		    strcmp(v[i], pa->argv[i]) != 0)
			abort();
	strv_free(&v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	struct strv words;
	struct pipe_args pa;
	char *error = NULL, eol[PIPE_EOL_MAX];
	size_t eol_len = 0;
	unsigned flags = 0;
	bool per = false;
	int r;

	/* The smaller parsers on the whole text (up to a NUL). */
	r = pipe_flags_parse(s, &flags, &error);
	check_error(r, error);
	error = NULL;
	r = pipe_eol_parse(s, eol, &eol_len, &error);
	if (r == 0 && (eol_len == 0 || eol_len > PIPE_EOL_MAX ||
	    memchr(eol, '\0', eol_len) != NULL))
		abort();
	check_error(r, error);
	error = NULL;
	r = pipe_arg_check(s, &per, &error);
	check_error(r, error);
	error = NULL;
	{
		char *u, *e, *mb, *d, *q = pipe_quote_address(s);

		pipe_address_parts(s, "+", &u, &e, &mb, &d);
		if (strlen(u) > strlen(mb) || strlen(mb) > strlen(s))
			abort();
		if (strlen(q) < strlen(s))
			abort();
		free(u);
		free(e);
		free(mb);
		free(d);
		free(q);
	}

	/* One argument per line. */
	strv_init(&words);
	for (char *p = s, *nl; words.n < FUZZ_WORDS_MAX; p = nl + 1) {
		nl = strchr(p, '\n');
		if (nl == NULL) {
			if (*p != '\0')
				strv_add(&words, p);
			break;
		}
		strv_addn(&words, p, (size_t)(nl - p));
	}
	r = pipe_args_parse(words.v, &pa, &error);
	check_error(r, error);
	if (r == 0) {
		if (pa.argc == 0 || pa.argc > PIPE_ARGV_MAX ||
		    pa.argv[0][0] != '/' || pa.user == NULL ||
		    pa.user[0] == '\0' || pa.eol_len == 0 ||
		    pa.null_sender == NULL || pa.argv[pa.argc] != NULL)
			abort();
		expand_and_check(&pa, "Carol+Lists@Example.ORG");
		expand_and_check(&pa, NULL);
		pipe_args_deinit(&pa);
	}
	strv_deinit(&words);
	free(s);
	return 0;
}
