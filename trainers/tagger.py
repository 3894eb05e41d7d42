"""A small sentence encoder fine-tuned as a span tagger for field extraction: each token
gets one of O, B-field, I-field (BIO), decoded with the BIO rule enforced (Viterbi: an
I-field only after a B-field or I-field of the same field), and each span's characters
become the field's value.

Chosen by measurement on the shared SLURP files (2,000 training rows, 300 holdout rows of
test.jsonl sampled with seed 0, all-MiniLM-L6-v2, 2-core AMD EPYC with AVX-512 BF16):
batch 32, learning rate 5e-4 and 8 epochs reached slot F1 75.5% in 124 s of training;
batch 16 at 1e-4 reached 68.4% in 353 s, at 3e-4 73.5% in 288 s (on the first 300 rows).
As the pilot, through the shared loop, on the pilot's own seed-0 sample of 300 holdout rows
(bench/bench_extract.py): 79.2% in 132 s.
Only fields whose value is a span of the text can be tagged: the others are counted out
of reach, never silently scored as zero.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from trainers.classifier import load_encoder
from trainers.fields import Value, values

MAX_TOKENS = 128
IGNORE = -100


def find_spans(text: str, fields: dict[str, Value]) -> tuple[list[tuple[int, int, str]], int]:
    """(start, end, field) character spans of each value in the text (case-insensitive,
    whole words, first free occurrence), and how many values are not spans of it."""
    low, taken, missed = text.lower(), [], 0
    for name, v in fields.items():
        for val in values(v):
            span = _first_free(low, val.strip().lower(), taken)
            if span:
                taken.append((*span, name))
            else:
                missed += 1
    return taken, missed


def _first_free(low: str, val: str, taken) -> tuple[int, int] | None:
    start = 0
    while val and (i := low.find(val, start)) >= 0:
        j = i + len(val)
        whole = (i == 0 or not low[i - 1].isalnum()) and (j == len(low) or not low[j].isalnum())
        if whole and not any(i < b and a < j for a, b, _ in taken):
            return i, j
        start = i + 1
    return None


def tag_names(fields: tuple[str, ...]) -> list[str]:
    return ["O"] + [f"{p}-{f}" for f in fields for p in "BI"]


def encode(tok, text: str, spans=None, tags: list[str] | None = None):
    """Token ids, their character offsets, and (with spans) one tag id per token (IGNORE
    on the special tokens, which carry no characters)."""
    enc = tok(text, return_offsets_mapping=True, truncation=True, max_length=MAX_TOKENS)
    labels = []
    for a, b in enc["offset_mapping"]:
        if a == b or spans is None:
            labels.append(IGNORE)
            continue
        hit = next((s for s in spans if a < s[1] and s[0] < b), None)
        labels.append(0 if hit is None else tags.index(("B-" if a <= hit[0] else "I-") + hit[2]))
    return enc["input_ids"], enc["offset_mapping"], labels


class SpanTagger(torch.nn.Module):
    """encoder (B, T) -> hidden (B, T, D) -> tag logits (B, T, K)."""

    def __init__(self, encoder, fields: tuple[str, ...]):
        super().__init__()
        self.encoder = encoder
        self.fields = tuple(fields)
        self.tags = tag_names(self.fields)
        self.head = torch.nn.Linear(encoder.config.hidden_size, len(self.tags))

    def forward(self, input_ids, attention_mask) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
        return self.head(hidden)

    def transitions(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(K, K) and (K,) additive scores that forbid I-x after anything but B-x or I-x."""
        k = len(self.tags)
        allow, start = torch.zeros(k, k), torch.zeros(k)
        for j, b in enumerate(self.tags):
            if b.startswith("I-"):
                start[j] = -1e4
                for i, a in enumerate(self.tags):
                    if a == "O" or a[2:] != b[2:]:
                        allow[i, j] = -1e4
        return allow, start


class TagLoss(torch.nn.Module):
    """The shared loop's loss interface: labels (B, T) hold a tag id per token."""

    def __init__(self, model: SpanTagger):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, labels):
        logits = self.model(input_ids, attention_mask)  # (B, T, K)
        return torch.nn.functional.cross_entropy(
            logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE
        )


def viterbi(logp: torch.Tensor, allow: torch.Tensor, start: torch.Tensor) -> list[int]:
    """The best BIO-valid tag path of one row's (T, K) log-probabilities."""
    score, back = logp[0] + start, []
    for t in range(1, logp.shape[0]):
        best, arg = (score[:, None] + allow).max(0)  # over the previous tag
        back.append(arg)
        score = best + logp[t]
    path = [int(score.argmax())]
    for arg in reversed(back):
        path.append(int(arg[path[-1]]))
    return path[::-1]


def spans_to_fields(text: str, offsets, path: list[int], tags: list[str]) -> dict[str, Value]:
    found: list[list] = []
    for (a, b), t in zip(offsets, path, strict=True):
        tag = tags[t]
        if a == b or tag == "O":
            continue
        kind, name = tag.split("-", 1)
        if kind == "I" and found and found[-1][2] == name and found[-1][1] <= a:
            found[-1][1] = b
        else:
            found.append([a, b, name])
    out: dict[str, list[str]] = {}
    for a, b, name in found:
        out.setdefault(name, []).append(text[a:b])
    return {k: v[0] if len(v) == 1 else tuple(v) for k, v in out.items()}


@torch.no_grad()
def predict(model: SpanTagger, tok, texts, device="cpu", bf16=False, batch=32) -> list[dict]:
    """Each text's fields, as served: tokenize, tag in padded batches, decode each row."""
    model.eval()
    allow, start = model.transitions()
    out = []
    for i in range(0, len(texts), batch):
        rows = [encode(tok, t) for t in texts[i : i + batch]]
        width = max(len(ids) for ids, _, _ in rows)
        x = torch.full((len(rows), width), tok.pad_token_id)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for j, (ids, _, _) in enumerate(rows):
            x[j, : len(ids)], mask[j, : len(ids)] = torch.tensor(ids), 1
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
            logits = model(x.to(device), mask.to(device))  # (B, T, K)
        logp = torch.log_softmax(logits.float().cpu(), -1)
        for j, (ids, offsets, _) in enumerate(rows):
            path = viterbi(logp[j, : len(ids)], allow, start)
            out.append(spans_to_fields(texts[i + j], offsets, path, model.tags))
    return out


def save_tagger(model: SpanTagger, tok, out: Path) -> None:
    """The encoder and tokenizer (safetensors), the head, and the field map."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    model.encoder.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    head = {k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()}
    save_file(head, str(out / "head.safetensors"))
    field_map = {"fields": list(model.fields), "tags": model.tags, "scheme": "BIO"}
    (out / "fields.json").write_text(json.dumps(field_map, indent=1), encoding="utf-8")


def load_tagger(folder: Path, device="cpu") -> tuple[SpanTagger, object]:
    from safetensors.torch import load_file

    tok, enc = load_encoder(folder)
    fields = json.loads((folder / "fields.json").read_text(encoding="utf-8"))["fields"]
    model = SpanTagger(enc, tuple(fields))
    model.head.load_state_dict(load_file(str(folder / "head.safetensors")))
    return model.to(device).eval(), tok
