/* SPDX-License-Identifier: MIT */
/*
 * compat.h - compiler attributes and tiny macros used everywhere.
 */
#ifndef OSTIA_COMPAT_H
#define OSTIA_COMPAT_H

#include <stdint.h>

#define ATTR_FORMAT(fmt, args) __attribute__((format(printf, fmt, args)))
#define ATTR_NORETURN __attribute__((noreturn))
#define ATTR_NODISCARD __attribute__((warn_unused_result))
#define ATTR_MALLOC __attribute__((malloc))
#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
/* For APIs such as execve() that take char * but never write. */
#define UNCONST(p) ((char *)(uintptr_t)(const void *)(p))

#endif
