/* SPDX-License-Identifier: MIT */
/*
 * cmd_daemon - `ostia run|start|stop|reload|status|check`.
 *
 * run     the master in the foreground (containers, `make run`); logs to
 *         stderr unless maillog_file is set; Ctrl-C stops it gracefully
 * start   the master in the background; returns once it is up, or with
 *         the reason it could not start
 * stop    SIGTERM to the master, then wait until it has released its
 *         lock (children finish their connections first)
 * reload  check the configuration, then SIGHUP to the master
 * status  whether the master runs, and its services and children
 * check   check the configuration, then the TLS certificates of smtpd
 *         services (check_tls.c); exit 0 all good, 1 warnings only, 2
 *         errors (a configuration that cannot load is an error); --live
 *         also connects to the listeners
 *
 * The running master is found through the lock on its pid file
 * (master_pid.h), never through a possibly stale pid.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "master.h"
#include "master_pid.h"
#include "lookup_tables.h"
#include "master_programs.h"
#include "xalloc.h"

/* How long `stop` waits for the master to finish. */
#define STOP_WAIT_SECONDS (MASTER_STOP_GRACE_SECONDS + 10)
#define START_WAIT_SECONDS 30

static int
parse_c_only(struct cli *cli, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			cli->config_dir = argv[++i];
		} else if (strcmp(argv[i], "-v") == 0) {
			cli->verbose++;
		} else {
			log_error("%s: unexpected argument \"%s\"", argv[0],
			    argv[i]);
			return -1;
		}
	}
	log_set_verbose(cli->verbose);
	return 0;
}

/*
 * load_checked - the configuration with its diagnostics printed, or
 * NULL when it has errors.
 */
static struct config *
load_checked(struct cli *cli, unsigned flags)
{
	struct diag_list diags;
	struct config *cf;

	diag_list_init(&diags);
	cf = config_load(cli->config_dir, flags, &diags);
	if (cf != NULL) {
		size_t before = diags.errors;

		master_programs_check(config_master(cf), cf, &diags);
		/* The services and tables the master would refuse to start
		 * with (a reserved service name, a table that does not
		 * open). */
		if (diags.errors > before ||
		    lookup_tables_check(cf, &diags) < 0) {
			cli_print_diags(&diags);
			log_error("%s: the configuration has %zu error%s",
			    cli->config_dir, diags.errors,
			    diags.errors == 1 ? "" : "s");
			diag_list_deinit(&diags);
			config_free(&cf);
			return NULL;
		}
	}
	cli_print_diags(&diags);
	if (cf == NULL)
		log_error("%s: the configuration has %zu error%s", cli->config_dir,
		    diags.errors, diags.errors == 1 ? "" : "s");
	diag_list_deinit(&diags);
	return cf;
}

/* find_master - pid of the running master for this configuration. */
static pid_t
find_master(struct cli *cli, char **queue_dir_r)
{
	struct diag_list diags;
	struct config *cf;
	char *path, *err = NULL;
	pid_t pid;

	diag_list_init(&diags);
	cf = config_load(cli->config_dir, CONFIG_LOAD_NO_MASTER |
	    CONFIG_LOAD_QUIET | CONFIG_LOAD_LENIENT, &diags);
	if (cf == NULL) {
		cli_print_diags(&diags);
		diag_list_deinit(&diags);
		log_error("cannot read %s to find the queue directory",
		    cli->config_dir);
		return -1;
	}
	diag_list_deinit(&diags);
	path = master_pid_path(config_str(config_main(cf), P_queue_directory));
	pid = master_pid_query(path, &err);
	if (pid < 0) {
		log_error("%s", err);
		free(err);
	}
	if (queue_dir_r != NULL)
		*queue_dir_r = xstrdup(config_str(config_main(cf),
		    P_queue_directory));
	free(path);
	config_free(&cf);
	return pid;
}

/*
 * check: a configuration with errors exits 2; then the TLS part
 * (check_tls.c) decides: 0 all good, 1 warnings, 2 errors.
 */
int
cmd_check(struct cli *cli, int argc, char **argv)
{
	struct config *cf;
	bool live = false;
	int n = 1, ret;

	/* Take --live out; parse_c_only takes the rest. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--live") == 0) {
			live = true;
			continue;
		}
		argv[n++] = argv[i];
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			argv[n++] = argv[++i];
	}
	if (parse_c_only(cli, n, argv) < 0)
		return 2;
	cf = load_checked(cli, 0);
	if (cf == NULL)
		return 2;
	printf("ostia: %s: configuration OK\n", cli->config_dir);
	fflush(stdout);
	ret = check_tls(cf, live);
	{
		int m = check_milter(cf, live);
		int p = check_screen(cf, live);
		int t = check_tables(cf, live);
		int a = check_sasl(cf, live);

		if (a > ret)
			ret = a;
		if (m > ret)
			ret = m;
		if (p > ret)
			ret = p;
		if (t > ret)
			ret = t;
	}
	config_free(&cf);
	return ret;
}

int
cmd_run(struct cli *cli, int argc, char **argv)
{
	struct master_opts o;

	if (parse_c_only(cli, argc, argv) < 0)
		return 2;
	memset(&o, 0, sizeof(o));
	o.config_dir = cli->config_dir;
	o.foreground = true;
	o.verbose = cli->verbose;
	o.ready_fd = -1;
	o.self_exe = cli->self_exe;
	return master_main(&o);
}

int
cmd_start(struct cli *cli, int argc, char **argv)
{
	struct master_opts o;
	struct config *cf;
	char msg[1024];
	size_t got = 0;
	int pfd[2], status;
	pid_t pid, running;

	if (parse_c_only(cli, argc, argv) < 0)
		return 2;
	cf = load_checked(cli, 0);
	if (cf == NULL) {
		log_error("the Ostia mail system did not start: fix the "
		    "errors above");
		return 1;
	}
	config_free(&cf);
	running = find_master(cli, NULL);
	if (running < 0)
		return 1;
	if (running > 0) {
		log_error("the Ostia mail system is already running (pid %ld)",
		    (long)running);
		return 1;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		log_error("pipe: %s", strerror(errno));
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		int null_fd;

		close(pfd[0]);
		if (setsid() < 0)
			_exit(1);
		/* Second fork: the master is not a session leader. */
		pid = fork();
		if (pid < 0)
			_exit(1);
		if (pid > 0)
			_exit(0);
		null_fd = open("/dev/null", O_RDWR);
		if (null_fd >= 0) {
			dup2(null_fd, 0);
			dup2(null_fd, 1);
			if (null_fd > 2)
				close(null_fd);
		}
		if (chdir("/") < 0)
			_exit(1);
		memset(&o, 0, sizeof(o));
		o.config_dir = cli->config_dir;
		o.foreground = false;
		o.verbose = cli->verbose;
		o.ready_fd = pfd[1];
		o.self_exe = cli->self_exe;
		_exit(master_main(&o));
	}
	close(pfd[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	for (;;) {
		ssize_t n = read(pfd[0], msg + got, sizeof(msg) - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(msg) - 1)
			break;
	}
	close(pfd[0]);
	msg[got] = '\0';
	if (strcmp(msg, "ok\n") == 0) {
		printf("ostia: the Ostia mail system is running\n");
		return 0;
	}
	msg[strcspn(msg, "\n")] = '\0';
	log_error("the Ostia mail system did not start: %s", got > 0 ? msg :
	    "the master exited without saying why (see the log)");
	return 1;
}

int
cmd_stop(struct cli *cli, int argc, char **argv)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	pid_t pid;

	if (parse_c_only(cli, argc, argv) < 0)
		return 2;
	pid = find_master(cli, NULL);
	if (pid < 0)
		return 1;
	if (pid == 0) {
		log_error("the Ostia mail system is not running");
		return 1;
	}
	if (kill(pid, SIGTERM) < 0) {
		log_error("cannot signal the master (pid %ld): %s", (long)pid,
		    strerror(errno));
		return 1;
	}
	for (int i = 0; i < STOP_WAIT_SECONDS * 10; i++) {
		pid_t now = find_master(cli, NULL);

		if (now == 0) {
			printf("ostia: the Ostia mail system is stopped\n");
			return 0;
		}
		nanosleep(&ts, NULL);
	}
	log_error("the master (pid %ld) is still running %d s after the stop "
	    "request", (long)pid, STOP_WAIT_SECONDS);
	return 1;
}

int
cmd_reload(struct cli *cli, int argc, char **argv)
{
	struct config *cf;
	pid_t pid;

	if (parse_c_only(cli, argc, argv) < 0)
		return 2;
	cf = load_checked(cli, 0);
	if (cf == NULL) {
		log_error("reload not requested: fix the errors first; the "
		    "running master keeps its current configuration");
		return 1;
	}
	config_free(&cf);
	pid = find_master(cli, NULL);
	if (pid <= 0) {
		if (pid == 0)
			log_error("the Ostia mail system is not running");
		return 1;
	}
	if (kill(pid, SIGHUP) < 0) {
		log_error("cannot signal the master (pid %ld): %s", (long)pid,
		    strerror(errno));
		return 1;
	}
	printf("ostia: reload requested (master pid %ld)\n", (long)pid);
	return 0;
}

/* query_status - the master's status text over its socket, or NULL
 * (*too_long_r: the socket path cannot be used at all). */
static char *
query_status(const char *queue_dir, bool *too_long_r)
{
	char *path = master_ctl_path(queue_dir);
	struct sockaddr_un sun;
	struct timeval tv = { 5, 0 };
	char *out = NULL;
	size_t len = 0, cap = 0;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	*too_long_r = false;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*too_long_r = true;
		free(path);
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	free(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    write(fd, "status\n", 7) != 7) {
		close(fd);
		return NULL;
	}
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			if (cap >= 1024 * 1024)
				break;
			cap = cap == 0 ? 8192 : cap * 2;
			out = xreallocarray(out, cap, 1);
		}
		n = read(fd, out + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (out != NULL)
		out[len] = '\0';
	return out;
}

int
cmd_status(struct cli *cli, int argc, char **argv)
{
	char *queue_dir = NULL, *text;
	bool too_long = false;
	pid_t pid;

	if (parse_c_only(cli, argc, argv) < 0)
		return 2;
	pid = find_master(cli, &queue_dir);
	if (pid <= 0) {
		if (pid == 0)
			log_error("the Ostia mail system is not running");
		free(queue_dir);
		return 1;
	}
	/*
	 * The master takes its lock first and opens the status socket only
	 * once its listeners are bound: until it answers, it is starting,
	 * and "running" would make scripts connect too early.
	 */
	text = query_status(queue_dir, &too_long);
	if (text == NULL && !too_long) {
		log_error("the Ostia mail system is starting (master pid %ld "
		    "does not answer on its status socket yet)", (long)pid);
		free(queue_dir);
		return 1;
	}
	printf("ostia: the Ostia mail system is running: master pid %ld\n",
	    (long)pid);
	if (text != NULL) {
		fputs(text, stdout);
		free(text);
	} else {
		printf("(no details: the status socket path under %s is too "
		    "long for a Unix socket)\n", queue_dir);
	}
	free(queue_dir);
	return 0;
}
