"""``python -m shopfloor.sim.cnc``: the same command as ``shopfloor sim cnc``."""

import logging

from shopfloor.sim.cnc.command import main

if __name__ == "__main__":
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    main()
