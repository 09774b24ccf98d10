/* SPDX-License-Identifier: MIT */
/*
 * sendmail - the sendmail command's message handling; see sendmail.h.
 *
 * Everything here works on bytes in memory and is used on the
 * unprivileged side (the command run by any user) and, for addresses
 * and dates, by pickup in the queue process, which trusts nothing the
 * command wrote.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "base64.h"
#include "header_missing.h"
#include "sendmail.h"
#include "xalloc.h"

/* Longest member of an address list, as written (display name and
 * comments included). */
#define SENDMAIL_MEMBER_MAX_BYTES 4096

/* ------------------------------------------------------------------ */
/* Options                                                            */

static int
fail(char *err, size_t errsz, const char *fmt, ...) ATTR_FORMAT(3, 4);

static int
fail(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * opt_arg - the argument of the option just read: the rest of the
 * word (rest), else the next word.  NULL when there is none.
 */
static const char *
opt_arg(int argc, char **argv, int *i, const char *rest)
{
	if (rest[0] != '\0')
		return rest;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

/* parse_notify - -N "never" or a comma list of success, failure, delay
 * (any case, spaces allowed) into "NEVER" or the upper-case list in the
 * order SUCCESS,FAILURE,DELAY. */
static int
parse_notify(const char *s, char out[32])
{
	bool never = false, succ = false, fail_ = false, delay = false;

	for (;;) {
		size_t n;

		s += strspn(s, " \t");
		n = strcspn(s, ", \t");
		if (n == 5 && strncasecmp(s, "never", 5) == 0)
			never = true;
		else if (n == 7 && strncasecmp(s, "success", 7) == 0)
			succ = true;
		else if (n == 7 && strncasecmp(s, "failure", 7) == 0)
			fail_ = true;
		else if (n == 5 && strncasecmp(s, "delay", 5) == 0)
			delay = true;
		else
			return -1;
		s += n;
		s += strspn(s, " \t");
		if (*s == '\0')
			break;
		if (*s != ',')
			return -1;
		s++;
	}
	if (never && (succ || fail_ || delay))
		return -1;
	if (never) {
		snprintf(out, 32, "NEVER");
		return 0;
	}
	snprintf(out, 32, "%s%s%s%s%s", succ ? "SUCCESS" : "",
	    succ && (fail_ || delay) ? "," : "", fail_ ? "FAILURE" : "",
	    fail_ && delay ? "," : "", delay ? "DELAY" : "");
	return 0;
}

/* envid_valid - RFC 3461 4.4: printable US-ASCII, at most 100. */
static bool
envid_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SENDMAIL_ENVID_MAX_BYTES)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126)
			return false;
	return true;
}

/* is_interval - "30m", "1h", "15": the -q argument of a daemon. */
static bool
is_interval(const char *s)
{
	size_t n = strspn(s, "0123456789");

	return n > 0 && (s[n] == '\0' || (strchr("smhdw", s[n]) != NULL &&
	    s[n + 1] == '\0'));
}

/* opt_o - one -o option: -oi means -i; delivery and error modes and the
 * 7/8-bit switches are ignored silently (cron and mail clients give
 * them), anything else with a warning. */
static void
opt_o(struct sendmail_opts *o, const char *a)
{
	if (strcmp(a, "i") == 0) {
		o->ignore_dots = true;
		return;
	}
	if (a[0] == 'd' || a[0] == 'e' || strcmp(a, "m") == 0 ||
	    strcmp(a, "7") == 0 || strcmp(a, "8") == 0)
		return;
	strv_add_take(&o->warnings, xasprintf("option -o%.100s ignored (set "
	    "main.cf parameters instead)", a));
}

static int
add_rcpt_arg(struct sendmail_opts *o, const char *a, char *err,
    size_t errsz)
{
	const char *why = NULL;

	if (sendmail_address_list(a, strlen(a), &o->rcpts, &why) < 0)
		return fail(err, errsz, "recipient \"%.200s\": %s", a, why);
	if (o->rcpts.n > SENDMAIL_RCPTS_MAX)
		return fail(err, errsz, "more than %d recipients",
		    SENDMAIL_RCPTS_MAX);
	return 0;
}

int
sendmail_parse_args(int argc, char **argv, struct sendmail_opts *o,
    char *err, size_t errsz)
{
	bool opts_done = false;

	memset(o, 0, sizeof(*o));
	o->mode = SENDMAIL_MODE_DELIVER;
	strv_init(&o->rcpts);
	strv_init(&o->warnings);
	for (int i = 1; i < argc; i++) {
		const char *w = argv[i];

		if (opts_done || w[0] != '-' || w[1] == '\0') {
			if (add_rcpt_arg(o, w, err, errsz) < 0)
				return -1;
			continue;
		}
		if (strcmp(w, "--") == 0) {
			opts_done = true;
			continue;
		}
		for (const char *p = w + 1; *p != '\0';) {
			char c = *p++;
			const char *a = NULL;

			switch (c) {
			case 't':
				o->extract = true;
				continue;
			case 'i':
				o->ignore_dots = true;
				continue;
			case 'v':
				o->verbose = true;
				continue;
			/* Meaningless here, as in Postfix: -n (no
			 * aliases), -m (me too), -U (initial submission),
			 * -G (gateway), -c, -7, -8. */
			case 'n': case 'm': case 'U': case 'G': case 'c':
			case '7': case '8':
				continue;
			case 'I':
				o->mode = SENDMAIL_MODE_NEWALIASES;
				continue;
			case 'q':
				if (*p == '\0') {
					if (o->mode != SENDMAIL_MODE_DAEMON)
						o->mode = SENDMAIL_MODE_FLUSH;
				} else if (*p == 'R' && p[1] != '\0') {
					o->mode = SENDMAIL_MODE_FLUSH;
					o->flush_site = p + 1;
				} else if (*p == 'I' && p[1] != '\0') {
					o->mode = SENDMAIL_MODE_FLUSH;
					o->flush_id = p + 1;
				} else if (is_interval(p)) {
					/* A queue runner daemon. */
					o->mode = SENDMAIL_MODE_DAEMON;
				} else {
					return fail(err, errsz, "-q%.100s: not "
					    "-q, -qRsite, -qIqueueid or "
					    "-qINTERVAL", p);
				}
				p += strlen(p);
				continue;
			default:
				break;
			}
			/* The rest take an argument. */
			if (strchr("frFNRVCBoOLhXepb", c) == NULL)
				return fail(err, errsz, "unknown option -%c", c);
			a = opt_arg(argc, argv, &i, p);
			if (a == NULL)
				return fail(err, errsz, "option -%c needs an "
				    "argument", c);
			p += strlen(p);
			switch (c) {
			case 'f':
			case 'r':
				o->sender = a;
				break;
			case 'F':
				o->fullname = a;
				break;
			case 'N':
				if (parse_notify(a, o->notify) < 0)
					return fail(err, errsz, "-N %.100s: not "
					    "\"never\" or a list of success, "
					    "failure, delay", a);
				break;
			case 'R':
				if (strcasecmp(a, "full") == 0)
					o->ret = "FULL";
				else if (strcasecmp(a, "hdrs") == 0)
					o->ret = "HDRS";
				else
					return fail(err, errsz, "-R %.100s: not "
					    "full or hdrs", a);
				break;
			case 'V':
				if (!envid_valid(a))
					return fail(err, errsz, "-V: the "
					    "envelope ID must be 1 to %d "
					    "printable characters",
					    SENDMAIL_ENVID_MAX_BYTES);
				o->envid = a;
				break;
			case 'C':
				o->config_dir = a;
				break;
			case 'B':
				/* 7BIT/8BITMIME: pickup looks at the bytes. */
				break;
			case 'o':
				opt_o(o, a);
				break;
			case 'b':
				if (strcmp(a, "m") == 0)
					o->mode = SENDMAIL_MODE_DELIVER;
				else if (strcmp(a, "p") == 0)
					o->mode = SENDMAIL_MODE_MAILQ;
				else if (strcmp(a, "i") == 0)
					o->mode = SENDMAIL_MODE_NEWALIASES;
				else if (strcmp(a, "s") == 0)
					o->mode = SENDMAIL_MODE_SMTP;
				else if (strcmp(a, "d") == 0 ||
				    strcmp(a, "D") == 0)
					o->mode = SENDMAIL_MODE_DAEMON;
				else if (strcmp(a, "v") == 0)
					o->mode = SENDMAIL_MODE_VERIFY;
				else
					return fail(err, errsz, "unknown mode "
					    "-b%.20s (Ostia knows -bm, -bp, "
					    "-bi, -bs, -bd, -bv)", a);
				break;
			default:	/* O L h X e p */
				strv_add_take(&o->warnings, xasprintf(
				    "option -%c %.100s ignored", c, a));
				break;
			}
		}
	}
	if (o->mode == SENDMAIL_MODE_DELIVER && o->rcpts.n == 0 &&
	    !o->extract)
		return fail(err, errsz, "no recipients: name them on the "
		    "command line or use -t to take them from the headers");
	return 0;
}

void
sendmail_opts_deinit(struct sendmail_opts *o)
{
	strv_deinit(&o->rcpts);
	strv_deinit(&o->warnings);
}

/* ------------------------------------------------------------------ */
/* Standard input                                                     */

void
sendmail_input_init(struct sendmail_input *in, bool ignore_dots,
    size_t max_bytes)
{
	memset(in, 0, sizeof(*in));
	in->ignore_dots = ignore_dots;
	in->first_line = true;
	in->max_bytes = max_bytes == 0 ? SIZE_MAX / 4 : max_bytes;
	buf_init(&in->msg, in->max_bytes);
	buf_init(&in->line, in->max_bytes);
}

void
sendmail_input_deinit(struct sendmail_input *in)
{
	buf_deinit(&in->msg);
	buf_deinit(&in->line);
}

/* end_line - the line in in->line is complete. */
static int
end_line(struct sendmail_input *in)
{
	const char *l = in->line.data != NULL ? in->line.data : "";
	size_t n = in->line.len;
	bool first = in->first_line;

	if (n > 0 && l[n - 1] == '\r')
		n--;
	in->first_line = false;
	if (first && n >= 5 && memcmp(l, "From ", 5) == 0) {
		buf_reset(&in->line);
		return 0;
	}
	if (!in->ignore_dots && n == 1 && l[0] == '.') {
		in->done = true;
		buf_reset(&in->line);
		return 1;
	}
	if (in->msg.len + n + 2 > in->max_bytes ||
	    buf_append(&in->msg, l, n) < 0 ||
	    buf_append(&in->msg, "\r\n", 2) < 0)
		return -1;
	buf_reset(&in->line);
	return 0;
}

int
sendmail_input_feed(struct sendmail_input *in, const char *data, size_t len)
{
	if (in->done)
		return 1;
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl != NULL ? (size_t)(nl - data) : len;
		int r;

		if (in->msg.len + in->line.len + n > in->max_bytes ||
		    buf_append(&in->line, data, n) < 0)
			return -1;
		if (nl == NULL)
			return 0;
		data += n + 1;
		len -= n + 1;
		if ((r = end_line(in)) != 0)
			return r;
	}
	return 0;
}

int
sendmail_input_finish(struct sendmail_input *in)
{
	if (in->done || in->line.len == 0)
		return 0;
	return end_line(in) < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Addresses                                                          */

struct alist {
	struct buf plain;	/* text outside <> (no comments) */
	struct buf angle;	/* text inside <> */
	bool saw_angle;		/* this member had <...> */
	bool after_angle;	/* its '>' was read */
	bool words;		/* plain has words apart (a display name) */
	bool space;		/* white space pending (outside quotes) */
};

static void
alist_reset(struct alist *l)
{
	buf_reset(&l->plain);
	buf_reset(&l->angle);
	l->saw_angle = false;
	l->after_angle = false;
	l->words = false;
	l->space = false;
}

/*
 * alist_put - append c (outside a comment) to the member's current
 * part.  Pending white space between two words outside <> marks a
 * display name; next to '.' and '@' (obsolete folding) and inside <> it
 * is dropped.  -1 when the member is too long.
 */
static int
alist_put(struct alist *l, bool in_angle, char c)
{
	struct buf *b = in_angle ? &l->angle : &l->plain;

	if (l->space && b->len > 0 && !in_angle) {
		char last = b->data[b->len - 1];

		if (last != '.' && last != '@' && c != '.' && c != '@')
			l->words = true;
	}
	l->space = false;
	return buf_append_c(b, c);
}

/* strip_route - "@a,@b:user@x" -> "user@x" (RFC 5322 obs-route). */
static const char *
strip_route(const char *s)
{
	bool inq = false;

	if (s[0] != '@')
		return s;
	for (const char *p = s; *p != '\0'; p++) {
		if (inq) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				inq = false;
		} else if (*p == '"') {
			inq = true;
		} else if (*p == ':') {
			return p + 1;
		}
	}
	return s;
}

static int
alist_finish(struct alist *l, struct strv *out, const char **error_r)
{
	if (l->saw_angle) {
		const char *a = strip_route(buf_cstr(&l->angle));

		if (a[0] != '\0')
			strv_add(out, a);
	} else if (l->plain.len > 0) {
		if (l->words) {
			*error_r = "a member of the list is not one address "
			    "(a display name needs the address in <>)";
			return -1;
		}
		strv_add(out, buf_cstr(&l->plain));
	}
	alist_reset(l);
	return 0;
}

int
sendmail_address_list(const char *s, size_t len, struct strv *out,
    const char **error_r)
{
	struct alist l;
	bool inq = false, in_angle = false, in_group = false;
	int depth = 0, ret = -1;

	memset(&l, 0, sizeof(l));
	buf_init(&l.plain, SENDMAIL_MEMBER_MAX_BYTES);
	buf_init(&l.angle, SENDMAIL_MEMBER_MAX_BYTES);
	*error_r = "a member of the list is too long";
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (depth > 0) {
			/* A comment: dropped, counts as white space. */
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')' && --depth == 0)
				l.space = true;
			continue;
		}
		if (inq) {
			if (buf_append_c(in_angle ? &l.angle : &l.plain, c) < 0)
				goto out;
			if (c == '\\' && i + 1 < len) {
				if (buf_append_c(in_angle ? &l.angle : &l.plain,
				    s[++i]) < 0)
					goto out;
			} else if (c == '"') {
				inq = false;
			}
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			l.space = true;
			continue;
		}
		if (c == '(') {
			depth = 1;
			continue;
		}
		if (l.after_angle && c != ',' && c != ';') {
			*error_r = "text after the '>' of an address";
			goto out;
		}
		switch (c) {
		case '"':
			inq = true;
			if (alist_put(&l, in_angle, c) < 0)
				goto out;
			break;
		case '<':
			if (in_angle || l.saw_angle) {
				*error_r = "a second '<' in one member of the "
				    "list";
				goto out;
			}
			in_angle = true;
			l.saw_angle = true;
			l.space = false;
			break;
		case '>':
			if (!in_angle) {
				*error_r = "'>' without '<'";
				goto out;
			}
			in_angle = false;
			l.after_angle = true;
			break;
		case ',':
		case ';':
			if (in_angle) {
				if (c == ';') {
					*error_r = "';' inside <>";
					goto out;
				}
				if (alist_put(&l, true, c) < 0)
					goto out;
				break;
			}
			if (alist_finish(&l, out, error_r) < 0)
				goto out;
			if (c == ';')
				in_group = false;
			break;
		case ':':
			if (in_angle) {
				if (alist_put(&l, true, c) < 0)
					goto out;
				break;
			}
			if (in_group || l.saw_angle) {
				*error_r = "a ':' where no group can start";
				goto out;
			}
			/* A group: "name: member, member;" - the name goes. */
			in_group = true;
			alist_reset(&l);
			break;
		default:
			if (alist_put(&l, in_angle, c) < 0)
				goto out;
			break;
		}
	}
	if (inq) {
		*error_r = "a quoted string is not closed";
		goto out;
	}
	if (depth > 0) {
		*error_r = "a comment is not closed";
		goto out;
	}
	if (in_angle) {
		*error_r = "missing '>'";
		goto out;
	}
	if (alist_finish(&l, out, error_r) < 0)
		goto out;
	ret = 0;
out:
	buf_deinit(&l.plain);
	buf_deinit(&l.angle);
	return ret;
}

char *
sendmail_canon_address(const char *addr, const char *myorigin, bool null_ok,
    const char **error_r)
{
	size_t n = strlen(addr), consumed = 0;
	const char *s = addr;
	bool at = false, inq = false;
	struct address a;
	struct buf b;
	char *ret = NULL;

	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++;
		n -= 2;
	}
	if (n == 0) {
		if (null_ok)
			return xstrdup("");
		*error_r = "empty address";
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (inq) {
			if (s[i] == '\\' && i + 1 < n)
				i++;
			else if (s[i] == '"')
				inq = false;
		} else if (s[i] == '"') {
			inq = true;
		} else if (s[i] == '@') {
			at = true;
		}
	}
	buf_init(&b, 2 * ADDRESS_PATH_MAX_BYTES);
	if (buf_append_c(&b, '<') < 0 || buf_append(&b, s, n) < 0 ||
	    (!at && (buf_append_c(&b, '@') < 0 ||
	    buf_append_str(&b, myorigin) < 0)) || buf_append_c(&b, '>') < 0) {
		*error_r = "the address is too long";
		buf_deinit(&b);
		return NULL;
	}
	if (address_parse_path(b.data, b.len, ADDRESS_SMTPUTF8 | ADDRESS_STRICT,
	    &a, &consumed, error_r) != ADDRESS_OK) {
		buf_deinit(&b);
		return NULL;
	}
	if (consumed != b.len)
		*error_r = "text after the address";
	else if (a.is_null || a.domain == NULL)
		*error_r = "the address has no domain";
	else
		ret = xstrdup(a.text);
	address_deinit(&a);
	buf_deinit(&b);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Header block                                                       */

struct hfield {
	size_t start;		/* first byte of the name */
	size_t end;		/* after the CRLF of its last line */
	size_t name_len;
	size_t value;		/* first byte after the ':' */
};

/* field_name_len - length of the field name if the line at p (n bytes,
 * no CRLF) starts a header field ("Name:" with optional WSP before the
 * colon), else 0. */
static size_t
field_name_len(const char *p, size_t n)
{
	size_t i = 0, name;

	while (i < n && (unsigned char)p[i] >= 33 &&
	    (unsigned char)p[i] <= 126 && p[i] != ':')
		i++;
	name = i;
	if (name == 0)
		return 0;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i < n && p[i] == ':' ? name : 0;
}

static bool
name_is(const char *msg, const struct hfield *f, const char *name)
{
	return f->name_len == strlen(name) &&
	    strncasecmp(msg + f->start, name, f->name_len) == 0;
}

/* line_end - index of the CR of the next CRLF at or after pos, or len. */
static size_t
line_end(const char *msg, size_t len, size_t pos)
{
	while (pos < len) {
		const char *nl = memchr(msg + pos, '\n', len - pos);

		if (nl == NULL)
			return len;
		if (nl > msg + pos && nl[-1] == '\r')
			return (size_t)(nl - msg) - 1;
		pos = (size_t)(nl - msg) + 1;
	}
	return len;
}

/* next_line - the index after the CRLF that ends the line at pos. */
static size_t
next_line(const char *msg, size_t len, size_t pos)
{
	size_t e = line_end(msg, len, pos);

	return e + 2 <= len ? e + 2 : len;
}

static const char *const wdays[] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
};
static const char *const months[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
	"Oct", "Nov", "Dec",
};

void
sendmail_date(char out[SENDMAIL_DATE_BYTES], time_t t, bool local)
{
	struct tm tm;
	long off = 0;

	if ((local ? localtime_r(&t, &tm) : gmtime_r(&t, &tm)) == NULL ||
	    tm.tm_year < 0 || tm.tm_year > 9999 - 1900) {
		memset(&tm, 0, sizeof(tm));
		tm.tm_mday = 1;
		tm.tm_year = 70;
		tm.tm_wday = 4;
	} else if (local) {
		off = tm.tm_gmtoff;
	}
	if (off < -86399 || off > 86399)
		off = 0;
	snprintf(out, SENDMAIL_DATE_BYTES, "%s, %d %s %04d %02d:%02d:%02d "
	    "%c%02ld%02ld", wdays[tm.tm_wday % 7], tm.tm_mday,
	    months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, off < 0 ? '-' : '+', labs(off) / 3600,
	    (labs(off) / 60) % 60);
}

/* utf8_cut - the largest n <= max not inside a UTF-8 sequence. */
static size_t
utf8_cut(const unsigned char *s, size_t len, size_t max)
{
	size_t n = len < max ? len : max;

	if (n == len)
		return n;
	while (n > 0 && (s[n] & 0xc0) == 0x80)
		n--;
	return n > 0 ? n : (len < max ? len : max);
}

/* utf8_trim_incomplete - n without a UTF-8 sequence cut at its end. */
static size_t
utf8_trim_incomplete(const unsigned char *s, size_t n)
{
	size_t k = n, want;

	while (k > 0 && n - k < 4 && (s[k - 1] & 0xc0) == 0x80)
		k--;
	if (k == 0 || s[k - 1] < 0x80)
		return n;
	k--;			/* the lead byte */
	want = (s[k] & 0xe0) == 0xc0 ? 2 : (s[k] & 0xf0) == 0xe0 ? 3 :
	    (s[k] & 0xf8) == 0xf0 ? 4 : 1;
	return k + want > n ? k : n;
}

int
sendmail_from_value(struct buf *out, const char *fullname, const char *addr)
{
	char name[SENDMAIL_FULLNAME_MAX_BYTES + 1];
	size_t n = 0, src = fullname != NULL ? strlen(fullname) : 0;
	bool eight = false, special = false;
	int r = 0;

	/* Printable text only: the name cannot add header lines. */
	for (size_t i = 0; i < src && n < SENDMAIL_FULLNAME_MAX_BYTES; i++) {
		unsigned char c = (unsigned char)fullname[i];

		if (c < 0x20 || c == 0x7f)
			continue;
		name[n++] = (char)c;
	}
	n = utf8_trim_incomplete((const unsigned char *)name, n);
	while (n > 0 && name[n - 1] == ' ')
		n--;
	name[n] = '\0';
	{
		size_t lead = strspn(name, " ");

		memmove(name, name + lead, n - lead + 1);
		n -= lead;
	}
	if (n == 0)
		return buf_append_str(out, addr);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c >= 0x80)
			eight = true;
		else if (strchr("()<>[]:;@\\,.\"", c) != NULL)
			special = true;
	}
	if (eight) {
		/* RFC 2047 encoded words of at most 45 bytes (60 base64
		 * characters), never splitting a UTF-8 sequence. */
		const unsigned char *p = (const unsigned char *)name;
		size_t left = n;

		while (left > 0 && r == 0) {
			char enc[BASE64_ENCODED_SIZE(45)];
			size_t k = utf8_cut(p, left, 45);

			base64_encode(p, k, enc);
			r = buf_appendf(out, "%s=?UTF-8?B?%s?=", p ==
			    (const unsigned char *)name ? "" : "\r\n ", enc);
			p += k;
			left -= k;
		}
	} else if (special) {
		r = buf_append_c(out, '"');
		for (size_t i = 0; i < n && r == 0; i++) {
			if (name[i] == '"' || name[i] == '\\')
				r = buf_append_c(out, '\\');
			if (r == 0)
				r = buf_append_c(out, name[i]);
		}
		if (r == 0)
			r = buf_append_c(out, '"');
	} else {
		r = buf_append(out, name, n);
	}
	if (r == 0)
		r = buf_appendf(out, " <%s>", addr);
	return r;
}

/* extract - the addresses of field f's value into rcpts. */
static int
extract(const char *msg, const struct hfield *f, struct strv *rcpts,
    const char **error_r)
{
	struct buf v;
	int r;

	/* Unfold: CRLF before white space goes. */
	buf_init(&v, f->end - f->value + 1);
	for (size_t i = f->value; i < f->end; i++) {
		if (msg[i] == '\r' && i + 1 < f->end && msg[i + 1] == '\n') {
			i++;
			continue;
		}
		(void)buf_append_c(&v, msg[i]);
	}
	r = sendmail_address_list(buf_cstr(&v), v.len, rcpts, error_r);
	buf_deinit(&v);
	if (r == 0 && rcpts->n > SENDMAIL_RCPTS_MAX) {
		*error_r = "too many recipients in the headers";
		r = -1;
	}
	return r;
}

int
sendmail_headers(const char *msg, size_t len,
    const struct sendmail_header_params *p, struct buf *out,
    struct strv *rcpts, const char **error_r)
{
	struct hfield *f = NULL;
	size_t nf = 0, pos = 0, body;
	bool sep = false, resent = false, has_from = false, has_date = false,
	    has_msgid = false;
	int ret = -1;

	/* The header block: fields and their continuation lines. */
	while (pos < len) {
		size_t e = line_end(msg, len, pos), nl;

		if (e == pos) {		/* the empty line */
			sep = true;
			break;
		}
		if ((msg[pos] == ' ' || msg[pos] == '\t') && nf > 0) {
			f[nf - 1].end = next_line(msg, len, pos);
			pos = f[nf - 1].end;
			continue;
		}
		nl = field_name_len(msg + pos, e - pos);
		if (nl == 0)
			break;		/* the body starts without a separator */
		f = xreallocarray(f, nf + 1, sizeof(*f));
		f[nf].start = pos;
		f[nf].name_len = nl;
		f[nf].value = pos + (size_t)((const char *)memchr(msg + pos,
		    ':', e - pos) - (msg + pos)) + 1;
		f[nf].end = next_line(msg, len, pos);
		pos = f[nf].end;
		nf++;
	}
	body = pos;
	for (size_t i = 0; i < nf; i++) {
		if (name_is(msg, &f[i], "resent-to") ||
		    name_is(msg, &f[i], "resent-cc") ||
		    name_is(msg, &f[i], "resent-bcc"))
			resent = true;
		has_from |= name_is(msg, &f[i], "from");
		has_date |= name_is(msg, &f[i], "date");
		has_msgid |= name_is(msg, &f[i], "message-id");
	}
	for (size_t i = 0; i < nf; i++) {
		bool bcc = name_is(msg, &f[i], "bcc") ||
		    name_is(msg, &f[i], "resent-bcc");

		if (p->extract && (resent ? name_is(msg, &f[i], "resent-to") ||
		    name_is(msg, &f[i], "resent-cc") ||
		    name_is(msg, &f[i], "resent-bcc") :
		    name_is(msg, &f[i], "to") || name_is(msg, &f[i], "cc") ||
		    name_is(msg, &f[i], "bcc")) &&
		    extract(msg, &f[i], rcpts, error_r) < 0)
			goto out;
		if (bcc)
			continue;
		if (buf_append(out, msg + f[i].start, f[i].end -
		    f[i].start) < 0)
			goto full;
		/* A last field without its line end (no body at all). */
		if (f[i].end == len && (len < 2 || msg[len - 2] != '\r' ||
		    msg[len - 1] != '\n') && buf_append(out, "\r\n", 2) < 0)
			goto full;
	}
	if (!has_msgid && header_missing_msgid(out, p->now, p->id,
	    p->myhostname) < 0)
		goto full;
	if (!has_date) {
		char date[SENDMAIL_DATE_BYTES];

		sendmail_date(date, p->now, true);
		if (buf_appendf(out, "Date: %s\r\n", date) < 0)
			goto full;
	}
	if (!has_from) {
		char *md = NULL;
		int r;

		if (p->from_addr[0] == '\0')
			md = xasprintf("MAILER-DAEMON@%s", p->myhostname);
		r = buf_append_str(out, "From: ") < 0 ||
		    sendmail_from_value(out, p->fullname, md != NULL ? md :
		    p->from_addr) < 0 || buf_append(out, "\r\n", 2) < 0;
		free(md);
		if (r)
			goto full;
	}
	/* The separator: the message's own, or one before a body that
	 * started without it. */
	if (body < len && !sep && buf_append(out, "\r\n", 2) < 0)
		goto full;
	if (buf_append(out, msg + body, len - body) < 0)
		goto full;
	ret = 0;
	goto out;
full:
	*error_r = "the message is too large";
out:
	free(f);
	return ret;
}
