/* SPDX-License-Identifier: MIT */
/*
 * header_addr - find the addresses in address headers; see header_addr.h.
 *
 * Pure: no I/O, no global state, no allocation in the scanner.  The scan
 * is one left-to-right pass over the value with a fixed amount of state:
 * comment nesting is a counter, never recursion, so the work is linear
 * in the length whatever the input.
 *
 * The value is read as a sequence of "runs": maximal stretches of word
 * bytes (atext, '.', '@', '[', ']', bytes >= 0x80, quoted strings with
 * what they contain) that white space, folds, comments and the
 * delimiters , ; : < > end.  An element gets a span when
 *   - it holds one angle-addr and no word after it: the span is the one
 *     run between the brackets (after an obs-route), when there is
 *     exactly one;
 *   - it holds no angle-addr and exactly one run: the span is that run.
 * A run is "tainted" (never a span) when it holds a control byte or a
 * fold inside a quoted string; a span longer than HEADER_ADDR_MAX_BYTES
 * is not given.
 *
 * Choices the header leaves open (all of them "leave it as it is"):
 *   - ':' starts a group only outside angle brackets, outside a group,
 *     and before any angle-addr of the element; any other unquoted ':'
 *     (except inside a domain literal "[...]" and at the end of an
 *     obs-route) makes its element or angle-addr get no span;
 *   - a group that is not closed by ';' before the end of the value, or
 *     that is followed by anything but white space and comments before
 *     the next ',', gets no spans at all (its members are dropped);
 *   - a ';' outside a group, a ')' outside a comment, a second '<' in an
 *     element, a ',' ';' or '<' inside angle brackets (other than the
 *     ',' of an obs-route), or a word after "<...>": no span for that
 *     element;
 *   - a backslash outside quoted strings and comments is an ordinary
 *     byte (RFC 5322 has quoted-pair only inside those).
 * The refusals (-1) are exactly the ones the header lists.
 */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "header_addr.h"
#include "log.h"

/* The word runs of one context: the element, or the inside of "<...>".
 * Only "none", "one" and "more than one" matter, so runs stops at 2. */
struct ha_runs {
	unsigned runs;		/* 0, 1 or 2 (= two or more) */
	size_t start;		/* of the last run */
	size_t end;		/* one past the last byte of the last run */
	bool tainted;		/* the last run can never be a span */
	bool open;		/* the last run goes on with the next word byte */
};

struct ha_scan {
	const char *v;
	size_t len;
	struct header_addr_span *spans;
	size_t max;
	size_t n;		/* spans found (may pass max: refused at the end) */

	/* The current element (or group member). */
	struct ha_runs el;
	bool el_bad;		/* "anything else": no span */
	unsigned angles;	/* angle-addrs seen: 0, 1 or 2 (= more) */
	bool have_aspan;	/* the angle-addr gave a span */
	size_t astart;
	size_t alen;

	/* Inside "<...>". */
	bool in_angle;
	struct ha_runs an;
	bool an_bad;
	bool in_route;		/* in an obs-route "@a,@b" before its ':' */
	bool route_done;

	/* Group: display-name ":" [mailbox-list] ";". */
	bool in_group;
	bool group_closed;	/* its ';' was seen */
	size_t group_base;	/* n when the group started */

	/* Lexical state. */
	bool in_quote;
	bool escape;		/* the previous byte was a '\' (quote, comment) */
	bool in_literal;	/* in a "[...]" of a run: ':' is a word byte */
	size_t depth;		/* comment nesting */
};

static const struct {
	const char *name;
	size_t len;
	enum header_addr_class cls;
} ha_classes[] = {
#define HA(s, c) { s, sizeof(s) - 1, c }
	HA("From", HEADER_ADDR_SENDER),
	HA("Sender", HEADER_ADDR_SENDER),
	HA("Resent-From", HEADER_ADDR_SENDER),
	HA("Resent-Sender", HEADER_ADDR_SENDER),
	HA("Return-Path", HEADER_ADDR_SENDER),
	HA("Errors-To", HEADER_ADDR_SENDER),
	HA("Return-Receipt-To", HEADER_ADDR_SENDER),
	HA("Disposition-Notification-To", HEADER_ADDR_SENDER),
	HA("To", HEADER_ADDR_RECIPIENT),
	HA("Cc", HEADER_ADDR_RECIPIENT),
	HA("Bcc", HEADER_ADDR_RECIPIENT),
	HA("Apparently-To", HEADER_ADDR_RECIPIENT),
	HA("Reply-To", HEADER_ADDR_RECIPIENT),
	HA("Resent-To", HEADER_ADDR_RECIPIENT),
	HA("Resent-Cc", HEADER_ADDR_RECIPIENT),
	HA("Resent-Bcc", HEADER_ADDR_RECIPIENT),
	HA("Resent-Reply-To", HEADER_ADDR_RECIPIENT),
#undef HA
};

/* ascii_lower - ASCII only, whatever the locale. */
static unsigned char
ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

enum header_addr_class
header_addr_class_of(const char *name, size_t len)
{
	for (size_t i = 0; i < N_ELEMENTS(ha_classes); i++) {
		size_t j;

		if (ha_classes[i].len != len)
			continue;
		for (j = 0; j < len; j++)
			if (ascii_lower((unsigned char)name[j]) !=
			    ascii_lower((unsigned char)ha_classes[i].name[j]))
				break;
		if (j == len)
			return ha_classes[i].cls;
	}
	return HEADER_ADDR_NONE;
}

/* cur_runs - the run tracker of the context we are in. */
static struct ha_runs *
cur_runs(struct ha_scan *sc)
{
	return sc->in_angle ? &sc->an : &sc->el;
}

static void
runs_reset(struct ha_runs *r)
{
	r->runs = 0;
	r->start = 0;
	r->end = 0;
	r->tainted = false;
	r->open = false;
}

/* end_run - white space, a fold, a comment or a delimiter ends the run. */
static void
end_run(struct ha_scan *sc)
{
	cur_runs(sc)->open = false;
	sc->in_literal = false;
}

/* word - the byte at i belongs to a run of the current context. */
static void
word(struct ha_scan *sc, size_t i)
{
	struct ha_runs *r = cur_runs(sc);

	if (!sc->in_angle && (sc->angles > 0 || sc->group_closed))
		sc->el_bad = true;	/* after "<...>" or after ';' */
	if (!r->open) {
		if (r->runs < 2)
			r->runs++;
		r->start = i;
		r->tainted = false;
		r->open = true;
	}
	r->end = i + 1;
}

/* emit - one more span; stored while there is room. */
static void
emit(struct ha_scan *sc, size_t start, size_t len)
{
	if (len == 0 || len > HEADER_ADDR_MAX_BYTES)
		return;
	if (sc->n < sc->max) {
		sc->spans[sc->n].start = start;
		sc->spans[sc->n].len = len;
	}
	sc->n++;
}

static void
elem_reset(struct ha_scan *sc)
{
	runs_reset(&sc->el);
	sc->el_bad = false;
	sc->angles = 0;
	sc->have_aspan = false;
	sc->astart = 0;
	sc->alen = 0;
}

/* elem_end - the element (or group member) ends: its span, if any. */
static void
elem_end(struct ha_scan *sc)
{
	if (!sc->el_bad) {
		if (sc->angles == 1) {
			if (sc->have_aspan)
				emit(sc, sc->astart, sc->alen);
		} else if (sc->angles == 0 && sc->el.runs == 1 &&
		    !sc->el.tainted) {
			emit(sc, sc->el.start, sc->el.end - sc->el.start);
		}
	}
	elem_reset(sc);
}

/* group_end - the element holding a closed group ends: keep its members
 * only when nothing but white space and comments followed the ';'. */
static void
group_end(struct ha_scan *sc)
{
	if (sc->el_bad || sc->angles > 0 || sc->el.runs > 0)
		sc->n = sc->group_base;
	elem_reset(sc);
	sc->in_group = false;
	sc->group_closed = false;
}

static void
angle_open(struct ha_scan *sc)
{
	end_run(sc);
	if (sc->angles < 2)
		sc->angles++;
	if (sc->angles > 1)
		sc->el_bad = true;
	sc->in_angle = true;
	runs_reset(&sc->an);
	sc->an_bad = false;
	sc->in_route = false;
	sc->route_done = false;
}

static void
angle_close(struct ha_scan *sc)
{
	struct ha_runs *r = &sc->an;

	end_run(sc);
	if (!sc->an_bad && !sc->in_route && r->runs == 1 && !r->tainted &&
	    sc->angles == 1) {
		sc->have_aspan = true;
		sc->astart = r->start;
		sc->alen = r->end - r->start;
	}
	sc->in_angle = false;
}

/* is_ctl - a control byte other than HT (which is white space). */
static bool
is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* delim_top - a delimiter outside quotes, comments and angle brackets. */
static void
delim_top(struct ha_scan *sc, size_t i, unsigned char c)
{
	switch (c) {
	case ',':
		end_run(sc);
		if (sc->in_group && sc->group_closed)
			group_end(sc);
		else
			elem_end(sc);	/* an element or a group member */
		break;
	case ';':
		end_run(sc);
		if (sc->in_group && !sc->group_closed) {
			elem_end(sc);
			sc->group_closed = true;
		} else {
			sc->el_bad = true;
		}
		break;
	case ':':
		if (sc->in_literal) {
			word(sc, i);
			break;
		}
		end_run(sc);
		if (!sc->in_group && sc->angles == 0 && !sc->el_bad) {
			/* What came before is the group's display name. */
			elem_reset(sc);
			sc->in_group = true;
			sc->group_closed = false;
			sc->group_base = sc->n;
		} else {
			sc->el_bad = true;
		}
		break;
	default:
		break;
	}
}

/* delim_angle - a delimiter inside "<...>" (not '>'). */
static void
delim_angle(struct ha_scan *sc, size_t i, unsigned char c)
{
	switch (c) {
	case ',':
		end_run(sc);
		if (sc->in_route)
			break;
		if (sc->an.runs == 0 && !sc->route_done)
			sc->in_route = true;	/* obs-domain-list may start "," */
		else
			sc->an_bad = true;
		break;
	case ':':
		if (sc->in_literal) {
			word(sc, i);
			break;
		}
		end_run(sc);
		if (sc->in_route) {
			/* The route is not part of the addr-spec. */
			sc->in_route = false;
			sc->route_done = true;
			runs_reset(&sc->an);
		} else {
			sc->an_bad = true;
		}
		break;
	default:	/* ';' and '<' */
		end_run(sc);
		sc->an_bad = true;
		break;
	}
}

/* plain - one byte outside quoted strings and comments. */
static int
plain(struct ha_scan *sc, size_t i, unsigned char c)
{
	switch (c) {
	case ' ':
	case '\t':
		end_run(sc);
		return 0;
	case '(':
		end_run(sc);
		sc->depth = 1;
		return 0;
	case ')':
		end_run(sc);
		if (sc->in_angle)
			sc->an_bad = true;
		else
			sc->el_bad = true;
		return 0;
	case '"':
		word(sc, i);
		sc->in_quote = true;
		return 0;
	case '<':
		if (sc->in_angle)
			delim_angle(sc, i, c);
		else
			angle_open(sc);
		return 0;
	case '>':
		if (!sc->in_angle)
			return -1;
		angle_close(sc);
		return 0;
	case ',':
	case ';':
	case ':':
		if (sc->in_angle)
			delim_angle(sc, i, c);
		else
			delim_top(sc, i, c);
		return 0;
	default:
		break;
	}
	if (sc->in_angle && c == '@' && sc->an.runs == 0 && !sc->route_done)
		sc->in_route = true;	/* "<@a,@b:u@x>" */
	word(sc, i);
	if (c == '[')
		sc->in_literal = true;
	else if (c == ']')
		sc->in_literal = false;
	if (is_ctl(c))
		cur_runs(sc)->tainted = true;
	return 0;
}

int
header_addr_scan(const char *value, size_t len,
    struct header_addr_span *spans, size_t max)
{
	struct ha_scan sc;

	memset(&sc, 0, sizeof(sc));
	sc.v = value;
	sc.len = len;
	sc.spans = spans;
	sc.max = max;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c == '\0' || c == '\n')
			return -1;	/* a fold's LF is skipped with its CR */
		if (c == '\r') {
			if (len - i < 3 || value[i + 1] != '\n' ||
			    (value[i + 2] != ' ' && value[i + 2] != '\t'))
				return -1;
			i++;	/* the LF; the WSP comes next */
			sc.escape = false;
			if (sc.in_quote)
				cur_runs(&sc)->tainted = true;
			else if (sc.depth == 0)
				end_run(&sc);
			continue;
		}
		if (sc.depth > 0) {
			if (sc.escape)
				sc.escape = false;
			else if (c == '\\')
				sc.escape = true;
			else if (c == '(')
				sc.depth++;
			else if (c == ')')
				sc.depth--;
			continue;
		}
		if (sc.in_quote) {
			cur_runs(&sc)->end = i + 1;
			if (sc.escape)
				sc.escape = false;
			else if (c == '\\')
				sc.escape = true;
			else if (c == '"')
				sc.in_quote = false;
			if (is_ctl(c))
				cur_runs(&sc)->tainted = true;
			continue;
		}
		if (plain(&sc, i, c) < 0)
			return -1;
	}
	if (sc.in_quote || sc.depth > 0 || sc.in_angle)
		return -1;
	end_run(&sc);
	if (sc.in_group) {
		if (sc.group_closed)
			group_end(&sc);
		else
			sc.n = sc.group_base;	/* no ';': leave it alone */
	} else {
		elem_end(&sc);
	}
	if (sc.n > max || sc.n > INT_MAX)
		return -1;
	return (int)sc.n;
}

bool
header_addr_replace(const char *value, size_t len,
    const struct header_addr_span *spans, size_t n,
    const char *const *repl, struct buf *out)
{
	size_t total = 0, pos = 0;
	bool changed = false;

	/* First the size, so that nothing is appended when it cannot fit. */
	for (size_t i = 0; i < n; i++) {
		const struct header_addr_span *s = &spans[i];
		const char *r = repl != NULL ? repl[i] : NULL;
		size_t rl = s->len;

		if (s->start < pos || s->start > len || s->len == 0 ||
		    s->len > len - s->start)
			log_panic("header_addr_replace: span %zu (%zu+%zu) is "
			    "empty, out of order or outside the value (%zu "
			    "bytes)",
			    i, s->start, s->len, len);
		if (r != NULL && !(strlen(r) == s->len &&
		    memcmp(r, value + s->start, s->len) == 0)) {
			rl = strlen(r);
			changed = true;
		}
		if (rl > SIZE_MAX - total - (s->start - pos))
			return false;
		total += s->start - pos + rl;
		pos = s->start + s->len;
	}
	if (len - pos > SIZE_MAX - total)
		return false;
	total += len - pos;
	if (out->len > out->max || total > out->max - out->len)
		return false;

	if (len == 0)
		return false;	/* no span either (value may be NULL) */
	pos = 0;
	for (size_t i = 0; i < n; i++) {
		const struct header_addr_span *s = &spans[i];
		const char *r = repl != NULL ? repl[i] : NULL;

		if (buf_append(out, value + pos, s->start - pos) < 0)
			log_panic("header_addr_replace: room was checked");
		if (r != NULL && buf_append_str(out, r) < 0)
			log_panic("header_addr_replace: room was checked");
		if (r == NULL &&
		    buf_append(out, value + s->start, s->len) < 0)
			log_panic("header_addr_replace: room was checked");
		pos = s->start + s->len;
	}
	if (buf_append(out, value + pos, len - pos) < 0)
		log_panic("header_addr_replace: room was checked");
	return changed;
}
