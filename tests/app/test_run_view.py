"""The run view's progress: each training fit is its own line, named, and a resumed fit
continues its own."""

from app_pages.run_view import fits, phase_text


def _step(n):
    return {"event": "step", "step": n, "loss": 1.0 / n}


def test_fits_are_split_named_and_resumes_continue():
    events = [
        {"event": "fit", "name": "the classifier", "index": 1, "of": 3},
        {"event": "start", "planned_steps": 4},
        _step(1),
        _step(2),
        {"event": "resume", "step": 2},
        {"event": "start", "planned_steps": 4},
        _step(3),
        _step(4),
        {"event": "fit", "name": "threshold fold 1 of 2", "index": 2, "of": 3},
        {"event": "start", "planned_steps": 2},
        _step(1),
        _step(2),
        {"event": "curve", "fraction": 0.25, "examples": 40, "status": "training"},
        {"event": "start", "planned_steps": 3},
        _step(1),
        {"event": "start", "planned_steps": 5},
        _step(1),
    ]
    got = [(n, plan, [s["step"] for s in steps]) for n, plan, steps in fits(events)]
    assert got == [
        ("the classifier (fit 1 of 3)", 4, [1, 2, 3, 4]),
        ("threshold fold 1 of 2 (fit 2 of 3)", 2, [1, 2]),
        ("learning curve, 40 examples", 3, [1]),
        ("training", 5, [1]),
    ]
    assert phase_text(events[:1]) == "training"
