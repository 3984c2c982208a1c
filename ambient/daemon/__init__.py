"""The daemon: sources, the item ledger, the worker pool and the scheduler that runs them."""
