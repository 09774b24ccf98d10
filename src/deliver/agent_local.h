/* SPDX-License-Identifier: MIT */
/*
 * agent_local - the local delivery agent (agent.h: agent_local); this
 * header holds only what tests need besides the agent itself.
 */
#ifndef OSTIA_AGENT_LOCAL_H
#define OSTIA_AGENT_LOCAL_H

#include <pwd.h>

/*
 * Tests: the function the agent looks accounts up with (recipients and
 * default_privs) instead of getpwnam(3); NULL restores getpwnam.
 */
typedef struct passwd *agent_local_getpwnam_fn(const char *name);
void agent_local_set_getpwnam(agent_local_getpwnam_fn *fn);

#endif
