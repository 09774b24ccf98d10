/* SPDX-License-Identifier: MIT */
/*
 * msg_chars - byte sets of message_reject_characters and
 * message_strip_characters (msg_chars.h).
 */
#include "msg_chars.h"

#include <stdio.h>
#include <string.h>

/* escape - the byte the escape at *p (after the backslash) stands for;
 * *p is moved past it. */
static unsigned char
escape(const char **p)
{
	const char *s = *p;
	unsigned v = 0;
	int n = 0;

	switch (*s) {
	case '\0':
		return '\\';	/* a backslash at the end */
	case 'a':
		*p = s + 1;
		return '\a';
	case 'b':
		*p = s + 1;
		return '\b';
	case 'f':
		*p = s + 1;
		return '\f';
	case 'n':
		*p = s + 1;
		return '\n';
	case 'r':
		*p = s + 1;
		return '\r';
	case 't':
		*p = s + 1;
		return '\t';
	case 'v':
		*p = s + 1;
		return '\v';
	default:
		break;
	}
	while (n < 3 && s[n] >= '0' && s[n] <= '7') {
		v = v * 8 + (unsigned)(s[n] - '0');
		n++;
	}
	if (n > 0) {
		*p = s + n;
		return (unsigned char)(v & 0xff);
	}
	*p = s + 1;
	return (unsigned char)*s;
}

int
msg_chars_parse(const char *spec, struct msg_chars *mc, char *note,
    size_t notesz)
{
	bool line_end = false;

	memset(mc, 0, sizeof(*mc));
	if (notesz > 0)
		note[0] = '\0';
	for (const char *p = spec; *p != '\0';) {
		unsigned char c;

		if (*p == '\\') {
			p++;
			c = escape(&p);
		} else {
			c = (unsigned char)*p++;
		}
		if (c == '\r' || c == '\n') {
			line_end = true;
			continue;
		}
		mc->set[c] = true;
		mc->any = true;
	}
	if (!line_end)
		return 0;
	if (notesz > 0)
		snprintf(note, notesz, "CR and LF end the message's lines and "
		    "cannot be listed; they are left out");
	return 1;
}

int
msg_chars_find(const struct msg_chars *mc, const char *data, size_t len)
{
	if (!mc->any)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (mc->set[(unsigned char)data[i]])
			return (unsigned char)data[i];
	return -1;
}

size_t
msg_chars_strip(const struct msg_chars *mc, const char *data, size_t len,
    char *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (!mc->set[(unsigned char)data[i]])
			out[n++] = data[i];
	return n;
}
