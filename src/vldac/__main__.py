"""``python -m vldac`` (also what ``accelerate launch -m vldac`` runs)."""

import sys

from vldac.cli import main

sys.exit(main())
