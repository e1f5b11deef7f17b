"""The ``waitressd`` command installed by pip: the server's own command line."""

import sys

from . import _native


def main(argv=None):
    """Run waitressd with ``argv`` (default: ``sys.argv[1:]``); return its exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    return _native.main(["waitressd", *args])
