"""Self-supervised pretraining on synthetic tiles (SimCLR) and its downstream test (docs/ssl.md)."""
