"""vidpipe: a media processing pipeline for streaming platforms."""

__version__ = "0.1.0"
