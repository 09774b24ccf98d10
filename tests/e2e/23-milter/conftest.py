# SPDX-License-Identifier: MIT
"""Setup of the Milter scenarios (tests/e2e/23-milter): the helpers of
tests/e2e/14-policy (policy_e2e) and tests/e2e (milter_server.py,
delivery_e2e.py) on sys.path; open SMTP sessions are closed before the
instances stop.  The delivery fixture (tests/e2e/conftest.py) serves
the sendmail scenarios (non_smtpd_milters)."""

import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
_E2E = os.path.dirname(_HERE)
for d in (_HERE, os.path.join(_E2E, "14-policy"), _E2E):
    if d not in sys.path:
        sys.path.insert(0, d)


@pytest.fixture(autouse=True)
def _close_smtp_sessions(ostia_factory):
    """Depends on ostia_factory so that it is torn down first."""
    yield
    import policy_e2e
    policy_e2e.close_open_sessions()


@pytest.fixture
def milter():
    """tests/e2e/milter_server.py on a free port (test_milter.Filter)."""
    from test_milter import Filter, have_pymilter
    if not have_pymilter():
        pytest.skip("python3-milter (pymilter) is not installed")
    f = Filter()
    yield f
    f.stop()


class OpenDkim:
    """OpenDKIM signing for elsewhere.example (selector "test") on a
    free port; verify(message) checks a signature against its key."""

    def __init__(self):
        import socket
        import subprocess
        import tempfile

        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from ostia_harness import free_port, wait_until

        self.dir = tempfile.mkdtemp(prefix="ostia-dkim-")
        os.chmod(self.dir, 0o755)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        keyfile = os.path.join(self.dir, "test.private")
        with open(keyfile, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        os.chmod(keyfile, 0o600)
        self.pub = key.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)
        self.port = free_port()
        conf = os.path.join(self.dir, "opendkim.conf")
        with open(conf, "w") as f:
            f.write("Syslog no\nBackground no\nSocket inet:%d@127.0.0.1\n"
                    "Domain elsewhere.example\nSelector test\nKeyFile %s\n"
                    "Canonicalization relaxed/simple\nMode s\n"
                    "InternalHosts 127.0.0.1\nRequireSafeKeys no\n"
                    "PidFile %s/pid\n" % (self.port, keyfile, self.dir))
        self.proc = subprocess.Popen(["/usr/sbin/opendkim", "-f", "-x", conf],
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return True
            except OSError:
                return self.proc.poll() is not None
        wait_until(up, timeout=15, what="opendkim listening")
        assert self.proc.poll() is None, self.proc.stderr.read().decode()

    def verify(self, message):
        import base64

        import dkim
        txt = b"v=DKIM1; k=rsa; p=" + base64.b64encode(self.pub)

        def dnsfunc(name, timeout=5):
            assert name == b"test._domainkey.elsewhere.example.", name
            return txt
        if b"\r\n" not in message:
            message = message.replace(b"\n", b"\r\n")
        return dkim.verify(message, dnsfunc=dnsfunc)

    def stop(self):
        import shutil
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def opendkim():
    import shutil
    import subprocess
    if shutil.which("opendkim") is None and \
            not os.path.exists("/usr/sbin/opendkim"):
        pytest.skip("opendkim is not installed")
    if subprocess.run(["/usr/bin/python3", "-c", "import dkim"],
                      capture_output=True).returncode != 0:
        pytest.skip("python3-dkim is not installed")
    d = OpenDkim()
    yield d
    d.stop()
