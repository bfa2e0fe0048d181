#!/usr/bin/env bash
# Benchmarks the source mirror against the tools a user would otherwise run,
# side by side in one run on the same files:
#
#   verify: `mirrorbench verify` (mirror.Verify) vs `sha256sum -c`, vs
#           `openssl dgst -sha256` over all files in one process, and vs
#           the same openssl spread over all CPUs with xargs -P;
#   serve:  mirror.Listen/Serve vs nginx (sendfile on) on loopback, both
#           loaded by the same client (mirrorbench fetch: every file PASSES
#           times over CONC keep-alive connections) and by curl (all files in
#           one curl process, one connection).
#
# Files are in the page cache for every round (a warm-up read first), so
# the figures compare hashing and serving, not the disk. Each measurement is
# repeated ROUNDS times, interleaved; min and median are printed.
#
# Environment: SIZE_MIB (default 2048), ROUNDS (5), PASSES (2), CONC (4),
# KEEP=1 keeps the work directory. Needs: go, sha256sum, openssl, curl, nginx
# (Debian packages coreutils, openssl, curl, nginx). Run from the repository:
#   bench/mirror.sh
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-2048}
ROUNDS=${ROUNDS:-5}
PASSES=${PASSES:-2}
CONC=${CONC:-4}
repo=$(cd "$(dirname "$0")/.." && pwd)

for tool in go sha256sum openssl curl nginx python3; do
	command -v "$tool" >/dev/null || { echo "mirror.sh: $tool not found" >&2; exit 2; }
done

work=$(mktemp -d /tmp/xtbuild-mirror-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "${KEEP:-}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work" # nginx workers run as an unprivileged user

bin=$work/mirrorbench
(cd "$repo" && go build -o "$bin" ./bench/mirrorbench)

# A mirror shaped like a real one: a few large tarballs (kernel, toolchain,
# git2_ mirror tarballs) hold half the bytes, many small ones the rest.
dl=$work/downloads
mir=$work/mirror
mkdir -p "$dl"
large=4
small=64
large_mib=$((SIZE_MIB / 2 / large))
small_kib=$((SIZE_MIB * 1024 / 2 / small))
randbytes() { # deterministic incompressible bytes
	# openssl dies of SIGPIPE when head has enough: not an error here.
	{ openssl enc -aes-128-ctr -nosalt -pass "pass:$1" -pbkdf2 -in /dev/zero 2>/dev/null || true; } | head -c "$2"
}
for i in $(seq 1 $large); do
	randbytes "L$i" $((large_mib << 20)) >"$dl/git2_large-$i.tar.gz"
	: >"$dl/git2_large-$i.tar.gz.done"
done
for i in $(seq 1 $small); do
	randbytes "S$i" $((small_kib << 10)) >"$dl/source-$i.tar.xz"
	: >"$dl/source-$i.tar.xz.done"
done
"$bin" populate "$dl" "$mir" >/dev/null
bytes=$(du -sb --apparent-size "$mir" | cut -f1)
files=( $(cd "$mir" && ls | grep -v SHA256SUMS) )
echo "mirror: ${#files[@]} files, $((bytes >> 20)) MiB; $(nproc) CPUs; ROUNDS=$ROUNDS"
cat "$mir"/* >/dev/null # warm the page cache

results=$work/results
: >"$results"
measure() { # label command...
	local label=$1
	shift
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null
	t1=$(date +%s.%N)
	echo "$label $t0 $t1" >>"$results"
}

ncpu=$(nproc)
for r in $(seq 1 "$ROUNDS"); do
	measure verify-xtbuild "$bin" verify "$mir"
	measure verify-sha256sum sh -c "cd '$mir' && sha256sum --quiet -c SHA256SUMS"
	measure verify-openssl sh -c "cd '$mir' && openssl dgst -sha256 ${files[*]}"
	measure verify-openssl-xargs-P$ncpu sh -c "cd '$mir' && printf '%s\n' ${files[*]} | xargs -P$ncpu -n$(((${#files[@]} + ncpu - 1) / ncpu)) openssl dgst -sha256"
done

# Servers: ours and nginx on loopback, same directory.
port_go=18471
port_ng=18472
"$bin" serve "$mir" 127.0.0.1:$port_go &
pids+=($!)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 256; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000;
	default_type application/octet-stream;
	client_body_temp_path $work/nginx/body;
	proxy_temp_path $work/nginx/proxy;
	fastcgi_temp_path $work/nginx/fastcgi;
	uwsgi_temp_path $work/nginx/uwsgi;
	scgi_temp_path $work/nginx/scgi;
	server {
		listen 127.0.0.1:$port_ng;
		root $mir;
		autoindex off;
	}
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)
for port in $port_go $port_ng; do
	for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/SHA256SUMS" && break; sleep 0.1; done
done

urls_go=$(printf "http://127.0.0.1:$port_go/%s " "${files[@]}")
urls_ng=$(printf "http://127.0.0.1:$port_ng/%s " "${files[@]}")
for r in $(seq 1 "$ROUNDS"); do
	measure serve-xtbuild-goclient "$bin" fetch -c "$CONC" -n "$PASSES" "$mir/SHA256SUMS" "http://127.0.0.1:$port_go/"
	measure serve-nginx-goclient "$bin" fetch -c "$CONC" -n "$PASSES" "$mir/SHA256SUMS" "http://127.0.0.1:$port_ng/"
	measure serve-xtbuild-curl sh -c "curl -sf $(printf -- '-o /dev/null %s ' $urls_go)"
	measure serve-nginx-curl sh -c "curl -sf $(printf -- '-o /dev/null %s ' $urls_ng)"
done

python3 - "$results" "$bytes" "$PASSES" <<'EOF'
import sys, statistics, collections
path, size, passes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t = collections.OrderedDict()
for line in open(path):
    label, a, b = line.split()
    t.setdefault(label, []).append(float(b) - float(a))
def moved(label):
    if label.endswith("goclient"):
        return size * passes
    return size
print(f"{'measure':32} {'min s':>8} {'median s':>9} {'MiB/s (min)':>12}")
for label, xs in t.items():
    print(f"{label:32} {min(xs):8.3f} {statistics.median(xs):9.3f} {moved(label)/min(xs)/2**20:12.0f}")
def ratio(ours, theirs):
    a, b = t[ours], t[theirs]
    # throughput ratio ours/theirs = their time / our time
    print(f"{ours} vs {theirs}: min {min(b)/min(a):.2f}x, median {statistics.median(b)/statistics.median(a):.2f}x")
print()
for other in [k for k in t if k.startswith("verify-") and k != "verify-xtbuild"]:
    ratio("verify-xtbuild", other)
ratio("serve-xtbuild-goclient", "serve-nginx-goclient")
ratio("serve-xtbuild-curl", "serve-nginx-curl")
EOF
