"""privguard: the layer a platform puts between its customers' personal information and
everyone who touches it."""

__version__ = "0.1.0"
