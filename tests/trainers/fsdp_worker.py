"""Worker for the FSDP2 test (issue 28): torch's fully_shard over 2 CPU ranks (gloo), one
unit per decoder layer and the root, as the plan and the written accelerate.yaml shard.
Writes what each rank holds, and the loss over 5 steps."""

import json
import sys

import torch
import torch.distributed as dist
from torch.distributed.fsdp import fully_shard
from transformers import AutoModelForCausalLM

model_dir, out = sys.argv[1:3]
dist.init_process_group("gloo")
torch.manual_seed(0)
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
total = sum(p.numel() for p in model.parameters())
for layer in model.model.layers:
    fully_shard(layer)
fully_shard(model)
opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
ids = torch.randint(4, 100, (4, 24), generator=torch.Generator().manual_seed(1))  # (B, T)
losses = []
for _ in range(5):
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    opt.step()
    opt.zero_grad()
    losses.append(loss.item())


def local(t) -> int:
    return t.to_local().numel() if hasattr(t, "to_local") else t.numel()


held = {
    "params": sum(local(p) for p in model.parameters()),
    "adam_states": sum(
        local(v) for s in opt.state.values() for v in s.values() if torch.is_tensor(v) and v.dim()
    ),
}
rank = dist.get_rank()
with open(f"{out}.{rank}", "w") as f:
    json.dump({"rank": rank, "total_params": total, "losses": losses, **held}, f)
dist.barrier()
dist.destroy_process_group()  # without it the gloo ranks abort at exit
