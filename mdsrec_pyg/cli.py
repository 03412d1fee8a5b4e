"""How a command of ``experiments/`` ends: bad input or a failed training is one line on stderr and exit
status 2, never a traceback. Light to import, so that ``--help`` and argument checks come at once."""
from __future__ import annotations

import logging
import sys
from typing import Any, Callable

from .errors import InputError, RunInterrupted, TrainingError


def command_line(main: Callable[[], Any]) -> None:
    """Run a command's ``main`` with INFO logging (timestamped) on stderr; Ctrl-C is one line and exit 130."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        main()
    except (InputError, TrainingError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except RunInterrupted as err:
        print(f"interrupted: {err}", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:  # before a run folder exists: nothing to resume
        print("interrupted", file=sys.stderr)
        sys.exit(130)
