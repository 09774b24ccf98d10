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

/*
 * fs_order_ext4_data_mode - the data= mode of the mounted ext3/ext4 file
 * system on block device name (as fs_order_ext4_journal() names it),
 * from procfs/fs/ext4/NAME/options: 'o' (ordered), 'j' (journal), 'w'
 * (writeback), or 0 when unknown (no such file, no data= option).
 */
int fs_order_ext4_data_mode(const char *procfs, const char *name);

/*
 * fs_order_data_before_names - whether, on the file system of the open
 * directory dirfd, the bytes written to a file reach the disk no later
 * than a name made for it afterwards, with no fsync in between: ext3
 * and ext4 with a journal in data=ordered or data=journal mode (the
 * journal writes a file's data before the commit that records a new
 * name of it).  Then a file may be linked before its own fsync, and
 * that fsync makes data and name durable in one journal commit.  false
 * when unknown, and for XFS and btrfs (names there can reach the disk
 * before the data).  what as for fs_order_names_follow_files().
 */
bool fs_order_data_before_names(int dirfd, char *what, size_t whatlen);

#endif
