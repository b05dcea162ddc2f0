#!/usr/bin/env bash
# Keeps the README's LOOM_* table equal to `loom --list-params --markdown`.
#   readme-params.sh LOOM_BINARY [--check]   (--check fails when the README is stale)
set -euo pipefail
loom=$1
readme="$(dirname "$0")/../README.md"
table=$("$loom" --list-params --markdown)
current=$(sed -n '/<!-- params:begin -->/,/<!-- params:end -->/p' "$readme" | sed '1d;$d')
if [ "${2:-}" = "--check" ]; then
  if [ "$table" != "$current" ]; then
    echo "README.md's parameter table is stale: run scripts/readme-params.sh $loom" >&2
    diff <(echo "$current") <(echo "$table") >&2 || true
    exit 1
  fi
  echo "README parameter table is current"
  exit 0
fi
python3 - "$readme" "$table" <<'PY'
import re, sys
path, table = sys.argv[1], sys.argv[2]
text = open(path).read()
text = re.sub(r'<!-- params:begin -->.*<!-- params:end -->',
              lambda m: '<!-- params:begin -->\n' + table + '\n<!-- params:end -->', text, flags=re.S)
open(path, 'w').write(text)
PY
