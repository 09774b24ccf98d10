/* SPDX-License-Identifier: MIT */
/*
 * msg_chars - message_reject_characters and message_strip_characters:
 * byte values a message may not contain (the message is refused) or
 * that are removed from it, as Postfix's cleanup does.
 *
 * The values are written as Postfix writes them: any byte stands for
 * itself, and a backslash starts an escape -- \a \b \f \n \r \t \v,
 * \\, or \ and one to three octal digits (\0 is NUL, \177 DEL).  A
 * backslash before any other byte, or at the end, stands for that byte
 * (or for a backslash).  CR and LF cannot be listed: they end the
 * message's lines, which the queue file keeps; they are left out with
 * a note in the error text.  Pure: no I/O.
 */
#ifndef OSTIA_MSG_CHARS_H
#define OSTIA_MSG_CHARS_H

#include <stdbool.h>
#include <stddef.h>

struct msg_chars {
	bool any;		/* at least one byte is listed */
	bool set[256];
};

/*
 * Parse spec (the parameter's value) into *mc.  Returns 0; or 1 when
 * spec listed CR or LF, which were left out (note says so, for a
 * warning).  Never fails: every spec means a set of bytes.
 */
int msg_chars_parse(const char *spec, struct msg_chars *mc, char *note,
    size_t notesz);

/* The first byte of data (len bytes) that mc lists, as an int 0..255,
 * or -1 when there is none. */
int msg_chars_find(const struct msg_chars *mc, const char *data, size_t len);

/*
 * Copy data (len bytes) to out without the bytes mc lists; out has room
 * for len bytes (it may be data itself).  Returns the bytes written.
 */
size_t msg_chars_strip(const struct msg_chars *mc, const char *data,
    size_t len, char *out);

#endif
