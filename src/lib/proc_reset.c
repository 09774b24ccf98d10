/* SPDX-License-Identifier: MIT */
/*
 * proc_reset - default signal actions and an empty mask (proc_reset.h).
 */
#include <signal.h>
#include <string.h>

#include "proc_reset.h"

void
proc_reset_signals(void)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}
