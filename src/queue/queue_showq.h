/* SPDX-License-Identifier: MIT */
/*
 * queue_showq - the queue process's public service on public/showq
 * (showq_proto.h): the queue listing (mailq) and flush requests of
 * users who are neither root nor mail_owner, through the set-group-ID
 * helper.
 *
 * Each connection sends one request line within QUEUE_SHOWQ_TIMEOUT
 * seconds.  The uid it names must be the connection's peer uid
 * (SO_PEERCRED); root and mail_owner may do anything, anybody else as
 * authorized_mailq_users (list) or authorized_flush_users (flush) says
 * for the login the helper sent (login_list.h; a table Ostia cannot
 * evaluate refuses).  A refusal is answered and logged with the reason.
 * The listing is written a few messages at a time as the client reads
 * it (queue_listing.h), so a long queue never holds up the event loop;
 * at most QUEUE_SHOWQ_MAX_CONNS connections at once.
 */
#ifndef OSTIA_QUEUE_SHOWQ_H
#define OSTIA_QUEUE_SHOWQ_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define QUEUE_SHOWQ_TIMEOUT 30
#define QUEUE_SHOWQ_MAX_CONNS 16

struct event_base;

/* In the queue process's init: the settings (v: main.cf's view);
 * max_file_bytes: the largest queue file to read. */
void queue_showq_init(struct event_base *base, const struct config_view *v,
    size_t max_file_bytes);
/* True when listen_addr is the public socket. */
bool queue_showq_is_ours(const char *listen_addr);
/* A new connection on public/showq; takes fd. */
void queue_showq_accept(int fd);

#endif
