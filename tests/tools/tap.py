# SPDX-License-Identifier: Apache-2.0
"""TAP lines for the Python test drivers: "ok - what" / "not ok - what"."""

import sys
import traceback


def check(what, cond, detail=""):
    """One TAP line from a condition; the detail under a failure."""
    print(("ok - " if cond else "not ok - ") + what)
    if not cond and detail:
        print("# " + str(detail))
    sys.stdout.flush()
    return cond


def run(what, fn):
    """One TAP line from a function that asserts."""
    try:
        fn()
        return check(what, True)
    except Exception as e:  # noqa: BLE001 - any failure is a test failure
        check(what, False, "%s: %s" % (type(e).__name__, e))
        for line in traceback.format_exc().splitlines()[-4:]:
            print("#   " + line)
        return False
