#!/usr/bin/env bash
# How the camera default, camnet, is made from scratch on a 2-core CPU: train, fine-tune quantization-aware,
# convert and gate, score. Reads DATA=path/to/pistachio (one subfolder per class). Each step can be run
# alone: bash scripts/release/train_camnet.sh [train|qat|convert|eval] (default: all, in that order).
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:?set DATA to a folder of the Pistachio Image Dataset (one subfolder per class)}
ED=${ED:-.venv/bin/edge-denoise}
RUN=${RUN:-runs/camnet}
EPOCHS=${EPOCHS:-80}
QAT_EPOCHS=${QAT_EPOCHS:-10}
# float32: on the Intel Xeon (AVX-512 BF16, no AMX) that trained it, --precision bfloat16 was slower
# (benchmarks/train_throughput.py); try it where the CPU has AMX or on a GPU
PRECISION=${PRECISION:-float32}
COMMON=(--model camnet --width 24 --impulse-reject --background-margin 0.03 --noise blind_camera --augment all
        --size 128 --crop 64 --batch-size 32 --schedule cosine --precision "$PRECISION" --data "$DATA")

step_train() {  # 1. float training on random 64x64 crops of 128x128 images
  $ED train "${COMMON[@]}" --lr 2e-3 --epochs "$EPOCHS" --out "$RUN/float" --overwrite
}
step_qat() {  # 2. quantization-aware fine-tuning: every tensor the int8 file holds is rounded in training
  $ED train "${COMMON[@]}" --quant-aware --init-from "$RUN/float/model.keras" --lr 2e-4 --epochs "$QAT_EPOCHS" \
    --out "$RUN/qat" --overwrite
}
step_convert() {  # 3. int8 with uint8 I/O at 480x640 and 128x128, fp16 siblings, gated on the blind camera mixture
  $ED convert "$RUN/qat/model.keras" --quant int8 --io uint8 --size 480x640 --size 128 --noise blind_camera \
    --gate-count 64 --data "$DATA" --name camnet --out edge_runtime/models
  $ED convert "$RUN/qat/model.keras" --quant fp16 --size 480x640 --size 128 --noise blind_camera \
    --gate-count 32 --data "$DATA" --name camnet --out edge_runtime/models
}
step_eval() {  # 4. the noise suite (camera rows included) on the test split, int8 at 128x128
  $ED eval edge_runtime/models/camnet_int8_128x128.tflite --suite --data "$DATA" --split test \
    --out benchmarks/results/eval_suite_camnet_int8_128
}
for step in ${1:-train qat convert eval}; do "step_$step"; done
