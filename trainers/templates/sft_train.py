"""Fine-tune with TRL's SFTTrainer; written by `adapt plan` beside sft.yaml and
accelerate.yaml. Start it with launch.sh (accelerate launch ... train.py --config sft.yaml);
any sft.yaml field can be overridden on the command line (--max_steps 3).

It is TRL's own `trl sft` script (trl/scripts/sft.py) with two differences: the data is
read from the JSONL files written beside it, and every rank leaves the process group
together at the end and then exits at once (gloo ranks were seen to hang at exit without
the first; with it, rank 0 was once seen to hang in the interpreter's own shutdown).
"""

import os
import sys
from dataclasses import dataclass

import torch.distributed as dist
from datasets import load_dataset
from trl import (
    ModelConfig,
    SFTConfig,
    SFTTrainer,
    TrlParser,
    get_peft_config,
    get_quantization_config,
)


@dataclass
class DataFiles:
    train_file: str = "data/train.jsonl"
    eval_file: str | None = None


def main() -> None:
    parser = TrlParser((DataFiles, SFTConfig, ModelConfig))
    data, args, model_args = parser.parse_args_and_config()
    args.model_init_kwargs = (args.model_init_kwargs or {}) | {"dtype": model_args.dtype}
    files = {"train": data.train_file} | ({"test": data.eval_file} if data.eval_file else {})
    ds = load_dataset("json", data_files=files)
    trainer = SFTTrainer(
        model=model_args.model_name_or_path,
        args=args,
        train_dataset=ds["train"],
        eval_dataset=ds["test"] if data.eval_file and args.eval_strategy != "no" else None,
        quantization_config=get_quantization_config(model_args),
        peft_config=get_peft_config(model_args),
    )
    acc = trainer.accelerator
    acc.print(f"adapt plan: {acc.distributed_type.value} over {acc.num_processes} process(es)")
    trainer.train(resume_from_checkpoint=args.resume_from_checkpoint)
    trainer.save_model(args.output_dir)
    acc.print(f"adapt plan: model saved to {args.output_dir}")
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
        # Everything is saved. The interpreter's shutdown can hang after this: rank 0 was
        # seen idle after main() returned, its gloo threads waiting (a race of native
        # threads with the shutdown, as in pytorch/pytorch#190489). Leave without it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
