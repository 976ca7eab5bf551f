#!/usr/bin/env bash
# Swagger UI in a real headless browser: builds openmoney, runs it in sandbox
# mode on a temporary store and a free loopback port, loads /docs/ in
# Debian's chromium (headless, no network beyond loopback), writes a
# screenshot and stops the service.
#
#   scripts/swagger-screenshot.sh [OUT.png]     (default docs/swagger.png)
#
# It also dumps the rendered DOM and fails unless Swagger UI rendered the
# operations (opblock elements, the tag sections and a few known paths), so
# it is a check as well as a picture. Chromium: apt-get install -y chromium.
# The Go test TestSwaggerUIInBrowser (api/, OPENMONEY_BROWSER=1) does the
# same check without the binary.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/docs/swagger.png}
case $out in /*) ;; *) out=$PWD/$out ;; esac

chrome=""
for c in chromium chromium-browser google-chrome; do
	if command -v "$c" >/dev/null 2>&1; then chrome=$c; break; fi
done
if [ -z "$chrome" ]; then
	echo "swagger-screenshot: no chromium on PATH; install it with: apt-get update && apt-get install -y chromium" >&2
	exit 2
fi

work=$(mktemp -d)
pid=""
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "swagger-screenshot: building" >&2
(cd "$root" && go build -o "$work/openmoney" .)

# A free loopback port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null ||
	echo $((20000 + RANDOM % 20000)))

cat >"$work/config.yaml" <<EOF
http:
  listen: "127.0.0.1:$port"
store:
  path: "$work/data/openmoney.db"
ton:
  network: sandbox
pricing:
  ton_usd: 3.6
log:
  format: text
EOF

"$work/openmoney" -config "$work/config.yaml" >"$work/service.log" 2>&1 </dev/null &
pid=$!

base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
	if curl -fsS "$base/api/v1/health" >/dev/null 2>&1; then break; fi
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "swagger-screenshot: the service exited:" >&2
		cat "$work/service.log" >&2
		exit 1
	fi
	sleep 0.1
done
curl -fsS "$base/api/v1/openapi.json" >/dev/null
curl -fsS "$base/docs/" >/dev/null

flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
	--disable-background-networking --disable-component-update --disable-sync
	--disable-dev-shm-usage --hide-scrollbars --window-size=1280,2000 --virtual-time-budget=10000
	"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1") # offline: only loopback resolves

echo "swagger-screenshot: rendering $base/docs/ with $chrome" >&2
"$chrome" "${flags[@]}" --user-data-dir="$(mktemp -d -p "$work")" --dump-dom "$base/docs/" \
	>"$work/dom.html" 2>"$work/chrome-dom.log" || true
mkdir -p "$(dirname "$out")"
"$chrome" "${flags[@]}" --user-data-dir="$(mktemp -d -p "$work")" --screenshot="$out" "$base/docs/" \
	>"$work/chrome.log" 2>&1 || true

fail=0
if [ ! -s "$out" ]; then
	echo "swagger-screenshot: no screenshot was written" >&2
	cat "$work/chrome.log" >&2
	fail=1
fi
ops=$(grep -o 'class="opblock opblock-[a-z]*' "$work/dom.html" | wc -l | tr -d ' ')
for want in 'opblock-tag' '/orders/stars' '/pricing/ton-rate' '/balance/transactions' 'The Open Money partner API'; do
	if ! grep -q -- "$want" "$work/dom.html"; then
		echo "swagger-screenshot: the rendered page lacks $want" >&2
		fail=1
	fi
done
if [ "$ops" -lt 20 ]; then
	echo "swagger-screenshot: only $ops operations rendered" >&2
	fail=1
fi
tags=$(grep -o 'data-tag="[A-Za-z]*"' "$work/dom.html" | sort -u | sed 's/data-tag=//; s/"//g' | tr '\n' ' ')
echo "swagger-screenshot: $ops operations rendered, tags: $tags" >&2
if [ "$fail" -ne 0 ]; then
	echo "--- service log" >&2
	tail -20 "$work/service.log" >&2
	exit 1
fi
echo "$out"
