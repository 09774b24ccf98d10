/* SPDX-License-Identifier: MIT */
/*
 * smtpd - the SMTP server program run in the master's smtpd children.
 * See smtpd.c for what it implements and its limits.
 */
#ifndef OSTIA_SMTPD_H
#define OSTIA_SMTPD_H

#include "child.h"

extern const struct child_program smtpd_program;

#endif
