"""The committed results registry (``results/``): a typed class per kind of file (``tables.py``,
``measurements.py``), the files on disk (``store.py``), and the tables it renders into the README and the pages
of ``docs/`` (``pages.py``)."""
