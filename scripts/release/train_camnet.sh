#!/usr/bin/env bash
# How camnet is made from scratch on a 2-core CPU (160 epochs of 48 steps; a step's time on this CPU is in
# benchmarks/results/train_throughput.json, with TensorFlow's oneDNN kernels on): train, quantization-aware
# fine-tuning, the black floor, convert and gate, score. Reads DATA=path/to/pistachio (one subfolder per class). Each
# step can be run alone: bash scripts/release/train_camnet.sh [train|qat|floor|convert|eval] (default: all, in order).
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:?set DATA to a folder of the Pistachio Image Dataset (one subfolder per class)}
ED=${ED:-.venv/bin/edge-denoise}
RUN=${RUN:-runs/camnet}
EPOCHS=${EPOCHS:-120}
QAT_EPOCHS=${QAT_EPOCHS:-40}
# float32: on the Intel Xeon (AVX-512 BF16, no AMX) that trained an earlier camnet, --precision bfloat16 was slower
# (benchmarks/train_throughput.py); on a Xeon with AMX 1.28x faster, on the AMD EPYC 1.23x
# (benchmarks/results/train_throughput_camnet_amx.json, epyc/train_throughput_camnet.json). Its one trial model was
# better on the suite and worse blind on the calibration benchmark's dim camera, most likely the draw's (docs/models.md).
PRECISION=${PRECISION:-float32}
# The noise, in both steps: blind_camera (camera noise, motion blur, what blind holds) and four cameras whose noise is
# blur-correlated, colour-mixed and shares rows, as `calibrate` measures a real camera (written by
# `python experiments/profile_cameras.py --out train/pretrained/camnet/cameras`; the calibration benchmark's own three
# cameras stay held out). Without them every run scored 0.90-0.93 blind on that benchmark's dim camera; with them 0.95.
# Motion blur joined the float step and --bottom-depth 2 the model in the same change (docs/models.md, "More float
# epochs, one more conv at 1/8, and correlated cameras in training").
CAMERAS=${CAMERAS:-train/pretrained/camnet/cameras}
BLIND_CAMERA=$(.venv/bin/python -c "from edge_runtime.noise import BLIND_CAMERA; print(BLIND_CAMERA)")
NOISE=${NOISE:-"$BLIND_CAMERA$(for f in "$CAMERAS"/*.json; do printf ',profile:%s@1' "$f"; done)"}
ARCH=(--model camnet --width 24 --full-res 12 --bottom-depth 2 --impulse-reject)
COMMON=("${ARCH[@]}" --background-margin 0.03 --augment all --size 128 --crop 64 --batch-size 32 --schedule cosine
        --precision "$PRECISION" --data "$DATA")

step_train() {  # 1. float training on random 64x64 crops of 128x128 images
  $ED train "${COMMON[@]}" --noise "$NOISE" --lr 2e-3 --epochs "$EPOCHS" --out "$RUN/float" --overwrite
}
step_qat() {  # 2. quantization-aware fine-tuning: every tensor the int8 file holds is rounded in training
  $ED train "${COMMON[@]}" --noise "$NOISE" --quant-aware --init-from "$RUN/float/model.keras" --lr 3e-4 --epochs "$QAT_EPOCHS" \
    --out "$RUN/qat" --overwrite
}
# 3. The black floor (train.layers.BlackFloor): output values below FLOOR become black. It has no weights, so it is put
# on the trained model with no training step (--epochs 0); in place of the margin, which it makes moot. Chosen on the
# validation split (experiments/black_floor.py): 0.03-0.06 scored alike on the suite, and the Gaussian+JPEG parts of
# blind_camera need 0.05; 20 more quantization-aware epochs with the floor on scored no better than none (docs/models.md,
# "A black floor").
FLOOR=${FLOOR:-0.05}
step_floor() {
  $ED train "${ARCH[@]}" --black-floor "$FLOOR" --size 128 --data "$DATA" --noise "$NOISE" --quant-aware \
    --init-from "$RUN/qat/model.keras" --epochs 0 --out "$RUN/floor" --overwrite
}
# the model to convert: the floored one, or MODEL=$RUN/qat/model.keras for none, or $RUN/float/model.keras for plain
# post-training int8
MODEL=${MODEL:-$RUN/floor/model.keras}
OUT=${OUT:-edge_runtime/models}
step_convert() {  # 4. int8 with uint8 I/O at 480x640 and 128x128, fp16 siblings, gated on the blind camera mixture
  $ED convert "$MODEL" --quant int8 --io uint8 --size 480x640 --size 128 --noise blind_camera \
    --calib-count 64 --gate-count 32 --tune-ranges 16 --data "$DATA" --name camnet --out "$OUT"
  $ED convert "$MODEL" --quant fp16 --size 480x640 --size 128 --noise blind_camera \
    --gate-count 32 --data "$DATA" --name camnet --out "$OUT"
}
step_eval() {  # 5. the noise suite (camera rows included) on the test split, int8 at 128x128
  $ED eval "$OUT/camnet_int8_128x128_u8io.tflite" --suite --data "$DATA" --split test \
    --out benchmarks/results/eval_suite_camnet_int8_128
}
for step in ${1:-train qat floor convert eval}; do "step_$step"; done
