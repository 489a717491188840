#!/bin/bash
# The GPU sweep that chose the default model's recipe (2026-11-28, one H200, all runs side
# by side on the one GPU; selection on the dev splits only). Each line is default.toml with
# overrides; the chosen one is "full-b16", which default.toml now is.
#   bash training/sweep.sh [OUT_DIR] [extra key=value ...]
# Wall-clock note: on the H200 the runs were cut at 285-360 s each; full-b16 stopped during
# epoch 22 of 24 and its best epoch was 21 (mean dev strict F1 0.7544).
set -u
OUT=${1:-runs/sweep}; shift || true
run() { local name=$1; shift
  python -m clinnlp.training.trainer --config training/configs/default.toml output="$OUT/$name" progress=false "$@" \
    > "$OUT/$name.log" 2>&1 && echo "$name done" || echo "$name failed (see $OUT/$name.log)"; }
mkdir -p "$OUT"
LORA="lora.enabled=true freeze_embeddings=false epochs=12 patience=4"
FULL="lora.enabled=false freeze_embeddings=true"
run lora-r16-b32 $LORA batch_size=32 lr=2e-3 head_lr=4e-3 "$@" &
run lora-r64-b32 $LORA batch_size=32 lr=1e-3 head_lr=4e-3 lora.r=64 lora.alpha=128 "$@" &
run lora-r64-w512 $LORA batch_size=16 lr=1e-3 head_lr=2e-3 lora.r=64 lora.alpha=128 max_length=512 stride=128 "$@" &
run full-lr1e-4-e12 $FULL batch_size=32 lr=1e-4 head_lr=4e-3 epochs=12 patience=4 "$@" &
run full-lr2e-4-e12 $FULL batch_size=32 lr=2e-4 head_lr=4e-3 epochs=12 patience=4 "$@" &
wait
run full-lr2e-4-e24 $FULL batch_size=32 lr=2e-4 head_lr=4e-3 epochs=24 patience=6 "$@" &
run full-lr3e-4-e24 $FULL batch_size=32 lr=3e-4 head_lr=4e-3 epochs=24 patience=6 "$@" &
run full-lr2e-4-e24-seed7 $FULL batch_size=32 lr=2e-4 head_lr=4e-3 epochs=24 patience=6 seed=7 "$@" &
run full-b16 "$@" &
wait
