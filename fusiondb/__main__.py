"""``python -m fusiondb``: the ``fusiondb`` command (fusiondb/cli/)."""

from fusiondb.cli import main

if __name__ == "__main__":
    main()
