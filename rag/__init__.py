"""Retrieval over a team's own documents: reading them (documents), cutting them into
passages (chunk), a hybrid BM25 + dense index persisted on disk (index), and the
retrieval and answer metrics of a question-answering pilot (qa)."""
