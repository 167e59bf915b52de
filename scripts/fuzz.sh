#!/usr/bin/env bash
# Run the fuzz targets in fuzz/ (cargo-fuzz, libFuzzer, nightly toolchain). See FUZZING.md.
#
#   scripts/fuzz.sh smoke [SECONDS]       every target for SECONDS (30), one after another
#   scripts/fuzz.sh run TARGET SECONDS    one target's campaign, its corpus kept in fuzz/corpus
#   scripts/fuzz.sh list                  the targets
#
# Every run: no input may take over 1 s (-timeout=1) or 2 GB (-rss_limit_mb=2048); a crash,
# timeout or out-of-memory stops the run, leaves the input in fuzz/artifacts/TARGET/ and fails.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

targets=(json conflist containerd_config static_probe edit kubelet workloads collection)
dict_of() {
  case "$1" in
    json | conflist | edit) echo dict/json.dict ;;
    containerd_config) echo dict/toml.dict ;;
    static_probe) echo dict/elf.dict ;;
    kubelet) echo dict/kubelet.dict ;;
    workloads) echo dict/yaml.dict ;;
    collection) echo dict/tar.dict ;;
  esac
}

nightly() {
  if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: no nightly toolchain (cargo +nightly); the fuzz targets were not run" >&2
    return 1
  fi
  if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install --locked --quiet cargo-fuzz
  fi
}

run() {
  local target=$1 seconds=$2
  mkdir -p "corpus/$target" "artifacts/$target"
  # Debug assertions on (overflow checks); no sanitizer: the code it fuzzes has no unsafe.
  cargo +nightly fuzz run --sanitizer none --debug-assertions "$target" \
    "corpus/$target" "seeds/$target" -- \
    -dict="$(dict_of "$target")" -timeout=1 -rss_limit_mb=2048 -max_len=1048576 \
    -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="artifacts/$target/"
}

case "${1:-}" in
  list) printf '%s\n' "${targets[@]}" ;;
  smoke)
    seconds=${2:-30}
    nightly || exit 0
    [ -d seeds/json ] || ./seed.sh
    cargo +nightly fuzz build --sanitizer none --debug-assertions
    for t in "${targets[@]}"; do
      echo "fuzz: $t for ${seconds}s"
      run "$t" "$seconds" 2>&1 | grep -E '^(stat::number|stat::average|#[0-9]+[[:space:]]+DONE|==|SUMMARY|artifact_prefix|Test unit)' || true
      if [ -n "$(ls -A "artifacts/$t" 2>/dev/null)" ]; then
        echo "fuzz: $t found a failing input: $(ls "artifacts/$t")" >&2
        exit 1
      fi
    done
    ;;
  run)
    [ $# -eq 3 ] || { echo "usage: scripts/fuzz.sh run TARGET SECONDS" >&2; exit 2; }
    nightly
    [ -d seeds/json ] || ./seed.sh
    run "$2" "$3"
    ;;
  *)
    echo "usage: scripts/fuzz.sh smoke [SECONDS] | run TARGET SECONDS | list" >&2
    exit 2
    ;;
esac
