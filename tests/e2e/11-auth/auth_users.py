# SPDX-License-Identifier: MIT
"""The accounts of the 11-auth tests: address -> password.

Its own module (not conftest) so that the tests can import it by a name
no other test directory uses, and the whole e2e tree can be collected
in one pytest run.
"""

USERS = {
    "alice@example.org": "correct horse battery staple",
    "bob@example.org": "p\u00e4ss:w0rd with spaces",
}
