#!/usr/bin/env bash
# CI check of the k6 scripts, without k6: (a) every loadtest/k6/*.js parses as an ES module
# (k6 runs them as such), (b) every RPC they invoke exists in api/onestop/v1/*.proto, so a
# renamed service or method breaks CI rather than the next load test, hours into set-up.
#
#   loadtest/k6/check.sh        (from anywhere; exit 1 and a list of what is wrong)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
k6dir=$root/loadtest/k6
protos=("$root"/api/onestop/v1/*.proto)
fail=0

command -v node >/dev/null || { echo "check.sh: node is needed to parse the k6 scripts" >&2; exit 1; }
scripts=("$k6dir"/*.js)
[ -e "${scripts[0]}" ] || { echo "check.sh: no scripts in $k6dir" >&2; exit 1; }

# (a) A copy named .mjs makes node parse it as a module, whatever package.json says; k6's own
# modules ('k6/net/grpc') are imports node never resolves under --check.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for js in "${scripts[@]}"; do
	cp "$js" "$tmp/$(basename "$js" .js).mjs"
	if ! out=$(node --check "$tmp/$(basename "$js" .js).mjs" 2>&1); then
		echo "${js#"$root"/}: does not parse as an ES module:"
		echo "$out" | sed "s|$tmp/[^:]*\.mjs|${js#"$root"/}|" | sed 's/^/    /'
		fail=1
	fi
done

# (b) Every package.Service/Method the protos define, one a line.
known=$(awk '
	/^package[ \t]/ { pkg = $2; sub(/;.*/, "", pkg) }
	/^service[ \t]/ { svc = $2; sub(/\{.*/, "", svc); in_svc = 1; next }
	in_svc && /^}/ { in_svc = 0 }
	in_svc && /^[ \t]*rpc[ \t]/ {
		m = $0; sub(/^[ \t]*rpc[ \t]+/, "", m); sub(/[ \t]*\(.*/, "", m)
		print pkg "." svc "/" m
	}' "${protos[@]}")
[ -n "$known" ] || { echo "check.sh: found no rpc in ${protos[*]}" >&2; exit 1; }

for js in "${scripts[@]}"; do
	rel=${js#"$root"/}
	# A name held in a variable could not be checked: the scripts must spell it out.
	while IFS=: read -r line _; do
		echo "$rel:$line: invoke( with a name that is not a string literal; write the RPC name in the call so this check can see it"
		fail=1
	done < <(grep -nE "invoke\(" "$js" | grep -vE "invoke\([[:space:]]*['\"\`]" || true)
	while IFS=: read -r line call; do
		name=$(sed -E "s/^invoke\([[:space:]]*['\"\`]//; s/['\"\`]\$//" <<<"$call")
		if ! grep -qxF "$name" <<<"$known"; then
			svc=${name%/*}
			if grep -q "^${svc//./\\.}/" <<<"$known"; then
				echo "$rel:$line: $name: service ${svc} has no method ${name#*/} (it has: $(grep "^${svc//./\\.}/" <<<"$known" | sed 's|.*/||' | paste -sd' '))"
			else
				echo "$rel:$line: $name: no service ${svc} in api/onestop/v1/*.proto (there are: $(sed 's|/.*||' <<<"$known" | sort -u | paste -sd' '))"
			fi
			fail=1
		fi
	done < <(grep -noE "invoke\([[:space:]]*['\"\`][^'\"\`]*['\"\`]" "$js" || true)
done

if [ "$fail" -ne 0 ]; then
	echo "check.sh: the k6 scripts do not match the API (above)"
	exit 1
fi
echo "check.sh: $(ls "$k6dir"/*.js | wc -l) k6 scripts parse; their RPCs exist: $(grep -ohE "invoke\([[:space:]]*['\"\`][^'\"\`]*" "${scripts[@]}" | sed -E "s/^invoke\([[:space:]]*['\"\`]//" | sort -u | paste -sd' ')"
