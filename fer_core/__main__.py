"""``python -m fer_core``: see :mod:`fer_core.cli`."""
import sys

from fer_core.cli import main

sys.exit(main())
