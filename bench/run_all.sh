#!/usr/bin/env bash
# Every benchmark in turn (never two trainings at once), output under bench/output/.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/output
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false DATA_DIR=${DATA_DIR:-$(mktemp -d)}
DATA=${1:-../shared/data/sst2}
py=.venv/bin/python
$py bench/bench_import.py            > bench/output/import.txt 2>&1
$py bench/bench_review.py            > bench/output/review.txt 2>&1
$py bench/bench_latency.py           > bench/output/latency.txt 2>&1
$py bench/bench_presets.py --data "$DATA" --seeds 3 2>/dev/null | grep -v "^{" > bench/output/presets.txt
$py bench/bench_suspects.py --data "$DATA" 2>/dev/null | grep -v "^{" > bench/output/suspects.txt
$py bench/bench_active.py --data "$DATA" --seeds 3 2>/dev/null | grep -v "^{" > bench/output/active.txt
$py bench/bench_active.py --data "$DATA" --seeds 3 --positive-share 0.1 2>/dev/null | grep -v "^{" > bench/output/active_rare.txt
