/* SPDX-License-Identifier: MIT */
/*
 * smtpd_policy - smtpd's client of Postfix's SMTP access policy
 * delegation protocol (check_policy_service; Postfix SMTPD_POLICY_README).
 *
 * Runs in smtpd as mail_owner, on smtpd's event loop.  The protocol:
 *
 *   C: name=value LF ... name=value LF LF     (one request)
 *   S: action=<access(5) action> LF [name=value LF ...] LF
 *
 * The server must keep the connection open after a reply so it can be
 * used again, and closes it (without a reply) when it is in trouble.
 *
 * Endpoints, as after check_policy_service (policy_spec_parse()):
 *
 *   inet:host:port       TCP; host a name (looked up with getaddrinfo()
 *                        at each connection attempt, which blocks) or an
 *                        address, IPv6 in brackets; port 1-65535
 *   unix:pathname        a UNIX-domain stream socket; a relative name is
 *                        relative to the current directory, which in
 *                        smtpd is queue_directory, so Postfix's
 *                        "unix:private/policy" works as it does there
 *   local:pathname       the same as unix: (Postfix accepts it too)
 *   { endpoint, name=value, { name = value with spaces }, ... }
 *                        Postfix 3.0 per-service settings; the braces
 *                        may already have been removed by the list
 *                        splitter (config_split_list()), so the text
 *                        "inet:h:p, timeout=10s" is accepted as well
 *
 * A bare name ("policy", "private/policy") is refused, as Postfix
 * refuses it ("need transport:endpoint").
 *
 * Settings (each defaults to the view's smtpd_policy_service_<name>):
 * timeout (connect + send + answer, per attempt), max_idle, max_ttl,
 * request_limit (0 = none), try_limit, retry_delay, default_action,
 * policy_context (sent as the policy_context attribute; its main.cf
 * default smtpd_policy_service_policy_context is read by name).
 *
 * Connections: one struct policy_client per distinct endpoint and
 * settings and event base, in a process-wide registry.  A connection
 * carries one request at a time; a request goes on an idle connection
 * when there is one and a new connection is opened only when all are
 * busy, up to POLICY_CONNS_MAX; requests beyond wait (at most
 * POLICY_QUEUE_MAX).  Postfix (one session per smtpd process) sends all
 * requests about one message over one connection, and some policy
 * servers keep state per connection until the "instance" attribute
 * changes.  So among idle connections a request takes the one that
 * carried its instance last, else one whose instance has ended
 * (policy_instance_end()) or that never carried one, else the least
 * recently used.  Connections close after max_idle without requests,
 * once older than max_ttl (when idle), and after request_limit replies.
 *
 * Failure: a refused or failed connection, no complete reply within
 * timeout, a malformed reply, a reply longer than
 * POLICY_REPLY_MAX_BYTES, or a connection closed before the reply.
 * Each failure is logged (warning) with the endpoint and the cause in
 * plain words, the connection is closed, and the request is tried again
 * after retry_delay on another connection, up to try_limit attempts.
 * After the last one the answer is default_action (if any) or a
 * failure.  Before reusing an idle connection the client checks that
 * the server has not closed it meanwhile (and then opens another one).
 *
 * Input from the SMTP client never becomes protocol structure: a value
 * holding LF, CR or NUL, longer than POLICY_VALUE_MAX_BYTES, or a name
 * that is not [a-z0-9_]+ makes the request fail (ok = false, never the
 * default_action) without anything being sent.
 */
#ifndef OSTIA_SMTPD_POLICY_H
#define OSTIA_SMTPD_POLICY_H

#include <stdbool.h>
#include <stddef.h>

struct config_view;
struct event_base;
struct policy_spec;
struct policy_client;
struct policy_request;

/* Longest attribute value sent (a longer one refuses the request). */
#define POLICY_VALUE_MAX_BYTES 4096
/* Longest request sent, every attribute and the empty line included. */
#define POLICY_REQUEST_MAX_BYTES (64 * 1024)
/* Longest reply accepted, its empty line included. */
#define POLICY_REPLY_MAX_BYTES 8192
/* Connections per client, and requests waiting for one. */
#define POLICY_CONNS_MAX 8
#define POLICY_QUEUE_MAX 1024

/*
 * Parse the text after check_policy_service (see above; leading and
 * trailing white space is ignored).  v gives the defaults of every
 * setting; v == NULL uses the built-in defaults of the parameter table
 * (tests, fuzzing).  default_action: the option's value, else the
 * view's smtpd_policy_service_default_action ("451 4.3.5 Server
 * configuration problem" unless set); a main.cf value of "" means none
 * (a failure is then reported as ok = false).  Options must have a
 * non-empty value, as in Postfix.
 * Returns a new spec (policy_spec_free), or NULL with the reason in err
 * (one line, for "check_policy_service: <err>").
 */
struct policy_spec *policy_spec_parse(const char *text,
    const struct config_view *v, char *err, size_t errsz);
/* Free *sp (NULL allowed); *sp = NULL. */
void policy_spec_free(struct policy_spec **sp);
/* "inet:host:port" or "unix:pathname", as given (local: shown as
 * unix:); valid as long as the spec. */
const char *policy_spec_endpoint(const struct policy_spec *spec);
/* The default_action, or NULL when none.  Valid as long as the spec. */
const char *policy_spec_default_action(const struct policy_spec *spec);
/* The settings as seconds/counts (what the registry keys on). */
long long policy_spec_timeout(const struct policy_spec *spec);
long long policy_spec_try_limit(const struct policy_spec *spec);

/*
 * The client for spec on base: the one already made for an equal spec
 * (endpoint and every setting) and base, or a new one.  The client
 * copies what it needs: spec may be freed afterwards.  No connection is
 * made yet.  Never NULL.  Owned by the registry: freed by
 * policy_clients_free_all() only.
 */
struct policy_client *policy_client_get(struct event_base *base,
    const struct policy_spec *spec);
/*
 * Close every connection and free every client; requests still
 * waiting are dropped without their callbacks.  Not from a callback.
 */
void policy_clients_free_all(void);

/*
 * The answer to a request, called exactly once, later, from the event
 * loop (never from inside policy_query()), unless the request was
 * cancelled first:
 *   ok = true, reason = NULL: action = the server's action text
 *     ("DUNNO", "DEFER_IF_PERMIT Greylisted", "PREPEND X-A: b"), white
 *     space around it removed; never empty.
 *   ok = true, reason != NULL: every attempt failed and action is the
 *     default_action; reason says why (for the log).
 *   ok = false, action = NULL: it failed and there is no default_action,
 *     or the request was refused (bad attribute); reason says why.
 * Strings are valid during the call only.  The callback may start or
 * cancel other requests.
 */
typedef void policy_fn(void *ctx, bool ok, const char *action,
    const char *reason);

/*
 * Send the request attrs: a NULL-terminated array name, value, name,
 * value, ...  (values may be "" but not NULL).  When attrs has no
 * "request" attribute, "request=smtpd_access_policy" is sent first;
 * "policy_context" comes from the spec and a policy_context in attrs is
 * left out.  Returns the request handle (never NULL); cb follows.
 * Invalid attributes (see the top of this file), more than
 * POLICY_REQUEST_MAX_BYTES, or more than POLICY_QUEUE_MAX requests
 * waiting give ok = false (never the default_action for bad attributes;
 * the default_action for a full queue, as for an unreachable server).
 */
struct policy_request *policy_query(struct policy_client *pc,
    const char *const *attrs, policy_fn *cb, void *ctx);
/*
 * No callback will follow; r is gone.  A request already sent keeps
 * its connection busy until the reply (then discarded) or the timeout.
 * Not after the callback has run.  NULL is ignored.
 */
void policy_request_cancel(struct policy_request *r);

/*
 * Optional hint: the message transaction with this instance attribute
 * is over (end of data, RSET, QUIT, lost client), so the connections
 * that carried it are the first choice for a new instance.  Any
 * client, any base; NULL and "" are ignored.
 */
void policy_instance_end(const char *instance);

/* Open connections (tests, status). */
size_t policy_client_connections(const struct policy_client *pc);
/* Requests whose callback is still due. */
size_t policy_client_pending(const struct policy_client *pc);
/*
 * Tests: timings in milliseconds instead of the spec's seconds
 * (0 keeps a value).  Affects every user of pc.
 */
void policy_client_set_timing_ms(struct policy_client *pc,
    unsigned timeout_ms, unsigned retry_delay_ms, unsigned max_idle_ms,
    unsigned max_ttl_ms);

/*
 * The reply parser (pure: no I/O, no allocation).  buf holds len bytes
 * received so far.  Lines end in LF (a CR before it is removed); the
 * reply ends at the first empty line.  Every line before it must be
 * name=value with a non-empty name; exactly one must be "action", whose
 * value, white space removed at both ends, must not be empty; other
 * names are ignored.  No NUL and no control character other than TAB
 * in the action.
 * Returns 1 with *r set (used = bytes of the reply including the empty
 * line; the action at buf + action_off, action_len bytes); 0 when more
 * bytes are needed (no empty line yet and fewer than
 * POLICY_REPLY_MAX_BYTES); -1 with *error_r (static text) for a
 * malformed or over-long reply.
 */
struct policy_reply {
	size_t used;
	size_t action_off;
	size_t action_len;
};
int policy_reply_parse(const char *buf, size_t len, struct policy_reply *r,
    const char **error_r);

#endif
