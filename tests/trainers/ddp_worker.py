"""Worker for the torchrun test: trains on a tiny model, then checks that both ranks hold
identical adapter weights (gradients were averaged)."""

import json
import sys

import torch
import torch.distributed as dist

from trainers.config import TrainConfig
from trainers.data import load_dataset
from trainers.models import load_causal_lm, load_tokenizer
from trainers.sft import prepare_model, train

model_dir, data, out = sys.argv[1:4]
tok = load_tokenizer(model_dir)
cfg = TrainConfig(method="lora", batch_size=4, max_steps=6, bf16="off", learning_rate=1e-2)
model = prepare_model(load_causal_lm(model_dir), cfg)
events = []
res = train(
    model,
    tok,
    list(load_dataset(data).examples[:64]),
    cfg,
    emit=lambda k, **f: events.append((k, f)),
)
flat = torch.cat([p.detach().flatten() for p in model.parameters() if p.requires_grad])
gathered = [torch.zeros_like(flat) for _ in range(dist.get_world_size())]
dist.all_gather(gathered, flat)
if dist.get_rank() == 0:
    start = next(f for k, f in events if k == "start")
    with open(out, "w") as fh:
        json.dump(
            {
                "world_size": start["world_size"],
                "steps": res.steps,
                "weights_equal_across_ranks": all(
                    torch.equal(gathered[0], g) for g in gathered[1:]
                ),
            },
            fh,
        )
dist.destroy_process_group()
