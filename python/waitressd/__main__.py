"""``python -m waitressd ARGS``: the same as the ``waitressd`` command."""

from .cli import main

raise SystemExit(main())
