/* SPDX-License-Identifier: MIT */
/*
 * log - Postfix-style logging; see log.h.
 *
 * Runs in every process.  Formatting uses a fixed stack buffer so that
 * logging never allocates (it is also how an out-of-memory is reported).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static char log_ident_buf[128] = "ostia";
static enum log_style log_style = LOG_STYLE_COMMAND;
static int log_fd = 2;
static bool log_syslog = false;
static int log_verbose = 0;
static log_capture_fn *log_capture = NULL;
static void *log_capture_ctx = NULL;
static void (*log_fatal_hook)(void) = NULL;
static char log_hostname[256] = "";
/* getpid() is a system call on every line otherwise; a forked child
 * clears the cache (pthread_atfork in log_init). */
static pid_t log_pid_cache = 0;
/* Changed by log_init: the heads cached below are made again. */
static unsigned log_generation = 1;

/*
 * The head of a line ("Mon dd hh:mm:ss" before the microseconds, then
 * " HOST IDENT[PID]: "), made again only when the second, the pid or
 * the identity changed: localtime, strftime and a formatted print for
 * every line were a visible share of a busy process's time.  Per
 * thread (the queue process logs from its sync threads too).
 */
static __thread struct {
	unsigned generation;	/* 0: nothing cached */
	time_t sec;
	long pid;
	size_t stamp_len;
	size_t head_len;
	char stamp[32];
	char head[sizeof(log_hostname) + sizeof(log_ident_buf) + 32];
} log_head;

static void
log_pid_forget(void)
{
	log_pid_cache = 0;
}

static long
log_pid(void)
{
	if (log_pid_cache == 0)
		log_pid_cache = getpid();
	return (long)log_pid_cache;
}

static const struct {
	const char *name;
	int value;
} log_facilities[] = {
	{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

void
log_init(const char *syslog_name, const char *process_name,
    enum log_style style)
{
	if (process_name != NULL)
		snprintf(log_ident_buf, sizeof(log_ident_buf), "%s/%s",
		    syslog_name, process_name);
	else
		snprintf(log_ident_buf, sizeof(log_ident_buf), "%s",
		    syslog_name);
	log_style = style;
	log_generation++;
	{
		static bool atfork_set;

		if (!atfork_set && pthread_atfork(NULL, NULL,
		    log_pid_forget) == 0)
			atfork_set = true;
	}
	log_pid_cache = 0;
	if (gethostname(log_hostname, sizeof(log_hostname)) < 0)
		snprintf(log_hostname, sizeof(log_hostname), "localhost");
	log_hostname[sizeof(log_hostname) - 1] = '\0';
	/* Short name, as syslog prints it. */
	log_hostname[strcspn(log_hostname, ".")] = '\0';
	if (log_syslog) {
		closelog();
		log_syslog = false;
	}
}

int
log_use_syslog(const char *facility, const char **error_r)
{
	for (size_t i = 0; i < N_ELEMENTS(log_facilities); i++) {
		if (strcasecmp(facility, log_facilities[i].name) == 0) {
			openlog(log_ident_buf, LOG_PID | LOG_NDELAY,
			    log_facilities[i].value);
			log_syslog = true;
			return 0;
		}
	}
	*error_r = "unknown syslog facility (expected mail, daemon, user "
	    "or local0..local7)";
	return -1;
}

void
log_use_fd(int fd)
{
	if (log_syslog) {
		closelog();
		log_syslog = false;
	}
	log_fd = fd;
}

const char *
log_ident(void)
{
	return log_ident_buf;
}

void
log_set_verbose(int level)
{
	log_verbose = level;
}

int
log_get_verbose(void)
{
	return log_verbose;
}

void
log_set_capture(log_capture_fn *fn, void *ctx)
{
	log_capture = fn;
	log_capture_ctx = ctx;
}

void
log_set_fatal_hook(void (*hook)(void))
{
	log_fatal_hook = hook;
}

static const char *
log_prefix(enum log_level level)
{
	switch (level) {
	case LOG_LVL_PANIC:
		return "panic: ";
	case LOG_LVL_FATAL:
		return "fatal: ";
	case LOG_LVL_ERROR:
		return "error: ";
	case LOG_LVL_WARNING:
		return "warning: ";
	case LOG_LVL_INFO:
	case LOG_LVL_DEBUG:
		break;
	}
	return "";
}

static int
log_syslog_priority(enum log_level level)
{
	switch (level) {
	case LOG_LVL_PANIC:
		return LOG_CRIT;
	case LOG_LVL_FATAL:
		return LOG_CRIT;
	case LOG_LVL_ERROR:
		return LOG_ERR;
	case LOG_LVL_WARNING:
		return LOG_WARNING;
	case LOG_LVL_INFO:
		return LOG_INFO;
	case LOG_LVL_DEBUG:
		return LOG_DEBUG;
	}
	return LOG_INFO;
}

/*
 * log_line_head - the cached head for ts (log_head, remade when stale).
 */
static void
log_line_head(const struct timespec *ts)
{
	long pid = log_pid();

	if (log_head.generation == log_generation &&
	    log_head.sec == ts->tv_sec && log_head.pid == pid)
		return;
	if (log_head.generation != log_generation || log_head.pid != pid) {
		int n = snprintf(log_head.head, sizeof(log_head.head),
		    " %s %s[%ld]: ", log_hostname, log_ident_buf, pid);

		log_head.head_len = n < 0 ? 0 : (size_t)n >=
		    sizeof(log_head.head) ? sizeof(log_head.head) - 1 :
		    (size_t)n;
	}
	{
		struct tm tm;

		localtime_r(&ts->tv_sec, &tm);
		log_head.stamp_len = strftime(log_head.stamp,
		    sizeof(log_head.stamp), "%b %e %H:%M:%S", &tm);
	}
	log_head.generation = log_generation;
	log_head.sec = ts->tv_sec;
	log_head.pid = pid;
}

/* log_put - append n bytes of p to line (cap bytes, *len used), cut at
 * the end. */
static void
log_put(char *line, size_t cap, size_t *len, const char *p, size_t n)
{
	if (n > cap - *len)
		n = cap - *len;
	memcpy(line + *len, p, n);
	*len += n;
}

/* log_write_all - write a whole line, retrying short writes and EINTR. */
static void
log_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

void
log_vlog(enum log_level level, const char *fmt, va_list ap)
{
	char text[LOG_LINE_MAX_BYTES];
	char line[LOG_LINE_MAX_BYTES + 512];
	int saved_errno = errno;
	int n;

	n = vsnprintf(text, sizeof(text), fmt, ap);
	if (n >= (int)sizeof(text))
		memcpy(text + sizeof(text) - 4, "...", 4);
	/* A message is one line: newlines would let text forge lines. */
	for (char *p = text; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';

	if (log_capture != NULL)
		log_capture(level, text, log_capture_ctx);

	if (log_syslog) {
		syslog(log_syslog_priority(level), "%s%s", log_prefix(level),
		    text);
	} else if (log_style == LOG_STYLE_COMMAND) {
		n = snprintf(line, sizeof(line), "%s: %s%s\n", log_ident_buf,
		    log_prefix(level), text);
		log_write_all(log_fd, line, strlen(line));
	} else {
		/* "STAMP.USEC HEAD" + level prefix + text + newline */
		struct timespec ts;
		const char *prefix = log_prefix(level);
		size_t len = 0, cap = sizeof(line) - 1;	/* room for '\n' */
		long usec;
		char digits[7];

		clock_gettime(CLOCK_REALTIME, &ts);
		log_line_head(&ts);
		usec = ts.tv_nsec / 1000;
		digits[0] = '.';
		for (int i = 6; i >= 1; i--, usec /= 10)
			digits[i] = (char)('0' + usec % 10);
		log_put(line, cap, &len, log_head.stamp, log_head.stamp_len);
		log_put(line, cap, &len, digits, sizeof(digits));
		log_put(line, cap, &len, log_head.head, log_head.head_len);
		log_put(line, cap, &len, prefix, strlen(prefix));
		log_put(line, cap, &len, text, strlen(text));
		line[len++] = '\n';
		log_write_all(log_fd, line, len);
	}
	errno = saved_errno;
}

void
log_debug(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_verbose)
		return;
	va_start(ap, fmt);
	log_vlog(LOG_LVL_DEBUG, fmt, ap);
	va_end(ap);
}

#define LOG_FN(fn, lvl)						\
	void								\
	fn(const char *fmt, ...)					\
	{								\
		va_list ap;						\
		va_start(ap, fmt);					\
		log_vlog(lvl, fmt, ap);					\
		va_end(ap);						\
	}
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_warning, LOG_LVL_WARNING)
LOG_FN(log_error, LOG_LVL_ERROR)

void
log_fatal(const char *fmt, ...)
{
	va_list ap;
	void (*hook)(void) = log_fatal_hook;

	va_start(ap, fmt);
	log_vlog(LOG_LVL_FATAL, fmt, ap);
	va_end(ap);
	log_fatal_hook = NULL;
	if (hook != NULL)
		hook();
	exit(1);
}

void
log_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_LVL_PANIC, fmt, ap);
	va_end(ap);
	abort();
}

char *
log_escape(char *dst, size_t dstsz, const void *src, size_t srclen,
    size_t max_in)
{
	const unsigned char *s = src;
	size_t o = 0, i;
	bool cut = false;

	if (dstsz < 5) {
		if (dstsz > 0)
			dst[0] = '\0';
		return dst;
	}
	if (srclen > max_in) {
		srclen = max_in;
		cut = true;
	}
	for (i = 0; i < srclen; i++) {
		unsigned char c = s[i];
		char tmp[5];
		size_t tl;

		if (c == '\\') {
			tmp[0] = '\\';
			tmp[1] = '\\';
			tl = 2;
		} else if (c >= 0x20 && c < 0x7f) {
			tmp[0] = (char)c;
			tl = 1;
		} else {
			tmp[0] = '\\';
			tmp[1] = (char)('0' + ((c >> 6) & 7));
			tmp[2] = (char)('0' + ((c >> 3) & 7));
			tmp[3] = (char)('0' + (c & 7));
			tl = 4;
		}
		/* Keep room for "..." and the terminator. */
		if (o + tl + 4 > dstsz) {
			cut = true;
			break;
		}
		memcpy(dst + o, tmp, tl);
		o += tl;
	}
	if (cut) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}
