"""Understanding: embedders (CLIP, CLAP, sentence-transformers) and the derivers that turn analysis outputs into
vectors and machine tags. Heavy ML imports happen lazily, inside the embedders that need them."""
