"""A Hugging Face Trainer run that Lernkurve watches and steers (a tiny GPT-2, no download).

    python examples/hf_trainer.py            # open Lernkurve: lr, weight decay, max_grad_norm live
    python examples/hf_trainer.py --resume   # continue from the last checkpoint, same run

Needs the hf extra: pip install transformers==5.24.0 accelerate==1.15.0
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is made locally

import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

from lernkurve.integrations.hf import LernkurveCallback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--output", default="hf-tiny-gpt2")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    args = parser.parse_args()

    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=2,
        n_head=2,
        n_embd=32,
        vocab_size=64,
        n_positions=32,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = GPT2LMHeadModel(config)
    # Synthetic "text": counting sequences modulo the vocabulary, learnable in a few hundred steps.
    starts = torch.randint(0, 64, (512,))
    data = [{"input_ids": (ids := (s + torch.arange(16)) % 64), "labels": ids} for s in starts]

    training_args = TrainingArguments(
        output_dir=args.output,
        run_name="tiny-gpt2",
        max_steps=args.steps,
        per_device_train_batch_size=16,
        gradient_accumulation_steps=2,  # a Lernkurve step is an optimizer step
        learning_rate=3e-3,
        weight_decay=0.01,
        lr_scheduler_type="cosine",
        warmup_steps=100,
        logging_steps=10,
        save_steps=500,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=data,
        callbacks=[LernkurveCallback()],
    )
    trainer.train(resume_from_checkpoint=True if args.resume else None)


if __name__ == "__main__":
    main()
