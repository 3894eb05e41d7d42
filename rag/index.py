"""A hybrid index over passages: BM25 (bm25s) and dense all-MiniLM-L6-v2 embeddings,
fused by reciprocal rank fusion, persisted in a folder (the run's `index/`) so a resumed
or repeated run loads it instead of re-embedding.

Dense search is exact (one matrix product): for a pilot's corpus, up to some 100,000
passages (150 MB of float32 at 384 dimensions, a few ms a query on 2 cores), an
approximate index (FAISS, LanceDB) buys nothing and adds a dependency. A corpus that
outgrows one machine moves to a search service with the same two halves (OpenSearch or
Elasticsearch with BM25 and k-NN, or Qdrant/Weaviate with hybrid search).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from core.text import CHARS_PER_TOKEN  # the corpus size, for re-index pricing
from rag.chunk import Chunk

RRF_K = 60  # the constant of Cormack et al. (2009): ranks past ~60 barely count
CANDIDATES = 50  # each retriever's top list that fusion sees
Mode = str  # "fused" | "bm25" | "dense"


def fingerprint(chunks: list[Chunk], encoder: str) -> str:
    h = hashlib.sha256(encoder.encode())
    for c in chunks:
        h.update(c.id.encode() + b"\0" + c.title.encode() + b"\0" + c.text.encode() + b"\1")
    return h.hexdigest()[:16]


def _tokens(texts: list[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", return_ids=False, show_progress=False)


class HybridIndex:
    def __init__(self, folder: Path, chunks: list[Chunk], bm25, dense: np.ndarray, encoder: str):
        self.folder, self.chunks, self.bm25, self.dense = folder, chunks, bm25, dense  # (N, D)
        self.encoder_dir = encoder
        self._encoder = None

    # -- building and loading ------------------------------------------------------------
    @classmethod
    def open(cls, chunks: list[Chunk], folder: Path, encoder_dir: str) -> tuple[HybridIndex, dict]:
        """The index of these chunks in folder: loaded when it is already there, else built.
        Returns it with its build figures (build_seconds 0 and reused True when loaded)."""
        key = fingerprint(chunks, Path(encoder_dir).name)
        manifest = folder / "manifest.json"
        if manifest.exists() and json.loads(manifest.read_text()).get("fingerprint") == key:
            return cls._load(folder, chunks, encoder_dir), {"reused": True, **cls.stats(folder)}
        t0 = time.perf_counter()
        index = cls(folder, chunks, None, np.zeros((0, 0), np.float32), encoder_dir)
        index.embed(["warm up"])  # loads the encoder: paid once per process, not per document
        loaded = time.perf_counter()
        index._build(texts=[f"{c.title}\n{c.text}" for c in chunks])
        done = time.perf_counter()
        docs = len({c.doc_id for c in chunks})
        about = {
            "fingerprint": key,
            "chunks": len(chunks),
            "documents": docs,
            "build_seconds": round(done - t0, 3),
            "encoder_load_seconds": round(loaded - t0, 3),
            "documents_per_second": round(docs / max(done - loaded, 1e-9), 1),
            "corpus_tokens": round(sum(len(c.text) for c in chunks) / CHARS_PER_TOKEN),
        }
        manifest.write_text(json.dumps(about, indent=1))
        return index, {"reused": False, **about}

    @staticmethod
    def stats(folder: Path) -> dict:
        return json.loads((folder / "manifest.json").read_text())

    def _build(self, texts: list[str]) -> None:
        """BM25 and the dense matrix over texts (title and passage), saved to the folder."""
        import bm25s

        self.folder.mkdir(parents=True, exist_ok=True)
        self.bm25 = bm25s.BM25()
        tokens = bm25s.tokenize(texts, stopwords="en", show_progress=False)
        self.bm25.index(tokens, show_progress=False)
        self.bm25.save(str(self.folder / "bm25"))
        self.dense = self.embed(texts)  # (N, D), unit rows
        np.save(self.folder / "dense.npy", self.dense)
        lines = "".join(c.model_dump_json() + "\n" for c in self.chunks)
        (self.folder / "chunks.jsonl").write_text(lines)

    @classmethod
    def _load(cls, folder: Path, chunks: list[Chunk], encoder_dir: str) -> HybridIndex:
        import bm25s

        bm25 = bm25s.BM25.load(str(folder / "bm25"))
        return cls(folder, chunks, bm25, np.load(folder / "dense.npy"), encoder_dir)

    # -- searching -----------------------------------------------------------------------
    def embed(self, texts: list[str]) -> np.ndarray:
        if self._encoder is None:
            from sentence_transformers import SentenceTransformer

            self._encoder = SentenceTransformer(
                self.encoder_dir, device="cpu", local_files_only=True
            )
        return self._encoder.encode(
            texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False
        ).astype(np.float32)

    def search(self, queries: list[str], k: int, mode: Mode = "fused") -> list[list[int]]:
        """The k best passages (indices into self.chunks) for each query."""
        n = len(self.chunks)
        depth = min(n, max(k, CANDIDATES))
        lexical = dense = None
        if mode in ("fused", "bm25"):
            lexical, _ = self.bm25.retrieve(
                _tokens(queries), k=depth, show_progress=False, n_threads=1
            )  # (Q, depth)
        if mode in ("fused", "dense"):
            sims = self.embed(queries) @ self.dense.T  # (Q, N)
            dense = np.argsort(-sims, axis=1, kind="stable")[:, :depth]
        if mode == "bm25":
            return [list(map(int, row[:k])) for row in lexical]
        if mode == "dense":
            return [list(map(int, row[:k])) for row in dense]
        out = []
        for lex, den in zip(lexical, dense, strict=True):
            score: dict[int, float] = {}
            for ranking in (lex, den):
                for rank, j in enumerate(ranking):
                    score[int(j)] = score.get(int(j), 0.0) + 1.0 / (RRF_K + rank + 1)
            out.append(sorted(score, key=lambda j: (-score[j], j))[:k])
        return out
