#!/usr/bin/env bash
# How camnet is made from scratch on a 2-core CPU (170 epochs of 48 steps; a step's time on this CPU is in
# benchmarks/results/train_throughput.json, with TensorFlow's oneDNN kernels on): train, a second cosine cycle,
# quantization-aware fine-tuning, convert and gate, score. Reads DATA=path/to/pistachio (one subfolder per class). Each step can be run alone:
# bash scripts/release/train_camnet.sh [train|continue|qat|convert|eval] (default: all, in that order).
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:?set DATA to a folder of the Pistachio Image Dataset (one subfolder per class)}
ED=${ED:-.venv/bin/edge-denoise}
RUN=${RUN:-runs/camnet}
EPOCHS=${EPOCHS:-60}
QAT_EPOCHS=${QAT_EPOCHS:-40}
# float32: on the Intel Xeon (AVX-512 BF16, no AMX) that trained it, --precision bfloat16 was slower
# (benchmarks/train_throughput.py); try it where the CPU has AMX or on a GPU
PRECISION=${PRECISION:-float32}
COMMON=(--model camnet --width 24 --impulse-reject --background-margin 0.03 --noise blind_camera --augment all
        --size 128 --crop 64 --batch-size 32 --schedule cosine --precision "$PRECISION" --data "$DATA")

step_train() {  # 1. float training on random 64x64 crops of 128x128 images
  $ED train "${COMMON[@]}" --lr 2e-3 --epochs "$EPOCHS" --out "$RUN/float" --overwrite
}
step_continue() {  # 2. a second, gentler cosine cycle from the best of step 1
  $ED train "${COMMON[@]}" --init-from "$RUN/float/model.keras" --lr 8e-4 --epochs 70 --out "$RUN/float2" --overwrite
}
step_qat() {  # 3. quantization-aware fine-tuning: every tensor the int8 file holds is rounded in training
  $ED train "${COMMON[@]}" --quant-aware --init-from "$RUN/float2/model.keras" --lr 3e-4 --epochs "$QAT_EPOCHS" \
    --out "$RUN/qat" --overwrite
}
# the model to convert: the quantization-aware one, or MODEL=$RUN/float/model.keras for plain post-training int8
MODEL=${MODEL:-$RUN/qat/model.keras}
OUT=${OUT:-edge_runtime/models}
step_convert() {  # 4. int8 with uint8 I/O at 480x640 and 128x128, fp16 siblings, gated on the blind camera mixture
  $ED convert "$MODEL" --quant int8 --io uint8 --size 480x640 --size 128 --noise blind_camera \
    --calib-count 64 --gate-count 32 --data "$DATA" --name camnet --out "$OUT"
  $ED convert "$MODEL" --quant fp16 --size 480x640 --size 128 --noise blind_camera \
    --gate-count 32 --data "$DATA" --name camnet --out "$OUT"
}
step_eval() {  # 5. the noise suite (camera rows included) on the test split, int8 at 128x128
  $ED eval "$OUT/camnet_int8_128x128_u8io.tflite" --suite --data "$DATA" --split test \
    --out benchmarks/results/eval_suite_camnet_int8_128
}
for step in ${1:-train continue qat convert eval}; do "step_$step"; done
