"""A capable model behind any OpenAI-compatible chat-completions endpoint (a vendor, a
router, or a local vLLM / llama.cpp / Ollama / `transformers serve`), asked the way a
pilot needs it when every call costs money: concurrent requests, retries with backoff on
429 and 5xx that honour Retry-After (the `openai` client's own), a timeout, a spend cap
checked before each request, and a response cache keyed by endpoint, model, messages and
parameters, written as each answer arrives, so a resumed or repeated pilot never pays
(or waits) twice. The key is read from the environment at call time and only ever sent
in the request header.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from core.measurement import EndpointStats
from core.scenario import InputError
from core.text import CHARS_PER_TOKEN  # only when a server omits usage: marked as such
from costmodels.prices import load_catalog
from trainers import runs
from trainers.config import PilotConfig
from trainers.data import Message
from trainers.models import cache_dir


class EndpointSpec(BaseModel):
    """Where and how to ask, and what it costs."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    url: str
    model: str
    key_env: str | None = None
    usd_per_1m_input_tokens: float = Field(0.0, ge=0)
    usd_per_1m_output_tokens: float = Field(0.0, ge=0)
    concurrency: int = Field(4, ge=1, le=256)
    timeout_s: float = Field(60.0, gt=0)
    retries: int = Field(4, ge=0, le=20)
    max_usd: float | None = Field(None, gt=0)
    response_schema: dict | None = None
    """Extraction: the JSON Schema sent as `response_format` json_schema (strict), for a
    server that constrains its decoding to it."""

    def usd(self, input_tokens: float, output_tokens: float) -> float:
        return (
            input_tokens * self.usd_per_1m_input_tokens
            + output_tokens * self.usd_per_1m_output_tokens
        ) / 1e6


class Reply(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    text: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    cached: bool = False
    usage_counted: bool = True
    """False: the server sent no usage and the tokens were estimated from characters."""
    error: str | None = None


class ResponseCache:
    """sqlite, one row per answered request; safe across threads and a kill -9 (each
    answer is committed as it arrives; WAL with synchronous=NORMAL loses nothing when a
    process dies, only on a power cut). One connection, shared under a lock: opening one
    per request cost about a millisecond each."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.lock = path, threading.Lock()
        self.conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        with self.conn:
            self.conn.execute("CREATE TABLE IF NOT EXISTS reply (key TEXT PRIMARY KEY, reply TEXT)")

    def _db(self) -> sqlite3.Connection:
        return self.conn

    @staticmethod
    def key(spec: EndpointSpec, messages: Sequence[Message], max_tokens: int) -> str:
        body = [spec.url.rstrip("/"), spec.model, [m.model_dump() for m in messages], max_tokens]
        if spec.response_schema is not None:  # another request: another answer
            body.append(spec.response_schema)
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def get(self, key: str) -> Reply | None:
        with self.lock, self._db() as db:
            row = db.execute("SELECT reply FROM reply WHERE key = ?", (key,)).fetchone()
        return (
            Reply.model_validate_json(row[0]).model_copy(update={"cached": True}) if row else None
        )

    def put(self, key: str, reply: Reply) -> None:
        with self.lock, self._db() as db:
            db.execute("INSERT OR REPLACE INTO reply VALUES (?, ?)", (key, reply.model_dump_json()))


def _client(spec: EndpointSpec):
    from openai import OpenAI

    key = os.environ.get(spec.key_env, "") if spec.key_env else ""
    if spec.key_env and not key:
        raise InputError(f"endpoint key: environment variable {spec.key_env} is not set")
    return OpenAI(
        base_url=spec.url, api_key=key or "none", max_retries=spec.retries, timeout=spec.timeout_s
    )


def _ask(client, spec: EndpointSpec, messages: Sequence[Message], max_tokens: int) -> Reply:
    import openai

    t0 = time.perf_counter()
    schema = spec.response_schema
    held = (
        {"response_format": {"type": "json_schema", "json_schema": _named(schema)}}
        if schema is not None
        else {}
    )
    try:
        r = client.chat.completions.create(
            model=spec.model,
            messages=[m.model_dump() for m in messages],
            temperature=0,
            max_tokens=max_tokens,
            **held,
        )
        text = (r.choices[0].message.content or "") if r.choices else ""
    except (openai.APIError, ValueError, KeyError, TypeError) as e:  # after the retries
        return Reply(latency_ms=(time.perf_counter() - t0) * 1000, error=_reason(e))
    ms = (time.perf_counter() - t0) * 1000
    if r.usage is not None:
        return Reply(
            text=text,
            input_tokens=r.usage.prompt_tokens,
            output_tokens=r.usage.completion_tokens,
            latency_ms=ms,
        )
    chars = sum(len(m.content) for m in messages)
    return Reply(
        text=text,
        input_tokens=round(chars / CHARS_PER_TOKEN),
        output_tokens=round(len(text) / CHARS_PER_TOKEN),
        latency_ms=ms,
        usage_counted=False,
    )


def _named(schema: dict) -> dict:
    return {"name": "fields", "schema": schema, "strict": True}


def _reason(e: Exception) -> str:
    """One line naming what failed (never the request's headers)."""
    status = getattr(e, "status_code", None)
    kind = type(e).__name__
    return f"{kind} {status}" if status else f"{kind}: {str(e).splitlines()[0][:120]}"


def ask_all(
    spec: EndpointSpec,
    prompts: Sequence[Sequence[Message]],
    *,
    max_tokens: int,
    cache: ResponseCache,
    spent_usd: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
) -> list[Reply]:
    """Every prompt's reply, in order; cached replies are not sent again. A request that
    would start with the spend cap reached is not sent (its reply says so)."""
    client = _client(spec)
    lock, state = threading.Lock(), {"spent": spent_usd, "done": 0}

    def one(messages) -> Reply:
        key = ResponseCache.key(spec, messages, max_tokens)
        if (hit := cache.get(key)) is not None:
            reply = hit
        else:
            with lock:
                capped = spec.max_usd is not None and state["spent"] >= spec.max_usd
            if capped:
                reply = Reply(error=f"not sent: the spend cap of ${spec.max_usd:g} was reached")
            else:
                reply = _ask(client, spec, messages, max_tokens)
                if reply.error is None:
                    cache.put(key, reply)
                with lock:
                    state["spent"] += spec.usd(reply.input_tokens, reply.output_tokens)
        with lock:
            state["done"] += 1
            if progress:
                progress(state["done"], len(prompts))
        return reply

    with ThreadPoolExecutor(max_workers=spec.concurrency) as pool:
        return list(pool.map(one, prompts))


def endpoint_stats(spec: EndpointSpec, replies: Sequence[Reply], correct: int) -> EndpointStats:
    """What the endpoint cost and how fast it answered (cached replies count for tokens and
    price, as a deployment pays for them, but not for latency)."""
    ok = [r for r in replies if r.error is None]
    sent = [r for r in ok if not r.cached]
    n = max(1, len(ok))
    inp = sum(r.input_tokens for r in ok) / n
    out = sum(r.output_tokens for r in ok) / n
    lat = sorted(r.latency_ms for r in sent)
    # 5% steps: [9] is the median, [18] the p95; one or no timed request: that, or 0
    q = statistics.quantiles(lat, n=20) if len(lat) >= 2 else [lat[0] if lat else 0.0] * 19
    per_request = spec.usd(inp, out)
    return EndpointStats(
        model=spec.model,
        requests=len(replies),
        errors=len(replies) - len(ok),
        cached=len(ok) - len(sent),
        input_tokens_per_request=inp,
        output_tokens_per_request=out,
        tokens_counted=all(r.usage_counted for r in ok),
        latency_ms_p50=q[9],
        latency_ms_p95=q[18],
        usd_per_request=per_request,
        usd_per_correct=per_request * len(ok) / correct if correct else None,
        usd_spent=sum(spec.usd(r.input_tokens, r.output_tokens) for r in sent),
    )


def spec_of(cfg: PilotConfig, teacher: bool = False) -> EndpointSpec:
    """The endpoint (the pilot's, or the distillation teacher's) with its price: given,
    else the catalog's for the model name, else 0 (a model you host)."""
    model = (cfg.teacher_model or "teacher") if teacher else cfg.endpoint_model
    listed = load_catalog().models.get(model or "")

    def price(given: float | None, kind: str) -> float:
        if given is not None:
            return given
        return float(getattr(listed, f"usd_per_1m_{kind}_tokens")) if listed else 0.0

    return EndpointSpec(
        url=cfg.teacher_url if teacher else cfg.endpoint_url,
        model=model,
        key_env=cfg.teacher_key_env if teacher else cfg.endpoint_key_env,
        usd_per_1m_input_tokens=price(cfg.usd_per_1m_input, "input"),
        usd_per_1m_output_tokens=price(cfg.usd_per_1m_output, "output"),
        concurrency=cfg.concurrency,
        timeout_s=cfg.endpoint_timeout_s,
        max_usd=cfg.max_usd,
    )


def shared_cache() -> ResponseCache:
    """The one response cache every endpoint pilot and teacher reads and writes:
    ADAPT_RESPONSE_CACHE (a file), else endpoint_cache.sqlite in the cache folder."""
    path = os.environ.get("ADAPT_RESPONSE_CACHE")
    return ResponseCache(Path(path) if path else cache_dir() / "endpoint_cache.sqlite")


def ask_variants(spec, prompts: dict, max_tokens: int, cache, run_dir: Path, spent=0.0) -> dict:
    """Each variant's prompts asked in turn, the spend cap counting what earlier variants
    (and `spent`) already paid; progress goes to the run's events."""
    replies = {}
    for name, batch in prompts.items():
        runs.emit(run_dir, "eval", phase=f"endpoint {name}")
        replies[name] = ask_all(
            spec,
            batch,
            max_tokens=max_tokens,
            cache=cache,
            spent_usd=spent,
            progress=lambda done, total, n=name: runs.emit(
                run_dir, "eval", phase=n, rows=done, of=total
            ),
        )
        spent += endpoint_stats(spec, replies[name], 0).usd_spent
    return replies
