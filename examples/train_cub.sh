#!/usr/bin/env bash
# VGG16 + TAP on CUB-200-2011 with the protocol of Choe et al. (CVPR 2020), then the four
# localisation variants of Bae et al. (ECCV 2020) on the test split.
#
# Layout expected (nothing is downloaded):
#   $DATA/CUB/<image ids of metadata/CUB/*/image_ids.txt>     the CUB images
#   $DATA/metadata/CUB/{train,val,test}/*.txt                 the protocol's metadata
#   $WEIGHTS                                                  torchvision vgg16 ImageNet weights (.pth)
#
# Usage: DATA=/data/wsol WEIGHTS=/models/vgg16-397923af.pth GPUS=4 bash examples/train_cub.sh
set -euo pipefail
DATA=${DATA:?set DATA to the folder holding CUB/ and metadata/}
WEIGHTS=${WEIGHTS:?set WEIGHTS to a local vgg16 ImageNet checkpoint}
GPUS=${GPUS:-1}
OUT=${OUT:-runs/cub_vgg16_tap}

# Batch size is per process: 32 in total as in the protocol when GPUS divides it.
torchrun --standalone --nproc_per_node="$GPUS" -m wsolx train \
  --data-root "$DATA" --dataset CUB \
  --arch vgg16 --method cam --pooling tap --tap-theta 0.1 --weights "$WEIGHTS" \
  --batch-size $((32 / GPUS)) --workers 8 --amp --channels-last \
  --eval-every 5 --out "$OUT"
# Learning rate, weight decay, epochs and the step schedule come from wsolx.models.DEFAULTS
# (protocol CAM values); the paper's released VGG16/CUB setting instead:
#   ... --set optim.profile=paper

# All four variants (CAM, +NWC, +PaS, +NWC+PaS) of the checkpoint chosen on the val split:
torchrun --standalone --nproc_per_node="$GPUS" -m wsolx eval "$OUT/best.pt" --split test --out "$OUT/test_all.json"
