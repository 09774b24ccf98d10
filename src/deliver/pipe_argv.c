/* SPDX-License-Identifier: MIT */
/*
 * pipe_argv - pipe service arguments and macro expansion; see
 * pipe_argv.h.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "compat.h"
#include "maps.h"
#include "pipe_argv.h"
#include "strnum.h"
#include "strv.h"
#include "xalloc.h"

/* ------------------------------------------------------------ macros */

enum pipe_macro {
	M_SENDER,
	M_RECIPIENT,
	M_ORIGINAL_RECIPIENT,
	M_USER,
	M_EXTENSION,
	M_MAILBOX,
	M_DOMAIN,
	M_NEXTHOP,
	M_QUEUE_ID,
	M_SIZE,
	M_CLIENT_ADDRESS,
	M_CLIENT_HOSTNAME,
	M_CLIENT_HELO,
	M_CLIENT_PROTOCOL,
	M_CLIENT_PORT,
	M_SASL_METHOD,
	M_SASL_SENDER,
	M_SASL_USERNAME,
};

static const struct {
	const char *name;
	enum pipe_macro id;
	bool per_rcpt;
} macros[] = {
	{ "sender", M_SENDER, false },
	{ "recipient", M_RECIPIENT, true },
	{ "original_recipient", M_ORIGINAL_RECIPIENT, true },
	{ "user", M_USER, true },
	{ "extension", M_EXTENSION, true },
	{ "mailbox", M_MAILBOX, true },
	{ "domain", M_DOMAIN, true },
	{ "nexthop", M_NEXTHOP, false },
	{ "queue_id", M_QUEUE_ID, false },
	{ "size", M_SIZE, false },
	{ "client_address", M_CLIENT_ADDRESS, false },
	{ "client_hostname", M_CLIENT_HOSTNAME, false },
	{ "client_helo", M_CLIENT_HELO, false },
	{ "client_protocol", M_CLIENT_PROTOCOL, false },
	{ "client_port", M_CLIENT_PORT, false },
	{ "sasl_method", M_SASL_METHOD, false },
	{ "sasl_sender", M_SASL_SENDER, false },
	{ "sasl_username", M_SASL_USERNAME, false },
};

static bool
is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

static int
macro_find(const char *name, size_t len)
{
	for (size_t i = 0; i < N_ELEMENTS(macros); i++)
		if (strlen(macros[i].name) == len &&
		    memcmp(macros[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

void
pipe_address_parts(const char *address, const char *delimiters,
    char **user_r, char **extension_r, char **mailbox_r, char **domain_r)
{
	const char *at = strrchr(address, '@');
	size_t llen = at != NULL ? (size_t)(at - address) : strlen(address);
	size_t cut = maps_split_extension(address, llen,
	    delimiters != NULL ? delimiters : "", 0);

	*mailbox_r = xstrndup(address, llen);
	*domain_r = xstrdup(at != NULL ? at + 1 : "");
	*user_r = xstrndup(address, cut);
	*extension_r = cut < llen ? xstrndup(address + cut + 1,
	    llen - cut - 1) : xstrdup("");
}

/* atext of RFC 5322, plus 8-bit bytes (8-bit transparent). */
static bool
is_atext(unsigned char c)
{
	return c >= 0x80 || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* local_needs_quotes - is localpart[0..len) not a dot-atom? */
static bool
local_needs_quotes(const char *s, size_t len)
{
	if (len == 0)
		return false;	/* "" and "@domain" stay as they are */
	if (s[0] == '.' || s[len - 1] == '.')
		return true;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return true;
		} else if (!is_atext((unsigned char)s[i]))
			return true;
	}
	return false;
}

char *
pipe_quote_address(const char *address)
{
	const char *at = strrchr(address, '@');
	size_t llen = at != NULL ? (size_t)(at - address) : strlen(address);
	struct buf b;

	if (!local_needs_quotes(address, llen))
		return xstrdup(address);
	buf_init(&b, 2 * strlen(address) + 3);
	(void)buf_append_c(&b, '"');
	for (size_t i = 0; i < llen; i++) {
		if (address[i] == '"' || address[i] == '\\')
			(void)buf_append_c(&b, '\\');
		(void)buf_append_c(&b, address[i]);
	}
	(void)buf_append_c(&b, '"');
	if (at != NULL)
		(void)buf_append_str(&b, at);
	return buf_steal(&b);
}

/* fold_address - h: domain part, u: localpart, to lower case. */
static void
fold_address(char *a, unsigned flags)
{
	char *at = strrchr(a, '@');

	if ((flags & PIPE_F_LOWER_HOST) != 0 && at != NULL)
		lower(at + 1);
	if ((flags & PIPE_F_LOWER_USER) != 0) {
		if (at != NULL)
			*at = '\0';
		lower(a);
		if (at != NULL)
			*at = '@';
	}
}

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

/* macro_value - the value of macros[i] for m (caller frees). */
static char *
macro_value(const struct pipe_args *pa, const struct pipe_macros *m,
    size_t i)
{
	char *user, *ext, *mbox, *dom, *v;
	const char *rcpt = m->recipient;

	switch (macros[i].id) {
	case M_SENDER:
		if (nz(m->sender)[0] == '\0') {
			v = xstrdup(nz(pa->null_sender));
		} else {
			v = xstrdup(m->sender);
			fold_address(v, pa->flags);
		}
		if ((pa->flags & PIPE_F_QUOTE) != 0 && v[0] != '\0') {
			char *q = pipe_quote_address(v);

			free(v);
			v = q;
		}
		return v;
	case M_RECIPIENT:
	case M_ORIGINAL_RECIPIENT:
		v = xstrdup(macros[i].id == M_RECIPIENT ? nz(rcpt) :
		    nz(m->original_recipient));
		fold_address(v, pa->flags);
		if ((pa->flags & PIPE_F_QUOTE) != 0) {
			char *q = pipe_quote_address(v);

			free(v);
			v = q;
		}
		return v;
	case M_USER:
	case M_EXTENSION:
	case M_MAILBOX:
	case M_DOMAIN:
		pipe_address_parts(nz(rcpt), m->delimiters, &user, &ext,
		    &mbox, &dom);
		if ((pa->flags & PIPE_F_LOWER_USER) != 0) {
			lower(user);
			lower(mbox);
		}
		if ((pa->flags & PIPE_F_LOWER_HOST) != 0)
			lower(dom);
		v = macros[i].id == M_USER ? user :
		    macros[i].id == M_EXTENSION ? ext :
		    macros[i].id == M_MAILBOX ? mbox : dom;
		if (v != user)
			free(user);
		if (v != ext)
			free(ext);
		if (v != mbox)
			free(mbox);
		if (v != dom)
			free(dom);
		return v;
	case M_NEXTHOP:
		v = xstrdup(nz(m->nexthop));
		if ((pa->flags & PIPE_F_LOWER_HOST) != 0)
			lower(v);
		return v;
	case M_QUEUE_ID:
		return xstrdup(nz(m->queue_id));
	case M_SIZE:
		return xasprintf("%" PRIu64, m->size);
	case M_CLIENT_ADDRESS:
		return xstrdup(nz(m->client_address));
	case M_CLIENT_HOSTNAME:
		return xstrdup(nz(m->client_hostname));
	case M_CLIENT_HELO:
		return xstrdup(nz(m->client_helo));
	case M_CLIENT_PROTOCOL:
		return xstrdup(nz(m->client_protocol));
	case M_SASL_USERNAME:
		return xstrdup(nz(m->sasl_username));
	case M_CLIENT_PORT:
	case M_SASL_METHOD:
	case M_SASL_SENDER:
		break;		/* not known to the delivery agent */
	}
	return xstrdup("");
}

static char *
known_names(void)
{
	struct buf b;

	buf_init(&b, 4096);
	for (size_t i = 0; i < N_ELEMENTS(macros); i++)
		(void)buf_appendf(&b, "%s%s", i > 0 ? ", " : "",
		    macros[i].name);
	return buf_steal(&b);
}

/*
 * walk - go through the macros of arg: check them (out NULL) or expand
 * them into out (pa and m set).  0, or -1 with *error_r.
 */
static int
walk(const char *arg, bool *per_rcpt_r, struct buf *out,
    const struct pipe_args *pa, const struct pipe_macros *m,
    char **error_r)
{
	const char *p = arg;

	while (*p != '\0') {
		const char *dollar = strchr(p, '$'), *name;
		size_t nlen;
		char close = '\0';
		int i;

		if (dollar == NULL)
			dollar = p + strlen(p);
		if (out != NULL && buf_append(out, p, (size_t)(dollar - p)) <
		    0)
			goto too_long;
		if (*dollar == '\0')
			break;
		p = dollar + 1;
		if (*p == '$') {
			if (out != NULL && buf_append_c(out, '$') < 0)
				goto too_long;
			p++;
			continue;
		}
		if (*p == '{')
			close = '}';
		else if (*p == '(')
			close = ')';
		if (close != '\0')
			p++;
		name = p;
		while (is_name_char(*p))
			p++;
		nlen = (size_t)(p - name);
		if (nlen == 0) {
			if (close != '\0')
				*error_r = xasprintf("argument \"%s\": \"$%c\" "
				    "is not followed by a macro name", arg,
				    close == '}' ? '{' : '(');
			else
				*error_r = xasprintf("argument \"%s\": a lone "
				    "\"$\" (write \"$$\" for a dollar sign, "
				    "or ${name} for a macro)", arg);
			return -1;
		}
		if (close != '\0') {
			if ((*p == '?' || *p == ':') && close == '}') {
				*error_r = xasprintf("argument \"%s\": "
				    "conditional macros (${%.*s%c...}) are "
				    "not supported", arg, (int)nlen, name,
				    *p);
				return -1;
			}
			if (*p != close) {
				*error_r = xasprintf("argument \"%s\": macro "
				    "\"$%c%.*s\" is not closed with \"%c\"",
				    arg, close == '}' ? '{' : '(', (int)nlen,
				    name, close);
				return -1;
			}
			p++;
		}
		i = macro_find(name, nlen);
		if (i < 0) {
			char *known = known_names();

			*error_r = xasprintf("argument \"%s\": unknown macro "
			    "\"%.*s\" (known: %s)", arg, (int)nlen, name,
			    known);
			free(known);
			return -1;
		}
		if (macros[i].per_rcpt && per_rcpt_r != NULL)
			*per_rcpt_r = true;
		if (out != NULL) {
			char *v = macro_value(pa, m, (size_t)i);
			int r = buf_append_str(out, v);

			free(v);
			if (r < 0)
				goto too_long;
		}
	}
	return 0;
too_long:
	*error_r = xasprintf("argument \"%s\" is longer than %d bytes once "
	    "expanded", arg, PIPE_ARG_EXPANDED_MAX);
	return -1;
}

int
pipe_arg_check(const char *arg, bool *per_rcpt_r, char **error_r)
{
	return walk(arg, per_rcpt_r, NULL, NULL, NULL, error_r);
}

char **
pipe_argv_expand(const struct pipe_args *pa, const struct pipe_macros *m,
    char **error_r)
{
	struct strv sv;
	struct buf b;

	strv_init(&sv);
	buf_init(&b, PIPE_ARG_EXPANDED_MAX);
	for (size_t i = 0; i < pa->argc; i++) {
		if (i == 0) {
			strv_add(&sv, pa->argv[0]);	/* no macros there */
			continue;
		}
		buf_reset(&b);
		if (walk(pa->argv[i], NULL, &b, pa, m, error_r) < 0) {
			buf_deinit(&b);
			strv_deinit(&sv);
			return NULL;
		}
		strv_addn(&sv, buf_cstr(&b), b.len);
	}
	buf_deinit(&b);
	return strv_steal(&sv);
}

/* ------------------------------------------------------------ attrs */

int
pipe_flags_parse(const char *s, unsigned *flags_r, char **error_r)
{
	static const struct {
		char c;
		unsigned bit;
	} letters[] = {
		{ 'B', PIPE_F_BLANK }, { 'D', PIPE_F_DELIVERED },
		{ 'F', PIPE_F_FROM }, { 'O', PIPE_F_ORIG },
		{ 'R', PIPE_F_RETURN }, { 'X', PIPE_F_FINAL },
		{ 'h', PIPE_F_LOWER_HOST }, { 'q', PIPE_F_QUOTE },
		{ 'u', PIPE_F_LOWER_USER }, { '.', PIPE_F_DOT },
		{ '>', PIPE_F_FROM_ESC },
	};
	unsigned flags = 0;

	for (const char *p = s; *p != '\0'; p++) {
		size_t i;

		for (i = 0; i < N_ELEMENTS(letters); i++)
			if (letters[i].c == *p)
				break;
		if (i == N_ELEMENTS(letters)) {
			if ((unsigned char)*p >= 0x21 &&
			    (unsigned char)*p < 0x7f)
				*error_r = xasprintf("flags=%s: unknown flag "
				    "'%c' (known: B D F O R X h q u . >)", s,
				    *p);
			else
				*error_r = xasprintf("flags=: unknown flag "
				    "byte 0x%02x (known: B D F O R X h q u "
				    ". >)", (unsigned char)*p);
			return -1;
		}
		flags |= letters[i].bit;
	}
	*flags_r = flags;
	return 0;
}

int
pipe_eol_parse(const char *s, char *eol, size_t *len_r, char **error_r)
{
	size_t n = 0;

	for (const char *p = s; *p != '\0'; p++) {
		char c = *p;

		if (c == '\\') {
			p++;
			switch (*p) {
			case 'a': c = '\a'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'v': c = '\v'; break;
			case '\\': c = '\\'; break;
			case '\0':
				*error_r = xasprintf("eol=%s ends with a lone "
				    "backslash", s);
				return -1;
			default:
				if (*p >= '0' && *p <= '7') {
					unsigned v = 0;
					int k;

					for (k = 0; k < 3 && p[k] >= '0' &&
					    p[k] <= '7'; k++)
						v = v * 8 + (unsigned)(p[k] -
						    '0');
					p += k - 1;
					if (v > 0xff) {
						*error_r = xasprintf("eol=%s: "
						    "octal escape above \\377",
						    s);
						return -1;
					}
					c = (char)v;
					break;
				}
				if ((unsigned char)*p >= 0x21 &&
				    (unsigned char)*p < 0x7f)
					*error_r = xasprintf("eol=%s: unknown "
					    "escape \\%c (use \\n, \\r, \\t, "
					    "\\\\ or \\ooo)", s, *p);
				else
					*error_r = xasprintf("eol=: unknown "
					    "escape \\ before byte 0x%02x",
					    (unsigned char)*p);
				return -1;
			}
		}
		if (c == '\0') {
			*error_r = xasprintf("eol=%s: a NUL byte is not "
			    "allowed", s);
			return -1;
		}
		if (n == PIPE_EOL_MAX) {
			*error_r = xasprintf("eol= is longer than %d bytes",
			    PIPE_EOL_MAX);
			return -1;
		}
		eol[n++] = c;
	}
	if (n == 0) {
		*error_r = xstrdup("eol= is empty (the default is \\n; use "
		    "eol=\\r\\n for CRLF)");
		return -1;
	}
	*len_r = n;
	return 0;
}

void
pipe_args_deinit(struct pipe_args *pa)
{
	free(pa->user);
	free(pa->group);
	strv_free(&pa->argv);
	free(pa->null_sender);
	free(pa->directory);
	memset(pa, 0, sizeof(*pa));
}

/* once - refuse a second occurrence of attribute name. */
static int
once(bool *seen, const char *name, char **error_r)
{
	if (*seen) {
		*error_r = xasprintf("%s= is given twice", name);
		return -1;
	}
	*seen = true;
	return 0;
}

int
pipe_args_parse(char *const *args, struct pipe_args *pa, char **error_r)
{
	bool seen_flags = false, seen_user = false, seen_size = false;
	bool seen_eol = false, seen_null = false, seen_dir = false;
	bool have_argv = false;
	const char *err;
	size_t i;

	memset(pa, 0, sizeof(*pa));
	*error_r = NULL;
	pa->eol[0] = '\n';
	pa->eol_len = 1;
	for (i = 0; args != NULL && args[i] != NULL; i++) {
		const char *a = args[i], *v = strchr(a, '=');

		if (v == NULL) {
			*error_r = xasprintf("\"%s\" is not an attribute "
			    "(name=value); the command comes last, after "
			    "argv=", a);
			goto fail;
		}
		v++;
		if (strncmp(a, "argv=", 5) == 0) {
			have_argv = true;
			break;
		} else if (strncmp(a, "flags=", 6) == 0) {
			if (once(&seen_flags, "flags", error_r) < 0 ||
			    pipe_flags_parse(v, &pa->flags, error_r) < 0)
				goto fail;
		} else if (strncmp(a, "user=", 5) == 0) {
			const char *colon = strchr(v, ':');

			if (once(&seen_user, "user", error_r) < 0)
				goto fail;
			if (*v == '\0' || colon == v ||
			    (colon != NULL && colon[1] == '\0')) {
				*error_r = xasprintf("user=%s: expected "
				    "user=NAME or user=NAME:GROUP", v);
				goto fail;
			}
			if (colon != NULL) {
				pa->user = xstrndup(v, (size_t)(colon - v));
				pa->group = xstrdup(colon + 1);
			} else
				pa->user = xstrdup(v);
		} else if (strncmp(a, "size=", 5) == 0) {
			if (once(&seen_size, "size", error_r) < 0)
				goto fail;
			if (strnum_parse_u64(v, UINT64_MAX, &pa->size_limit,
			    &err) < 0) {
				*error_r = xasprintf("size=%s: %s (a size in "
				    "bytes)", v, err);
				goto fail;
			}
		} else if (strncmp(a, "eol=", 4) == 0) {
			if (once(&seen_eol, "eol", error_r) < 0 ||
			    pipe_eol_parse(v, pa->eol, &pa->eol_len,
			    error_r) < 0)
				goto fail;
		} else if (strncmp(a, "null_sender=", 12) == 0) {
			if (once(&seen_null, "null_sender", error_r) < 0)
				goto fail;
			pa->null_sender = xstrdup(v);
		} else if (strncmp(a, "directory=", 10) == 0) {
			if (once(&seen_dir, "directory", error_r) < 0)
				goto fail;
			if (v[0] != '/') {
				*error_r = xasprintf("directory=%s: must be "
				    "an absolute path", v);
				goto fail;
			}
			pa->directory = xstrdup(v);
		} else if (strncmp(a, "chroot=", 7) == 0) {
			*error_r = xstrdup("chroot= is not supported by this "
			    "version; remove it");
			goto fail;
		} else {
			*error_r = xasprintf("unknown attribute \"%.*s=\" "
			    "(known: flags=, user=, size=, eol=, "
			    "null_sender=, directory=, argv=)",
			    (int)(v - 1 - a), a);
			goto fail;
		}
	}
	if (!have_argv) {
		*error_r = xstrdup("argv= is missing: end the pipe service's "
		    "arguments with argv=/path/to/command ARGS...");
		goto fail;
	}
	if (!seen_user) {
		*error_r = xstrdup("user= is missing: the command needs an "
		    "unprivileged user to run as (user=NAME or "
		    "user=NAME:GROUP)");
		goto fail;
	}
	/* The command: the rest of the argv= word, then every word. */
	{
		struct strv sv;
		const char *cmd = args[i] + 5;

		if (cmd[0] != '/') {
			*error_r = cmd[0] == '\0' ?
			    xstrdup("argv= is empty: write argv=/path/to/"
			    "command ARGS... as one word for the command") :
			    xasprintf("argv=%s: the command must be an "
			    "absolute path (no shell is used)", cmd);
			goto fail;
		}
		if (strchr(cmd, '$') != NULL) {
			*error_r = xasprintf("argv=%s: no macros are allowed "
			    "in the command's path", cmd);
			goto fail;
		}
		strv_init(&sv);
		strv_add(&sv, cmd);
		for (size_t k = i + 1; args[k] != NULL; k++) {
			if (sv.n == PIPE_ARGV_MAX) {
				strv_deinit(&sv);
				*error_r = xasprintf("argv= has more than %d "
				    "words", PIPE_ARGV_MAX);
				goto fail;
			}
			if (pipe_arg_check(args[k], &pa->per_rcpt,
			    error_r) < 0) {
				strv_deinit(&sv);
				goto fail;
			}
			strv_add(&sv, args[k]);
		}
		pa->argc = sv.n;
		pa->argv = strv_steal(&sv);
	}
	if (pa->null_sender == NULL)
		pa->null_sender = xstrdup("MAILER-DAEMON");
	return 0;
fail:
	pipe_args_deinit(pa);
	return -1;
}
