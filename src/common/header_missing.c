/* SPDX-License-Identifier: MIT */
/*
 * header_missing - headers a message lacks (header_missing.h).
 */
#include "header_missing.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* field - the bit of the field named name (n bytes), or 0. */
static unsigned
field(const char *name, size_t n)
{
	if (n == 0)
		return 0;
	if (n == 4 && strncasecmp(name, "from", 4) == 0)
		return HEADER_HAS_FROM;
	if (n == 4 && strncasecmp(name, "date", 4) == 0)
		return HEADER_HAS_DATE;
	if (n == 10 && strncasecmp(name, "message-id", 10) == 0)
		return HEADER_HAS_MSGID;
	return 0;
}

unsigned
header_missing_scan(const char *blk, size_t len)
{
	unsigned have = 0, resent = 0;
	bool any_resent = false;
	size_t pos = 0;

	while (pos < len) {
		const char *line = blk + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;
		size_t k = 0;

		pos += nl != NULL ? n + 1 : n;
		while (k < n && line[k] > 0x20 && line[k] < 0x7f &&
		    line[k] != ':')
			k++;
		if (k == 0 || k >= n || line[k] != ':')
			continue;
		if (k >= 7 && strncasecmp(line, "resent-", 7) == 0) {
			any_resent = true;
			resent |= field(line + 7, k - 7);
		} else {
			have |= field(line, k);
		}
	}
	return any_resent ? HEADER_RESENT | resent : have;
}

/* msgid - "[Resent-]Message-ID: <YYYYMMDDhhmmss.ID@host>" CRLF. */
static int
msgid(struct buf *out, const char *prefix, time_t now, const char *id,
    const char *host)
{
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	return buf_appendf(out, "%sMessage-ID: <%04d%02d%02d%02d%02d%02d.%s@%s>"
	    "\r\n", prefix, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, id, host) < 0 ? -1 : 0;
}

int
header_missing_msgid(struct buf *out, time_t now, const char *id,
    const char *host)
{
	return msgid(out, "", now, id, host);
}

int
header_missing_append(struct buf *out, unsigned have,
    const struct header_missing_vals *v, unsigned *added)
{
	unsigned add = ~have & HEADER_HAS_ALL;
	const char *pre = (have & HEADER_RESENT) != 0 ? "Resent-" : "";

	if (added != NULL)
		*added = add;
	if ((add & HEADER_HAS_FROM) != 0 && (v->sender[0] != '\0' ?
	    buf_appendf(out, "%sFrom: <%s>\r\n", pre, v->sender) :
	    buf_appendf(out, "%sFrom: MAILER-DAEMON@%s\r\n", pre,
	    v->myhostname)) < 0)
		return -1;
	if ((add & HEADER_HAS_DATE) != 0 &&
	    buf_appendf(out, "%sDate: %s\r\n", pre, v->date) < 0)
		return -1;
	if ((add & HEADER_HAS_MSGID) != 0 && msgid(out, pre, v->now,
	    v->queue_id, v->myhostname) < 0)
		return -1;
	return 0;
}
