"""The bottom layer: config, storage, clock, errors, items, the ledger, the worker's contract."""
