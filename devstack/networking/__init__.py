"""What providers and observers share about the network, below both: who holds a local port, and one forwarded
connection's way to its target (a Channel)."""
