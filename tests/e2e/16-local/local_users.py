# SPDX-License-Identifier: MIT
"""The local domain and system users of the 16-local tests.

Its own module (not conftest) so that the tests can import it by a name
no other test directory uses, and the whole e2e tree can be collected
in one pytest run.
"""

LOCAL_DOMAIN = "local.test"
LOCAL_USERS = ("ostialt1", "ostialt2")
