/* SPDX-License-Identifier: MIT */
/*
 * test_fs_order - whether a file system keeps metadata changes in order
 * (src/common/fs_order.c), with /sys and /proc trees made up here for
 * the ext4 journal check, and the real ones for a smoke test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fs_order.h"
#include "test_support.h"

static char root[64];
static char sysfs[128], procfs[128];

static void
path(char *buf, size_t len, const char *rel)
{
	int n = snprintf(buf, len, "%s/%s", root, rel);

	assert_true(n > 0 && (size_t)n < len);
}

static void
mkdir_p(const char *rel)
{
	char p[256];

	path(p, sizeof(p), rel);
	for (char *s = p + strlen(root) + 1; *s != '\0'; s++) {
		if (*s == '/') {
			*s = '\0';
			(void)mkdir(p, 0700);
			*s = '/';
		}
	}
	assert_true(mkdir(p, 0700) == 0);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/ostia-fs-order-XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(sysfs, sizeof(sysfs), "%s/sys", root);
	snprintf(procfs, sizeof(procfs), "%s/proc", root);
	mkdir_p("sys/dev/block");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	test_remove_tree(root);
	return 0;
}

/* /sys/dev/block/7:0 names the device loop0, as the kernel's link does. */
static void
link_device(void)
{
	char p[256];

	path(p, sizeof(p), "sys/dev/block/7:0");
	assert_int_equal(symlink("../../devices/virtual/block/loop0", p), 0);
}

static void
test_journal_listed(void **state)
{
	char name[32];

	(void)state;
	link_device();
	mkdir_p("proc/fs/jbd2/loop0-8");
	assert_int_equal(fs_order_ext4_journal(makedev(7, 0), sysfs, procfs,
	    name, sizeof(name)), 1);
	assert_string_equal(name, "loop0");
}

static void
test_other_devices_journal_is_not_ours(void **state)
{
	char name[32];

	(void)state;
	link_device();
	/* loop01 and loop0p1 start with "loop0" but are other devices. */
	mkdir_p("proc/fs/jbd2/loop01-8");
	mkdir_p("proc/fs/jbd2/loop0p1-8");
	mkdir_p("proc/fs/jbd2/vda-8");
	assert_int_equal(fs_order_ext4_journal(makedev(7, 0), sysfs, procfs,
	    name, sizeof(name)), 0);
	assert_string_equal(name, "loop0");
}

static void
test_no_journal_mounted(void **state)
{
	char name[32];

	(void)state;
	link_device();
	/* No /proc/fs/jbd2 at all: no journal is in use anywhere. */
	assert_int_equal(fs_order_ext4_journal(makedev(7, 0), sysfs, procfs,
	    name, sizeof(name)), 0);
}

static void
test_unknown_device(void **state)
{
	char name[32] = "stale";

	(void)state;
	mkdir_p("proc/fs/jbd2/loop0-8");
	assert_int_equal(fs_order_ext4_journal(makedev(7, 0), sysfs, procfs,
	    name, sizeof(name)), -1);
	assert_string_equal(name, "");
	/* A tiny buffer is left terminated, not overrun. */
	link_device();
	assert_int_equal(fs_order_ext4_journal(makedev(7, 0), sysfs, procfs,
	    name, 3), 1);
	assert_string_equal(name, "lo");
}

/* write_options - procfs/fs/ext4/NAME/options holding text. */
static void
write_options(const char *name, const char *text)
{
	char rel[128], p[256];
	FILE *f;

	snprintf(rel, sizeof(rel), "proc/fs/ext4/%s", name);
	mkdir_p(rel);
	snprintf(rel, sizeof(rel), "proc/fs/ext4/%s/options", name);
	path(p, sizeof(p), rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_ext4_data_mode(void **state)
{
	(void)state;
	/* As the kernel lists them: one option per line. */
	write_options("loop0", "rw\nbsddf\ndelalloc\nbarrier\n"
	    "data=ordered\ninode_readahead_blks=32\n");
	assert_int_equal(fs_order_ext4_data_mode(procfs, "loop0"), 'o');
	write_options("loop1", "rw\ndata_err=abort\ndata=journal\n");
	assert_int_equal(fs_order_ext4_data_mode(procfs, "loop1"), 'j');
	write_options("loop2", "rw,data=writeback,barrier\n");
	assert_int_equal(fs_order_ext4_data_mode(procfs, "loop2"), 'w');
	/* No journal: no data= line; an option that only ends in
	 * "data=" is not it. */
	write_options("vda", "rw\nbsddf\nnojournal_checksum\n"
	    "xdata=ordered\n");
	assert_int_equal(fs_order_ext4_data_mode(procfs, "vda"), 0);
	/* Unknown device, or a name that would leave the directory. */
	assert_int_equal(fs_order_ext4_data_mode(procfs, "sdz"), 0);
	assert_int_equal(fs_order_ext4_data_mode(procfs, "../ext4/loop0"), 0);
	assert_int_equal(fs_order_ext4_data_mode(procfs, ""), 0);
}

/* The real /tmp: whatever it is, the answer is explained. */
static void
test_real_file_system_is_described(void **state)
{
	char what[128];
	bool follow;

	(void)state;
	follow = fs_order_names_follow_files(root, what, sizeof(what));
	assert_true(what[0] != '\0');
	if (strncmp(what, "ext2/3/4 with a journal", 23) == 0 ||
	    strcmp(what, "XFS") == 0 || strcmp(what, "btrfs") == 0)
		assert_true(follow);
	else
		assert_false(follow);
	/* Data before names: only ext3/4 with a journal in ordered or
	 * journal mode, and never where names do not follow files. */
	{
		int fd = open(root, O_RDONLY | O_DIRECTORY);
		bool data_first;

		assert_true(fd >= 0);
		data_first = fs_order_data_before_names(fd, what,
		    sizeof(what));
		close(fd);
		assert_true(what[0] != '\0');
		assert_int_equal(data_first,
		    strncmp(what, "ext2/3/4 with a journal, data=ordered",
		    37) == 0 ||
		    strncmp(what, "ext2/3/4 with a journal, data=journal",
		    37) == 0);
		if (data_first)
			assert_true(follow);
		assert_false(fs_order_data_before_names(-1, what,
		    sizeof(what)));
		assert_string_equal(what, "an unknown file system");
	}
	/* A path that does not exist: unknown, so not in order. */
	assert_false(fs_order_names_follow_files("/nonexistent/ostia", what,
	    sizeof(what)));
	assert_string_equal(what, "an unknown file system");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_journal_listed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_other_devices_journal_is_not_ours, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_journal_mounted, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unknown_device, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ext4_data_mode, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_real_file_system_is_described, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
