"""``python -m shopfloor.sim.packaging``: the same command as ``shopfloor sim packaging``."""

from shopfloor.sim.packaging.command import main

if __name__ == "__main__":
    main()
