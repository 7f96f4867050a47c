"""``python -m mockvertex`` is the ``mockvertex`` command."""

import sys

from mockvertex.cli import main

sys.exit(main())
