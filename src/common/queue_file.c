/* SPDX-License-Identifier: MIT */
/*
 * queue_file - write and parse queue files, make queue IDs; see
 * queue_file.h and docs/queue-format.md (the reference).
 *
 * Used by the queue process (the writer, as the owner of the spool) and
 * by whatever reads queued mail back.  Needs no privileges: the writer
 * writes to a descriptor it is given (it never opens, syncs or renames;
 * the queue process does that), the parser reads bytes already in memory.
 *
 * The parser trusts nothing (STYLE.md 1.6, 2): a file is accepted only if
 * it starts with the format record 'V', every record is a known type, in
 * the documented order and count, within its length limit and complete,
 * envelope strings hold no NUL byte, the few fields with a fixed syntax
 * (queue ID, SIZE, BODY, RET, NOTIFY) have it, and the end record 'X'
 * closes the file with the right byte count.  The writer refuses (EINVAL)
 * to write an envelope that the parser would refuse, so a file it
 * finishes without error always parses.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "compat.h"
#include "deliver_proto.h"
#include "log.h"
#include "queue_file.h"
#include "strnum.h"
#include "xalloc.h"

/* type (1 octet) + length (4 octets, big-endian) */
#define QUEUE_RECORD_HEADER_BYTES 5
/* The writer hands its pending bytes to write() past this size. */
#define QUEUE_WRITER_FLUSH_BYTES (64 * 1024)
/* Pending bytes: less than the flush size plus one largest record. */
#define QUEUE_WRITER_OUT_MAX_BYTES \
	(QUEUE_WRITER_FLUSH_BYTES + QUEUE_RECORD_HEADER_BYTES + \
	QUEUE_RECORD_MAX_BYTES)
/* Decimal digits of a uint64_t: the payload of 'X' is at most this. */
#define QUEUE_COUNT_MAX_DIGITS 20

/*
 * Queue IDs: the time field counts microseconds from this instant
 * (2024-01-01 00:00:00 UTC), not from 1970: 50 bits of microseconds last
 * 35.7 years, and microseconds since 1970 already need 51 bits.  IDs made
 * before it use 0, IDs after 2059-09 use the largest value; both still
 * sort and stay distinct through the counter and the pid.
 */
#define QUEUE_ID_EPOCH_USEC (UINT64_C(1704067200) * 1000000)
#define QUEUE_ID_TIME_CHARS 10
#define QUEUE_ID_TIME_BITS (QUEUE_ID_TIME_CHARS * 5)
#define QUEUE_ID_COUNTER_BITS 18
#define QUEUE_ID_PID_BITS 12

/* Crockford base32; in ASCII order, so string order is numeric order. */
static const char queue_id_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

enum queue_writer_state {
	QUEUE_WRITER_STATE_INIT,	/* the envelope comes next */
	QUEUE_WRITER_STATE_CONTENT,	/* message bytes, then finish */
	QUEUE_WRITER_STATE_TRAILER,	/* trailer written: finish only */
	QUEUE_WRITER_STATE_DONE,	/* finished: nothing more */
};

enum qrec_flags {
	QREC_REQUIRED = 1 << 0,	/* must appear */
	QREC_REPEAT = 1 << 1,	/* may appear more than once in a row */
	QREC_DATA = 1 << 2,	/* message bytes: any byte, data length limit */
};

/*
 * Record types in file order; the index in this table is the position.
 * Error texts are static so that *error_r never needs freeing.
 */
struct qrec_type {
	char type;
	unsigned flags;
	const char *missing;	/* a later record came first */
	const char *twice;	/* appears again */
	const char *order;	/* appears after a record that follows it */
};

#define QREC(c, s, what, flags) { c, flags, \
	"record '" s "' (" what ") is missing", \
	"record '" s "' (" what ") appears more than once", \
	"record '" s "' (" what ") is out of order" }

enum {
	QREC_V, QREC_I, QREC_T, QREC_C, QREC_A, QREC_H, QREC_P, QREC_L,
	QREC_W, QREC_K, QREC_S, QREC_z, QREC_B, QREC_U, QREC_r, QREC_e,
	QREC_R, QREC_N, QREC_O, QREC_M, QREC_D, QREC_E, QREC_F, QREC_Q,
	QREC_J, QREC_b, QREC_X, QREC__COUNT,
};

static const struct qrec_type qrec_types[QREC__COUNT] = {
	[QREC_V] = QREC('V', "V", "format and version", QREC_REQUIRED),
	[QREC_I] = QREC('I', "I", "queue ID", QREC_REQUIRED),
	[QREC_T] = QREC('T', "T", "arrival time", QREC_REQUIRED),
	[QREC_C] = QREC('C', "C", "client name", QREC_REQUIRED),
	[QREC_A] = QREC('A', "A", "client address", QREC_REQUIRED),
	[QREC_H] = QREC('H', "H", "HELO name", QREC_REQUIRED),
	[QREC_P] = QREC('P', "P", "protocol", QREC_REQUIRED),
	[QREC_L] = QREC('L', "L", "service", QREC_REQUIRED),
	[QREC_W] = QREC('W', "W", "SASL user", 0),
	[QREC_K] = QREC('K', "K", "TLS", 0),
	[QREC_S] = QREC('S', "S", "sender", QREC_REQUIRED),
	[QREC_z] = QREC('z', "z", "SIZE", 0),
	[QREC_B] = QREC('B', "B", "BODY", 0),
	[QREC_U] = QREC('U', "U", "SMTPUTF8", 0),
	[QREC_r] = QREC('r', "r", "RET", 0),
	[QREC_e] = QREC('e', "e", "ENVID", 0),
	[QREC_R] = { 'R', QREC_REQUIRED | QREC_REPEAT,
	    "no recipient record 'R'",
	    "record 'R' (recipient) appears more than once",
	    "record 'R' (recipient) is out of order" },
	[QREC_N] = { 'N', 0, "record 'N' (NOTIFY) is missing",
	    "record 'N' (NOTIFY) appears twice for one recipient",
	    "record 'N' (NOTIFY) does not follow a recipient 'R'" },
	[QREC_O] = { 'O', 0, "record 'O' (ORCPT) is missing",
	    "record 'O' (ORCPT) appears twice for one recipient",
	    "record 'O' (ORCPT) does not follow a recipient 'R' or its 'N'" },
	[QREC_M] = QREC('M', "M", "message start", QREC_REQUIRED),
	[QREC_D] = { 'D', QREC_REPEAT | QREC_DATA,
	    "record 'D' (message bytes) is missing",
	    "record 'D' (message bytes) appears more than once",
	    "record 'D' (message bytes) outside the message: only after 'M' "
	    "and before 'X'" },
	[QREC_E] = QREC('E', "E", "refused", 0),
	[QREC_F] = QREC('F', "F", "content filter", 0),
	[QREC_Q] = QREC('Q', "Q", "hold", 0),
	[QREC_J] = QREC('J', "J", "redirect", 0),
	[QREC_b] = { 'b', QREC_REPEAT, "record 'b' (BCC) is missing",
	    "record 'b' (BCC) appears more than once",
	    "record 'b' (BCC) is out of order" },
	[QREC_X] = QREC('X', "X", "end", QREC_REQUIRED),
};

/* qrec_index - position of record type c, or -1 if unknown. */
static int
qrec_index(unsigned char c)
{
	for (int i = 0; i < QREC__COUNT; i++) {
		if ((unsigned char)qrec_types[i].type == c)
			return i;
	}
	return -1;
}

void
queue_envelope_init_local(struct queue_envelope *env, const char *id,
    char arrival[QUEUE_ARRIVAL_BYTES], const char *protocol,
    const char *service, const char *sender)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(arrival, QUEUE_ARRIVAL_BYTES, "%lld.%06ld",
	    (long long)ts.tv_sec, (long)(ts.tv_nsec / 1000));
	memset(env, 0, sizeof(*env));
	env->id = UNCONST(id);
	env->arrival = arrival;
	env->client_name = UNCONST("localhost");
	env->client_addr = UNCONST("127.0.0.1");
	env->helo = UNCONST("");
	env->protocol = UNCONST(protocol);
	env->service = UNCONST(service);
	env->sender = UNCONST(sender);
}

void
queue_envelope_deinit(struct queue_envelope *env)
{
	free(env->id);
	free(env->arrival);
	free(env->client_name);
	free(env->client_addr);
	free(env->helo);
	free(env->protocol);
	free(env->service);
	free(env->sasl_user);
	free(env->tls);
	free(env->sender);
	free(env->size);
	free(env->body);
	free(env->ret);
	free(env->envid);
	free(env->refused);
	free(env->filter);
	free(env->hold);
	free(env->redirect);
	for (size_t i = 0; i < env->nbccs; i++)
		free(env->bccs[i]);
	free(env->bccs);
	for (size_t i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].addr);
		free(env->rcpts[i].notify);
		free(env->rcpts[i].orcpt);
	}
	free(env->rcpts);
	memset(env, 0, sizeof(*env));
}

void
queue_envelope_add_rcpt(struct queue_envelope *env, const char *addr,
    const char *notify, const char *orcpt)
{
	struct queue_rcpt *r;

	env->rcpts = xreallocarray(env->rcpts, env->nrcpts + 1,
	    sizeof(env->rcpts[0]));
	r = &env->rcpts[env->nrcpts++];
	r->addr = xstrdup(addr);
	r->notify = notify == NULL ? NULL : xstrdup(notify);
	r->orcpt = orcpt == NULL ? NULL : xstrdup(orcpt);
}

void
queue_envelope_add_bcc(struct queue_envelope *env, const char *addr)
{
	env->bccs = xreallocarray(env->bccs, env->nbccs + 1,
	    sizeof(env->bccs[0]));
	env->bccs[env->nbccs++] = xstrdup(addr);
}

/* ---- Field syntax, shared by the writer and the parser ---- */

/* notify_is_valid - "NEVER" or a comma list of SUCCESS, FAILURE, DELAY
 * (RFC 3461 4.1), upper case as stored. */
static bool
notify_is_valid(const char *s)
{
	if (strcmp(s, "NEVER") == 0)
		return true;
	for (;;) {
		size_t n = strcspn(s, ",");

		if (!((n == 7 && strncmp(s, "SUCCESS", 7) == 0) ||
		    (n == 7 && strncmp(s, "FAILURE", 7) == 0) ||
		    (n == 5 && strncmp(s, "DELAY", 5) == 0)))
			return false;
		if (s[n] == '\0')
			return true;
		s += n + 1;
	}
}

bool
queue_refusal_valid(const char *s)
{
	size_t n = strcspn(s, " ");
	char code[16];

	/* The code as the delivery protocol checks a bounce's. */
	if (n == 0 || n >= sizeof(code) || s[n] != ' ' || s[n + 1] == '\0')
		return false;
	memcpy(code, s, n);
	code[n] = '\0';
	if (!deliver_dsn_valid(code, DELIVER_BOUNCE))
		return false;
	for (s += n + 1; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/*
 * qrec_check_value - the syntax of an envelope field that has one:
 * NULL if s is acceptable for record type c, else the error text.
 */
static const char *
qrec_check_value(char c, const char *s)
{
	const char *error = NULL;
	uint64_t v;

	switch (c) {
	case 'V':
		if (strcmp(s, QUEUE_FILE_MAGIC) == 0)
			return NULL;
		if (strncmp(s, "ostia-queue ", 12) == 0)
			return "unsupported queue file version";
		return "not an ostia queue file (bad format record 'V')";
	case 'I':
		if (!queue_id_is_valid(s))
			return "record 'I' does not hold a valid queue ID";
		return NULL;
	case 'z':
		if (strnum_parse_u64(s, UINT64_MAX, &v, &error) < 0)
			return "record 'z' (SIZE) is not a decimal number";
		return NULL;
	case 'B':
		if (strcmp(s, "7BIT") != 0 && strcmp(s, "8BITMIME") != 0 &&
		    strcmp(s, "BINARYMIME") != 0)
			return "record 'B' (BODY) is not 7BIT, 8BITMIME or "
			    "BINARYMIME";
		return NULL;
	case 'U':
		if (*s != '\0')
			return "record 'U' (SMTPUTF8) is not empty";
		return NULL;
	case 'r':
		if (strcmp(s, "FULL") != 0 && strcmp(s, "HDRS") != 0)
			return "record 'r' (RET) is not FULL or HDRS";
		return NULL;
	case 'N':
		if (!notify_is_valid(s))
			return "record 'N' (NOTIFY) is not NEVER or a list of "
			    "SUCCESS, FAILURE and DELAY";
		return NULL;
	case 'M':
		if (*s != '\0')
			return "record 'M' (message start) is not empty";
		return NULL;
	case 'E':
		if (!queue_refusal_valid(s))
			return "record 'E' (refused) is not a status code "
			    "5.X.Y and a reason";
		return NULL;
	case 'F':
		if (*s == '\0' || strchr(s, ':') == NULL)
			return "record 'F' (content filter) is not "
			    "transport:nexthop";
		return NULL;
	case 'J':
	case 'b':
		if (*s == '\0')
			return "record 'J' or 'b' holds no address";
		return NULL;
	default:
		return NULL;
	}
}

/* ---- Writer ---- */

void
queue_writer_init(struct queue_writer *w, int fd)
{
	w->fd = fd;
	buf_init(&w->out, QUEUE_WRITER_OUT_MAX_BYTES);
	buf_init(&w->data, QUEUE_DATA_RECORD_MAX_BYTES);
	w->content_size = 0;
	w->written = 0;
	w->error = 0;
	w->state = QUEUE_WRITER_STATE_INIT;
}

void
queue_writer_deinit(struct queue_writer *w)
{
	buf_deinit(&w->out);
	buf_deinit(&w->data);
}

/* qw_fail - record the first error (sticky); errno is set to it; -1. */
static int
qw_fail(struct queue_writer *w, int err)
{
	if (w->error == 0)
		w->error = err;
	errno = w->error;
	return -1;
}

/* qw_write_out - hand every pending byte to write(); 0 or -1 (sticky). */
static int
qw_write_out(struct queue_writer *w)
{
	size_t done = 0;

	while (done < w->out.len) {
		ssize_t n = write(w->fd, w->out.data + done,
		    w->out.len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return qw_fail(w, errno);
		}
		if (n == 0)	/* not for a file; never spin on it */
			return qw_fail(w, EIO);
		done += (size_t)n;
		w->written += (uint64_t)n;
	}
	buf_reset(&w->out);
	return 0;
}

/* qw_record - append one record (len <= the record's limit, checked by
 * the caller), writing pending bytes out once there are enough. */
static int
qw_record(struct queue_writer *w, char type, const char *p, size_t len)
{
	unsigned char hdr[QUEUE_RECORD_HEADER_BYTES];

	hdr[0] = (unsigned char)type;
	hdr[1] = (unsigned char)(len >> 24);
	hdr[2] = (unsigned char)(len >> 16);
	hdr[3] = (unsigned char)(len >> 8);
	hdr[4] = (unsigned char)len;
	if (buf_append(&w->out, hdr, sizeof(hdr)) < 0 ||
	    buf_append(&w->out, p, len) < 0)
		log_panic("queue_writer: record '%c' of %zu bytes does not "
		    "fit the pending buffer", type, len);
	if (w->out.len >= QUEUE_WRITER_FLUSH_BYTES)
		return qw_write_out(w);
	return 0;
}

/*
 * qw_field - one envelope record: with check_only, 0 if the parser would
 * take it or -1 with EINVAL (not sticky: the caller decides); otherwise
 * append it.  s NULL is an empty payload.
 */
static int
qw_field(struct queue_writer *w, char type, const char *s, bool check_only)
{
	size_t len;

	if (s == NULL)
		s = "";
	len = strlen(s);
	if (check_only) {
		if (len > QUEUE_RECORD_MAX_BYTES ||
		    qrec_check_value(type, s) != NULL) {
			errno = EINVAL;
			return -1;
		}
		return 0;
	}
	return qw_record(w, type, s, len);
}

/* qw_opt - an optional record: nothing when s is NULL. */
static int
qw_opt(struct queue_writer *w, char type, const char *s, bool check_only)
{
	if (s == NULL)
		return 0;
	return qw_field(w, type, s, check_only);
}

/* qw_envelope_pass - every envelope record in file order: checked only,
 * or appended. */
static int
qw_envelope_pass(struct queue_writer *w, const struct queue_envelope *env,
    bool check_only)
{
	if (qw_field(w, 'V', QUEUE_FILE_MAGIC, check_only) < 0 ||
	    qw_field(w, 'I', env->id, check_only) < 0 ||
	    qw_field(w, 'T', env->arrival, check_only) < 0 ||
	    qw_field(w, 'C', env->client_name, check_only) < 0 ||
	    qw_field(w, 'A', env->client_addr, check_only) < 0 ||
	    qw_field(w, 'H', env->helo, check_only) < 0 ||
	    qw_field(w, 'P', env->protocol, check_only) < 0 ||
	    qw_field(w, 'L', env->service, check_only) < 0 ||
	    qw_opt(w, 'W', env->sasl_user, check_only) < 0 ||
	    qw_opt(w, 'K', env->tls, check_only) < 0 ||
	    qw_field(w, 'S', env->sender, check_only) < 0 ||
	    qw_opt(w, 'z', env->size, check_only) < 0 ||
	    qw_opt(w, 'B', env->body, check_only) < 0 ||
	    qw_opt(w, 'U', env->smtputf8 ? "" : NULL, check_only) < 0 ||
	    qw_opt(w, 'r', env->ret, check_only) < 0 ||
	    qw_opt(w, 'e', env->envid, check_only) < 0)
		return -1;
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];

		if (check_only && r->addr == NULL) {
			errno = EINVAL;
			return -1;
		}
		if (qw_field(w, 'R', r->addr, check_only) < 0 ||
		    qw_opt(w, 'N', r->notify, check_only) < 0 ||
		    qw_opt(w, 'O', r->orcpt, check_only) < 0)
			return -1;
	}
	return qw_field(w, 'M', "", check_only);
}

int
queue_writer_envelope(struct queue_writer *w,
    const struct queue_envelope *env)
{
	if (w->error != 0)
		return qw_fail(w, w->error);
	if (w->state != QUEUE_WRITER_STATE_INIT)
		return qw_fail(w, EINVAL);
	/* Refuse what the parser would refuse before writing anything. */
	if (env->id == NULL || env->sender == NULL || env->nrcpts == 0 ||
	    qw_envelope_pass(w, env, true) < 0)
		return qw_fail(w, EINVAL);
	w->state = QUEUE_WRITER_STATE_CONTENT;
	return qw_envelope_pass(w, env, false);
}

/* qw_data_record - the pending message bytes as one 'D' record. */
static int
qw_data_record(struct queue_writer *w)
{
	int ret = qw_record(w, 'D', w->data.data, w->data.len);

	buf_reset(&w->data);
	return ret;
}

int
queue_writer_content(struct queue_writer *w, const char *data, size_t len)
{
	if (w->error != 0)
		return qw_fail(w, w->error);
	if (w->state != QUEUE_WRITER_STATE_CONTENT ||
	    (data == NULL && len > 0))
		return qw_fail(w, EINVAL);
	while (len > 0) {
		size_t n = QUEUE_DATA_RECORD_MAX_BYTES - w->data.len;

		if (n > len)
			n = len;
		if (buf_append(&w->data, data, n) < 0)
			log_panic("queue_writer: message buffer overflow");
		data += n;
		len -= n;
		w->content_size += n;
		/* Only full records before the last: the same file for any
		 * split of the same bytes. */
		if (w->data.len == QUEUE_DATA_RECORD_MAX_BYTES &&
		    qw_data_record(w) < 0)
			return -1;
	}
	return 0;
}

int
queue_writer_trailer(struct queue_writer *w, const struct queue_envelope *env)
{
	const struct {
		char type;
		const char *value;
	} one[] = {
		{ 'E', env->refused }, { 'F', env->filter },
		{ 'Q', env->hold }, { 'J', env->redirect },
	};

	if (w->error != 0)
		return qw_fail(w, w->error);
	if (w->state != QUEUE_WRITER_STATE_CONTENT)
		return qw_fail(w, EINVAL);
	/* Refuse what the parser would refuse, before writing anything. */
	for (size_t i = 0; i < N_ELEMENTS(one); i++) {
		if (one[i].value != NULL &&
		    (strlen(one[i].value) > QUEUE_RECORD_MAX_BYTES ||
		    qrec_check_value(one[i].type, one[i].value) != NULL))
			return qw_fail(w, EINVAL);
	}
	for (size_t i = 0; i < env->nbccs; i++) {
		if (strlen(env->bccs[i]) > QUEUE_RECORD_MAX_BYTES ||
		    qrec_check_value('b', env->bccs[i]) != NULL)
			return qw_fail(w, EINVAL);
	}
	w->state = QUEUE_WRITER_STATE_TRAILER;
	if (w->data.len > 0 && qw_data_record(w) < 0)
		return -1;
	for (size_t i = 0; i < N_ELEMENTS(one); i++) {
		if (one[i].value != NULL && qw_record(w, one[i].type,
		    one[i].value, strlen(one[i].value)) < 0)
			return -1;
	}
	for (size_t i = 0; i < env->nbccs; i++) {
		if (qw_record(w, 'b', env->bccs[i], strlen(env->bccs[i])) < 0)
			return -1;
	}
	return 0;
}

int
queue_writer_finish(struct queue_writer *w)
{
	char count[QUEUE_COUNT_MAX_DIGITS + 1];
	struct stat st;
	int n;

	if (w->error != 0)
		return qw_fail(w, w->error);
	if (w->state != QUEUE_WRITER_STATE_CONTENT &&
	    w->state != QUEUE_WRITER_STATE_TRAILER)
		return qw_fail(w, EINVAL);
	w->state = QUEUE_WRITER_STATE_DONE;
	if (w->data.len > 0 && qw_data_record(w) < 0)
		return -1;
	n = snprintf(count, sizeof(count), "%" PRIu64, w->content_size);
	if (n < 0 || (size_t)n >= sizeof(count))
		log_panic("queue_writer: byte count does not fit");
	if (qw_record(w, 'X', count, (size_t)n) < 0 || qw_write_out(w) < 0)
		return -1;
	/* Old bytes of a reused file must not follow the end record. */
	if (fstat(w->fd, &st) < 0)
		return qw_fail(w, errno);
	if ((uint64_t)st.st_size > w->written &&
	    ftruncate(w->fd, (off_t)w->written) < 0)
		return qw_fail(w, errno);
	return 0;
}

/* ---- Parser ---- */

/* qp_field - the envelope string a record type fills in, or NULL. */
static char **
qp_field(struct queue_envelope *env, char c)
{
	switch (c) {
	case 'I': return &env->id;
	case 'T': return &env->arrival;
	case 'C': return &env->client_name;
	case 'A': return &env->client_addr;
	case 'H': return &env->helo;
	case 'P': return &env->protocol;
	case 'L': return &env->service;
	case 'W': return &env->sasl_user;
	case 'K': return &env->tls;
	case 'S': return &env->sender;
	case 'z': return &env->size;
	case 'B': return &env->body;
	case 'r': return &env->ret;
	case 'e': return &env->envid;
	case 'E': return &env->refused;
	case 'F': return &env->filter;
	case 'Q': return &env->hold;
	case 'J': return &env->redirect;
	default: return NULL;
	}
}

/*
 * qp_order - may record idx come after record last (-1: none yet)?
 * NULL if so, else the error text.  seen[] says which appeared already.
 */
static const char *
qp_order(int idx, int last, const bool *seen)
{
	const struct qrec_type *t = &qrec_types[idx];

	if (idx == last && (t->flags & QREC_REPEAT) != 0)
		return NULL;
	/* NOTIFY and ORCPT belong to the recipient just before them. */
	if (idx == QREC_N) {
		if (last == QREC_R)
			return NULL;
		return last == QREC_N ? t->twice : t->order;
	}
	if (idx == QREC_O) {
		if (last == QREC_R || last == QREC_N)
			return NULL;
		return last == QREC_O ? t->twice : t->order;
	}
	if (idx == QREC_R && (last == QREC_N || last == QREC_O))
		return NULL;
	if (idx <= last) {
		if (seen[idx] && (t->flags & QREC_REPEAT) == 0)
			return t->twice;
		return t->order;
	}
	for (int q = last + 1; q < idx; q++) {
		if ((qrec_types[q].flags & QREC_REQUIRED) != 0)
			return qrec_types[q].missing;
	}
	return NULL;
}

/* qp_count - the payload of 'X' as a number; -1 if not decimal. */
static int
qp_count(const char *p, size_t len, uint64_t *count_r)
{
	char s[QUEUE_COUNT_MAX_DIGITS + 1];
	const char *error = NULL;

	if (len == 0 || len > QUEUE_COUNT_MAX_DIGITS ||
	    memchr(p, '\0', len) != NULL)
		return -1;
	memcpy(s, p, len);
	s[len] = '\0';
	return strnum_parse_u64(s, UINT64_MAX, count_r, &error);
}

/* qp_records - the parse proper; on failure the caller cleans up. */
static int
qp_records(const unsigned char *data, size_t len,
    struct queue_envelope *env, struct buf *content_r,
    const char **error_r)
{
	bool seen[QREC__COUNT] = { false };
	int last = -1;
	size_t pos = 0;
	uint64_t total = 0;

	if (len == 0) {
		*error_r = "empty file: not a queue file";
		return -1;
	}
	if (data[0] != 'V') {
		*error_r = "not an ostia queue file (no format record 'V' "
		    "first)";
		return -1;
	}
	while (pos < len) {
		const unsigned char *p;
		const char *error;
		char *s, **field;
		size_t rlen, max;
		int idx;

		if (seen[QREC_X]) {
			*error_r = "data after the end record 'X'";
			return -1;
		}
		if (len - pos < QUEUE_RECORD_HEADER_BYTES) {
			*error_r = "the file ends inside a record: it is "
			    "incomplete";
			return -1;
		}
		idx = qrec_index(data[pos]);
		if (idx < 0) {
			*error_r = "unknown record type";
			return -1;
		}
		rlen = (size_t)data[pos + 1] << 24 |
		    (size_t)data[pos + 2] << 16 |
		    (size_t)data[pos + 3] << 8 | (size_t)data[pos + 4];
		max = (qrec_types[idx].flags & QREC_DATA) != 0 ?
		    QUEUE_DATA_RECORD_MAX_BYTES : QUEUE_RECORD_MAX_BYTES;
		if (rlen > max) {
			*error_r = idx == QREC_D ?
			    "message record 'D' longer than the 64 KiB limit" :
			    "envelope record longer than the 1 MiB limit";
			return -1;
		}
		pos += QUEUE_RECORD_HEADER_BYTES;
		if (rlen > len - pos) {
			*error_r = "the file ends inside a record: it is "
			    "incomplete";
			return -1;
		}
		p = data + pos;
		pos += rlen;
		if ((error = qp_order(idx, last, seen)) != NULL) {
			*error_r = error;
			return -1;
		}
		seen[idx] = true;
		last = idx;

		if (idx == QREC_D) {
			if (content_r != NULL &&
			    buf_append(content_r, p, rlen) < 0) {
				*error_r = "message larger than the buffer "
				    "allows";
				return -1;
			}
			total += rlen;
			continue;
		}
		if (idx == QREC_X) {
			uint64_t count;

			if (qp_count((const char *)p, rlen, &count) < 0) {
				*error_r = "end record 'X' does not hold a "
				    "decimal byte count";
				return -1;
			}
			if (count != total) {
				*error_r = "end record 'X' does not match the "
				    "message size: the file is damaged";
				return -1;
			}
			continue;
		}

		/* Envelope strings: NUL-terminated copies, so no NUL in. */
		if (memchr(p, '\0', rlen) != NULL) {
			*error_r = "NUL byte in an envelope record";
			return -1;
		}
		s = xstrndup((const char *)p, rlen);
		if ((error = qrec_check_value(qrec_types[idx].type, s)) !=
		    NULL) {
			free(s);
			*error_r = error;
			return -1;
		}
		field = qp_field(env, qrec_types[idx].type);
		if (field != NULL) {
			*field = s;
		} else if (idx == QREC_R) {
			queue_envelope_add_rcpt(env, s, NULL, NULL);
			free(s);
		} else if (idx == QREC_N) {
			env->rcpts[env->nrcpts - 1].notify = s;
		} else if (idx == QREC_O) {
			env->rcpts[env->nrcpts - 1].orcpt = s;
		} else if (idx == QREC_b) {
			queue_envelope_add_bcc(env, s);
			free(s);
		} else {
			if (idx == QREC_U)
				env->smtputf8 = true;
			free(s);	/* 'V', 'U', 'M': checked, nothing kept */
		}
	}
	if (!seen[QREC_X]) {
		*error_r = "no end record: the file is incomplete";
		return -1;
	}
	env->content_size = total;
	return 0;
}

int
queue_file_parse(const char *data, size_t len, struct queue_envelope *env,
    struct buf *content_r, const char **error_r)
{
	size_t content_len = content_r != NULL ? content_r->len : 0;

	memset(env, 0, sizeof(*env));
	if (qp_records((const unsigned char *)data, len, env, content_r,
	    error_r) == 0)
		return 0;
	queue_envelope_deinit(env);
	/* Take back what was appended (buf.h has no truncate). */
	if (content_r != NULL && content_r->len > content_len) {
		content_r->len = content_len;
		content_r->data[content_len] = '\0';
	}
	return -1;
}

/* qp_head - the payload of the record at *pos if it has type type and
 * exactly want bytes (*pos then moves past it), else NULL. */
static const unsigned char *
qp_head(const unsigned char *data, size_t len, size_t *pos, char type,
    size_t want)
{
	size_t rlen, at = *pos;

	if (len - at < QUEUE_RECORD_HEADER_BYTES || data[at] != type)
		return NULL;
	rlen = (size_t)data[at + 1] << 24 | (size_t)data[at + 2] << 16 |
	    (size_t)data[at + 3] << 8 | (size_t)data[at + 4];
	at += QUEUE_RECORD_HEADER_BYTES;
	if (rlen != want || rlen > len - at)
		return NULL;
	*pos = at + rlen;
	return data + at;
}

int
queue_file_id(const char *data, size_t len, char out[QUEUE_ID_LEN + 1])
{
	const unsigned char *d = (const unsigned char *)data, *p;
	const size_t magic = strlen(QUEUE_FILE_MAGIC);
	size_t pos = 0;

	p = qp_head(d, len, &pos, 'V', magic);
	if (p == NULL || memcmp(p, QUEUE_FILE_MAGIC, magic) != 0)
		return -1;
	p = qp_head(d, len, &pos, 'I', QUEUE_ID_LEN);
	if (p == NULL)
		return -1;
	memcpy(out, p, QUEUE_ID_LEN);
	out[QUEUE_ID_LEN] = '\0';
	return queue_id_is_valid(out) ? 0 : -1;
}

char *
queue_file_reused_why(const char *data, size_t len, const char *id,
    const char *perr)
{
	char other[QUEUE_ID_LEN + 1];

	/* Only a reused file names another ID (queue_spare.h), and only a
	 * message that had left the queue gives up its file. */
	if (queue_file_id(data, len, other) < 0 || strcmp(other, id) == 0)
		return NULL;
	return xasprintf("holds the file of message %s, not %s (%s): a "
	    "crash undid the renames of a queue file reused after %s had "
	    "left the queue (delivered or returned; nothing of it is owed)",
	    other, id, perr != NULL ? perr : "complete", id);
}

/* ---- Queue IDs ---- */

void
queue_id_new(char out[QUEUE_ID_LEN + 1], uint64_t usec_since_epoch,
    uint32_t counter, pid_t pid)
{
	const uint64_t time_max = (UINT64_C(1) << QUEUE_ID_TIME_BITS) - 1;
	uint64_t t, low;

	t = usec_since_epoch < QUEUE_ID_EPOCH_USEC ? 0 :
	    usec_since_epoch - QUEUE_ID_EPOCH_USEC;
	if (t > time_max)
		t = time_max;
	/* The counter first, so one process's IDs within one microsecond
	 * sort in the order they were made. */
	low = ((uint64_t)counter &
	    ((UINT64_C(1) << QUEUE_ID_COUNTER_BITS) - 1)) << QUEUE_ID_PID_BITS |
	    ((uint64_t)(uint32_t)pid & ((UINT64_C(1) << QUEUE_ID_PID_BITS) - 1));
	for (int i = 0; i < QUEUE_ID_TIME_CHARS; i++)
		out[i] = queue_id_alphabet[(t >> (5 * (QUEUE_ID_TIME_CHARS -
		    1 - i))) & 31];
	for (int i = 0; i < QUEUE_ID_LEN - QUEUE_ID_TIME_CHARS; i++)
		out[QUEUE_ID_TIME_CHARS + i] = queue_id_alphabet[(low >> (5 *
		    (QUEUE_ID_LEN - QUEUE_ID_TIME_CHARS - 1 - i))) & 31];
	out[QUEUE_ID_LEN] = '\0';
}

bool
queue_id_is_valid(const char *s)
{
	if (s == NULL)
		return false;
	for (size_t i = 0; i < QUEUE_ID_LEN; i++) {
		if (s[i] == '\0' || strchr(queue_id_alphabet, s[i]) == NULL)
			return false;
	}
	return s[QUEUE_ID_LEN] == '\0';
}
