"""``python -m peluit_console.i18n extract|check`` (see the package docstring)."""

import sys

from . import main

sys.exit(main(sys.argv[1:]))
