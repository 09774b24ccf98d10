# SPDX-License-Identifier: MIT
"""Queue files are reused (src/queue/queue_spare.h): a message that
leaves the queue leaves its file in spare/, and the next message
received is written into that same file (same inode), so a steady stream
of mail neither frees nor allocates an inode per message.  A small file
keeps its blocks (and its old bytes) for the next message, which
overwrites them and cuts the rest; a large one is emptied as it leaves.

What must hold: a spare is never a message (not listed, not delivered,
not counted), the reused file carries only the new message, a large
message's bytes do not stay on disk, and spares left by an earlier queue
process are removed at start, never reused.
"""

import os
import signal

from delivery_e2e import VDOMAIN, make_message, service_pids, token
from ostia_harness import wait_until

ALICE = "alice@" + VDOMAIN


def spares(d):
    """{name: os.stat_result} of the files in spare/."""
    top = os.path.join(d.o.queue_dir, "spare")
    return {n: os.lstat(os.path.join(top, n)) for n in os.listdir(top)}


def deliver(d, tok):
    """Send one message to alice, wait until it is in her Maildir and the
    queue is empty; return its queue ID."""
    qid = d.send(ALICE, make_message(tok, to=ALICE))
    d.wait_messages(ALICE, 1, tok)
    d.wait_queue_empty()
    return qid


def padded_message(tok, size):
    """A message to alice of about size bytes whose last line names tok:
    a shorter message written over its file must cut that line off."""
    line = "x" * 76
    body = [line] * (size // 78) + ["The last line names %s." % tok]
    return make_message(tok, to=ALICE, body=body)


def test_a_delivered_message_file_is_kept_and_reused(delivery):
    d = delivery().start()
    tok1 = token()
    id1 = d.send(ALICE, padded_message(tok1, 12000))
    d.wait_messages(ALICE, 1, tok1)
    d.wait_queue_empty()

    # The file stays, under spare/, with its blocks: not a message.
    sp = spares(d)
    assert list(sp) == [id1], sp
    st1 = sp[id1]
    assert st1.st_size > 12000 and st1.st_nlink == 1, st1
    entries, _summary = d.listing()
    assert not entries, entries
    assert d.spool_has(id1) is None
    r = d.queue("show", id1)
    assert r.returncode != 0 and tok1 not in r.stdout, (r.stdout, r.stderr)

    # The next, shorter message is written into that file (same inode,
    # now under the new ID) and the old message's tail is cut off.
    tok2 = token()
    id2 = deliver(d, tok2)
    assert id2 != id1
    sp = spares(d)
    assert list(sp) == [id2], sp
    assert sp[id2].st_ino == st1.st_ino, \
        "the second message should have reused the first one's file"
    assert 0 < sp[id2].st_size < 4096, sp[id2]
    with open(os.path.join(d.o.queue_dir, "spare", id2), "rb") as f:
        kept = f.read()
    assert tok2.encode() in kept and tok1.encode() not in kept, kept[-200:]

    # Each Maildir file holds its own message only.
    texts = [open(p, "rb").read() for p in d.messages(ALICE)]
    assert len(texts) == 2
    assert sum(tok1.encode() in t for t in texts) == 1
    assert sum(tok2.encode() in t for t in texts) == 1
    assert not any(tok1.encode() in t and tok2.encode() in t
                   for t in texts)


def test_a_large_message_file_is_emptied_when_it_leaves(delivery):
    d = delivery().start()
    tok1 = token()
    id1 = d.send(ALICE, padded_message(tok1, 64 * 1024))
    d.wait_messages(ALICE, 1, tok1)
    d.wait_queue_empty()
    sp = spares(d)
    assert list(sp) == [id1], sp
    st1 = sp[id1]
    assert st1.st_size == 0 and st1.st_blocks == 0, st1

    tok2 = token()
    id2 = deliver(d, tok2)
    sp = spares(d)
    assert list(sp) == [id2] and sp[id2].st_ino == st1.st_ino, sp
    assert any(tok2.encode() in open(p, "rb").read()
               for p in d.messages(ALICE))


def test_spares_of_an_earlier_queue_process_are_removed(delivery):
    d = delivery().start()
    id1 = deliver(d, token())
    assert list(spares(d)) == [id1]

    # A file planted in spare/ and the spare just made: the next queue
    # process removes both at start (it could not know whether a name
    # there still points at a file that became a message after a crash)
    # and makes a new file for the next message.
    planted = os.path.join(d.o.queue_dir, "spare", "0000000000000001")
    with open(planted, "wb") as f:
        f.write(b"not a message")
    os.chown(planted, os.stat(d.o.queue_dir + "/spare").st_uid,
             os.stat(d.o.queue_dir + "/spare").st_gid)
    queue = service_pids(d.o, "queue")
    assert queue, "no queue process"
    for pid in queue:
        os.kill(pid, signal.SIGKILL)

    def new_queue():
        now = service_pids(d.o, "queue")
        return now if now and not set(now) & set(queue) else None
    wait_until(new_queue, timeout=30, what="a new queue process")
    wait_until(lambda: spares(d) == {}, timeout=30,
               what="spare/ emptied by the new queue process (left: %r)"
               % sorted(spares(d)))

    tok = token()
    id2 = deliver(d, tok)
    assert list(spares(d)) == [id2]
    assert any(tok.encode() in open(p, "rb").read()
               for p in d.messages(ALICE))


def test_a_reused_file_left_under_an_old_name_is_explained(delivery):
    """After a crash that undid the renames of a reused file, a queue
    file can hold another message's bytes under the name of a message
    that had already left the queue.  It is set aside, never delivered,
    and the log says what happened instead of calling the file corrupt;
    a file that names no queue ID at all is still called invalid."""
    d = delivery().start()
    tok = token()
    id1 = deliver(d, tok)
    assert list(spares(d)) == [id1]
    d.o.stop()

    spare = os.path.join(d.o.queue_dir, "spare", id1)
    with open(spare, "rb") as f:
        whole = f.read()
    # Two names a crash could leave: one with the whole file, one with
    # its first half (the writer was interrupted).
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    names = []
    for i in (1, 2):
        c = alphabet[(alphabet.index(id1[-2]) + i) % len(alphabet)]
        names.append(id1[:-2] + c + id1[-1])
    garbage = id1[:-3] + ("0" if id1[-3] != "0" else "1") + id1[-2:]
    owner = os.stat(spare)
    for name, data in ((names[0], whole), (names[1], whole[:len(whole) // 2]),
                       (garbage, b"not a queue file\n")):
        p = os.path.join(d.o.queue_dir, "deferred", name)
        with open(p, "wb") as f:
            f.write(data)
        os.chown(p, owner.st_uid, owner.st_gid)
        os.chmod(p, 0o600)
    os.unlink(spare)

    d.o.start_foreground()
    corrupt = os.path.join(d.o.queue_dir, "corrupt")
    wait_until(lambda: all(os.path.exists(os.path.join(corrupt, n))
                           for n in names + [garbage]),
               timeout=30, what="the three files moved to corrupt/")
    d.wait_log(r"%s: deferred/%s holds the file of message %s, not %s "
               r"\(complete\): a crash undid the renames .*; moved to "
               r"corrupt/ and never delivered" %
               (names[0], names[0], id1, names[0]))
    d.wait_log(r"%s: deferred/%s holds the file of message %s, not %s "
               r"\(the file ends inside a record" %
               (names[1], names[1], id1, names[1]))
    d.wait_log(r"%s: deferred/%s is not a valid queue file \(not an ostia "
               r"queue file" % (garbage, garbage))
    # None of them was delivered: alice still has her one message.
    assert len(d.messages(ALICE)) == 1
    entries, _summary = d.listing()
    assert not entries, entries

    # The queue tools say the same, and never show message id1's text
    # as if it were the corrupt file's own message.
    r = d.queue("list", "corrupt")
    assert r.returncode == 1, (r.stdout, r.stderr)
    for name, how in ((names[0], "complete): a crash undid the renames"),
                      (names[1], "the file ends inside a record")):
        assert ("corrupt/%s: holds the file of message %s, not %s (%s"
                % (name, id1, name, how) in r.stderr), r.stderr
    assert ("corrupt/%s: not a valid queue file: not an ostia queue file"
            % garbage in r.stderr), r.stderr
    assert id1 not in r.stdout, r.stdout
    r = d.queue("show", names[0])
    assert r.returncode != 0 and tok not in r.stdout, (r.stdout, r.stderr)
    assert "holds the file of message %s, not %s" % (id1, names[0]) \
        in r.stderr, r.stderr
