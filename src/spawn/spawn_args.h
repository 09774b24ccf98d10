/* SPDX-License-Identifier: MIT */
/*
 * spawn_args - the master.cf arguments of a spawn service:
 *   user=NAME[:GROUP] argv=/absolute/path [word...]
 * user= once, before argv=; argv= last: it and every word after it are
 * the command, passed as they are (no macros, no shell).  Anything else
 * is an error that names the word.
 * Pure text processing: no users, files or processes.  Tested by
 * test_spawn_args, fuzzed by fuzz_spawn_args.
 */
#ifndef OSTIA_SPAWN_ARGS_H
#define OSTIA_SPAWN_ARGS_H

#include <stddef.h>

/* Most words after argv=. */
#define SPAWN_ARGV_MAX 256

struct spawn_args {
	char *user;		/* not empty */
	char *group;		/* NULL when not given */
	char **argv;		/* NULL-terminated, argv[0] absolute */
	size_t argc;
};

/*
 * Parse args (NULL-terminated; NULL = none) of service name.  0 with *sa
 * filled (free with spawn_args_deinit), or -1 with *error_r (caller
 * frees; names the service and says how it should look) and *sa zeroed.
 */
int spawn_args_parse(const char *name, char *const *args,
    struct spawn_args *sa, char **error_r);
void spawn_args_deinit(struct spawn_args *sa);

#endif
