"""Alembic revisions, one file each, ``NNNN_name.py`` with revision id ``"NNNN"``."""
