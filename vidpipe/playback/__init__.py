"""Playback without API keys: expiring, signed URLs for HLS, thumbnails and downloads (see signing.py)."""
