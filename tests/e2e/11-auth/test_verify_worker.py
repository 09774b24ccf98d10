# SPDX-License-Identifier: MIT
"""The lookup process checks passwords off its event loop: a slow hash
(ARGON2ID with Dovecot's default cost) must not hold up other lookups.
Shown by order, not by time: on one connection a VERIFY for the slow
hash is sent first and a plain lookup right after it; the plain answer
must come back first.
"""

import os
import socket
import struct
import subprocess

import pytest

from ostia_harness import find_binary

GET, REPLY = 1, 2
F_VERIFY = 2
FOUND, NOTFOUND, TEMPFAIL = 0, 1, 2


def frame_get(rid, table, key, password=None):
    flags = F_VERIFY if password is not None else 0
    body = struct.pack(">II", rid, flags)
    for s in (table, key) + ((password,) if password is not None else ()):
        b = s.encode()
        body += struct.pack(">I", len(b)) + b
    return struct.pack(">II", GET, len(body)) + body


def read_reply(sock):
    def exact(n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            assert chunk, "the lookup process closed the connection"
            data += chunk
        return data
    typ, length = struct.unpack(">II", exact(8))
    assert typ == REPLY
    body = exact(length)
    rid, status, tlen = struct.unpack(">III", body[:12])
    return rid, status, body[12:12 + tlen].decode()


def test_slow_hash_does_not_block_other_lookups(auth_server, accounts,
                                                tmp_path):
    doveadm = find_binary("doveadm")
    if doveadm is None:
        pytest.skip("doveadm (dovecot-core) is not installed: no ARGON2ID "
                    "hash to test with")
    h = subprocess.run([doveadm, "pw", "-s", "ARGON2ID", "-p", "slow pw"],
                       capture_output=True, text=True, check=True).stdout
    table = tmp_path / "slow"
    table.write_text("slow@example.org %s\n" % h.strip())
    other = tmp_path / "other"
    other.write_text("key value\n")
    for p in (table, other):
        os.chmod(str(p), 0o644)
    os.chmod(str(tmp_path), 0o755)
    o = auth_server({"smtpd_sasl_password_maps": "texthash:%s" % table,
                     "virtual_alias_maps": "texthash:%s" % other})
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(os.path.join(o.queue_dir, "private", "lookup"))
    s.sendall(frame_get(1, "texthash:%s" % table, "slow@example.org",
                        "slow pw") +
              frame_get(2, "texthash:%s" % other, "key"))
    first = read_reply(s)
    second = read_reply(s)
    assert first == (2, FOUND, "value"), (first, second)
    assert second == (1, FOUND, ""), second
    # A wrong password: NOTFOUND, and nothing about it in the reply.
    s.sendall(frame_get(3, "texthash:%s" % table, "slow@example.org",
                        "wrong"))
    assert read_reply(s) == (3, NOTFOUND, "")
    s.close()
