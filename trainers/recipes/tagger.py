"""tagger: fine-tune a small sentence encoder as a BIO span tagger over the fields that
occur as spans of their text (trainers/tagger.py), every weight trained by the shared
loop (checkpoints, resume, time limit); the pilot around it is trainers/flows/extract.py."""

from __future__ import annotations

from trainers import loop
from trainers.classifier import load_encoder
from trainers.recipe import Fitted
from trainers.tagger import SpanTagger, TagLoss, encode, find_spans, save_tagger, tag_names


def span_fields(train_ds) -> tuple[str, ...]:
    """The fields that occur as a span of their text at least once in training: the
    only ones a tagger can learn."""
    names = set()
    for e in train_ds.examples:
        spans, _ = find_spans(text_of(e), e.fields or {})
        names |= {name for _, _, name in spans}
    return tuple(sorted(names))


def text_of(e) -> str:
    return e.messages[-1].content  # the user's turn: the text the fields come from


class TaggerRecipe:
    def load(self, ctx):
        return load_encoder(ctx.where, ctx.cfg.trust_remote_code)[1].to(ctx.device)

    def fit(self, ctx, model, train_ds, ckpt_name: str | None = "ckpt") -> Fitted:
        fields = span_fields(train_ds)
        tagger = SpanTagger(model, fields).to(ctx.device)
        tags = tag_names(fields)
        rows = []
        for e in train_ds.examples:
            spans, _ = find_spans(text_of(e), e.fields or {})
            ids, _, labels = encode(ctx.tok, text_of(e), spans, tags)
            rows.append((ids, labels))
        result = loop.fit(
            TagLoss(tagger),
            tagger,
            rows,
            ctx.tok.pad_token_id,
            ctx.cfg.train_config("full"),
            device=ctx.device,
            ckpt_dir=ctx.run_dir / ckpt_name if ckpt_name else None,
            emit=ctx.emit,
        )
        return Fitted(model=tagger, result=result)

    def save(self, ctx, fitted: Fitted) -> None:
        save_tagger(fitted.model, ctx.tok, ctx.run_dir / "tagger")
