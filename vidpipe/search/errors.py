"""Search's typed errors (mapped to HTTP by the API's VidpipeError handler)."""

from __future__ import annotations

from vidpipe.errors import VidpipeError


class VectorSearchUnavailable(VidpipeError):
    """The database has no pgvector (e.g. a stock PostgreSQL 15): vector search cannot answer here."""

    code = "vector_search_unavailable"
    http_status = 501


class QueryModelUnavailable(VidpipeError):
    """No embedder for the requested modalities could be loaded (deps or weights missing)."""

    code = "search_model_unavailable"
    http_status = 503


class ModalityNotConfigured(QueryModelUnavailable):
    """Every modality asked for needs an embedder this server is not configured with (VIDPIPE_EMBEDDERS): the
    request cannot succeed here, however often it is retried, so it is the client's to change (422)."""

    http_status = 422
