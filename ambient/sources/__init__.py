"""Sources turn the outside world into InboundItems; the ledger decides what is new."""
