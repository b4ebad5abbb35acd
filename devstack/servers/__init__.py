"""One module per server the devstack runs; each exposes a ``Server`` subclass."""
