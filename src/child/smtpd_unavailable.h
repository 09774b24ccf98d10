/* SPDX-License-Identifier: MIT */
/*
 * smtpd_unavailable - what the smtpd service answers until Ostia's SMTP
 * server is built (the SMTP-server issue replaces this program).
 *
 * Every connection gets one RFC 5321 4.3.2 "421 4.3.2 ... Service not
 * available" reply and is closed, and the client is logged, so that an
 * admin who points a client at Ostia now sees a clear answer instead of
 * a silent hang.  debug_peer_list / debug_peer_level raise the log
 * verbosity for matching clients.
 */
#ifndef OSTIA_SMTPD_UNAVAILABLE_H
#define OSTIA_SMTPD_UNAVAILABLE_H

#include "child.h"

extern const struct child_program smtpd_unavailable_program;

#endif
