#!/usr/bin/env bash
# Vendors TON Connect's UI bundle into the checkout page's embedded assets
# (checkout/assets/tonconnect): @tonconnect/ui's dist bundle (it bundles
# @tonconnect/sdk and its other dependencies), its licence, a NOTICE naming
# what the bundle contains, and the wallets list the page offers (the SDK's
# own built-in list, so the page fetches nothing from elsewhere to draw it).
#
#   scripts/vendor-tonconnect.sh [version]     (default: the version in NOTICE)
#
# Needs node and npm (the npm registry). Review the diff, run the browser
# test (go test ./checkout/ -run Browser), commit.
set -euo pipefail
cd "$(dirname "$0")/.."
out=checkout/assets/tonconnect
version="${1:-$(sed -n 's/^@tonconnect\/ui \([0-9.]*\).*/\1/p' "$out/NOTICE" 2>/dev/null | head -1)}"
version="${version:-2.4.4}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error "@tonconnect/ui@$version" >/dev/null)
ui="$tmp/node_modules/@tonconnect/ui"
mkdir -p "$out"
cp "$ui/dist/tonconnect-ui.min.js" "$out/tonconnect-ui.min.js"
cp "$ui/LICENSE" "$out/LICENSE"
node - "$tmp" "$out" <<'JS'
const fs = require("fs"), path = require("path");
const [tmp, out] = process.argv.slice(2);
const nm = path.join(tmp, "node_modules");
const pkg = (n) => JSON.parse(fs.readFileSync(path.join(nm, n, "package.json"), "utf8"));
// The wallets list: the SDK's FALLBACK_WALLETS_LIST literal.
const src = fs.readFileSync(path.join(nm, "@tonconnect/sdk/lib/esm/index.mjs"), "utf8");
const start = src.indexOf("const FALLBACK_WALLETS_LIST = ");
if (start < 0) throw new Error("FALLBACK_WALLETS_LIST not found in @tonconnect/sdk");
const from = start + "const FALLBACK_WALLETS_LIST = ".length;
const list = (0, eval)(src.slice(from, src.indexOf("];", from) + 1));
fs.writeFileSync(path.join(out, "wallets-v2.json"), JSON.stringify(list, null, 1) + "\n");
// What the bundle contains, from its source map (pnpm paths name each
// package and version). Build-time dependencies of @tonconnect/ui are not
// installed here; their licences, as each package publishes it:
const known = {
  "solid-js": "MIT", "goober": "MIT", "is-plain-object": "MIT", "qrcode-generator": "MIT",
  "@floating-ui/core": "MIT", "@floating-ui/dom": "MIT", "@floating-ui/utils": "MIT",
  "@solid-primitives/i18n": "MIT", "@solid-primitives/refs": "MIT", "@solid-primitives/transition-group": "MIT",
  "@solid-primitives/utils": "MIT", "solid-floating-ui": "MIT", "solid-styled-components": "MIT",
  "solid-transition-group": "MIT",
};
const map = JSON.parse(fs.readFileSync(path.join(nm, "@tonconnect/ui/dist/tonconnect-ui.min.js.map"), "utf8"));
const found = new Map([["@tonconnect/sdk", ""], ["@tonconnect/protocol", ""]]);
for (const s of map.sources) {
  const m = s.match(/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)\//) || s.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (!m) continue;
  const v = s.match(new RegExp("\\.pnpm/" + m[1].replace("/", "\\+") + "@([^_/]+)"));
  found.set(m[1], v ? v[1] : found.get(m[1]) || "");
}
const lines = [];
for (const [n, v] of [...found].sort()) {
  let p = null;
  try { p = pkg(n); } catch (e) {}
  const lic = p ? p.license : known[n];
  if (!lic) throw new Error("no licence known for bundled package " + n + ": add it to the table after checking it");
  lines.push(`${n} ${v || (p && p.version) || ""} — ${lic}`);
}
const ui = pkg("@tonconnect/ui");
fs.writeFileSync(path.join(out, "NOTICE"),
`@tonconnect/ui ${ui.version} — ${ui.license} (LICENSE beside this file)
https://github.com/ton-connect/sdk/tree/main/packages/ui

tonconnect-ui.min.js is the package's dist/tonconnect-ui.min.js, unchanged
(its source map is not vendored). It bundles these packages:

${lines.map((l) => "  " + l).join("\n")}

wallets-v2.json is the wallets list built into @tonconnect/sdk
(FALLBACK_WALLETS_LIST), served by the checkout page so TON Connect draws
its wallet list without fetching one from elsewhere.

Vendored by scripts/vendor-tonconnect.sh.
`);
JS
ls -l "$out"
