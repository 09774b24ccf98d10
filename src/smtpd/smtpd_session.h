/* SPDX-License-Identifier: MIT */
/*
 * smtpd_session - what the parts of the SMTP server share: settings,
 * the session, and the functions one part calls in another.  Private to
 * src/smtpd (smtpd.c: process, I/O, replies; smtpd_cmd.c: commands;
 * smtpd_txn.c: the message transaction and the queue file).
 */
#ifndef OSTIA_SMTPD_SESSION_H
#define OSTIA_SMTPD_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include "buf.h"
#include "child.h"
#include "config.h"
#include "header_drop.h"
#include "hop_count.h"
#include "msg_chars.h"
#include "peer_match.h"
#include "queue_client.h"
#include "queue_file.h"
#include "smtp_command.h"
#include "smtp_data.h"
#include "tls_server.h"

struct bufferevent;
struct event;
struct event_base;
struct evbuffer;
struct lookup_request;
struct sasl_dovecot_req;
struct smtpd_check_state;
struct smtpd_hbc;
struct smtpd_hdrw;
struct milter_sess;
struct smtpd_peer;
struct smtp_xattrs;

/* Longest reply line we build. */
#define SMTPD_REPLY_MAX_BYTES 1024
/* Output not yet sent to a client that does not read: close. */
#define SMTPD_OUTPUT_MAX_BYTES (256 * 1024)
/* Input held before libevent stops reading from the client. */
#define SMTPD_INPUT_MAX_BYTES (256 * 1024)
/* Longest HELO/EHLO argument kept. */
#define SMTPD_HELO_MAX_BYTES 255
/* Longest SASL user name and mechanism name kept. */
#define SMTPD_AUTH_USER_MAX 320
#define SMTPD_AUTH_MECH_MAX 20
/* Client host names kept (a DNS name, DNS_NAME_MAX, fits). */
#define SMTPD_CLIENT_NAME_MAX 256
/* "name[address]" of smtpd_client_label. */
#define SMTPD_LABEL_MAX (SMTPD_CLIENT_NAME_MAX + INET6_ADDRSTRLEN + 4)
/* smtpd_sasl_security_options bits. */
#define SASL_SEC_NOPLAINTEXT (1u << 0)
#define SASL_SEC_NOANONYMOUS (1u << 1)

enum smtpd_sasl_type {
	SMTPD_SASL_OSTIA,
	SMTPD_SASL_DOVECOT,
};

/* Largest BDAT chunk size accepted in the command (the data is
 * streamed, this only bounds the number). */
#define SMTPD_BDAT_CHUNK_MAX ((uint64_t)1 << 40)

/* Process-wide settings, read once from the service's view. */
/*
 * A list of clients from a parameter whose default is $mynetworks
 * (smtpd_client_event_limit_exceptions,
 * smtpd_forbid_bare_newline_exclusions): "$mynetworks" in it also means
 * the networks permit_mynetworks trusts when mynetworks is not set
 * (derived from mynetworks_style; its text is empty then).
 */
struct smtpd_client_list {
	const char *name;	/* the parameter, for log lines */
	struct peer_list *list;
	bool with_mynetworks;
};

struct smtpd_settings {
	const char *myhostname;
	const char *banner;
	const char *mail_name;
	const char *service;
	char *route_service;		/* "NAME/TYPE" for ROUTE requests */
	const char *queue_socket;
	const char *queue_directory;
	uint64_t message_size_limit;
	uint64_t queue_minfree;
	long long recipient_limit;
	long long timeout;
	long long min_data_rate;
	long long soft_error_limit;
	long long hard_error_limit;
	long long error_sleep;
	long long junk_limit;
	bool helo_required;
	bool vrfy_disabled;
	bool soft_bounce;	/* 5xx replies sent as 4xx (soft_bounce.h) */
	bool transcripts;	/* sessions keep one (smtpd_notice.h) */
	bool proxy_protocol;	/* smtpd_upstream_proxy_protocol (haproxy) */
	char **forbidden_cmds;	/* smtpd_forbidden_commands: words */
	char **drop_headers;	/* message_drop_headers */
	struct msg_chars reject_chars;	/* message_reject_characters */
	struct msg_chars strip_chars;	/* message_strip_characters */
	bool strict_envelopes;
	bool forbid_unauth_pipelining;
	enum smtp_bare_lf bare_lf;
	struct smtpd_client_list bare_lf_exclusions;	/* normalize for them */
	struct smtpd_client_list sasl_exceptions;	/* AUTH not offered */
	const char *reject_footer;	/* smtpd_reject_footer, unexpanded;
					 * NULL: none */
	int bare_lf_code;		/* smtpd_forbid_bare_newline_reject_code */
	long long hopcount_limit;	/* hopcount_limit */
	/* always_bcc: the address every message also goes to (NULL: none,
	 * or receive_override_options = no_address_mappings);
	 * always_bcc_err: it is set but unusable, and every message is
	 * refused (451) with these words in the log. */
	char *always_bcc;
	char *always_bcc_err;
	unsigned exts;		/* enum smtp_ext on (less what a session is
				 * not offered: smtpd_ehlo_exts) */
	bool vrfy_advertised;	/* VRFY on (smtpd_ehlo.h may hide it) */
	int debug_level;
	struct peer_list *debug_peers;
	/* TLS: NULL when the service has TLS off. */
	struct tls_server *tls;
	long long starttls_timeout;
	bool tls_received_header;
	/* SMTP AUTH (smtpd_auth.c) */
	bool sasl_enable;
	enum smtpd_sasl_type sasl_type;
	const char *sasl_path;
	const char *sasl_password_table;	/* NULL when none */
	/* smtpd_sasl_local_domain: appended (ostia backend) to a login
	 * without "@"; "" = none */
	const char *sasl_local_domain;
	unsigned sasl_opts, sasl_tls_opts;	/* SASL_SEC_* */
	size_t sasl_response_limit;
	bool tls_auth_only;
	bool broken_auth_clients;
	bool auth_header;
	size_t line_max;		/* line reader bound (AUTH lines) */
	/* smtpd_sender_login_maps with reject_*_sender_login_mismatch */
	const char *sender_login_table;		/* NULL when none */
	bool sender_check_auth;		/* authenticated senders */
	bool sender_check_unauth;	/* unauthenticated senders */
	/* smtpd_sender_restrictions: permit_mynetworks and
	 * permit_sasl_authenticated before the check skip it */
	bool sender_permit_mynetworks;
	bool sender_permit_sasl;
	struct peer_list *mynetworks;
	bool allow_min_user;		/* addresses may begin with '-' */
	long long auth_failure_limit;	/* 0: none */
	long long auth_failure_window;	/* seconds */
};

/* What the client name lookup (smtpd_dns.h) found out. */
enum smtpd_name_status {
	SMTPD_NAME_OK,		/* a name (forward-confirmed, or a PTR) */
	SMTPD_NAME_PERM,	/* definitely none: no PTR, no match, or
				 * smtpd_peername_lookup = no */
	SMTPD_NAME_TEMP,	/* could not find out (DNS failure, no
				 * resolver, too slow) */
};

enum session_state {
	SS_CONNECTED,		/* greeting sent, no HELO/EHLO yet */
	SS_READY,		/* HELO/EHLO done, no transaction */
	SS_MAIL,		/* MAIL accepted */
	SS_RCPT,		/* at least one RCPT accepted */
	SS_WAIT_FILE,		/* waiting for the queue file (DATA/BDAT) */
	SS_DATA,		/* reading message text after 354 */
	SS_BDAT,		/* reading a BDAT chunk */
	SS_WAIT_COMMIT,		/* waiting for the queue process */
	SS_AUTH,		/* reading a SASL response line */
	SS_WAIT_AUTH,		/* waiting for the password check */
	SS_STARTTLS,		/* 220 sent; handshake once it has left */
	SS_TLS_HANDSHAKE,	/* waiting for or in the TLS handshake */
	SS_QUIT,		/* closing after the last reply */
};

struct rcpt {
	char *addr;
	unsigned notify;
	char *orcpt;
};

struct smtpd_transcript;

struct session {
	struct child *child;
	struct bufferevent *bev;	/* NULL while the TLS hello is awaited */
	int fd;
	bool bev_owns_fd;		/* the TLS bufferevent closes fd */
	char listener[80];		/* "smtps 127.0.0.1:465" for logs */
	struct event *tls_wait;		/* first bytes of the TLS hello */
	SSL *ssl;			/* owned by bev once it exists */
	bool tls_active;
	char tls_proto[16];
	char tls_cipher[64];
	int tls_bits, tls_alg_bits;
	struct tls_ccert *ccert;	/* the client's certificate, if any */
	char local_addr[INET6_ADDRSTRLEN];
	unsigned local_port;
	unsigned client_port;
	struct smtpd_check_state *chk;	/* smtpd_check.c; NULL until used */
	struct smtpd_hbc *hbc;		/* header/body checks of the message */
	struct smtpd_hdrw *hdrw;	/* its header address rewriting */
	struct header_drop hdrop;	/* message_drop_headers, last */
	int bad_char;			/* the first byte of the message in
					 * message_reject_characters, or -1 */
	/* AUTH */
	bool authenticated;
	char *auth_user;
	char auth_mech[SMTPD_AUTH_MECH_MAX + 1];
	char *ax_user;			/* LOGIN: the name, until checked */
	int ax_step;
	struct lookup_request *ax_req;	/* password check under way */
	struct sasl_dovecot_req *ax_dreq;
	unsigned auth_failures;
	char *auth_args;		/* AUTH arguments while the rate
					 * limit is counted; wiped */
	size_t auth_args_len;
	struct lookup_request *sender_req;	/* ownership lookup */
	/* smtpd_ehlo.c: EHLO keywords not offered, once known for the
	 * address ehlo_for (NULL: the default list applies) */
	unsigned ehlo_discard;
	char *ehlo_for;
	struct lookup_request *ehlo_req;	/* the table asked */
	void (*ehlo_done)(struct session *, const char *);
	/* smtpd_limit.c: per-client limits */
	struct lookup_request *limit_req;	/* the count under way */
	void (*limit_done)(struct session *, const char *);
	int limit_op;			/* enum lookup_anvil_op under way */
	int limit_exempt;		/* -1 not known yet, 0, 1 */
	uint64_t limit_conn;		/* the lookup connection our CONNECT
					 * was counted on, 0: not counted */
	char *limit_refusal;		/* the reply instead of the greeting */
	/* smtpd_screen.c: postscreen's tests under way, and the refusal
	 * of every RCPT when a test failed with action enforce */
	struct smtpd_screen *screen;
	char *screen_reply;
	bool screened;			/* postscreen's tests were made */
	unsigned screen_deep_seen;	/* its later tests that failed */
	bool sender_at_domain;		/* trying "@domain" now */
	struct event *timer;		/* error sleep */
	enum session_state state;
	char addr[INET6_ADDRSTRLEN];
	/* Client names (smtpd_dns.h): the forward-confirmed name or
	 * "unknown", and the PTR name or "unknown". */
	char name[SMTPD_CLIENT_NAME_MAX];
	char reverse_name[SMTPD_CLIENT_NAME_MAX];
	enum smtpd_name_status name_status, reverse_status;
	char *name_reason;		/* why name is "unknown", or NULL */
	struct smtpd_peer *peer;	/* the name lookup under way */
	char *helo;
	bool esmtp;
	int saved_verbose;
	struct smtp_line_reader lr;
	unsigned counts[SMTP_VERB__COUNT];
	unsigned oks[SMTP_VERB__COUNT];
	unsigned errors;
	unsigned junk;
	enum smtp_verb last_verb;
	bool have_last_verb;
	bool paused;			/* waiting for the queue or a timer */
	bool ill_pipelining;		/* sent commands ahead where not
					 * allowed, or before the greeting */
	/* transaction */
	struct smtp_mail_args mail;
	bool have_mail;
	struct rcpt *rcpts;
	size_t nrcpts;
	struct rcpt pending_rcpt;	/* RCPT while its checks run */
	char *queue_sender;		/* sender after canonical mapping
					 * (NULL: as the client gave it) */
	char instance[40];		/* per transaction (policy) */
	size_t rcpt_cap;
	struct queue_client *qc;
	int qfd;
	char id[QUEUE_ID_LEN + 1];
	struct queue_writer qw;
	bool qw_open;
	struct smtp_data_reader dr;
	struct hop_count hops;	/* Received: headers, ours included */
	bool text_first;	/* the client's text has not begun yet */
	struct timespec data_start;
	uint64_t data_bytes;		/* wire bytes of DATA/BDAT */
	bool bdat;			/* transaction uses BDAT */
	bool write_failed;		/* the queue file could not be made
					 * or written: 451 at the end */
	bool bdat_drop;			/* read this chunk and drop it */
	uint64_t bdat_left;		/* bytes of the current chunk */
	bool bdat_last;
	uint64_t bdat_size;		/* of the current chunk, for the reply */
	struct buf pending_reply;	/* reply delayed by error sleep */
	bool error_sleep;		/* replies go to pending_reply */
	/* smtpd.c: a plain socket is read through rev while read_on */
	struct event *rev;
	bool read_on;
	/* smtpd.c: replies wait in the output buffer for one write */
	bool flush_queued;
	TAILQ_ENTRY(session) flush_link;
	/* smtpd_notice.c: NULL until the first line while transcripts
	 * are on */
	/* smtpd_proxy.c: the PROXY header being read */
	struct event *proxy_ev;
	long long proxy_deadline;	/* CLOCK_MONOTONIC, ms */
	bool proxy_polling;
	void (*proxy_done)(struct session *);
	struct smtpd_transcript *transcript;
	/* smtpd_milter.c: NULL until the first filter event */
	struct milter_sess *milt;
	void (*milter_cb)(struct session *, const char *);
	bool milter_copy;		/* the message text is copied for
					 * the filters */
	bool milter_done;		/* the filters have seen the message */
	char arrival[48];		/* 'T' record of the queue file */
	/* smtpd_xclient.c: may the real client use XCLIENT / XFORWARD
	 * (0 not judged yet, 1 yes, 2 no); the XFORWARD facts of the
	 * next message (NULL: none) */
	signed char xclient_ok, xforward_ok;
	struct smtp_xattrs *xfwd;
	bool transcript_greeted;	/* got the process's usual greeting,
					 * not yet in a transcript */
};


extern struct smtpd_settings smtpd_cfg;
extern size_t smtpd_nsessions;
extern struct event_base *smtpd_base;
extern struct child *smtpd_child;

/* smtpd.c: replies and logging.  Reply text is ours, never client input;
 * an error reply counts towards the error limits and returns false when
 * the session ends. */
const char *smtpd_client_label(struct session *s, char *out, size_t outsz);
void smtpd_reply(struct session *s, const char *fmt, ...) ATTR_FORMAT(2, 3);
bool smtpd_reply_error(struct session *s, const char *fmt, ...)
    ATTR_FORMAT(2, 3);
void smtpd_log_reject(struct session *s, const char *cmd,
    const char *replytext, const char *rcpt);
/*
 * smtpd.c: read a client list parameter (after smtpd_cfg.mynetworks is
 * set; a bad value or a table that does not open is fatal), and match a
 * session's client: true when listed; a table lookup that fails is
 * logged and taken as "not listed" (these lists only grant exceptions).
 */
void smtpd_client_list_init(struct smtpd_client_list *cl,
    const struct config_view *v, enum param_id id, const char *name);
bool smtpd_client_list_match(const struct smtpd_client_list *cl,
    const struct session *s);
/* smtpd.c: whether s's client is in mynetworks: 1, 0, or -1 when a
 * table lookup failed (err, errsz bytes, says why; may be NULL). */
int smtpd_mynetworks_match(const struct session *s, char *err,
    size_t errsz);
/* Work through buffered input; may free s. */
void smtpd_session_process(struct session *s);
void smtpd_session_free(struct session *s);

/* smtpd.c: the TLS handshake, once the 220 to STARTTLS has left (or
 * at once on a wrapper-mode port). */
void smtpd_tls_begin(struct session *s);
/* smtpd_tls.c: a bufferevent event while the handshake runs. */
void smtpd_tls_event(struct session *s, short what);
/* smtpd.c: callbacks and timeouts of s->bev; the 220 greeting. */
void smtpd_bev_setup(struct session *s, long long timeout);
/* Read from the client (on) or not (off); either transport. */
void smtpd_read_enable(struct session *s, bool on);
void smtpd_greet(struct session *s);

/* smtpd_auth.c */
void smtpd_auth_init(void);
const char *smtpd_auth_mechs(const struct session *s, char *out,
    size_t outsz);
void smtpd_auth_cmd(struct session *s, const struct smtp_command *c);
void smtpd_auth_response(struct session *s, const char *line, size_t len);
void smtpd_auth_session_end(struct session *s);
/* Start the sender ownership check of a parsed MAIL FROM: true when it
 * runs (asynchronously), false when none applies. */
bool smtpd_sender_check_start(struct session *s);
/* smtpd_cmd.c: the end of MAIL FROM, after the check. */
void smtpd_mail_accept(struct session *s);
void smtpd_mail_refuse(struct session *s, const char *text);

/* smtpd_cmd.c */
void smtpd_rcpt_pending_clear(struct session *s);
void smtpd_handle_line(struct session *s, enum smtp_line_status st,
    const char *line, size_t len);
void smtpd_bdat_chunk_done(struct session *s);

/* smtpd_txn.c */
void smtpd_transaction_reset(struct session *s);
bool smtpd_request_file(struct session *s, const char *cmd);
/* Ask for the queue file early (first accepted RCPT), without waiting. */
void smtpd_prefetch_file(struct session *s);
void smtpd_finish_message(struct session *s);
bool smtpd_queue_has_room(uint64_t need);
void smtpd_data_out(void *ctx, const char *data, size_t len);

#endif
