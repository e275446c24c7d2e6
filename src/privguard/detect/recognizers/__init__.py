"""The built-in recognizers (see :mod:`privguard.detect.registry` for plugging in more)."""
