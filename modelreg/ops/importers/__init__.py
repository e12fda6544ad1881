"""Importers: bringing models from another registry into this one (``import mlflow``).

Each importer reads its source through the source's own client, imported lazily inside the
importer, so that nothing else in modelreg pays for it.
"""
