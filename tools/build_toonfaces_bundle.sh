#!/usr/bin/env bash
# Assemble a toonfaces bundle from a GAN training run, as the default bundle is built:
#   1. the run's EMA generator with its provenance   (editgan bundle create --run)
#   2. an encoder: fine-tuned from ENCODER_INIT (same resolution) or trained from scratch
#   3. a segmenter from 16 annotated renders (train faces 900,000..900,015, embedded into W+ and
#      pivotally tuned, so the features it learns from line up with the masks)
#   4. a display segmenter distilled from it          (editgan bundle distill-segmenter)
#   5. the domain's six default editing vectors       (editgan bundle learn-vectors, each on a tuned face)
# Each step is a plain `editgan` command; a step whose output is already in OUT is skipped, so an
# interrupted build continues where it stopped (the encoder run resumes from its checkpoint).
#
#   tools/build_toonfaces_bundle.sh RUN OUT [ENCODER_INIT]
#   ENCODER_MINUTES=50 ENCODER_STEPS=100000 EMBED_STEPS=300 TUNE_STEPS=300 SEGMENTER_STEPS=3000 THREADS=2 \
#     tools/build_toonfaces_bundle.sh ...     (the defaults; the 128-px default bundle was built with
#     THREADS=1 ENCODER_MINUTES=55 beside a training run, 74 min; DISTILL_STEPS and EDIT_STEPS default
#     to the commands' own, WORK to outputs/build-<name of OUT>)
#
# Afterwards, measure it (each writes bench/results/ and prints its table):
#   python bench/segmentation_quality.py --bundle OUT      python bench/embedding.py --bundle OUT
#   python bench/editing.py --bundle OUT                   editgan bench quality --bundle OUT
#   python bench/segmenter_distillation.py --bundle OUT
set -euo pipefail
if [ $# -lt 2 ]; then
  sed -n '2,20p' "$0"
  exit 2
fi
RUN=$1 OUT=$2 INIT=${3:-}
WORK=${WORK:-outputs/build-$(basename "$OUT")}
THREADS=${THREADS:-2}
EDITGAN=${EDITGAN:-editgan}

[ -f "$OUT/generator.json" ] || $EDITGAN bundle create --run "$RUN" --domain toonfaces --out "$OUT"
SIZE=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['config']['resolution'])" "$OUT/generator.json")

if [ ! -f "$OUT/encoder.json" ]; then
  $EDITGAN train encoder --bundle "$OUT" --out "$WORK/encoder" ${INIT:+--init "$INIT"} \
    --steps "${ENCODER_STEPS:-100000}" --lr 1e-4 --max-minutes "${ENCODER_MINUTES:-50}" \
    --threads "$THREADS" --quiet --install
fi

if [ ! -f "$OUT/segmenter.json" ]; then
  [ -d "$WORK/annotations/images" ] || $EDITGAN data toonfaces --n 16 --size "$SIZE" --start 900000 \
    --out "$WORK/annotations"
  $EDITGAN train segmenter --bundle "$OUT" --images "$WORK/annotations/images" \
    --masks "$WORK/annotations/labels" --embed-steps "${EMBED_STEPS:-300}" --tune-steps "${TUNE_STEPS:-300}" \
    --batch-pixels 1024 \
    --max-steps "${SEGMENTER_STEPS:-3000}" --class-balance 0.5 --threads "$THREADS"
fi

[ -f "$OUT/display_segmenter.json" ] || $EDITGAN bundle distill-segmenter --bundle "$OUT" \
  ${DISTILL_STEPS:+--max-steps "$DISTILL_STEPS"} --threads "$THREADS"
[ -d "$OUT/vectors" ] || $EDITGAN bundle learn-vectors --bundle "$OUT" --embed-steps "${EMBED_STEPS:-300}" \
  --tune-steps "${TUNE_STEPS:-300}" \
  ${EDIT_STEPS:+--edit-steps "$EDIT_STEPS"}
$EDITGAN bundle show --bundle "$OUT"
