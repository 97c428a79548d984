#!/usr/bin/env bash
# How the shipped models in edge_runtime/models/ were made, start to finish.
# Reads the full dataset from ../shared/data/pistachio (or DATA=...). Takes ~1.5 h on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/pistachio}
ED=${ED:-.venv/bin/edge-denoise}

# 1. Train: the seed's autoencoder and the U-Net, on random 64x64 crops of 128x128 images, gaussian:0.1.
$ED train --model autoencoder --width 32 --crop 64 --epochs 20 --data "$DATA" --out runs/autoencoder --overwrite
$ED train --model unet --width 24 --depth 3 --crop 64 --epochs 30 --data "$DATA" --out runs/unet --overwrite

# 2. Evaluate on the test split at 128x128 against the classical filters, and under the public notebooks' protocol (100x100).
for m in autoencoder unet; do
  $ED eval runs/$m/model.keras --data "$DATA" --split test --size 128 --noise gaussian:0.1 --out benchmarks/results/eval_${m}_128
  $ED eval runs/$m/model.keras --data "$DATA" --split test --size 100 --noise gaussian:0.1 --no-baselines --out benchmarks/results/eval_${m}_100
done

# 3. Convert and gate: int8 and fp16 at 128x128 and 480x640 (VGA), shipped inside the package.
for m in autoencoder unet; do
  $ED convert runs/$m/model.keras --quant int8,fp16 --size 128 --size 480x640 --data "$DATA" --name $m --out edge_runtime/models
done
$ED models
