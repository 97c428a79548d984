#!/usr/bin/env bash
# The blind-noise ablation, as it was run on 2 CPU cores (docs/models.md): every model scored on the
# same fixed noise suite (eval --suite: 184 test images at 128x128, noise seed 2, classical filters in
# the unet run's eval), latency from the headline bench's int8 480x640 rows at 2 threads.
# Needs runs/autoencoder and runs/unet from scripts/release/train_release.sh (steps 1).
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:?set DATA to a folder of the Pistachio Image Dataset (one subfolder per class)}
ED=${ED:-.venv/bin/edge-denoise}
PY=${PY:-.venv/bin/python}
COMMON=(--data "$DATA" --size 128 --crop 64 --overwrite)
BLIND=(--noise blind --augment all --schedule cosine)

# Blind fine-tuning of the two Gaussian-trained models: the farm-line noise mixture
# (edge_runtime/noise.py BLIND), augmentation (flips, quarter turns, light, JPEG), cosine schedule.
$ED train --model autoencoder --width 32 "${BLIND[@]}" --lr 5e-4 --init-from runs/autoencoder/model.keras \
  --epochs 8 "${COMMON[@]}" --out runs/autoencoder_blind
$ED train --model unet --width 24 --depth 3 "${BLIND[@]}" --lr 5e-4 --init-from runs/unet/model.keras \
  --epochs 4 "${COMMON[@]}" --out runs/unet_blind

# fastnet (pixel-unshuffle by 4, wide 3x3 convs at quarter resolution, 21.9k MACs per pixel), blind from
# scratch. fastnet_blind_relucap was trained for 40 epochs by the code before this script's commit, whose
# output was a ReLU capped at 1 (it brightened every nut; see docs/models.md). With today's output layer
# (train/layers.py ClipToUnit) it plateaued: fastnet_blind_scratch is its best epoch of 7.
$ED train --model fastnet --width 64 --blocks 4 --scale 4 "${BLIND[@]}" --epochs 30 "${COMMON[@]}" \
  --out runs/fastnet_blind_scratch  # stopped after 7 epochs: no gain after the second
# Tried and not kept (it diverged to a black image, val PSNR 1.7 dB after one epoch; the log is the record):
#   $ED train --model fastnet --width 64 --blocks 4 --scale 4 "${BLIND[@]}" --lr 5e-4 \
#     --init-from runs/fastnet_blind_relucap/model.keras --epochs 8 "${COMMON[@]}" --out runs/fastnet_blind
# fastnet at scale 2 (half-resolution convs keep more detail than quarter), width 32, 4 blocks: 20.2k MACs
# per pixel, 3.9x fewer than the U-Net; blind from scratch. Stopped (SIGTERM, best epoch kept) after 7 of 30
# epochs: validation SSIM sat at 0.81-0.83 from the first epoch on, like fastnet_blind_scratch. Its latency
# comes from its own bench, next to the shipped U-Net in the same run.
$ED train --model fastnet --width 32 --blocks 4 --scale 2 "${BLIND[@]}" --epochs 30 "${COMMON[@]}" \
  --out runs/fastnet2_blind  # stopped after 7 epochs
$ED bench runs/fastnet2_blind/model.keras edge_runtime/models/unet_int8_480x640_u8io.tflite --precision int8 \
  --threads 2 --size 480x640 --no-shipped --data "$DATA" --out runs/fastnet2_blind/bench
mkdir -p benchmarks/results/bench_fastnet2_vs_unet
cp runs/fastnet2_blind/bench/bench.{json,md} benchmarks/results/bench_fastnet2_vs_unet/

# On a lent GPU machine (one H200; JAX, no TensorFlow; keras, namex and optree carried as wheels), the same
# recipe from scratch at batch 32 on the full 128x128 images, four variants side by side (scripts/release/blind_gpu.py):
# round 1, 100-epoch cosine schedule (all finished, 221-253 s each):
#   KERAS_BACKEND=jax python3 scripts/release/blind_gpu.py --data DATA --out runs --minutes 6.3 --epochs 100
# round 2, 300-epoch schedule stopped by the 6.6-minute limit at epoch 192 (unet_blind_scratch_150: all 150):
#   KERAS_BACKEND=jax python3 scripts/release/blind_gpu.py --data DATA --out runs --minutes 6.6 --epochs 300 \
#     --variants fastnet2_blind_300,fastnet2w40_blind_300,fastnet4w64_blind_300,unet_blind_scratch_150
# fastnet2_blind's plateau at 0.82 was the first ~8 epochs of a climb (0.84 at 10, 0.87 at 20, 0.94 at 60-100).
# The two scale-2 fastnets in one bench run with the shipped U-Net and autoencoder (int8 VGA, 2 threads):
$ED bench runs/fastnet2_blind_300/model.keras runs/fastnet2w40_blind_300/model.keras \
  edge_runtime/models/unet_int8_480x640_u8io.tflite edge_runtime/models/autoencoder_int8_480x640_u8io.tflite \
  --precision int8 --threads 2 --size 480x640 --no-shipped --data "$DATA" --out runs/bench_fastnet2_300_vs_unet
for run in fastnet2_blind_300 fastnet2w40_blind_300; do
  mkdir -p runs/$run/bench && cp runs/bench_fastnet2_300_vs_unet/bench.json runs/$run/bench/
done
# Their int8 files fail the convert gate (0.05 SSIM lost; convert exits 1 and keeps the fp16 files and the report):
for run in fastnet2_blind_300 fastnet2w40_blind_300; do
  $ED convert runs/$run/model.keras --quant int8,fp16 --size 128 --data "$DATA" --name fastnet --out runs/$run/tflite || true
  cp runs/$run/tflite/convert_report.json benchmarks/results/convert_${run}_128.json
done
# Where the loss sits:
$PY experiments/int8_background.py --data "$DATA" runs/fastnet2_blind_300/model.keras
$PY experiments/int8_background.py --data "$DATA" runs/fastnet2w40_blind_300/model.keras
$PY experiments/int8_background.py --data "$DATA" runs/unet/model.keras
$PY experiments/int8_background.py --data "$DATA" runs/fastnet2w40_blind_300/model.keras --calib-noise gaussian:0.1 \
  --out benchmarks/results/int8_background_fastnet2w40_blind_300_gausscalib.json

# Making the blind fastnet survive int8 (on 2 CPU cores, fine-tuning the GPU run on 64x64 crops):
# 1. a background margin: the output reaches the loss unfloored and the black background pays until it is
#    0.03 below zero, so int8 rounding in the body cannot lift it into grey (10 epochs, about 2.5 min each);
$ED train --model fastnet --width 40 --scale 2 --blocks 4 "${BLIND[@]}" --lr 2e-4 --epochs 10 --batch-size 32 \
  --init-from runs/fastnet2w40_blind_300/model.keras --background-margin 0.03 "${COMMON[@]}" --out runs/fastnet2w40_margin03
# 2. then quantization-aware: every tensor the int8 file holds is rounded to 256 levels in training (8 epochs);
$ED train --model fastnet --width 40 --scale 2 --blocks 4 "${BLIND[@]}" --lr 1e-4 --epochs 8 --batch-size 32 \
  --init-from runs/fastnet2w40_margin03/model.keras --background-margin 0.03 --quant-aware "${COMMON[@]}" \
  --out runs/fastnet2w40_margin03_qat
# 3. and again with validation scored with the rounding on, so the epoch kept is the best in int8 (6 epochs).
$ED train --model fastnet --width 40 --scale 2 --blocks 4 "${BLIND[@]}" --lr 5e-5 --epochs 6 --batch-size 32 \
  --init-from runs/fastnet2w40_margin03_qat/model.keras --background-margin 0.03 --quant-aware "${COMMON[@]}" \
  --out runs/fastnet2w40_margin03_qat2
for run in fastnet2w40_margin03 fastnet2w40_margin03_qat; do
  $PY experiments/int8_background.py --data "$DATA" runs/$run/model.keras
done
$PY experiments/int8_layers.py --data "$DATA" runs/fastnet2w40_margin03_qat/model.keras  # which tensors' rounding costs what
for run in fastnet2w40_margin03 fastnet2w40_margin03_qat fastnet2w40_margin03_qat2; do  # margin03 with fp16 too
  $ED convert runs/$run/model.keras --quant int8 --size 128 --data "$DATA" --name fastnet --out runs/$run/tflite || true
  cp runs/$run/tflite/convert_report.json benchmarks/results/convert_${run}_128.json
done
# (convert_fastnet2w40_margin03_qat_128_calibrated.json is the same convert before it exported the FakeQuant
#  ranges, i.e. calibrated anew: 0.0177 lost; _gausscalib.json adds --calib-noise gaussian:0.1: 0.0199 lost.)
# 4. tuned ranges (convert --tune-ranges: each FakeQuant range scaled where simulated-int8 SSIM on 64 validation
#    images goes up; the output's range set to [0, 1]): 0.0106 -> 0.0073 at 128, shipped; at 480x640 it still
#    fails: 0.0171. (Before the output's range was set, tuning narrowed it to [-0.48, 0.83] at 480x640, which
#    clipped bright pixels: 0.0145 then, and 0.0193 with ranges tuned on 128x128 images, ..._480x640_tuned128.json.)
tuned_int8() {  # RUN: int8 with tuned ranges at 128 and at 480x640 (uint8 I/O), each convert report kept
  $ED convert runs/$1/model.keras --quant int8 --size 128 --data "$DATA" --name fastnet \
    --tune-ranges 64 --out runs/$1/tflite_tuned_pinned
  cp runs/$1/tflite_tuned_pinned/convert_report.json benchmarks/results/convert_$1_128_tuned.json
  $ED convert runs/$1/model.keras --quant int8 --io uint8 --size 480x640 --gate-count 32 \
    --calib-count 100 --data "$DATA" --name fastnet --tune-ranges 64 --out runs/$1/tflite_vga_pinned || true
  cp runs/$1/tflite_vga_pinned/convert_report.json benchmarks/results/convert_$1_480x640_tuned.json
}
tuned_int8 fastnet2w40_margin03_qat2
# 5. quantization-aware fine-tuning at the VGA frames' scale (stopped after 2 of 4 epochs: validation at 640 takes
#    most of each epoch here; the first epoch's model is kept), then int8 at 480x640 with ranges tuned on VGA crops (0.0194 lost):
$ED train --model fastnet --width 40 --scale 2 --blocks 4 "${BLIND[@]}" --lr 5e-5 --epochs 4 --batch-size 32 \
  --init-from runs/fastnet2w40_margin03_qat2/model.keras --background-margin 0.03 --quant-aware \
  --data "$DATA" --size 640 --crop 64 --overwrite --out runs/fastnet2w40_margin03_qat_vga
$ED convert runs/fastnet2w40_margin03_qat_vga/model.keras --quant int8 --io uint8 --size 480x640 --gate-count 32 \
  --calib-count 100 --data "$DATA" --name fastnet --tune-ranges 64 --out runs/fastnet2w40_margin03_qat_vga/tflite_pinned || true
cp runs/fastnet2w40_margin03_qat_vga/tflite_pinned/convert_report.json benchmarks/results/convert_fastnet2w40_margin03_qat_vga_480x640.json

# 6. a switching median in front of the network (--impulse-reject: black or white values more than 0.5 from their
#    3x3 median are replaced by it before the network sees them). It has no weights, so it fine-tunes qat2 as is.
#    The threshold, 0.5, is the lowest that cost no suite row more than 0.0001 on the validation split (qat2 unchanged):
$PY experiments/impulse_stage.py runs/fastnet2w40_margin03_qat2/model.keras --data "$DATA" --thresholds 0.2,0.3,0.4,0.5,0.6
$ED train --model fastnet --width 40 --scale 2 --blocks 4 "${BLIND[@]}" --lr 5e-5 --epochs 6 --batch-size 32 \
  --init-from runs/fastnet2w40_margin03_qat2/model.keras --background-margin 0.03 --quant-aware --impulse-reject \
  "${COMMON[@]}" --out runs/fastnet2w40_margin03_qat2_ir
tuned_int8 fastnet2w40_margin03_qat2_ir  # 0.0086 lost at 128 (shipped), 0.0179 at 480x640
# its VGA latency beside qat2's and the U-Net's, one bench run (the table's VGA int8 cells of both)
$ED bench runs/fastnet2w40_margin03_qat2/model.keras runs/fastnet2w40_margin03_qat2_ir/model.keras \
  edge_runtime/models/unet_int8_480x640_u8io.tflite --precision int8,dynamic --threads 2 --size 480x640 --no-shipped \
  --repeat 3 --data "$DATA" --out runs/bench_impulse_vga  # three passes: the machine was busy; quote the least disturbed
mkdir -p benchmarks/results/bench_impulse_vga && cp runs/bench_impulse_vga/{bench.json,bench.md,latency_vs_ssim.png} benchmarks/results/bench_impulse_vga/
# and what the stage costs the camera's file, timed in turns against the file before it (from git) and the U-Net's
git show 70b7ba0:edge_runtime/models/fastnet_dynamic_480x640.tflite > runs/fastnet_dynamic_480x640_before_ir.tflite
$PY benchmarks/paired_latency.py runs/fastnet_dynamic_480x640_before_ir.tflite edge_runtime/models/fastnet_dynamic_480x640.tflite \
  edge_runtime/models/unet_int8_480x640_u8io.tflite --rounds 40 --out benchmarks/results/paired_latency_impulse_vga.json

# 7. The run folders above were lost with the checkout that held them (runs/ is not kept in git), so the shipped
#    model's Keras file was rebuilt from its shipped files as of b4b27e2: weights from the fp16 file, each FakeQuant's
#    range from the tuned int8 file. Its float suite is the run's (ablation.json) within 0.00001 SSIM on every row.
#    It now ships as train/pretrained/fastnet (convert it at a camera's own size).
for f in fastnet_fp16_128x128 fastnet_int8_128x128; do
  for ext in tflite json; do git show b4b27e2:edge_runtime/models/$f.$ext > runs/$f.b4b27e2.$ext; done
done
$PY scripts/release/recover_keras.py runs/fastnet_fp16_128x128.b4b27e2.tflite --ranges runs/fastnet_int8_128x128.b4b27e2.tflite \
  --out train/pretrained/fastnet
$ED eval train/pretrained/fastnet/model.keras --data "$DATA" --split test --size 128 --suite --no-baselines --out runs/recovered_eval_suite
mkdir -p benchmarks/results/eval_suite_fastnet_recovered_float_128
cp runs/recovered_eval_suite/eval.{json,md} benchmarks/results/eval_suite_fastnet_recovered_float_128/
#    (eval_stage_b4b27e2.json there is the same command run on the same file with the stage's code of b4b27e2, in a
#    checkout of that commit: every row within 0.0000002 of today's stage)
#    The impulse stage without its slow ops: MIRROR_PAD (no XNNPACK kernel) became slices and concatenations, the
#    comparisons and SELECT_V2 an arithmetic mask, exact on 8-bit frames, with its int8 ranges pinned. Alone at VGA:
$PY experiments/impulse_stage_latency.py --out benchmarks/results/impulse_stage_latency.json
#    The four fastnet files re-converted from it (scripts/release/train_release.sh step 3), then in one bench run beside the
#    U-Net (int8 and dynamic at VGA), and the camera's file timed in turns against the one before (b4b27e2):
$ED bench train/pretrained/fastnet/model.keras edge_runtime/models/unet_int8_480x640_u8io.tflite --precision int8,dynamic \
  --threads 2 --size 480x640 --no-shipped --repeat 3 --data "$DATA" --out runs/bench_stage_vga
mkdir -p benchmarks/results/bench_stage_vga && cp runs/bench_stage_vga/{bench.json,bench.md,latency_vs_ssim.png} benchmarks/results/bench_stage_vga/
for f in fastnet_dynamic_480x640 fastnet_fp16_480x640; do
  git show b4b27e2:edge_runtime/models/$f.tflite > runs/${f}_b4b27e2.tflite
done
$PY benchmarks/paired_latency.py runs/fastnet_dynamic_480x640_b4b27e2.tflite edge_runtime/models/fastnet_dynamic_480x640.tflite \
  runs/fastnet_fp16_480x640_b4b27e2.tflite edge_runtime/models/fastnet_fp16_480x640.tflite \
  edge_runtime/models/unet_int8_480x640_u8io.tflite --rounds 40 --out benchmarks/results/paired_latency_stage_vga.json
#    int8 at 480x640 with the exact stage still fails the gate (0.0166 lost, from 0.0179):
$ED convert train/pretrained/fastnet/model.keras --quant int8 --io uint8 --size 480x640 --gate-count 32 --calib-count 100 \
  --data "$DATA" --name fastnet --tune-ranges 64 --out runs/recovered_vga_int8 || true
cp runs/recovered_vga_int8/convert_report.json benchmarks/results/convert_fastnet_recovered_480x640_tuned.json
#    where int8 loses at that scale, simulated group by group in Keras (640x640, 16 test images):
$PY experiments/int8_layers.py --data "$DATA" train/pretrained/fastnet/model.keras --size 640 --count 16 \
  --out benchmarks/results/int8_layers_fastnet_recovered_640.json
#    Cross-layer equalization of that stream (float-exact; not in convert): simulated at 640 0.0148 -> 0.0117, but the
#    tuned int8 files gain little: 0.0166 -> 0.0156 lost at 480x640 (still failing), 0.0076 -> 0.0072 at 128 (not shipped).
$PY experiments/stream_equalization.py --data "$DATA" train/pretrained/fastnet/model.keras --size 640 --save runs/fastnet_equalized \
  --out benchmarks/results/stream_equalization_640.json
$ED convert runs/fastnet_equalized/model.keras --quant int8 --size 128 --tune-ranges 64 --data "$DATA" --name fastnet \
  --out runs/fastnet_equalized/tflite128
cp runs/fastnet_equalized/tflite128/convert_report.json benchmarks/results/convert_fastnet_equalized_128_tuned.json
$ED convert runs/fastnet_equalized/model.keras --quant int8 --io uint8 --size 480x640 --gate-count 32 --calib-count 100 \
  --data "$DATA" --name fastnet --tune-ranges 64 --out runs/fastnet_equalized/tflite_vga || true
cp runs/fastnet_equalized/tflite_vga/convert_report.json benchmarks/results/convert_fastnet_equalized_480x640_tuned.json
#    Quantization-aware fine-tuning at the camera's scale (480 images, 96 crops; validation simulates int8 at 480):
#    val SSIM fell after the first epoch (0.9565, 0.9546, 0.9535), so it was stopped in the fourth and epoch 1 kept.
#    Its float SSIM at 480x640 rose (0.9642 -> 0.9675) but its int8 file did not (0.9481): 0.0194 lost, failing.
$ED train --model fastnet --width 40 --scale 2 --blocks 4 --impulse-reject --quant-aware --background-margin 0.03 \
  --init-from train/pretrained/fastnet/model.keras --lr 5e-5 --noise blind --augment all --schedule cosine --batch-size 32 \
  --data "$DATA" --size 480 --crop 96 --epochs 5 --out runs/fastnet_qat480 --overwrite  # stopped (SIGTERM) in epoch 4
$ED convert runs/fastnet_qat480/model.keras --quant int8 --io uint8 --size 480x640 --gate-count 32 --calib-count 100 \
  --data "$DATA" --name fastnet --tune-ranges 64 --out runs/fastnet_qat480/tflite_vga || true
cp runs/fastnet_qat480/tflite_vga/convert_report.json benchmarks/results/convert_fastnet_qat480_480x640_tuned.json
#    The residual stream kept in float inside the int8 file (selective quantization), gated and timed in turns:
#    all int8 0.0166 lost, 48.0 ms; block adds float 0.0221, 54.3 ms; adds and second convs 0.0216, 118.7 ms; adds
#    float with the tuned FakeQuant only on the conv inputs 0.0148, 53.7 ms; the shipped dynamic file 0.0053, 66.8 ms.
$PY experiments/int8_float_stream.py --data "$DATA" fastnet --size 480x640 \
  --ranges benchmarks/results/convert_fastnet_recovered_480x640_tuned.json --reference edge_runtime/models/fastnet_dynamic_480x640.tflite \
  --out benchmarks/results/int8_float_stream_480x640.json

# 8. is the shipped model on a plateau? 20 more quantization-aware epochs of it, at its rate and at 4x it
#    (float suite mean 0.9620 -> 0.9621 both times; 2e-4 traded Gaussian 0.2 for the rest):
for lr in 5e-5 2e-4; do
  $ED train --model fastnet --width 40 --scale 2 --blocks 4 "${BLIND[@]}" --lr $lr --epochs 20 --batch-size 32 \
    --init-from train/pretrained/fastnet/model.keras --background-margin 0.03 --quant-aware --impulse-reject \
    "${COMMON[@]}" --out runs/fastnet_continued_lr$lr
  $ED eval runs/fastnet_continued_lr$lr/model.keras --data "$DATA" --split test --size 128 --suite --no-baselines \
    --out runs/fastnet_continued_lr$lr/eval_suite
  mkdir -p benchmarks/results/fastnet_continued_cpu/lr$lr
  cp runs/fastnet_continued_lr$lr/{config.json,history.csv} runs/fastnet_continued_lr$lr/eval_suite/{eval.json,eval.md} \
    benchmarks/results/fastnet_continued_cpu/lr$lr/
done
# Round 3 for the next lent GPU machine (not run yet): the shipped recipe from scratch over its whole 300-epoch
# schedule with the impulse stage built in, beside a deeper, narrower fastnet of the same cost; then --quant-aware
# fine-tuning as in steps 3-6 (tests/test_backends.py fine-tunes the shipped model on JAX):
#   KERAS_BACKEND=jax python3 scripts/release/blind_gpu.py --data DATA --out runs --minutes 8 --epochs 300 \
#     --variants fastnet2w40_ir_margin_300,fastnet2w32b6_ir_margin_300

GPU_RUNS="unet_u2w24_blind unet_u2w32_blind fastnet2_blind_long unet_blind_scratch fastnet2_blind_300 fastnet2w40_blind_300
  fastnet4w64_blind_300 unet_blind_scratch_150 fastnet2w40_margin03 fastnet2w40_margin03_qat fastnet2w40_margin03_qat2
  fastnet2w40_margin03_qat2_ir"
for run in unet autoencoder autoencoder_blind unet_blind fastnet_blind_relucap fastnet_blind_scratch fastnet2_blind $GPU_RUNS; do
  base=(--no-baselines); [[ $run == unet ]] && base=()
  $ED eval runs/$run/model.keras --data "$DATA" --split test --size 128 --suite "${base[@]}" --out runs/$run/eval_suite
done
# the two last fastnets' VGA int8 latency: their rows in the bench run of step 6
for run in fastnet2w40_margin03_qat2 fastnet2w40_margin03_qat2_ir; do
  mkdir -p runs/$run/bench && cp runs/bench_impulse_vga/bench.json runs/$run/bench/
done
$PY scripts/release/ablation_table.py --run "autoencoder (seed, gaussian 0.1)=runs/autoencoder" \
  --run "unet (gaussian 0.1)=runs/unet" --run "autoencoder_blind (+ blind, aug, cosine)=runs/autoencoder_blind" \
  --run "unet_blind (+ blind, aug, cosine)=runs/unet_blind" --run "fastnet_blind_relucap=runs/fastnet_blind_relucap" \
  --run "fastnet_blind_scratch=runs/fastnet_blind_scratch" --run "fastnet2_blind (scale 2, width 32)=runs/fastnet2_blind" \
  --run "GPU: unet_u2w24_blind (U-Net at half res, w24, 100 ep)=runs/unet_u2w24_blind" \
  --run "GPU: unet_u2w32_blind (U-Net at half res, w32, 100 ep)=runs/unet_u2w32_blind" \
  --run "GPU: fastnet4w64_blind_300 (scale 4, w64, 192 ep)=runs/fastnet4w64_blind_300" \
  --run "GPU: fastnet2_blind_long (scale 2, w32, 100 ep)=runs/fastnet2_blind_long" \
  --run "GPU: fastnet2_blind_300 (scale 2, w32, 192 ep)=runs/fastnet2_blind_300" \
  --run "GPU: fastnet2w40_blind_300 (scale 2, w40, 192 ep)=runs/fastnet2w40_blind_300" \
  --run "GPU: unet_blind_scratch (U-Net, 100 ep)=runs/unet_blind_scratch" \
  --run "GPU: unet_blind_scratch_150 (U-Net, 150 ep)=runs/unet_blind_scratch_150" \
  --run "fastnet2w40_margin03 (+ background margin 0.03, 10 ep on CPU)=runs/fastnet2w40_margin03" \
  --run "fastnet2w40_margin03_qat (+ quantization-aware, 8 ep)=runs/fastnet2w40_margin03_qat" \
  --run "fastnet2w40_margin03_qat2 (+ 6 ep, validated in int8)=runs/fastnet2w40_margin03_qat2" \
  --run "fastnet2w40_margin03_qat2_ir (+ impulse reject, 6 ep; shipped as fastnet)=runs/fastnet2w40_margin03_qat2_ir" \
  --bench benchmarks/results/bench_vga_t2/bench.json --out benchmarks/results/ablation
