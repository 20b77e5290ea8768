"""``python -m mobrecon.cli ...`` (and ``torchrun -m mobrecon.cli train ...``): the ``mobrecon`` command."""

import sys

from mobrecon.cli import main

sys.exit(main())
