"""The web console: server-rendered pages at `/` and their static files at `/static`, over the public `/v1` API."""
