"""Every format parses; every bad row is reported with its line; splits are frozen."""

import json

import pytest

from advisor import InputError
from tests.trainers.conftest import DEMO_CHAT, DEMO_CSV
from trainers.data import DataError, load_dataset, validate
from trainers.splits import fingerprint, split


def write(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return p


def test_demo_data_loads():
    csv_ds = load_dataset(DEMO_CSV)
    assert csv_ds.task == "classify" and len(csv_ds.examples) >= 300 and len(csv_ds.labels) == 8
    chat = load_dataset(DEMO_CHAT)
    assert chat.task == "generate" and chat.format == "chat" and len(chat.examples) >= 100


def test_every_format(tmp_path):
    rows = {
        "chat.jsonl": {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
            ]
        },
        "pc.jsonl": {"prompt": "2+2?", "completion": "4"},
        "alpaca.jsonl": {"instruction": "Add", "input": "2 and 2", "output": "4"},
    }
    for name, rec in rows.items():
        other = json.loads(json.dumps(rec).replace("2", "3").replace("hi", "hey"))
        ds = load_dataset(write(tmp_path, name, json.dumps(rec) + "\n" + json.dumps(other) + "\n"))
        assert len(ds.examples) == 2 and ds.examples[0].target in ("hello", "4")
        _, errors = validate(write(tmp_path, name, json.dumps(rec) + "\n" + json.dumps(rec)))
        assert [(e.line, e.message.split(" (")[0]) for e in errors] == [(2, "duplicate of line 1")]
    alpaca_json = write(
        tmp_path,
        "a.json",
        json.dumps([rows["alpaca.jsonl"], {"instruction": "Sub", "output": "0"}]),
    )
    assert load_dataset(alpaca_json).format == "alpaca"
    assert "2 and 2" in load_dataset(alpaca_json).examples[0].messages[0].content


def test_bad_rows_are_reported_with_line_numbers(tmp_path):
    good = json.dumps({"prompt": "a", "completion": "b"})
    path = write(
        tmp_path,
        "d.jsonl",
        "\n".join(
            [
                good,
                "{not json",
                json.dumps({"prompt": "a", "completion": ""}),
                good,
                json.dumps({"foo": 1}),
                json.dumps(["x"]),
                json.dumps({"messages": [{"role": "user", "content": "q"}]}),
                json.dumps({"instruction": "x", "output": "y"}),
            ]
        )
        + "\n",
    )
    ds, errors = validate(path)
    assert [e.line for e in errors] == [2, 3, 4, 5, 6, 7, 8]
    assert "not valid JSON" in errors[0].message
    assert "'completion' is empty" in errors[1].message
    assert "duplicate of line 1" in errors[2].message
    assert "mixes formats" in errors[6].message
    with pytest.raises(DataError, match=r"7 bad row\(s\): line 2"):
        load_dataset(path)
    assert len(ds.examples) == 1


def test_csv_rows(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\nhello,a\n,b\nworld,\nthree,col,umns\nok,b\n")
    ds, errors = validate(path)
    assert [(e.line, e.message) for e in errors] == [
        (3, "'text' is empty"),
        (4, "'label' is empty"),
        (5, "expected 2 columns, got 3"),
    ]
    assert ds.labels == ("a", "b")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("e.jsonl", "", "empty"),
        ("e.csv", "   \n", "empty"),
        ("one.csv", "text,label\na,x\nb,x\n", "only one label"),
        ("hdr.csv", "sentence,intent\na,x\n", "line 1: a CSV needs the header"),
        ("bin.jsonl", b'{"prompt": "a", "completion": "b"}\n\xff\xfe\n', "line 2: not UTF-8"),
        ("all_bad.jsonl", '{"x": 1}\n', "no usable rows"),
    ],
)
def test_unusable_files(tmp_path, name, content, message):
    with pytest.raises(InputError, match=message):
        load_dataset(write(tmp_path, name, content))


def test_split_is_deterministic_stratified_and_disjoint():
    ds = load_dataset(DEMO_CSV)
    a_train, a_hold = split(ds, 0.2, seed=3)
    b_train, b_hold = split(ds, 0.2, seed=3)
    assert fingerprint(a_hold) == fingerprint(b_hold) and fingerprint(a_train) == fingerprint(
        b_train
    )
    assert fingerprint(split(ds, 0.2, seed=4)[1]) != fingerprint(a_hold)
    lines_train = {e.line for e in a_train.examples}
    assert not lines_train & {e.line for e in a_hold.examples}
    assert len(lines_train) + len(a_hold.examples) == len(ds.examples)
    assert {e.label for e in a_hold.examples} == set(ds.labels)  # every label held out


def test_cli_reports_bad_rows_exit_2(tmp_path, capsys):
    from cli import main

    path = write(tmp_path, "d.csv", "text,label\nhello,a\n,b\nok,b\n")
    assert main(["pilot", "--method", "lora", "--data", str(path)]) == 2
    err = capsys.readouterr().err
    assert "line 3: 'text' is empty" in err and "\n" not in err.strip()


def test_the_linear_probe_learns_separable_labels_and_picks_its_strength_on_training_data():
    """Issue 14, item 2: logistic regression on frozen embeddings; a label seen once
    falls back to a fixed strength instead of failing the stratified folds."""
    import numpy as np

    from trainers.eval.baselines import linear_probe

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 8))
    labels = ["a", "b", "c"]
    x = np.concatenate([c + 0.1 * rng.normal(size=(6, 8)) for c in centers])
    y = [lab for lab in labels for _ in range(6)]
    test = centers + 0.1 * rng.normal(size=(3, 8))
    assert linear_probe(x, y, test) == labels
    assert linear_probe(x[:13], y[:13], test)[:2] == ["a", "b"]  # "c" seen once
    assert linear_probe(x[:6], y[:6], test) == ["a"] * 3  # one label: nothing to learn
