#!/usr/bin/env bash
# Write each fuzz target's seed corpus into fuzz/seeds/TARGET/ from the project's test data, the
# shared real-world corpus (../../shared/corpus/real-world, required) and Debian's plugins
# (/usr/lib/cni, from containernetworking-plugins, for the static probe). The campaign corpora
# grow in fuzz/corpus/TARGET/ from these.
set -euo pipefail
cd "$(dirname "$0")"
repo=..
shared=../../shared/corpus/real-world
if [ ! -f "$shared/INDEX.md" ]; then
  echo "error: the real-world corpus is missing at $shared; the seeds need it" >&2
  exit 1
fi
rm -rf seeds
for t in json conflist containerd_config static_probe edit kubelet workloads collection; do
  mkdir -p "seeds/$t"
done

n=0
# Network configs: as they are for the JSON reader; behind the knob bytes for the others.
while IFS= read -r -d '' f; do
  n=$((n + 1))
  cp "$f" "seeds/json/$n"
  for knob in '\x06\x00' '\x87\x11' '\x01\x01' '\xc3\x02'; do
    { printf "$knob"; cat "$f"; } >"seeds/conflist/$n-${knob//\\x/}"
  done
  for knob in '\x03' '\x85' '\x00'; do
    { printf "$knob"; cat "$f"; } >"seeds/edit/$n-${knob//\\x/}"
  done
done < <(find "$repo/testdata/scenarios" "$repo/testdata/example-node" "$shared" -type f \
  \( -path '*/net.d/*' -o -path "$shared/*" \) ! -name INDEX.md ! -name README.md -print0)

# containerd configs.
while IFS= read -r -d '' f; do
  n=$((n + 1))
  for knob in '\x01' '\x02' '\x83'; do
    { printf "$knob"; cat "$f"; } >"seeds/containerd_config/$n-${knob//\\x/}"
  done
done < <(find "$repo/testdata" -name config.toml -type f -print0)
containerd config default 2>/dev/null >"seeds/containerd_config/default.toml.raw" &&
  { printf '\x02'; cat seeds/containerd_config/default.toml.raw; } >seeds/containerd_config/default &&
  rm seeds/containerd_config/default.toml.raw || true

# The kubelet's files of each scenario node that has them, cut by the separator.
sep=$'\n--8<--\n'
for node in "$repo"/testdata/scenarios/*/node "$repo/testdata/example-node"; do
  parts=(lib/systemd/system/kubelet.service etc/systemd/system/kubelet.service.d/10-kubeadm.conf
    var/lib/kubelet/kubeadm-flags.env etc/default/kubelet var/lib/kubelet/config.yaml
    etc/docker/daemon.json)
  [ -e "$node/var/lib/kubelet" ] || [ -e "$node/etc/systemd/system/kubelet.service.d" ] || continue
  out="seeds/kubelet/$(basename "$(dirname "$node")")"
  printf '\x97' >"$out"
  first=1
  for p in "${parts[@]}"; do
    [ $first = 1 ] || printf '%s' "$sep" >>"$out"
    first=0
    [ -f "$node/$p" ] && cat "$node/$p" >>"$out"
  done
done

# Workload manifests.
while IFS= read -r -d '' f; do
  n=$((n + 1))
  cp "$f" "seeds/workloads/$n"
done < <(find "$repo/testdata/workloads" -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) -print0)

# Collections of a few scenario nodes, as the tar inside the gzip.
cli="$repo/target/debug/cni-fix"
[ -x "$cli" ] || (cd "$repo" && cargo build --quiet -p cni-fix-cli)
for s in clean kubeadm-dockershim flannel-no-version single-conf; do
  "$cli" collect --root "$repo/testdata/scenarios/$s/node" --containerd-version 1.6.3 \
    --output - 2>/dev/null | gzip -dc >"seeds/collection/$s.tar"
done
"$cli" collect --root "$repo/testdata/example-node" --probe exec --containerd-version 1.6.3 \
  --output - 2>/dev/null | gzip -dc >seeds/collection/example.tar

# Plugin binaries: Debian's smallest plugins, and the same reduced to the sections the probe
# reads (a few hundred KiB, which mutate faster).
for p in loopback bandwidth; do
  if [ ! -f "/usr/lib/cni/$p" ]; then
    echo "error: /usr/lib/cni/$p is missing; install containernetworking-plugins" >&2
    exit 1
  fi
  objcopy -j .go.buildinfo -j .gopclntab -j .shstrtab "/usr/lib/cni/$p" "seeds/static_probe/$p.small" 2>/dev/null
done
cp /usr/lib/cni/loopback seeds/static_probe/loopback

for t in seeds/*; do
  printf '%-20s %4d files\n' "${t#seeds/}" "$(find "$t" -type f | wc -l)"
done
