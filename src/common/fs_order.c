/* SPDX-License-Identifier: MIT */
/*
 * fs_order - whether a file system keeps metadata changes in order.
 */
#include "fs_order.h"

#include <dirent.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef XFS_SUPER_MAGIC
#define XFS_SUPER_MAGIC 0x58465342
#endif
#ifndef BTRFS_SUPER_MAGIC
#define BTRFS_SUPER_MAGIC 0x9123683E
#endif

int
fs_order_ext4_journal(dev_t dev, const char *sysfs, const char *procfs,
    char *name, size_t namelen)
{
	char path[PATH_MAX], link[PATH_MAX];
	const char *base;
	size_t blen;
	ssize_t n;
	DIR *d;
	struct dirent *de;
	int found = 0;

	if (namelen > 0)
		name[0] = '\0';
	if (snprintf(path, sizeof(path), "%s/dev/block/%u:%u", sysfs,
	    major(dev), minor(dev)) >= (int)sizeof(path))
		return -1;
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return -1;
	link[n] = '\0';
	base = strrchr(link, '/');
	base = base != NULL ? base + 1 : link;
	blen = strlen(base);
	if (blen == 0 || blen > NAME_MAX)
		return -1;
	if (namelen > 0)
		snprintf(name, namelen, "%s", base);
	/* Each journal in use is /proc/fs/jbd2/DEVICE-INODE. */
	if (snprintf(path, sizeof(path), "%s/fs/jbd2", procfs) >=
	    (int)sizeof(path))
		return -1;
	d = opendir(path);
	if (d == NULL)
		return 0;		/* no journal mounted at all */
	while (!found && (de = readdir(d)) != NULL)
		found = strncmp(de->d_name, base, blen) == 0 &&
		    de->d_name[blen] == '-';
	closedir(d);
	return found;
}

bool
fs_order_names_follow_files(const char *dir, char *what, size_t whatlen)
{
	struct statfs sf;
	struct stat st;
	char dev[NAME_MAX + 1];
	int j;

	if (whatlen > 0)
		what[0] = '\0';
	if (statfs(dir, &sf) < 0 || stat(dir, &st) < 0) {
		if (whatlen > 0)
			snprintf(what, whatlen, "an unknown file system");
		return false;
	}
	switch ((unsigned long)sf.f_type) {
	case XFS_SUPER_MAGIC:
		if (whatlen > 0)
			snprintf(what, whatlen, "XFS");
		return true;
	case BTRFS_SUPER_MAGIC:
		if (whatlen > 0)
			snprintf(what, whatlen, "btrfs");
		return true;
	case EXT4_SUPER_MAGIC:	/* also ext2 and ext3 */
		j = fs_order_ext4_journal(st.st_dev, "/sys", "/proc", dev,
		    sizeof(dev));
		if (whatlen > 0)
			snprintf(what, whatlen, "ext2/3/4 %s (%s)",
			    j == 1 ? "with a journal" : j == 0 ?
			    "without a journal" : "of an unknown device",
			    dev[0] != '\0' ? dev : "?");
		return j == 1;
	default:
		if (whatlen > 0)
			snprintf(what, whatlen, "a file system of type 0x%lx",
			    (unsigned long)sf.f_type);
		return false;
	}
}

int
fs_order_ext4_data_mode(const char *procfs, const char *name)
{
	char path[PATH_MAX], buf[4096];
	const char *p;
	FILE *f;
	size_t n;

	if (name[0] == '\0' || strchr(name, '/') != NULL ||
	    snprintf(path, sizeof(path), "%s/fs/ext4/%s/options", procfs,
	    name) >= (int)sizeof(path))
		return 0;
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* One option per line (or comma-separated in older kernels). */
	for (p = buf; (p = strstr(p, "data=")) != NULL; p += 5) {
		if (p != buf && p[-1] != '\n' && p[-1] != ',')
			continue;	/* e.g. "journal_data=" */
		if (strncmp(p + 5, "ordered", 7) == 0)
			return 'o';
		if (strncmp(p + 5, "journal", 7) == 0)
			return 'j';
		if (strncmp(p + 5, "writeback", 9) == 0)
			return 'w';
	}
	return 0;
}

bool
fs_order_data_before_names(int dirfd, char *what, size_t whatlen)
{
	struct statfs sf;
	struct stat st;
	char dev[NAME_MAX + 1];
	int j, mode;

	if (whatlen > 0)
		what[0] = '\0';
	if (fstatfs(dirfd, &sf) < 0 || fstat(dirfd, &st) < 0) {
		if (whatlen > 0)
			snprintf(what, whatlen, "an unknown file system");
		return false;
	}
	if ((unsigned long)sf.f_type != EXT4_SUPER_MAGIC) {
		if (whatlen > 0)
			snprintf(what, whatlen, "a file system of type 0x%lx",
			    (unsigned long)sf.f_type);
		return false;
	}
	j = fs_order_ext4_journal(st.st_dev, "/sys", "/proc", dev,
	    sizeof(dev));
	mode = j == 1 ? fs_order_ext4_data_mode("/proc", dev) : 0;
	if (whatlen > 0)
		snprintf(what, whatlen, "ext2/3/4 %s (%s)", j == 1 ?
		    (mode == 'o' ? "with a journal, data=ordered" :
		    mode == 'j' ? "with a journal, data=journal" :
		    mode == 'w' ? "with a journal, data=writeback" :
		    "with a journal, data mode unknown") : j == 0 ?
		    "without a journal" : "of an unknown device",
		    dev[0] != '\0' ? dev : "?");
	return j == 1 && (mode == 'o' || mode == 'j');
}
