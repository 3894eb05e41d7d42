"""The price catalog: API token prices from a LiteLLM-format cost map, plus what that
format lacks (fine-tuning prices, GPU hourly prices, platform status), each entry dated
and sourced. Prices are Decimal: money stays exact where it is summed.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import os
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.scenario import InputError, describe_validation_error

DATA = Path(__file__).resolve().parent / "data"
SNAPSHOT = DATA / "prices_snapshot.json"
EXTRAS = DATA / "catalog_extras.json"
STALE_AFTER_DAYS = 90
PER_1M = Decimal(1_000_000)


def today() -> dt.date:
    """The date costs are planned from: ADAPT_TODAY (an ISO date, for tests and replays),
    else the system date. The one place 'today' comes from."""
    if env := os.environ.get("ADAPT_TODAY"):
        try:
            return dt.date.fromisoformat(env)
        except ValueError:
            raise InputError(f"ADAPT_TODAY: {env!r} is not a date like 2026-12-01") from None
    return dt.date.today()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class ModelPrice(_Frozen):
    name: str
    provider: str
    mode: str = "chat"
    usd_per_1m_input_tokens: Decimal = Field(ge=0)
    usd_per_1m_output_tokens: Decimal = Field(ge=0)
    usd_per_1m_cached_input_tokens: Decimal | None = Field(None, ge=0)
    usd_per_1m_batch_input_tokens: Decimal | None = Field(None, ge=0)
    usd_per_1m_batch_output_tokens: Decimal | None = Field(None, ge=0)


class FineTunePrice(_Frozen):
    model: str
    """The base model that is fine-tuned (a catalog name)."""
    fine_tuned_model: str
    usd_per_1m_training_tokens: Decimal = Field(ge=0)
    inference_markup: Decimal = Field(ge=1)
    """Fine-tuned inference price as a multiple of the base model's price."""
    source: str
    as_of: dt.date
    takes_no_new_jobs_after: dt.date | None = None
    """The vendor stops taking new fine-tuning jobs after this date (announced); trained
    models may keep serving, but no retrain can run through this path after it."""
    closing_source: str | None = None


class GpuPrice(_Frozen):
    name: str
    usd_per_hour: Decimal = Field(gt=0)
    memory_gib: float = Field(gt=0)
    peak_bf16_tflops: float = Field(gt=0)
    memory_bandwidth_gb_per_s: float = Field(gt=0)
    source: str
    as_of: dt.date


class PlatformStatus(_Frozen):
    platform: str
    status: str
    effective: dt.date
    source: str
    as_of: dt.date


class Provenance(_Frozen):
    source: str
    url: str
    taken_on: dt.date


class PriceCatalog(_Frozen):
    snapshot: Provenance
    models: dict[str, ModelPrice]
    fine_tuning: tuple[FineTunePrice, ...]
    gpus: tuple[GpuPrice, ...]
    platforms: tuple[PlatformStatus, ...]

    def model(self, name: str, field: str = "model") -> ModelPrice:
        """A model's prices; an unknown name gets close matches in the message."""
        if name in self.models:
            return self.models[name]
        close = difflib.get_close_matches(name, self.models, n=4, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InputError(f"field '{field}': unknown model '{name}'{hint}")

    def gpu(self, name: str, field: str = "gpu") -> GpuPrice:
        by_name = {g.name.lower(): g for g in self.gpus}
        if name.lower() in by_name:
            return by_name[name.lower()]
        names = [g.name for g in self.gpus]
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise InputError(f"field '{field}': unknown GPU '{name}'; {hint}known: {', '.join(names)}")

    def fine_tune_price(self, base_model: str) -> FineTunePrice | None:
        return next((f for f in self.fine_tuning if f.model == base_model), None)

    def stale_warning(self, today_: dt.date | None = None) -> str | None:
        """A warning when the snapshot is older than STALE_AFTER_DAYS."""
        age = ((today_ or today()) - self.snapshot.taken_on).days
        if age > STALE_AFTER_DAYS:
            return (
                f"The price snapshot is {age} days old (taken {self.snapshot.taken_on}); "
                "load a newer LiteLLM cost map with --prices."
            )
        return None


def _usd_per_1m(entry: dict, key: str) -> Decimal | None:
    value = entry.get(key)
    return None if value is None else Decimal(value) * PER_1M


def parse_litellm(cost_map: dict) -> dict[str, ModelPrice]:
    """LiteLLM cost-map entries (USD per token) to ModelPrice (USD per 1M tokens).
    Entries without token prices (image, audio, the sample spec) are skipped."""
    out = {}
    for name, e in cost_map.items():
        if not isinstance(e, dict) or "input_cost_per_token" not in e:
            continue
        try:
            out[name] = ModelPrice(
                name=name,
                provider=str(e.get("litellm_provider", "unknown")),
                mode=str(e.get("mode", "chat")),
                usd_per_1m_input_tokens=_usd_per_1m(e, "input_cost_per_token"),
                usd_per_1m_output_tokens=_usd_per_1m(e, "output_cost_per_token") or Decimal(0),
                usd_per_1m_cached_input_tokens=_usd_per_1m(e, "cache_read_input_token_cost"),
                usd_per_1m_batch_input_tokens=_usd_per_1m(e, "input_cost_per_token_batches"),
                usd_per_1m_batch_output_tokens=_usd_per_1m(e, "output_cost_per_token_batches"),
            )
        except (ValidationError, ArithmeticError, TypeError) as err:
            detail = (
                describe_validation_error(err, ModelPrice)
                if isinstance(err, ValidationError)
                else str(err)
            )
            raise InputError(f"price entry '{name}': {detail}") from None
    return out


def _read_json(path: Path) -> dict:
    try:
        # parse_float=Decimal keeps 2.5e-06 exact instead of a binary approximation
        data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError as e:
        raise InputError(f"{path}: cannot read price file ({e.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: not a JSON price file ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object of model name: prices")
    return data


def load_catalog(
    prices: str | Path | None = None, extras: str | Path | None = None
) -> PriceCatalog:
    """The shipped snapshot, or a newer LiteLLM cost map and/or extras file."""
    if prices is None and extras is None:
        return _default_catalog()
    return _build(Path(prices or SNAPSHOT), Path(extras or EXTRAS), user_prices=prices is not None)


@lru_cache(maxsize=1)
def _default_catalog() -> PriceCatalog:
    return _build(SNAPSHOT, EXTRAS, user_prices=False)


def _build(prices: Path, extras: Path, user_prices: bool) -> PriceCatalog:
    ex = _read_json(extras)
    snapshot = ex.get("snapshot", {})
    if user_prices:  # a file the user loaded: its provenance is the file itself
        taken = dt.date.fromtimestamp(prices.stat().st_mtime)
        snapshot = {
            "source": f"user-loaded LiteLLM cost map {prices.name}",
            "url": str(prices),
            "taken_on": taken.isoformat(),
        }
    try:
        return PriceCatalog(
            snapshot=snapshot,
            models=parse_litellm(_read_json(prices)),
            fine_tuning=ex.get("fine_tuning", []),
            gpus=ex.get("gpus", []),
            platforms=ex.get("platforms", []),
        )
    except ValidationError as e:
        raise InputError(f"{extras}: {describe_validation_error(e, PriceCatalog)}") from None
