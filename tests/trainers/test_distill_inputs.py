"""Issue 26: inputs without labels, repeats and leaks in real files, and the bad inputs a
distillation pilot refuses before anything starts (one line, exit 2)."""

import json

import pytest

from cli import main
from core.scenario import InputError
from trainers.config import PilotConfig
from trainers.data import DataError, load_dataset
from trainers.inputs import load_inputs
from trainers.splits import make_splits


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_inputs_in_every_format_with_repeats_dropped_and_counted(tmp_path):
    csv = write(tmp_path / "i.csv", "id,text,label\n1,hello there,a\n2, hello  there ,b\n3,bye,a\n")
    ds = load_inputs(csv)
    assert [e.messages[-1].content for e in ds.examples] == ["hello there", "bye"]
    assert ds.task == "unlabelled" and ds.dropped == {"repeats": 1}
    assert all(e.target == "" for e in ds.examples)  # the file's label column is not read
    jsonl = write(
        tmp_path / "i.jsonl",
        '{"text": "where is my parcel"}\n\n'
        '{"messages": [{"role": "system", "content": "be brief"},'
        ' {"role": "user", "content": "cancel it"}]}\n',
    )
    assert [e.messages[-1].content for e in load_inputs(jsonl).examples] == [
        "where is my parcel",
        "cancel it",
    ]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.csv", "body,label\nhi,a\n", "line 1: an inputs CSV needs a 'text' column"),
        ("b.csv", "text\n", "no inputs"),
        ("c.csv", "", "the file is empty"),
        ("d.jsonl", '{"text": "ok"}\n{"prompt": "x"}\n', 'line 2: expected {"text"'),
        (
            "e.jsonl",
            '{"messages": [{"role": "user", "content": "q"}, '
            '{"role": "assistant", "content": "a"}]}\n',
            "line 1: the last message must be the user's turn",
        ),
        ("f.csv", "text,id\nfine,1\n  ,2\n", "line 3: 'text' is empty"),
    ],
)
def test_bad_inputs_name_the_file_and_line(tmp_path, name, text, message):
    with pytest.raises((InputError, DataError), match=message.replace("{", r"\{")):
        load_inputs(write(tmp_path / name, text))


def test_a_separate_holdout_drops_training_repeats_and_leaked_rows(tmp_path):
    train = write(tmp_path / "t.csv", "text,label\nfoo,a\n foo ,a\nbar,b\nbaz,b\nqux,a\n")
    hold = write(tmp_path / "h.csv", "text,label\nfoo,a\nnew one,b\nnew one,b\nother,a\n")
    with pytest.raises(DataError, match="line 3: duplicate of line 2"):
        load_dataset(train)  # split from one file, a repeat could land on both sides
    cfg = PilotConfig(method="classifier", data=str(train), holdout_data=str(hold))
    train_ds, hold_ds = make_splits(cfg)
    assert len(train_ds.examples) == 4 and train_ds.dropped == {"repeats": 1}
    assert [e.target for e in hold_ds.examples] == ["b", "a"]
    assert hold_ds.dropped == {"repeats": 1, "leaked_from_training": 1}
    contradiction = write(tmp_path / "x.csv", "text,label\nfoo,a\nfoo,b\nbar,b\n")
    with pytest.raises(DataError, match="same text as line 2 with a different label"):
        make_splits(cfg.model_copy(update={"data": str(contradiction)}))


def test_without_a_holdout_a_share_of_the_inputs_is_held_out_for_the_teacher(tmp_path):
    rows = "".join(f"input number {i}\n" for i in range(50))
    inputs = write(tmp_path / "i.csv", "text\n" + rows)
    cfg = PilotConfig(
        method="distill_classifier", data=str(inputs), teacher="x", holdout_fraction=0.2
    )
    train, hold = make_splits(cfg)
    assert (len(train.examples), len(hold.examples)) == (40, 10)
    seen = {e.messages[-1].content for e in train.examples}
    assert not seen & {e.messages[-1].content for e in hold.examples}
    assert hold.task == "unlabelled"  # the teacher labels it: agreement only
    assert make_splits(cfg)[1] == hold  # the seed decides


def test_the_banking77_header_and_its_own_repeats_load_beside_a_separate_holdout():
    from tests.conftest import SHARED

    folder = SHARED / "banking77"
    if not folder.exists():
        pytest.skip("the shared BANKING77 data is not beside this checkout")
    cfg = PilotConfig(
        method="classifier", data=str(folder / "train.csv"), holdout_data=str(folder / "test.csv")
    )
    train, hold = make_splits(cfg)
    assert train.dropped == {"repeats": 4} and len(train.examples) == 10_003 - 4
    assert len(hold.examples) == 300


def _fake_run(root, name, method, folders=()):
    run = root / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"method: {method}\ndata: x.csv\n")
    (run / "events.jsonl").write_text(json.dumps({"event": "done", "time": 0}) + "\n")
    (run / "metrics.json").write_text(json.dumps({"measurement": {"method": method}}))
    for f in folders:
        (run / f).mkdir()
    return run


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("empty_inputs", "no inputs"),
        ("no_text_column", "an inputs CSV needs a 'text' column"),
        ("rag_teacher", "has no model to teach with; a classifier run"),
        ("adapter_teacher", "(re-run it with --merge)"),
        ("no_teacher", "distillation needs a teacher"),
        ("generate_holdout", "scores a classification holdout"),
    ],
)
def test_bad_distillation_input_is_one_line_and_exit_2(tmp_path, runs_dir, capsys, make, message):
    from tests.trainers.conftest import DEMO_CHAT, DEMO_CSV

    inputs = write(tmp_path / "in.csv", "text\nwhere is my order\ncancel please\nrefund me\n")
    teacher = str(_fake_run(tmp_path, "rag-run", "rag"))
    argv = [
        "pilot",
        "--method",
        "distill_classifier",
        "--no-probe",
        "--holdout-data",
        str(DEMO_CSV),
    ]
    if make == "empty_inputs":
        inputs = write(tmp_path / "in.csv", "text\n")
    if make == "no_text_column":
        inputs = write(tmp_path / "in.csv", "utterance\nhi\n")
    if make == "adapter_teacher":
        teacher = str(_fake_run(tmp_path, "lora-run", "lora", ["adapter"]))
    if make == "generate_holdout":
        argv[-1] = str(DEMO_CHAT)
        teacher = str(_fake_run(tmp_path, "clf", "classifier", ["classifier"]))
        (tmp_path / "clf" / "classifier" / "labels.json").write_text('{"labels": ["a", "b"]}')
    argv += ["--inputs", str(inputs)] + ([] if make == "no_teacher" else ["--teacher", teacher])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err, err
    assert not runs_dir.exists() or not any(runs_dir.iterdir())  # nothing started


def test_a_teacher_that_answers_no_label_is_refused_before_the_run(
    tmp_path, runs_dir, capsys, unhelpful_teacher
):
    from tests.trainers.conftest import DEMO_CSV

    url = unhelpful_teacher
    inputs = write(tmp_path / "in.csv", "text\nwhere is my order\ncancel please\nrefund me\n")
    code = main(
        [
            "pilot", "--method", "distill_classifier", "--inputs", str(inputs),
            "--holdout-data", str(DEMO_CSV), "--no-probe",
            "--teacher-url", url, "--teacher-model", "my-teacher",
        ]
    )  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and "answered no label for any of the first 3 inputs (no_label 3" in err
    assert "I am not sure" in err and "\n" not in err
    assert not runs_dir.exists() or not any(runs_dir.iterdir())
