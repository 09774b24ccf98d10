/* SPDX-License-Identifier: MIT */
/*
 * fs_order - whether a file system keeps metadata changes in order.
 *
 * A new file's name is durable once its directory is synced.  On file
 * systems that log their metadata changes in order (ext3 and ext4 with
 * a journal, XFS, btrfs), a file's own fsync also makes durable every
 * change made before it, its name included: a directory sync done
 * afterwards finds nothing left to write and costs almost nothing, and
 * one started before the file's sync is an extra journal commit that
 * the file's sync then waits for.  Elsewhere (ext2, ext4 without a
 * journal, anything unknown) the directory sync writes the directory,
 * and starting it early overlaps that write with other work.
 *
 * Callers still sync the directory in both cases: this only says when
 * that is cheapest.  The answer comes from statfs() and, for ext2/3/4,
 * from /sys/dev/block and /proc/fs/jbd2, so ask before a chroot.
 */
#ifndef OSTIA_FS_ORDER_H
#define OSTIA_FS_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * fs_order_names_follow_files - whether, on the file system holding
 * dir, a file's fsync also makes its earlier directory entry durable.
 * false when unknown (statfs fails, an unlisted file system, an ext4
 * whose journal cannot be found).  what (whatlen bytes, may be 0) gets
 * a short description for a log line, e.g. "ext2/3/4 with a journal
 * (vda)" or "ext2/3/4 without a journal (vda)".
 */
bool fs_order_names_follow_files(const char *dir, char *what,
    size_t whatlen);

/*
 * fs_order_ext4_journal - whether the ext2/3/4 file system on device
 * dev has a journal: /sys/dev/block/MAJ:MIN names the block device,
 * and the kernel lists each mounted journal as /proc/fs/jbd2/NAME-INO.
 * sysfs and procfs are "/sys" and "/proc" (tests pass other trees).
 * 1: journal, 0: none, -1: the device cannot be named.  name (namelen
 * bytes) gets the device's name when known, else "".
 */
int fs_order_ext4_journal(dev_t dev, const char *sysfs, const char *procfs,
    char *name, size_t namelen);

#endif
