# SPDX-License-Identifier: MIT
"""The order of a Maildir delivery's syncs follows the file system
(src/deliver/maildir.h, fs_order_data_before_names in fs_order.h).

On ext4 with a journal in data=ordered mode the message file's data is
written out (sync_file_range), then the file is linked into new/, then
fsync'ed, so that one journal commit makes data and name durable, and
new/ is not synced again; without a journal the
file is synced first, then linked, then new/ is synced (the Maildir
way).  Either way the message arrives whole, once.

The virtual agents are traced with strace (a visible skip without it),
on a fresh ext4 of each kind on a loop device (needs root).
"""

import os
import re

import pytest

from delivery_e2e import (VDOMAIN, make_message, service_pids, token,
                          wait_services_ready)
from ostia_harness import attach_strace, find_binary

ALICE = "alice@" + VDOMAIN
CALL = re.compile(r"^(\d+\.\d+) (\w+)\((.*)\)\s+=\s+(-?\d+)")


def traced(trace):
    """Per traced thread, its calls in order: (name, args, result)."""
    out = []
    for name in os.listdir(os.path.dirname(trace)):
        path = os.path.join(os.path.dirname(trace), name)
        if not name.startswith(os.path.basename(trace) + ".") or \
                name.endswith(".err"):
            continue
        calls = []
        for line in open(path, errors="replace"):
            m = CALL.match(line)
            if m:
                calls.append((m.group(2), m.group(3), int(m.group(4))))
        out.append(calls)
    return out


def deliveries(threads):
    """For each message file made in a tmp/ directory: the positions of
    its creation, its fsync, its link into new/, the next sync of a new/
    directory after the link (None when there is none before the
    thread's next delivery) and its sync_file_range in its thread."""
    found = []
    for calls in threads:
        newfds = set()
        for i, (name, args, fd) in enumerate(calls):
            if name == "openat" and args.endswith('"new", O_RDONLY|'
                                                   'O_NOFOLLOW|O_CLOEXEC|'
                                                   'O_DIRECTORY'):
                newfds.add(str(fd))
            m = re.search(r'"([^"/]+\.M\d+P\d+Q\d+[^"]*)", .*O_CREAT', args)
            if name != "openat" or not m or fd < 0:
                continue
            fname = m.group(1)
            sync = next((j for j in range(i + 1, len(calls))
                         if calls[j][0] == "fsync" and
                         calls[j][1] == str(fd)), None)
            link = next((j for j in range(i + 1, len(calls))
                         if calls[j][0] in ("linkat", "renameat2") and
                         fname in calls[j][1]), None)
            nxt = next((j for j in range(i + 1, len(calls))
                        if calls[j][0] == "openat" and
                        "O_CREAT" in calls[j][1]), len(calls))
            dirsync = None if link is None else next(
                (j for j in range(link + 1, nxt)
                 if calls[j][0] == "fsync" and calls[j][1] in newfds), None)
            flush = next((j for j in range(i + 1, len(calls))
                          if calls[j][0] == "sync_file_range" and
                          calls[j][1].startswith(str(fd) + ",")), None)
            found.append((fname, i, sync, link, dirsync, flush))
    return found


@pytest.mark.parametrize("journal", [True, False],
                         ids=["journaled", "unjournaled"])
def test_maildir_sync_order_follows_the_file_system(delivery, journal,
                                                     request):
    strace = find_binary("strace")
    if strace is None:
        pytest.skip("peer strace is not installed")
    mnt = request.getfixturevalue("journaled_fs" if journal
                                  else "unjournaled_fs")
    d = delivery()
    d.vbase = os.path.join(mnt, "vmail")
    os.mkdir(d.vbase, 0o755)
    os.chown(d.vbase, d.uid, d.gid)
    d.params["virtual_mailbox_base"] = d.vbase
    d.start()
    # The master starts its children after it listens: wait for them
    # (a loaded machine takes a while).
    wait_services_ready(d.o)
    pids = service_pids(d.o, "virtual")
    assert pids, "no virtual agent"
    trace = os.path.join(d.o.tmpdir, "maildir-strace")
    st = attach_strace(strace, pids, trace, "openat,linkat,renameat2,fsync,"
                       "fdatasync,sync_file_range")
    toks = [token() for _ in range(3)]
    try:
        for tok in toks:
            d.send(ALICE, make_message(tok, to=ALICE))
        for tok in toks:
            d.wait_messages(ALICE, 1, tok)
        d.wait_queue_empty()
    finally:
        st.terminate()
        st.wait(30)

    found = deliveries(traced(trace))
    assert len(found) == len(toks), found
    for fname, made, sync, link, dirsync, flush in found:
        assert sync is not None and link is not None, (fname, sync, link)
        if journal:
            assert link < sync, "%s: on ext4 with data=ordered the file " \
                "should be linked into new/ before its fsync" % fname
            assert flush is not None and flush < link, "%s: the data " \
                "must be written out before the link" % fname
            assert dirsync is None, "%s: new/ synced although the " \
                "file's fsync committed its name" % fname
        else:
            assert sync < link, "%s: without a journal the file must be " \
                "synced before it is linked into new/" % fname
            assert dirsync is not None, "%s: new/ not synced after the " \
                "link" % fname
    # Each message arrived whole, once, and nothing is left in tmp/.
    texts = [open(p, "rb").read() for p in d.messages(ALICE)]
    assert len(texts) == len(toks)
    for tok in toks:
        assert sum(tok.encode() in t for t in texts) == 1
    tmp = os.path.join(d.maildir(ALICE), "tmp")
    assert os.listdir(tmp) == [], os.listdir(tmp)
