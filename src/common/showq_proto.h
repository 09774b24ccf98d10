/* SPDX-License-Identifier: MIT */
/*
 * showq_proto - the public queue service: how a user who is neither root
 * nor mail_owner lists the queue (mailq) or asks for a flush (sendmail
 * -q), as Postfix's public/showq and postqueue allow.
 *
 * The socket is $queue_directory/public/showq, served by the queue
 * process; public/ is mail_owner:ostia-postdrop, mode 0710, so only the
 * set-group-ID helper ostia-postdrop (and root, mail_owner) can reach
 * it.  The helper connects, writes one request line and copies the
 * answer to its standard output; the sendmail command reads it.
 *
 * Request, one line of at most SHOWQ_REQUEST_MAX_BYTES with its LF:
 *
 *   ostia-showq 1 UID LOGIN list           (mailq)
 *   ostia-showq 1 UID LOGIN json           (postqueue -j)
 *   ostia-showq 1 UID LOGIN flush [QUEUEID | -d DOMAIN]
 *
 * UID and LOGIN are the helper's getuid() and its login name (as in a
 * maildrop file's header); the queue process checks UID against the
 * socket's peer credentials and decides by LOGIN with
 * authorized_mailq_users / authorized_flush_users.
 *
 * Answer, lines: "O text" (standard output), "E text" (standard error),
 * and last "S N" (the exit status, 0-2), after which the queue process
 * closes the connection.
 *
 * Linked into the helper: libc only.
 */
#ifndef OSTIA_SHOWQ_PROTO_H
#define OSTIA_SHOWQ_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SHOWQ_SOCKET_PATH "public/showq"
#define SHOWQ_DIR "public"
#define SHOWQ_DIR_MODE 0710
#define SHOWQ_REQUEST_MAX_BYTES 512
#define SHOWQ_DOMAIN_MAX_BYTES 255
#define SHOWQ_MAGIC "ostia-showq 1"

enum showq_what {
	SHOWQ_LIST,
	SHOWQ_LIST_JSON,
	SHOWQ_FLUSH,		/* everything deferred */
	SHOWQ_FLUSH_ID,		/* arg: a queue ID */
	SHOWQ_FLUSH_DOMAIN,	/* arg: a domain */
};

struct showq_request {
	unsigned long uid;
	char login[65];
	enum showq_what what;
	char arg[SHOWQ_DOMAIN_MAX_BYTES + 1];
};

/*
 * The request line (with its LF) for uid, login and the words of the
 * request (words[0] "list", "json" or "flush", then the flush's
 * argument), into
 * out.  0, or -1 with *why_r when the words are not a request.
 */
int showq_request_format(char *out, size_t outsz, unsigned long uid,
    const char *login, int nwords, char *const *words, const char **why_r);
/*
 * Parse one request line (len bytes, without its LF).  0, or -1 with
 * *why_r a static text.  Checked: the magic, a decimal uid, a login of
 * RFC 5322 atext and dots, a known request, a queue ID of
 * [0-9A-Z] (16 characters), a domain of letters, digits, '.', '-'.
 */
int showq_request_parse(const char *line, size_t len,
    struct showq_request *r, const char **why_r);

/*
 * One answer line (len bytes, without its LF): 'O' or 'E' with *text_r
 * and *text_len_r, 'S' with *status_r; -1 when it is none of those.
 */
int showq_reply_parse(const char *line, size_t len, const char **text_r,
    size_t *text_len_r, int *status_r);

#endif
