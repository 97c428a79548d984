#!/usr/bin/env bash
# Issue 6 ablation: each idea switched on over the previous row or on its own, every model trained
# on the same data and split, scored on the same fixed noise suite (eval --suite, classical
# baselines in every row), converted to int8 at 480x640 and timed. Not run yet: on 2 CPU cores
# expect about 1 h per U-Net row (40 epochs on 64x64 crops); set EPOCHS=... for a quicker pass.
# Results: runs/ablation/NAME/{config.json,metrics.json,eval_suite/eval.md,tflite/,bench/}.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/pistachio}
ED=${ED:-.venv/bin/edge-denoise}
EPOCHS=${EPOCHS:-40}
OUT=${OUT:-runs/ablation}
COMMON=(--data "$DATA" --size 128 --crop 64 --epochs "$EPOCHS" --overwrite)
BLIND=(--noise blind)

run() {  # run NAME TRAIN-OPTIONS...: train, eval on the suite, convert int8 at 480x640, bench
  local name=$1; shift
  $ED train "${COMMON[@]}" --out "$OUT/$name" "$@"
  $ED eval "$OUT/$name/model.keras" --data "$DATA" --split test --size 128 --suite --out "$OUT/$name/eval_suite"
  $ED convert "$OUT/$name/model.keras" --quant int8 --size 480x640 --data "$DATA" --name "$name" --out "$OUT/$name/tflite"
  $ED bench "$OUT/$name/tflite/${name}_int8_480x640.tflite" --threads 1,2 --size 480x640 --no-shipped --no-references \
    --classical '' --noise blind --data "$DATA" --out "$OUT/$name/bench"
}

# 1. The shipped baseline: U-Net width 24, depth 3, residual, trained on gaussian:0.1 only.
run unet_gauss      --model unet --width 24 --depth 3 --noise gaussian:0.1
# 2. + blind training over the farm-line mixture (edge_runtime/noise.py BLIND).
run unet_blind      --model unet --width 24 --depth 3 "${BLIND[@]}"
# 3. + augmentation: flips, 90-degree turns, lighting (brightness, contrast, colour temperature), JPEG.
run unet_aug        --model unet --width 24 --depth 3 "${BLIND[@]}" --augment all
# 4. residual output off (the rows above and below predict the noise).
run unet_noresid    --model unet --width 24 --depth 3 "${BLIND[@]}" --augment all --no-residual
# 5-7. attention and separable convs, each on its own over row 3.
run unet_se         --model unet --width 24 --depth 3 "${BLIND[@]}" --augment all --attention se
run unet_cbam       --model unet --width 24 --depth 3 "${BLIND[@]}" --augment all --attention cbam
run unet_sep        --model unet --width 24 --depth 3 "${BLIND[@]}" --augment all --separable
# 8-11. losses (row 3 uses mix = SSIM + L1) and the cosine schedule.
run unet_l1         --model unet --width 24 --depth 3 "${BLIND[@]}" --augment all --loss l1
run unet_l2         --model unet --width 24 --depth 3 "${BLIND[@]}" --augment all --loss l2
run unet_mixl2      --model unet --width 24 --depth 3 "${BLIND[@]}" --augment all --loss mix_l2
run unet_cosine     --model unet --width 24 --depth 3 "${BLIND[@]}" --augment all --schedule cosine
# 12-13. the edge-efficient fastnet (21.9k vs 79.3k MACs/pixel) and its separable, wider variant (10.2k).
run fastnet         --model fastnet --width 64 --blocks 4 --scale 4 "${BLIND[@]}" --augment all --schedule cosine
run fastnet_sep96   --model fastnet --width 96 --blocks 4 --scale 4 --separable "${BLIND[@]}" --augment all --schedule cosine
# 14. pretrained encoder: random init here; with a local ImageNet no-top file pass WEIGHTS=path.h5.
run backbone_mnv3   --model backbone_unet --backbone mobilenetv3 --width 16 "${BLIND[@]}" --augment all \
                    ${WEIGHTS:+--weights "$WEIGHTS"}

# The table: one row per run, SSIM / PSNR on every suite noise, MACs, and int8 latency at 480x640.
.venv/bin/python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
rows = []
for run in sorted(Path(sys.argv[1]).iterdir()):
    ev = run / "eval_suite" / "eval.json"
    if not ev.exists():
        continue
    model_rows = [r for r in json.loads(ev.read_text())["rows"] if r["method"] == "model"]
    if not rows:
        print("| run | " + " | ".join(r["noise"] for r in model_rows) + " | mean SSIM |")
        print("|---" * (len(model_rows) + 2) + "|")
    rows.append(run.name)
    mean = sum(r["ssim_mean"] for r in model_rows) / len(model_rows)
    print(f"| {run.name} | " + " | ".join(f"{r['ssim_mean']:.4f}" for r in model_rows) + f" | {mean:.4f} |")
PY
