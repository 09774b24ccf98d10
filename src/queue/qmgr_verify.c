/* SPDX-License-Identifier: MIT */
/*
 * qmgr_verify - address verification in the queue process
 * (qmgr_verify.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "address.h"
#include "compat.h"
#include "log.h"
#include "qmgr.h"
#include "qmgr_verify.h"
#include "queue_service.h"
#include "verify_cache.h"
#include "xalloc.h"

/* Addresses remembered at most. */
#define VERIFY_CACHE_MAX_ENTRIES 100000
/* A probe without a result after this is taken as lost; a temporary
 * result is checked again by a new probe after it too. */
#define VERIFY_PROBE_TIMEOUT 600
/* Queries waiting for a probe's result, in all. */
#define VERIFY_WAITERS_MAX 65536

struct vwait {
	void *owner;
	uint32_t tag;
	char *address;
	qmgr_verify_answer_fn *fn;
	struct event *timer;
	struct vwait *prev, *next;
};

static struct {
	struct event_base *base;
	struct verify_cache *cache;
	char *sender;		/* of probes; "" = null sender */
	struct event *cleanup;
	struct vwait *waiting;
	size_t nwaiting;
	time_t full_warned;
} vq;

static void
on_cleanup(evutil_socket_t fd, short what, void *arg)
{
	size_t n;

	(void)fd;
	(void)what;
	(void)arg;
	n = verify_cache_expire(vq.cache, time(NULL));
	if (n > 0)
		log_info("address verification: %zu expired result%s "
		    "dropped, %zu kept", n, n == 1 ? "" : "s",
		    verify_cache_count(vq.cache));
}

void
qmgr_verify_init(struct event_base *base, const struct config_view *v)
{
	struct verify_cache_settings s = {
		.positive_expire = (time_t)config_time(v,
		    P_address_verify_positive_expire_time),
		.positive_refresh = (time_t)config_time(v,
		    P_address_verify_positive_refresh_time),
		.negative_expire = (time_t)config_time(v,
		    P_address_verify_negative_expire_time),
		.negative_refresh = (time_t)config_time(v,
		    P_address_verify_negative_refresh_time),
		.probe_timeout = VERIFY_PROBE_TIMEOUT,
		.negative_cache = config_bool(v,
		    P_address_verify_negative_cache),
		.max_entries = VERIFY_CACHE_MAX_ENTRIES,
	};
	const char *snd = config_str(v, P_address_verify_sender);
	struct timeval tv;

	vq.base = base;
	vq.cache = verify_cache_new(&s);
	if (snd[0] == '\0' || strcmp(snd, "<>") == 0)
		vq.sender = xstrdup("");
	else
		vq.sender = address_qualify(snd, config_str(v, P_myorigin));
	vq.cleanup = event_new(base, -1, EV_PERSIST, on_cleanup, NULL);
	if (vq.cleanup == NULL)
		log_fatal("cannot create the verification cleanup event");
	tv.tv_sec = config_time(v, P_address_verify_cache_cleanup_interval);
	tv.tv_usec = 0;
	if (tv.tv_sec > 0)
		event_add(vq.cleanup, &tv);
}

bool
qmgr_is_probe(const struct queue_envelope *env)
{
	return env->protocol != NULL &&
	    strcmp(env->protocol, QMGR_VERIFY_PROTOCOL) == 0;
}

/* send_probe - queue a probe for address, routed as service routes. */
static int
send_probe(const char *address, const char *service)
{
	struct queue_envelope env;
	struct queue_rcpt qr = { .addr = UNCONST(address),
	    .notify = UNCONST("NEVER") };
	char id[QUEUE_ID_LEN + 1], arrival[QUEUE_ARRIVAL_BYTES];
	char *text;
	int r;

	queue_service_new_id(id);
	queue_envelope_init_local(&env, id, arrival, QMGR_VERIFY_PROTOCOL,
	    service, vq.sender);
	env.rcpts = &qr;
	env.nrcpts = 1;
	text = xasprintf("Subject: address verification probe\r\n"
	    "\r\n"
	    "This message checks whether the address can be delivered "
	    "to.\r\nIt is never sent: the delivery stops before it.\r\n");
	r = queue_service_write(&env, text, strlen(text));
	free(text);
	if (r < 0) {
		log_error("address verification of <%s>: cannot queue the "
		    "probe: %s", address, strerror(errno));
		return -1;
	}
	log_info("%s: address verification probe for <%s> (service %s)",
	    id, address, service);
	qmgr_committed(id, NULL);
	return 0;
}

static void
waiter_unlink(struct vwait *w)
{
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		vq.waiting = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	vq.nwaiting--;
	event_free(w->timer);
	free(w->address);
	free(w);
}

static void
on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct vwait *w = arg;
	void *owner = w->owner;
	uint32_t tag = w->tag;
	qmgr_verify_answer_fn *fn = w->fn;

	(void)fd;
	(void)what;
	waiter_unlink(w);
	fn(owner, tag, VERIFY_PENDING, "", "");
}

void
qmgr_verify_ask(void *owner, uint32_t tag, const char *address,
    const char *service, unsigned wait_ms, qmgr_verify_answer_fn *fn)
{
	struct verify_result r;
	time_t now = time(NULL);
	struct vwait *w;
	struct timeval tv;

	if (vq.cache == NULL) {
		fn(owner, tag, VERIFY_DEFER, "4.3.0", "the queue manager "
		    "does not run in this queue process");
		return;
	}
	verify_cache_query(vq.cache, address, now, &r);
	if (r.full) {
		if (now - vq.full_warned >= 60) {
			log_warning("address verification: the cache holds "
			    "%zu addresses, its limit, and none expired; "
			    "new addresses stay unverified until some do "
			    "(shorten address_verify_*_expire_time)",
			    verify_cache_count(vq.cache));
			vq.full_warned = now;
		}
		fn(owner, tag, VERIFY_PENDING, "", "");
		return;
	}
	if (r.probe && send_probe(address, service) < 0 &&
	    r.state == VERIFY_PENDING) {
		verify_cache_update(vq.cache, address, VERIFY_DEFER, "4.3.0",
		    "the probe could not be queued", now);
		fn(owner, tag, VERIFY_DEFER, "4.3.0", "the probe could not "
		    "be queued");
		return;
	}
	/* send_probe may have answered (a probe that needs no agent can
	 * finish at once): query again. */
	if (r.probe)
		verify_cache_query(vq.cache, address, now, &r);
	if (r.state != VERIFY_PENDING || wait_ms == 0 ||
	    vq.nwaiting >= VERIFY_WAITERS_MAX) {
		fn(owner, tag, r.state, r.dsn, r.text);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->owner = owner;
	w->tag = tag;
	w->address = xstrdup(address);
	w->fn = fn;
	w->timer = evtimer_new(vq.base, on_wait_timeout, w);
	if (w->timer == NULL)
		log_fatal("cannot create a verification timer");
	tv.tv_sec = wait_ms / 1000;
	tv.tv_usec = (wait_ms % 1000) * 1000;
	evtimer_add(w->timer, &tv);
	w->next = vq.waiting;
	if (w->next != NULL)
		w->next->prev = w;
	vq.waiting = w;
	vq.nwaiting++;
}

void
qmgr_verify_forget(void *owner)
{
	struct vwait *w, *next;

	for (w = vq.waiting; w != NULL; w = next) {
		next = w->next;
		if (w->owner == owner)
			waiter_unlink(w);
	}
}

void
qmgr_verify_probe_done(const char *address, enum verify_state st,
    const char *dsn, const char *text)
{
	struct vwait *w, *next;

	if (vq.cache == NULL)
		return;
	verify_cache_update(vq.cache, address, st, dsn, text, time(NULL));
	for (w = vq.waiting; w != NULL; w = next) {
		void *owner;
		uint32_t tag;
		qmgr_verify_answer_fn *fn;

		next = w->next;
		if (strcasecmp(w->address, address) != 0)
			continue;
		owner = w->owner;
		tag = w->tag;
		fn = w->fn;
		waiter_unlink(w);
		fn(owner, tag, st, dsn, text);
		/* fn may have dropped its connection, and with it others of
		 * this list: start over. */
		next = vq.waiting;
	}
}
