"""Issue 27: generation constrained to a JSON Schema (llguidance) on a tiny random model,
and the generative pilots on extraction data, free and constrained."""

import json

import pytest

from cli import main
from tests.conftest import EXAMPLES
from trainers.data import Message
from trainers.fields import load_schema, validator

FIELDS = EXAMPLES / "data" / "invoice_fields.jsonl"
SCHEMA = EXAMPLES / "data" / "invoice_fields.schema.json"


@pytest.fixture(scope="module")
def tiny_bpe(tmp_path_factory):
    """A tiny random LLaMA with the default model's byte-level tokenizer: it can spell any
    JSON, and left free it writes noise, so only the mask can make its answers valid."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from trainers.models import DEFAULT_MODEL, resolve_model

    out = tmp_path_factory.mktemp("models") / "tiny-bpe"
    tok = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL))
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(cfg).save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


def test_every_constrained_answer_validates_and_the_library_accepts_it(tiny_bpe):
    import llguidance
    import llguidance.hf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainers.eval.schema_decode import SEPARATORS, schema_constraint
    from trainers.eval.scoring import generate

    tok = AutoTokenizer.from_pretrained(tiny_bpe)
    model = AutoModelForCausalLM.from_pretrained(tiny_bpe).eval()
    schema = load_schema(SCHEMA)  # patterns, an enum, a string-or-list
    prompts = [(Message(role="user", content=f"invoice {i} from acme"),) for i in range(12)]
    free = generate(model, tok, prompts, max_new_tokens=40)
    held = generate(
        model, tok, prompts, max_new_tokens=40, constraint=schema_constraint(tok, schema, 40)
    )
    check = validator(schema)
    assert not any(_valid(check, a) for a in free)  # noise, as a random model writes
    assert all(_valid(check, a) for a in held), held
    # llguidance's own matcher accepts each answer's tokens, and refuses a wrong one
    lltok = llguidance.hf.from_tokenizer(tok, n_vocab=len(tok), eos_token=tok.eos_token_id)
    grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, defaults=SEPARATORS)
    for a in held:
        m = llguidance.LLMatcher(lltok, grammar)
        assert m.consume_tokens(tok(a, add_special_tokens=False)["input_ids"]) and m.is_accepting()
    m = llguidance.LLMatcher(lltok, grammar)
    m.consume_tokens(tok('{"currency": "YEN"}', add_special_tokens=False)["input_ids"])
    assert m.is_error() or not m.is_accepting()


def _valid(check, text: str) -> bool:
    try:
        return check.is_valid(json.loads(text))
    except json.JSONDecodeError:
        return False


@pytest.mark.slow
def test_lora_on_extraction_data_scores_free_and_schema_constrained(tiny_bpe, runs_dir, capsys):
    argv = [
        "pilot",
        "--foreground",
        "--method",
        "lora",
        "--data",
        str(FIELDS),
        "--schema",
        str(SCHEMA),
    ]
    assert main([*argv, "--model", str(tiny_bpe), "--max-steps", "2", "--no-probe", "--json"]) == 0
    m = json.loads(capsys.readouterr().out)["measurement"]
    e = m["extract"]
    assert set(e["methods"]) == {
        "zero_shot",
        "few_shot",
        "few_shot + schema",
        "lora",
        "lora + schema",
    }
    assert e["methods"]["lora + schema"]["valid"]["value"] == 1.0
    assert e["methods"]["few_shot + schema"]["valid"]["value"] == 1.0
    assert m["quality"] == e["methods"]["lora"]["f1"]  # free generation is the result
    assert m["constrained"] == e["methods"]["lora + schema"]["f1"]
    assert m["invalid_label_share"] == pytest.approx(1 - e["methods"]["lora"]["valid"]["value"])
    assert e["constrained_library"].startswith("llguidance ") and e["constrained_time_ratio"] > 0
    assert {p["b"] for p in e["paired"]} == set(e["methods"]) - {"lora"}
