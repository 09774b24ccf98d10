/* SPDX-License-Identifier: MIT */
/*
 * master_cf - parse master.cf (Postfix master(5) syntax); see master_cf.h.
 *
 * Runs in the master (as root, before anything is started) and in
 * `ostia conf`.  The text is capped at MASTER_CF_MAX_BYTES and each entry
 * at MASTER_CF_ENTRY_MAX_BYTES before any parsing; cf_lines does the
 * line joining, this file only splits entries into words and checks
 * each field.
 *
 * Words are separated by space, tab or CR.  A word that starts with '{'
 * runs to the matching '}' (braces nest) and must be followed by white
 * space or the end of the entry; the braces are removed and white space
 * next to them is trimmed.  Braces are only allowed after field 8.
 *
 * "-o" overrides are read as Postfix's daemons read their options (getopt
 * with "+"): only before the first word that is not an option, so that
 * the arguments of a pipe(8) command stay as written.  Forms: "-o n=v",
 * "-on=v", "-o n = v" (three words) and "-o { n = v }".
 *
 * Every problem is a diagnostic with file:line; parsing goes on with the
 * next entry so that one run shows all problems.  Duplicates (same name
 * and type) are errors here although Postfix keeps the last one silently:
 * a second definition is nearly always an editing accident.
 *
 * One mistake gets its own diagnosis: an indented line that was meant to
 * start a service (typically its listen address was lost, as in a
 * forum-posted amavis setup) silently becomes arguments of the service
 * above; arguments that read "type y/n/- x5 command" are reported.
 *
 * Known limit: inet host names and service (port) names are checked for
 * their characters only; resolving them is the master's job.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "file_read.h"
#include "cf_lines.h"
#include "config.h"
#include "log.h"
#include "master_cf.h"
#include "strnum.h"
#include "strv.h"
#include "xalloc.h"

/* Longest logical line (one service entry with all its -o lines). */
#define MASTER_CF_ENTRY_MAX_BYTES (64 * 1024)
/* Largest wakeup time and process limit accepted. */
#define MASTER_CF_WAKEUP_MAX_SECONDS (365 * 24 * 3600)
#define MASTER_CF_MAXPROC_MAX 1000000

static const char MASTER_CF_FIELDS[] =
    "service type private unpriv chroot wakeup maxproc command";

struct mcf_word {
	char *text;
	bool braced;	/* came from "{ ... }" */
};

struct mcf_words {
	struct mcf_word *v;
	size_t n;
	size_t cap;
};

struct mcf_parser {
	const char *file;
	const char *text;	/* the whole input, to find physical lines */
	size_t len;
	size_t cursor;		/* offset of the start of cursor_line */
	unsigned cursor_line;
	struct diag_list *diags;
	struct master_service *services;
	size_t nservices;
	size_t cap;
};

static const char *const master_type_names[] = {
	[MASTER_TYPE_INET] = "inet",
	[MASTER_TYPE_UNIX] = "unix",
	[MASTER_TYPE_UNIX_DGRAM] = "unix-dgram",
	[MASTER_TYPE_FIFO] = "fifo",
	[MASTER_TYPE_PASS] = "pass",
};

const char *
master_type_name(enum master_type type)
{
	if ((size_t)type >= N_ELEMENTS(master_type_names))
		return "unknown";
	return master_type_names[type];
}

static bool
mcf_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool
mcf_parse_type(const char *s, enum master_type *type_r)
{
	for (size_t i = 0; i < N_ELEMENTS(master_type_names); i++) {
		if (strcmp(s, master_type_names[i]) == 0) {
			*type_r = (enum master_type)i;
			return true;
		}
	}
	return false;
}

static void
mcf_words_free(struct mcf_words *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->v[i].text);
	free(w->v);
	memset(w, 0, sizeof(*w));
}

static void
mcf_words_add(struct mcf_words *w, const char *s, size_t len, bool braced)
{
	if (w->n == w->cap) {
		w->cap = w->cap == 0 ? 16 : w->cap * 2;
		w->v = xreallocarray(w->v, w->cap, sizeof(*w->v));
	}
	w->v[w->n].text = xstrndup(s, len);
	w->v[w->n].braced = braced;
	w->n++;
}

/* mcf_trim - trim white space at both ends of s[0..*len) in place. */
static const char *
mcf_trim(const char *s, size_t *len)
{
	size_t n = *len;

	while (n > 0 && mcf_is_space(*s)) {
		s++;
		n--;
	}
	while (n > 0 && mcf_is_space(s[n - 1]))
		n--;
	*len = n;
	return s;
}

/*
 * mcf_split - split an entry into words, removing "{ }" grouping.
 * Returns 0, or -1 with *error_r set (static text).
 */
static int
mcf_split(const char *s, size_t len, struct mcf_words *w,
    const char **error_r)
{
	size_t i = 0;

	while (i < len) {
		size_t start, depth;

		while (i < len && mcf_is_space(s[i]))
			i++;
		if (i == len)
			break;
		start = i;
		if (s[i] != '{') {
			while (i < len && !mcf_is_space(s[i]))
				i++;
			mcf_words_add(w, s + start, i - start, false);
			continue;
		}
		depth = 0;
		for (; i < len; i++) {
			if (s[i] == '{')
				depth++;
			else if (s[i] == '}' && --depth == 0)
				break;
		}
		if (i == len) {
			*error_r = "a '{' has no matching '}'";
			return -1;
		}
		i++;
		if (i < len && !mcf_is_space(s[i])) {
			*error_r = "text right after a closing '}': "
			    "put white space after '}'";
			return -1;
		}
		{
			size_t n = i - start - 2;
			const char *inner = mcf_trim(s + start + 1, &n);

			mcf_words_add(w, inner, n, true);
		}
	}
	return 0;
}

/* mcf_flag - y/n/- to 1/0/-1; -2 for anything else. */
static int
mcf_flag(const char *s)
{
	if (strcmp(s, "y") == 0)
		return 1;
	if (strcmp(s, "n") == 0)
		return 0;
	if (strcmp(s, "-") == 0)
		return -1;
	return -2;
}

static int
mcf_parse_wakeup(const char *s, unsigned *wakeup_r, bool *if_used_r,
    const char **error_r)
{
	size_t len = strlen(s);
	long long v;
	char *num;
	int ret;

	*wakeup_r = 0;
	*if_used_r = false;
	if (strcmp(s, "-") == 0)
		return 0;
	if (len > 1 && s[len - 1] == '?') {
		*if_used_r = true;
		len--;
	}
	num = xstrndup(s, len);
	ret = strnum_parse_ll(num, 0, MASTER_CF_WAKEUP_MAX_SECONDS, &v,
	    error_r);
	free(num);
	if (ret < 0)
		return -1;
	*wakeup_r = (unsigned)v;
	return 0;
}

static int
mcf_parse_maxproc(const char *s, int *maxproc_r, const char **error_r)
{
	long long v;

	if (strcmp(s, "-") == 0) {
		*maxproc_r = -1;
		return 0;
	}
	if (strnum_parse_ll(s, 0, MASTER_CF_MAXPROC_MAX, &v, error_r) < 0)
		return -1;
	*maxproc_r = (int)v;
	return 0;
}

static bool
mcf_chars_ok(const char *s, size_t len, const char *extra)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9'))
			continue;
		if (c == '\0' || strchr(extra, c) == NULL)
			return false;
	}
	return true;
}

/* mcf_is_param_name - [A-Za-z0-9_-]+ (per-service names use '-'). */
static bool
mcf_is_param_name(const char *s, size_t len)
{
	return mcf_chars_ok(s, len, "_-");
}

static int
mcf_check_port(const char *port, const char **error_r)
{
	long long v;
	const char *err;

	if (*port == '\0') {
		*error_r = "the port is missing";
		return -1;
	}
	if (port[0] >= '0' && port[0] <= '9') {
		if (strnum_parse_ll(port, 1, 65535, &v, &err) < 0) {
			*error_r = "the port is not a number from 1 to 65535";
			return -1;
		}
		return 0;
	}
	if (!mcf_chars_ok(port, strlen(port), "._-")) {
		*error_r = "the port is neither a number nor a service name";
		return -1;
	}
	return 0;
}

/*
 * mcf_parse_inet - split an inet service name into host (NULL for all
 * addresses) and port.  Accepts port, host:port, [host]:port, *:port;
 * an unbracketed host may hold colons (::1:smtp), the last one splits.
 */
static int
mcf_parse_inet(const char *name, char **host_r, char **port_r,
    const char **error_r)
{
	const char *colon, *port;
	char *host = NULL;

	*host_r = NULL;
	*port_r = NULL;
	if (name[0] == '[') {
		const char *close = strchr(name, ']');
		size_t hlen;

		if (close == NULL) {
			*error_r = "'[' without ']'";
			return -1;
		}
		hlen = (size_t)(close - name - 1);
		if (!mcf_chars_ok(name + 1, hlen, ".:%_-")) {
			*error_r = "bad host address inside [ ]";
			return -1;
		}
		if (close[1] != ':') {
			*error_r = "']' must be followed by ':port'";
			return -1;
		}
		host = xstrndup(name + 1, hlen);
		port = close + 2;
	} else if ((colon = strrchr(name, ':')) != NULL) {
		size_t hlen = (size_t)(colon - name);

		if (hlen == 1 && name[0] == '*') {
			host = NULL;
		} else if (mcf_chars_ok(name, hlen, ".:%_-")) {
			host = xstrndup(name, hlen);
		} else {
			*error_r = hlen == 0 ? "the host before ':' is empty" :
			    "bad host name or address";
			return -1;
		}
		port = colon + 1;
	} else {
		port = name;
	}
	if (mcf_check_port(port, error_r) < 0) {
		free(host);
		return -1;
	}
	*host_r = host;
	*port_r = xstrdup(port);
	return 0;
}

/* mcf_looks_like_field - y, n, -, a number, or a number and '?'. */
static bool
mcf_looks_like_field(const char *s)
{
	size_t len = strlen(s);

	if (mcf_flag(s) != -2)
		return true;
	if (len > 1 && s[len - 1] == '?')
		len--;
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* mcf_find_service_run - index of "type f f f f f command" in args, or -1. */
static ssize_t
mcf_find_service_run(char **args)
{
	size_t n = 0;
	enum master_type t;

	while (args[n] != NULL)
		n++;
	for (size_t i = 0; i + 7 <= n; i++) {
		size_t k;

		if (!mcf_parse_type(args[i], &t))
			continue;
		for (k = 1; k <= 5; k++)
			if (!mcf_looks_like_field(args[i + k]))
				break;
		if (k == 6)
			return (ssize_t)i;
	}
	return -1;
}

/*
 * mcf_locate_words - the physical line, at or after from_line and within
 * the entry starting there, whose words include words[0..n) in a row; 0
 * if none (the run spans lines or used braces).
 */
static unsigned
mcf_locate_words(struct mcf_parser *p, unsigned from_line, char **words,
    size_t n)
{
	/* Move the cursor to from_line; entries arrive in line order. */
	while (p->cursor_line < from_line && p->cursor < p->len) {
		const char *nl = memchr(p->text + p->cursor, '\n',
		    p->len - p->cursor);

		if (nl == NULL)
			return 0;
		p->cursor = (size_t)(nl - p->text) + 1;
		p->cursor_line++;
	}
	if (p->cursor_line != from_line)
		return 0;
	for (size_t off = p->cursor, line = from_line; off < p->len; line++) {
		const char *s = p->text + off;
		const char *nl = memchr(s, '\n', p->len - off);
		size_t llen = nl != NULL ? (size_t)(nl - s) : p->len - off;
		struct mcf_words w = { 0 };
		unsigned found = 0;
		size_t st = 0, end = llen;

		/* Classify the line as cf_lines does. */
		while (end > 0 && mcf_is_space(s[end - 1]))
			end--;
		while (st < end && (s[st] == ' ' || s[st] == '\t'))
			st++;
		if (st < end && s[st] != '#' && line > from_line && st == 0)
			break;	/* the next entry */
		if (st == end || s[st] == '#')
			end = 0;	/* empty or comment: no words */
		/* Plain split; braces do not matter for this search. */
		for (size_t i = 0; i < end;) {
			while (i < end && mcf_is_space(s[i]))
				i++;
			st = i;
			while (i < end && !mcf_is_space(s[i]))
				i++;
			if (i > st)
				mcf_words_add(&w, s + st, i - st, false);
		}
		for (size_t i = 0; i + n <= w.n && found == 0; i++) {
			size_t k = 0;

			while (k < n && strcmp(w.v[i + k].text, words[k]) == 0)
				k++;
			if (k == n)
				found = (unsigned)line;
		}
		mcf_words_free(&w);
		if (found != 0)
			return found;
		if (nl == NULL)
			break;
		off += llen + 1;
	}
	return 0;
}

/*
 * mcf_words_line - the physical line holding words first..first+count-1
 * of the entry at lineno, or lineno when it cannot be told.
 */
static unsigned
mcf_words_line(struct mcf_parser *p, unsigned lineno,
    const struct mcf_words *w, size_t first, size_t count)
{
	char **v;
	unsigned found;

	for (size_t k = first; k < first + count; k++)
		if (w->v[k].braced)
			return lineno;
	v = xreallocarray(NULL, count, sizeof(*v));
	for (size_t k = 0; k < count; k++)
		v[k] = w->v[first + k].text;
	found = mcf_locate_words(p, lineno, v, count);
	free(v);
	return found != 0 ? found : lineno;
}

static void
mcf_service_deinit(struct master_service *s)
{
	free(s->name);
	free(s->command);
	strv_free(&s->args);
	for (size_t i = 0; i < s->nopts; i++) {
		free(s->opts[i].name);
		free(s->opts[i].value);
	}
	free(s->opts);
	free(s->inet_host);
	free(s->inet_port);
	free(s->file);
	memset(s, 0, sizeof(*s));
}

static void
mcf_add_opt(struct master_service *s, size_t *cap, const char *name,
    size_t nlen, const char *value, size_t vlen)
{
	if (s->nopts == *cap) {
		*cap = *cap == 0 ? 8 : *cap * 2;
		s->opts = xreallocarray(s->opts, *cap, sizeof(*s->opts));
	}
	s->opts[s->nopts].name = xstrndup(name, nlen);
	s->opts[s->nopts].value = xstrndup(value, vlen);
	s->nopts++;
}

/*
 * mcf_parse_args - words after the command.  As in Postfix, whose daemons
 * read their options with getopt and stop at the first word that is not
 * an option, "-o" overrides are taken only before the first other
 * argument (or "--"); from there on every word is a command argument,
 * which keeps a pipe(8) "argv=... -o ..." intact.  Options other than
 * -o (-v, -D) are kept in args.  Braces do not matter here: Postfix
 * removes them before the daemon sees its arguments.  Returns the number
 * of errors added.
 */
static unsigned
mcf_parse_args(struct mcf_parser *p, unsigned lineno,
    const struct mcf_words *w, struct master_service *s,
    const char **late_opt_r)
{
	struct strv args;
	size_t optcap = 0;
	unsigned errors = 0;
	bool in_opts = true, seen_argv = false;

	*late_opt_r = NULL;
	strv_init(&args);
	for (size_t i = 8; i < w->n; i++) {
		const struct mcf_word *cur = &w->v[i];
		const char *nv, *eq, *name, *value;
		size_t nlen, vlen, first = i;

		if (!in_opts || strncmp(cur->text, "-o", 2) != 0) {
			if (cur->text[0] != '-' ||
			    strcmp(cur->text, "-") == 0 ||
			    strcmp(cur->text, "--") == 0)
				in_opts = false;
			else if (!in_opts && !seen_argv &&
			    *late_opt_r == NULL &&
			    strcmp(cur->text, "-o") == 0)
				*late_opt_r = args.v[args.n - 1];
			if (!cur->braced && strncmp(cur->text, "argv=", 5) == 0)
				seen_argv = true;
			strv_add(&args, cur->text);
			continue;
		}
		if (cur->text[2] != '\0') {
			nv = cur->text + 2;	/* "-oname=value" */
		} else if (i + 1 < w->n) {
			nv = w->v[++i].text;
		} else {
			diag_add(p->diags, DIAG_ERROR, p->file, lineno,
			    "'-o' at the end of service '%s' has nothing "
			    "after it: expected -o name=value", s->name);
			errors++;
			break;
		}
		eq = strchr(nv, '=');
		if (w->v[i].braced) {
			/* Long form "-o { name = value }". */
			if (eq == NULL) {
				diag_add(p->diags, DIAG_ERROR, p->file, lineno,
				    "'-o { %s }' in service '%s' has no '=': "
				    "expected -o { name = value }", nv,
				    s->name);
				errors++;
				continue;
			}
			nlen = (size_t)(eq - nv);
			name = mcf_trim(nv, &nlen);
			vlen = strlen(eq + 1);
			value = mcf_trim(eq + 1, &vlen);
		} else if (eq != NULL) {
			name = nv;
			nlen = (size_t)(eq - nv);
			value = eq + 1;
			vlen = strlen(value);
		} else if (i + 2 < w->n && !w->v[i + 1].braced &&
		    strcmp(w->v[i + 1].text, "=") == 0 &&
		    (w->v[i + 2].braced ||
		    strncmp(w->v[i + 2].text, "-o", 2) != 0)) {
			/* "-o name = value" over three words. */
			name = nv;
			nlen = strlen(nv);
			value = w->v[i + 2].text;
			vlen = strlen(value);
			i += 2;
		} else {
			diag_add(p->diags, DIAG_ERROR, p->file,
			    mcf_words_line(p, lineno, w, first, i - first + 1),
			    "'-o %s' in service '%s' is not name=value: "
			    "expected -o name=value (for an empty value "
			    "write '-o %s=')", nv, s->name, nv);
			errors++;
			continue;
		}
		if (!mcf_is_param_name(name, nlen)) {
			diag_add(p->diags, DIAG_ERROR, p->file,
			    mcf_words_line(p, lineno, w, first, i - first + 1),
			    "'-o %s' in service '%s': '%.*s' is not a "
			    "parameter name: expected -o name=value where the "
			    "name has only letters, digits, '_' and '-'",
			    nv, s->name, (int)nlen, name);
			errors++;
			continue;
		}
		mcf_add_opt(s, &optcap, name, nlen, value, vlen);
	}
	s->args = strv_steal(&args);
	strv_deinit(&args);
	return errors;
}

/*
 * mcf_check_service_run - the misplaced-service diagnosis: an indented
 * line that was meant to start a service of its own (in the classic
 * amavis setup, a listen address lost from "127.0.0.1:10025 inet n - -
 * - - smtpd") is joined to the service above it.  Returns 1 if found.
 */
static unsigned
mcf_check_service_run(struct mcf_parser *p, unsigned lineno,
    const struct master_service *s)
{
	ssize_t at = mcf_find_service_run(s->args);
	char **run;
	struct buf b;
	unsigned where;
	enum master_type t = MASTER_TYPE_UNIX;

	if (at < 0)
		return 0;
	run = s->args + at;
	(void)mcf_parse_type(run[0], &t);
	buf_init(&b, MASTER_CF_ENTRY_MAX_BYTES);
	for (size_t k = 0; k < 7; k++)
		if (buf_appendf(&b, "%s%s", k > 0 ? " " : "", run[k]) < 0)
			break;
	where = mcf_locate_words(p, lineno, run, 7);
	if (where == lineno) {
		diag_add(p->diags, DIAG_ERROR, p->file, lineno,
		    "the arguments of service '%s' (%s) contain '%s', which "
		    "looks like a second service definition on the same "
		    "line: each service must start on a line of its own",
		    s->name, master_type_name(s->type), buf_cstr(&b));
	} else if (at > 0) {
		diag_add(p->diags, DIAG_ERROR, p->file,
		    where != 0 ? where : lineno,
		    "'%s %s' looks like a service definition, but its line "
		    "starts with white space, so it continues the previous "
		    "service '%s' (%s, line %u) and became arguments of its "
		    "command '%s': if it is meant to be its own service, "
		    "remove the white space before '%s'", run[-1],
		    buf_cstr(&b), s->name, master_type_name(s->type), lineno,
		    s->command, run[-1]);
	} else {
		diag_add(p->diags, DIAG_ERROR, p->file,
		    where != 0 ? where : lineno,
		    "'%s' looks like a service definition, but its line "
		    "starts with white space, so it continues the previous "
		    "service '%s' (%s, line %u) and became arguments of its "
		    "command '%s': if it is meant to be its own service, its "
		    "first field (the service name or listen address, such "
		    "as %s) is missing", buf_cstr(&b), s->name,
		    master_type_name(s->type), lineno, s->command,
		    t == MASTER_TYPE_INET ? "127.0.0.1:10025" : "'amavis'");
	}
	buf_deinit(&b);
	return 1;
}

/* mcf_entry - parse one logical line (a cf_line_cb). */
static int
mcf_entry(void *ctx, const char *text, size_t len, unsigned lineno)
{
	static const char *const flag_names[] = {
		"private", "unpriv", "chroot"
	};
	struct mcf_parser *p = ctx;
	struct mcf_words w = { 0 };
	struct master_service s;
	const char *err = NULL, *late_opt = NULL;
	unsigned errors = 0;
	int *flags[3];

	memset(&s, 0, sizeof(s));
	flags[0] = &s.private_flag;
	flags[1] = &s.unpriv_flag;
	flags[2] = &s.chroot_flag;
	if (mcf_split(text, len, &w, &err) < 0) {
		diag_add(p->diags, DIAG_ERROR, p->file, lineno,
		    "%s (use '{' and '}' in pairs, as in "
		    "-o { name = value with spaces })", err);
		goto out;
	}
	if (w.n == 0)
		goto out;
	if (!w.v[0].braced && strncmp(w.v[0].text, "-o", 2) == 0) {
		diag_add(p->diags, DIAG_ERROR, p->file, lineno,
		    "'%s' at the start of a line: an -o line must start "
		    "with white space to continue the service above it",
		    w.v[0].text);
		goto out;
	}
	if (w.n < 8) {
		diag_add(p->diags, DIAG_ERROR, p->file, lineno,
		    "service '%s' has %zu field%s, expected at least 8: %s",
		    w.v[0].text, w.n, w.n == 1 ? "" : "s", MASTER_CF_FIELDS);
		goto out;
	}
	for (size_t i = 0; i < 8; i++) {
		if (w.v[i].braced) {
			diag_add(p->diags, DIAG_ERROR, p->file, lineno,
			    "field %zu ('{%s}') cannot use '{ }' grouping; "
			    "only command arguments can: expected %s", i + 1,
			    w.v[i].text, MASTER_CF_FIELDS);
			goto out;
		}
	}
	if (w.v[0].text[0] == '#') {
		/* Only after a leading CR; it would print as a comment. */
		diag_add(p->diags, DIAG_ERROR, p->file, lineno,
		    "service name '%s' starts with '#': expected a name or "
		    "listen address", w.v[0].text);
		goto out;
	}
	s.name = xstrdup(w.v[0].text);
	s.command = xstrdup(w.v[7].text);
	s.file = xstrdup(p->file);
	s.line = lineno;
	if (!mcf_parse_type(w.v[1].text, &s.type)) {
		diag_add(p->diags, DIAG_ERROR, p->file, lineno,
		    "service '%s' has unknown type '%s': expected inet, unix, "
		    "unix-dgram, fifo or pass", s.name, w.v[1].text);
		errors++;
	} else if (s.type == MASTER_TYPE_INET &&
	    mcf_parse_inet(s.name, &s.inet_host, &s.inet_port, &err) < 0) {
		diag_add(p->diags, DIAG_ERROR, p->file, lineno,
		    "bad inet listen address '%s': %s; expected port, "
		    "host:port, [host]:port or *:port (for example smtp, "
		    "127.0.0.1:10025 or [::1]:25)", s.name, err);
		errors++;
	} else if (s.type != MASTER_TYPE_INET &&
	    !master_service_name_is_safe(s.name)) {
		diag_add(p->diags, DIAG_ERROR, p->file, lineno,
		    "bad %s service name '%s': it names a socket under "
		    "$queue_directory/private and a transport, so it must be "
		    "1 to %d letters, digits, '.', '_' or '-', not starting "
		    "with '.' or '-' (for example dovecot or smtp-amavis)",
		    master_type_name(s.type), s.name,
		    MASTER_SERVICE_NAME_MAX);
		errors++;
	}
	for (size_t i = 0; i < 3; i++) {
		*flags[i] = mcf_flag(w.v[2 + i].text);
		if (*flags[i] == -2) {
			diag_add(p->diags, DIAG_ERROR, p->file, lineno,
			    "service '%s': bad %s field '%s' (field %zu): "
			    "expected y, n or -", s.name, flag_names[i],
			    w.v[2 + i].text, i + 3);
			errors++;
		}
	}
	if (mcf_parse_wakeup(w.v[5].text, &s.wakeup, &s.wakeup_if_used,
	    &err) < 0) {
		diag_add(p->diags, DIAG_ERROR, p->file, lineno,
		    "service '%s': bad wakeup field '%s' (field 6): %s; "
		    "expected -, a number of seconds from 0 to %d, or such "
		    "a number followed by '?'", s.name, w.v[5].text, err,
		    MASTER_CF_WAKEUP_MAX_SECONDS);
		errors++;
	}
	if (mcf_parse_maxproc(w.v[6].text, &s.maxproc, &err) < 0) {
		diag_add(p->diags, DIAG_ERROR, p->file, lineno,
		    "service '%s': bad maxproc field '%s' (field 7): %s; "
		    "expected - or a process limit from 0 (no limit) to %d",
		    s.name, w.v[6].text, err, MASTER_CF_MAXPROC_MAX);
		errors++;
	}
	errors += mcf_parse_args(p, lineno, &w, &s, &late_opt);
	if (mcf_check_service_run(p, lineno, &s) > 0)
		errors++;
	else if (late_opt != NULL)
		diag_add(p->diags, DIAG_WARNING, p->file, lineno,
		    "service '%s': '-o' after the argument '%s' is passed to "
		    "the command '%s' as an argument, not taken as a parameter "
		    "override: put -o options before other arguments",
		    s.name, late_opt, s.command);
	if (errors == 0) {
		if (p->nservices == p->cap) {
			p->cap = p->cap == 0 ? 32 : p->cap * 2;
			p->services = xreallocarray(p->services, p->cap,
			    sizeof(*p->services));
		}
		p->services[p->nservices++] = s;
		memset(&s, 0, sizeof(s));
	}
out:
	mcf_service_deinit(&s);
	mcf_words_free(&w);
	return 0;
}

static int
mcf_cmp_services(const void *a, const void *b)
{
	const struct master_service *x = *(struct master_service *const *)a;
	const struct master_service *y = *(struct master_service *const *)b;
	int c;

	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	if ((c = strcmp(x->name, y->name)) != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int
mcf_cmp_lines(const void *a, const void *b)
{
	const struct master_service *x = ((struct master_service *const *)a)[0];
	const struct master_service *y = ((struct master_service *const *)b)[0];

	return x->line < y->line ? -1 : x->line > y->line;
}

/*
 * mcf_check_duplicates - one error per repeated name and type, at the
 * later line and naming the first.  Sorted, not pairwise, so that a
 * file of many small entries stays fast.
 */
static void
mcf_check_duplicates(struct mcf_parser *p)
{
	const struct master_service **sorted, **dups;
	size_t ndups = 0;

	if (p->nservices < 2)
		return;
	sorted = xreallocarray(NULL, p->nservices, sizeof(*sorted));
	/* dups holds pairs: the repeat, then the first definition. */
	dups = xreallocarray(NULL, p->nservices, 2 * sizeof(*dups));
	for (size_t i = 0; i < p->nservices; i++)
		sorted[i] = &p->services[i];
	qsort(sorted, p->nservices, sizeof(*sorted), mcf_cmp_services);
	for (size_t i = 1, first = 0; i < p->nservices; i++) {
		if (sorted[i]->type != sorted[first]->type ||
		    strcmp(sorted[i]->name, sorted[first]->name) != 0) {
			first = i;
			continue;
		}
		dups[2 * ndups] = sorted[i];
		dups[2 * ndups + 1] = sorted[first];
		ndups++;
	}
	qsort(dups, ndups, 2 * sizeof(*dups), mcf_cmp_lines);
	for (size_t i = 0; i < ndups; i++)
		diag_add(p->diags, DIAG_ERROR, p->file, dups[2 * i]->line,
		    "duplicate service '%s' (%s): it is also defined at "
		    "%s:%u; each name and type may be defined only once, so "
		    "remove or rename one of them", dups[2 * i]->name,
		    master_type_name(dups[2 * i]->type), p->file,
		    dups[2 * i + 1]->line);
	free(sorted);
	free(dups);
}

static void
mcf_services_free(struct master_service *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mcf_service_deinit(&v[i]);
	free(v);
}

int
master_cf_parse(const char *text, size_t len, const char *filename,
    struct master_cf **cf_r, struct diag_list *diags)
{
	struct mcf_parser p;
	struct cf_lines reader;
	const char *err = NULL;
	unsigned errline = 0;
	size_t errors_before = diags->errors;
	struct master_cf *cf;

	*cf_r = NULL;
	if (len > MASTER_CF_MAX_BYTES) {
		diag_add(diags, DIAG_ERROR, filename, 0,
		    "file is too big: %zu bytes, at most %d allowed", len,
		    MASTER_CF_MAX_BYTES);
		return -1;
	}
	memset(&p, 0, sizeof(p));
	p.file = filename;
	p.text = text;
	p.len = len;
	p.cursor_line = 1;
	p.diags = diags;
	cf_lines_init(&reader, MASTER_CF_ENTRY_MAX_BYTES);
	if (cf_lines_feed(&reader, text, len, mcf_entry, &p, &err,
	    &errline) < 0 ||
	    cf_lines_finish(&reader, mcf_entry, &p, &err, &errline) < 0) {
		if (err != NULL && strcmp(err, "logical line too long") == 0)
			diag_add(diags, DIAG_ERROR, filename, errline,
			    "service entry too long: with its continuation "
			    "lines it may have at most %d bytes",
			    MASTER_CF_ENTRY_MAX_BYTES);
		else
			diag_add(diags, DIAG_ERROR, filename, errline, "%s",
			    err != NULL ? err : "parsing stopped");
	}
	cf_lines_deinit(&reader);
	mcf_check_duplicates(&p);
	if (diags->errors > errors_before) {
		mcf_services_free(p.services, p.nservices);
		return -1;
	}
	cf = xcalloc(1, sizeof(*cf));
	cf->services = p.services;
	cf->nservices = p.nservices;
	*cf_r = cf;
	return 0;
}

int
master_cf_load(const char *path, struct master_cf **cf_r,
    struct diag_list *diags)
{
	char *text, *err = NULL;
	size_t len = 0;
	int e = 0, ret;

	*cf_r = NULL;
	text = file_read_capped(path, MASTER_CF_MAX_BYTES, &len, &e, &err);
	if (text == NULL) {
		diag_add(diags, DIAG_ERROR, path, 0, "%s", err);
		free(err);
		return -1;
	}
	ret = master_cf_parse(text, len, path, cf_r, diags);
	free(text);
	return ret;
}

static bool
mcf_str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

bool
master_service_equal(const struct master_service *a,
    const struct master_service *b)
{
	size_t i;

	if (!mcf_str_eq(a->name, b->name) || a->type != b->type ||
	    a->private_flag != b->private_flag ||
	    a->unpriv_flag != b->unpriv_flag ||
	    a->chroot_flag != b->chroot_flag || a->wakeup != b->wakeup ||
	    a->wakeup_if_used != b->wakeup_if_used ||
	    a->maxproc != b->maxproc || !mcf_str_eq(a->command, b->command) ||
	    !mcf_str_eq(a->inet_host, b->inet_host) ||
	    !mcf_str_eq(a->inet_port, b->inet_port) || a->nopts != b->nopts)
		return false;
	for (i = 0; a->args[i] != NULL && b->args[i] != NULL; i++)
		if (strcmp(a->args[i], b->args[i]) != 0)
			return false;
	if (a->args[i] != NULL || b->args[i] != NULL)
		return false;
	for (i = 0; i < a->nopts; i++)
		if (strcmp(a->opts[i].name, b->opts[i].name) != 0 ||
		    strcmp(a->opts[i].value, b->opts[i].value) != 0)
			return false;
	return true;
}

void
master_cf_free(struct master_cf **cfp)
{
	struct master_cf *cf = *cfp;

	if (cf == NULL)
		return;
	mcf_services_free(cf->services, cf->nservices);
	free(cf);
	*cfp = NULL;
}

const struct master_service *
master_cf_find(const struct master_cf *cf, const char *name,
    enum master_type type)
{
	for (size_t i = 0; i < cf->nservices; i++)
		if (cf->services[i].type == type &&
		    strcmp(cf->services[i].name, name) == 0)
			return &cf->services[i];
	return NULL;
}

long
master_cf_find_program(const struct master_cf *cf, const char *program,
    enum master_type type)
{
	for (size_t i = 0; cf != NULL && i < cf->nservices; i++) {
		const char *cmd = cf->services[i].command;
		const char *slash = strrchr(cmd, '/');

		if (cf->services[i].type == type && strcmp(slash != NULL ?
		    slash + 1 : cmd, program) == 0)
			return (long)i;
	}
	return -1;
}

static bool
mcf_has_space(const char *s)
{
	for (; *s != '\0'; s++)
		if (mcf_is_space(*s))
			return true;
	return false;
}

static void
mcf_append(struct buf *b, const char *fmt, ...) ATTR_FORMAT(2, 3);

static void
mcf_append(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = buf_vappendf(b, fmt, ap);
	va_end(ap);
	if (ret < 0)
		log_panic("master_service_format: output too long");
}

char *
master_service_format(const struct master_service *s)
{
	static const char flagc[] = { '-', 'n', 'y' };
	struct buf b;

	buf_init(&b, SIZE_MAX / 4);
	mcf_append(&b, "%s %s %c %c %c ", s->name, master_type_name(s->type),
	    flagc[s->private_flag + 1], flagc[s->unpriv_flag + 1],
	    flagc[s->chroot_flag + 1]);
	if (s->wakeup == 0 && !s->wakeup_if_used)
		mcf_append(&b, "- ");
	else
		mcf_append(&b, "%u%s ", s->wakeup,
		    s->wakeup_if_used ? "?" : "");
	if (s->maxproc < 0)
		mcf_append(&b, "- ");
	else
		mcf_append(&b, "%d ", s->maxproc);
	mcf_append(&b, "%s", s->command);
	for (size_t i = 0; i < s->nopts; i++) {
		const struct master_option *o = &s->opts[i];

		if (mcf_has_space(o->value))
			mcf_append(&b, " -o { %s = %s }", o->name, o->value);
		else
			mcf_append(&b, " -o %s=%s", o->name, o->value);
	}
	for (char **a = s->args; a != NULL && *a != NULL; a++) {
		/*
		 * Braces keep an argument in one piece.  An argument that
		 * needs them came from braces, so its own braces pair up.
		 * Options come first: no argument that precedes the end of
		 * the options starts with "-o", and after it none is an
		 * option, so "-o..." arguments print as they are.
		 */
		if (**a == '\0' || **a == '{' || mcf_has_space(*a))
			mcf_append(&b, " { %s }", *a);
		else
			mcf_append(&b, " %s", *a);
	}
	return buf_steal(&b);
}

bool
master_service_name_is_safe(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > MASTER_SERVICE_NAME_MAX || name[0] == '.' ||
	    name[0] == '-')
		return false;
	return mcf_chars_ok(name, n, "._-");
}

/* mcf_cpu_count - online CPU cores, 1 to MASTER_SERVICE_PROCS_MAX. */
static unsigned
mcf_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > MASTER_SERVICE_PROCS_MAX ?
	    MASTER_SERVICE_PROCS_MAX : (unsigned)n;
}

/* mcf_basename - the command without its directory. */
static const char *
mcf_basename(const char *command)
{
	const char *cmd = strrchr(command, '/');

	return cmd != NULL ? cmd + 1 : command;
}

bool
master_service_is_event_driven(const struct master_service *ms)
{
	return strcmp(mcf_basename(ms->command), "smtp") == 0;
}

unsigned
master_service_concurrency(const struct master_service *ms,
    const struct config_view *v)
{
	long long n;

	if (!master_service_is_event_driven(ms))
		return master_service_process_count(ms, v);
	n = ms->maxproc > 0 ? (long long)ms->maxproc :
	    config_int(v, P_default_process_limit);
	if (n < 1)
		n = 1;
	if (n > MASTER_SERVICE_CONCURRENCY_MAX)
		n = MASTER_SERVICE_CONCURRENCY_MAX;
	return (unsigned)n;
}

unsigned
master_service_process_count(const struct master_service *ms,
    const struct config_view *v)
{
	const char *cmd = mcf_basename(ms->command);
	unsigned long long n;

	if (master_service_is_event_driven(ms)) {
		unsigned c = master_service_concurrency(ms, v);

		return c < mcf_cpu_count() ? c : mcf_cpu_count();
	}
	/* One process forks a command per connection (maxproc bounds the
	 * commands at once). */
	if (strcmp(cmd, "spawn") == 0)
		return 1;
	if (ms->maxproc > 0) {
		n = (unsigned long long)ms->maxproc;
	} else if (strcmp(cmd, "smtpd") == 0 ||
	    strcmp(cmd, "postscreen") == 0) {
		n = mcf_cpu_count();
	} else {
		long long limit = config_int(v, P_default_process_limit);

		n = 4ULL * mcf_cpu_count();
		if (limit > 0 && (unsigned long long)limit < n)
			n = (unsigned long long)limit;
	}
	if (n < 1)
		n = 1;
	if (n > MASTER_SERVICE_PROCS_MAX)
		n = MASTER_SERVICE_PROCS_MAX;
	return (unsigned)n;
}
