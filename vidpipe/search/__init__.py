"""Search over what the understanding pass stored: vector search (pgvector HNSW), similar videos,
recommendations and duplicates (fingerprints; works without pgvector)."""

from vidpipe.errors import QueryModelUnavailable, VectorSearchUnavailable
from vidpipe.search.duplicates import DuplicateHit, Duplicates, duplicates
from vidpipe.search.index import ensure_index, ensure_indexes
from vidpipe.search.query import (
    MODALITIES,
    AssetHits,
    Hit,
    QueryVector,
    SearchFilters,
    SearchPage,
    encode_query,
    search,
)
from vidpipe.search.similar import SimilarAsset, recommend, similar

__all__ = ["MODALITIES", "AssetHits", "DuplicateHit", "Duplicates", "Hit", "QueryModelUnavailable", "QueryVector",
           "SearchFilters", "SearchPage", "SimilarAsset", "VectorSearchUnavailable", "duplicates", "encode_query",
           "ensure_index", "ensure_indexes", "recommend", "search", "similar"]
