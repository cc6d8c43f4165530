#!/usr/bin/env bash
# Runs one libFuzzer harness for SECONDS on a working copy of its seed corpus (the seeds in the
# repository stay as they are; new inputs go to the copy) and prints how many inputs it ran.
# Fails when the harness finds a crash, a leak or undefined behaviour.
#   run.sh HARNESS SEEDS WORKDIR SECONDS
set -euo pipefail
harness=$1 seeds=$2 work=$3 secs=$4
mkdir -p "$work"
cp -n "$seeds"/* "$work"/ 2>/dev/null || true
log=$(mktemp)
status=0
"$harness" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work-" "$work" >"$log" 2>&1 || status=$?
runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
echo "$(basename "$harness"): $runs executions in ${secs}s, exit $status"
if [ "$status" -ne 0 ]; then tail -60 "$log"; fi
rm -f "$log"
exit "$status"
