#!/usr/bin/env bash
# Sanitizer benchmark, in one run:
#  1. throughput over ~4 MiB of this repository's C and TypeScript plus
#     synthetic TypeScript with 12 secrets, and the latency of 8 KiB
#     requests, for Coop (Vectorscan prefilter + PCRE2 JIT) and for the
#     PCRE2-only baseline (every rule over the whole text), with the ratio;
#  2. recall and precision per rule family on the labelled corpus
#     (tests/data/sanitize), for Coop and for the secretlint npm scanner
#     with @secretlint/secretlint-rule-preset-recommend, installed into a
#     temporary directory (never into the repository);
#  3. false alarms of both over this repository's own sources, and
#     secretlint's time over the same 4 MiB corpus.
#   bash bench/sanitize.sh [BUILD_DIR]
# BENCH_SANITIZE_NO_SECRETLINT=1 skips the npm install and the comparison, and
# so does BENCH_SMOKE (a smoke run needs no network).
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
ROOT=$PWD
cmake --build "$BUILD" --target bench-sanitize >/dev/null
BIN="$BUILD/bench/bench-sanitize"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mapfile -t SOURCES < <(git ls-files '*.c' '*.h' '*.ts' | grep -v -e '^tests/data/' -e '^fuzz/corpus/' -e node_modules)

echo "== throughput and latency"
BENCH_SANITIZE_DUMP="$tmp/corpus.txt" "$BIN" throughput "${SOURCES[@]}"

echo
echo "== labelled corpus (tests/data/sanitize)"
mkdir -p "$tmp/cases"
"$BIN" cases tests/data/sanitize "$tmp/cases" > "$tmp/coop.tsv"
echo "cases: $(wc -l < "$tmp/coop.tsv")"

SL_JSON=""
SL_SRC_JSON=""
SL_TIME=""
if [ -z "${BENCH_SANITIZE_NO_SECRETLINT:-}" ] && [ -z "${BENCH_SMOKE:-}" ] && command -v npm >/dev/null; then
  mkdir -p "$tmp/sl"
  (cd "$tmp/sl" && npm init -y >/dev/null &&
    npm install --no-audit --no-fund --loglevel=error secretlint @secretlint/secretlint-rule-preset-recommend >/dev/null)
  echo '{"rules":[{"id":"@secretlint/secretlint-rule-preset-recommend"}]}' > "$tmp/sl/.secretlintrc.json"
  SLV=$(cd "$tmp/sl" && node -e 'console.log(require("secretlint/package.json").version + " / preset-recommend " + require("@secretlint/secretlint-rule-preset-recommend/package.json").version)')
  echo "secretlint: $SLV"
  sl() { (cd "$tmp/sl" && npx --no-install secretlint --secretlintrc "$tmp/sl/.secretlintrc.json" --format json "$@") || true; }
  sl "$tmp/cases/*" > "$tmp/sl.json"
  SL_JSON="$tmp/sl.json"
  # The repository's own sources, copied so that no ignore file applies.
  mkdir -p "$tmp/src"
  for f in "${SOURCES[@]}"; do cp "$f" "$tmp/src/$(echo "$f" | tr / _)"; done
  sl "$tmp/src/*" > "$tmp/sl-src.json"
  SL_SRC_JSON="$tmp/sl-src.json"
  t0=$(date +%s.%N)
  sl "$tmp/corpus.txt" > /dev/null
  t1=$(date +%s.%N)
  SL_TIME=$(python3 -c "print($t1 - $t0)")
fi

python3 - "$tmp/coop.tsv" "$SL_JSON" <<'EOF'
import json, os, sys
from collections import defaultdict

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
cases = {}
for name, expected, fam, rules, fams in rows:
    cases[name] = {"expected": expected, "family": fam,
                   "coop": set() if fams == "none" else set(fams.split(",")),
                   "coop_rules": set() if rules == "none" else set(rules.split(","))}

SL_FAMILY = {
    "aws": "aws", "github": "github", "gitlab": "gitlab", "slack": "slack", "openai": "openai",
    "anthropic": "anthropic", "gcp": "google", "privatekey": "private-key", "sendgrid": "sendgrid",
    "npm": "npm", "basicauth": "url-credentials", "database-connection-string": "url-credentials",
}
have_sl = bool(sys.argv[2])
if have_sl:
    for c in cases.values():
        c["sl"] = set()
    for entry in json.load(open(sys.argv[2])):
        name = os.path.basename(entry["filePath"])
        if name not in cases:
            continue
        for m in entry.get("messages", []):
            rid = m.get("ruleId", "").replace("@secretlint/secretlint-rule-", "")
            cases[name]["sl"].add(SL_FAMILY.get(rid, "other:" + rid))

families = sorted({c["family"] for c in cases.values() if c["family"] != "none"})

def score(tool, fam):
    tp = fn = fp = 0
    for c in cases.values():
        hit = fam in c[tool]
        if c["family"] == fam:
            tp += hit
            fn += not hit
        elif hit:
            fp += 1
    rec = tp / (tp + fn) if tp + fn else float("nan")
    prec = tp / (tp + fp) if tp + fp else float("nan")
    return tp + fn, rec, prec

def pct(x):
    return "  -  " if x != x else "%5.1f" % (100 * x)

print()
hdr = "%-22s %5s  %-13s" % ("family", "cases", "coop rec/prec")
if have_sl:
    hdr += "  %-18s" % "secretlint rec/prec"
print(hdr)
for fam in families:
    n, r, p = score("coop", fam)
    line = "%-22s %5d  %s / %s" % (fam, n, pct(r), pct(p))
    if have_sl:
        _, r2, p2 = score("sl", fam)
        line += "    %s / %s" % (pct(r2), pct(p2))
    print(line)

pos = [c for c in cases.values() if c["expected"] != "none"]
neg = [c for c in cases.values() if c["expected"] == "none"]
exact = sum(c["expected"] in c["coop_rules"] for c in pos)
print()
print("positives %d, negatives %d (placeholders, near misses, known false alarms)" % (len(pos), len(neg)))
def overall(tool):
    found = sum(bool(c[tool]) for c in pos)
    alarms = sum(bool(c[tool]) for c in neg)
    return found, alarms
f, a = overall("coop")
print("coop:       detected %d/%d positives (%.1f%%), exact rule %d/%d; false alarms on %d/%d negatives (%.1f%%)"
      % (f, len(pos), 100 * f / len(pos), exact, len(pos), a, len(neg), 100 * a / len(neg)))
if have_sl:
    f, a = overall("sl")
    print("secretlint: detected %d/%d positives (%.1f%%); false alarms on %d/%d negatives (%.1f%%)"
          % (f, len(pos), 100 * f / len(pos), a, len(neg), 100 * a / len(neg)))
    shared = [c for c in pos if c["family"] in set(SL_FAMILY.values())]
    f1 = sum(bool(c["coop"]) for c in shared)
    f2 = sum(bool(c["sl"]) for c in shared)
    print("on the %d positives of families both cover: coop %d (%.1f%%), secretlint %d (%.1f%%)"
          % (len(shared), f1, 100 * f1 / len(shared), f2, 100 * f2 / len(shared)))
EOF

SCAN=("${SOURCES[@]}")
[ -n "${BENCH_SMOKE:-}" ] && SCAN=("${SOURCES[@]:0:20}")
echo
echo "== false alarms on this repository's own sources (${#SCAN[@]} files; test fixtures hold secret-shaped strings)"
"$BIN" scan "${SCAN[@]}" | grep -v '^flagged: ' || true
if [ -n "$SL_SRC_JSON" ]; then
  python3 - "$SL_SRC_JSON" <<'EOF'
import json, sys
from collections import Counter
data = json.load(open(sys.argv[1]))
c = Counter(m["ruleId"].replace("@secretlint/secretlint-rule-", "") for e in data for m in e.get("messages", []))
files = sum(1 for e in data if e.get("messages"))
print("secretlint: %d findings in %d files %s" % (sum(c.values()), files, dict(c)))
EOF
  echo "secretlint over the same ~4 MiB throughput corpus: ${SL_TIME}s wall (node start-up included)"
fi
