/* SPDX-License-Identifier: MIT */
/*
 * lookup_anvil - the per-client counters behind smtpd's connection and
 * rate limits (smtpd_client_connection_count_limit and the
 * connection, message, recipient and AUTH rate limits), kept by the lookup process
 * for every smtpd process together and asked for with ANVIL requests
 * (lookup_proto.h).
 *
 * A client is a key, "SERVICE ADDRESS".  For each the table keeps the
 * connections open now and, per event kind (enum lookup_anvil_op), how
 * many happened in the current window: a window starts with the first
 * event after the previous one ended and lasts rate_unit_s seconds
 * (anvil_rate_time_unit).  Open connections are also kept per holder
 * (one connection to the lookup process, i.e. one smtpd process): a
 * DISCONNECT takes back only what that holder counted, and
 * anvil_release takes back everything a holder still held when its
 * connection closes, so an smtpd that crashes does not leave its
 * clients counted for ever.
 *
 * Bounded: at most max_clients keys.  A key with no connection open
 * and its window over is dropped by anvil_expire (which runs by itself
 * first when the table is full); a new key that still finds the table
 * full is refused.  Times are milliseconds on a monotonic clock the
 * caller passes in (tests drive it by hand).
 */
#ifndef OSTIA_LOOKUP_ANVIL_H
#define OSTIA_LOOKUP_ANVIL_H

#include <stddef.h>
#include <stdint.h>

#include "lookup_proto.h"

/* The lookup process's table: far more clients than any server sees
 * in one anvil_rate_time_unit, about 200 bytes each. */
#define ANVIL_MAX_CLIENTS 100000

struct anvil;

struct anvil *anvil_new(unsigned rate_unit_s, size_t max_clients);
void anvil_free(struct anvil **ap);

/*
 * Count one event of op for key (at most LOOKUP_ANVIL_KEY_MAX_BYTES,
 * not empty) by holder at now_ms.  *count_r: the client's open
 * connections after the event; *rate_r: the events of op in the
 * current window, this one included (DISCONNECT: 0; NEWTLS_STAT: the
 * NEWTLS events, nothing counted).  A DISCONNECT for a key the holder
 * holds no connection of, and a NEWTLS_STAT for an unknown key, change
 * nothing and add no key.  0, or -1 when key is new and the table is
 * full (nothing counted).
 */
int anvil_event(struct anvil *a, uint64_t holder, enum lookup_anvil_op op,
    const char *key, uint64_t now_ms, unsigned *count_r, unsigned *rate_r);
/* holder is gone: take back every connection it still held.  The
 * connections taken back. */
size_t anvil_release(struct anvil *a, uint64_t holder);
/* Drop the keys with no open connection whose window ended by now_ms.
 * The number dropped. */
size_t anvil_expire(struct anvil *a, uint64_t now_ms);
/* Keys in the table. */
size_t anvil_size(const struct anvil *a);

/*
 * The highest numbers seen since the last anvil_peaks_take (Postfix's
 * anvil "statistics" lines: what an admin needs to choose limits).
 * slot[LOOKUP_ANVIL_DISCONNECT] holds the most connections open at
 * once, the other slots the highest rate of their op; value 0 = none
 * seen.
 */
struct anvil_peak {
	unsigned value;
	uint64_t when_ms;
	char key[LOOKUP_ANVIL_KEY_MAX_BYTES + 1];
};
struct anvil_peaks {
	struct anvil_peak slot[LOOKUP_ANVIL_OP_LAST + 1];
	size_t clients;			/* most keys at once */
	uint64_t clients_when_ms;
};
/* Copy the peaks into out and start counting afresh. */
void anvil_peaks_take(struct anvil *a, struct anvil_peaks *out);

#endif
