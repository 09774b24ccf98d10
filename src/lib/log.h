/* SPDX-License-Identifier: MIT */
/*
 * log - Postfix-style logging with a severity ladder (STYLE.md 3).
 *
 * Lines read "ostia/smtpd[1234]: warning: text" (the ident is
 * "<syslog_name>/<process_name>", as Postfix's syslog_name).  They go to
 * one destination: syslog (facility from syslog_facility), standard error
 * (the foreground master and everything it starts when maillog_file is
 * unset), or an already opened file descriptor (maillog_file, opened by
 * the master with O_APPEND and inherited by its children as fd 2, so
 * every process appends whole lines to the same file).  Lines written to
 * a descriptor carry a timestamp and host name like syslog's.
 *
 * Commands run by an admin (ostia conf, ostia status) use the short
 * command style "ostia: warning: text" on standard error.
 *
 * Severity ladder: panic (our bug: abort with a core), fatal (the
 * environment is broken: exit 1, the master decides what next), error
 * (this session or message failed), warning, info, debug (shown only when
 * the verbosity is at least the message's level: -v, debug_peer_level).
 *
 * Text that came from a client must go through log_escape() first.
 */
#ifndef OSTIA_LOG_H
#define OSTIA_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "compat.h"

enum log_level {
	LOG_LVL_PANIC,
	LOG_LVL_FATAL,
	LOG_LVL_ERROR,
	LOG_LVL_WARNING,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

enum log_style {
	LOG_STYLE_DAEMON,	/* timestamp host ident[pid]: text */
	LOG_STYLE_COMMAND,	/* ident: text */
};

/* Longest line logged; longer messages are cut and end in "...". */
#define LOG_LINE_MAX_BYTES 4096

/*
 * Set the ident to "<syslog_name>/<process_name>" (or just syslog_name
 * when process_name is NULL) and the style.  Destination starts as
 * standard error.  Strings are copied.
 */
void log_init(const char *syslog_name, const char *process_name,
    enum log_style style);
/* Send lines to syslog with the given facility name ("mail", "local0"...);
 * -1 with *error_r for an unknown facility name, 0 otherwise. */
int log_use_syslog(const char *facility, const char **error_r);
/* Send lines to fd (not closed by us), daemon style with timestamps. */
void log_use_fd(int fd);
/* Current ident, e.g. "ostia/master". */
const char *log_ident(void);

/* Debug verbosity: log_debug(n, ...) is shown when n <= verbosity. */
void log_set_verbose(int level);
int log_get_verbose(void);

/*
 * Tests: every formatted message (without prefix) goes to fn as well as
 * to the destination; NULL turns capture off.
 */
typedef void log_capture_fn(enum log_level level, const char *text,
    void *ctx);
void log_set_capture(log_capture_fn *fn, void *ctx);

/* Called once before a fatal exit (the master removes its pid file). */
void log_set_fatal_hook(void (*hook)(void));

void log_debug(int level, const char *fmt, ...) ATTR_FORMAT(2, 3);
void log_info(const char *fmt, ...) ATTR_FORMAT(1, 2);
void log_warning(const char *fmt, ...) ATTR_FORMAT(1, 2);
void log_error(const char *fmt, ...) ATTR_FORMAT(1, 2);
void log_fatal(const char *fmt, ...) ATTR_FORMAT(1, 2) ATTR_NORETURN;
void log_panic(const char *fmt, ...) ATTR_FORMAT(1, 2) ATTR_NORETURN;
void log_vlog(enum log_level level, const char *fmt, va_list ap)
    ATTR_FORMAT(2, 0);

/*
 * Escape untrusted text for logging: printable ASCII is kept except '\',
 * which is doubled; any other byte becomes \ooo (octal) so that control
 * characters, NUL and 8-bit bytes can neither forge lines nor hide.  At
 * most max_in bytes of src are used; if src was longer, or dst is too
 * small, the result ends in "...".  dst (dstsz > 4) is always
 * NUL-terminated.  Returns dst.
 */
char *log_escape(char *dst, size_t dstsz, const void *src, size_t srclen,
    size_t max_in);

#endif
