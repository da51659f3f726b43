#!/bin/sh
# Runs shellcheck over every shell file in the repository:
# tracked files named *.sh or *.init, and tracked files whose first line is a
# sh/bash shebang (Markdown excluded). `make test` runs it; it fails on any
# finding, naming the file and the check.
#
#   scripts/shellcheck.sh            check all
#   scripts/shellcheck.sh FILE...    check only these
set -eu
cd "$(dirname "$0")/.."

if ! command -v shellcheck >/dev/null 2>&1; then
	echo "shellcheck.sh: shellcheck is not installed (scripts/install-deps.sh installs it)" >&2
	exit 2
fi

list() {
	if [ "$#" -gt 0 ]; then
		printf '%s\n' "$@"
		return
	fi
	{
		git ls-files -- '*.sh' '*.init'
		# files whose first line is a sh/bash shebang
		git grep -n -I -E '^#!(/bin/(ba)?sh|/usr/bin/env (ba)?sh)' -- ':!*.md' | sed -n 's/^\(.*\):1:#!.*/\1/p'
	} | sort -u
}

files=$(list "$@")
if [ -z "$files" ]; then
	echo "shellcheck.sh: no shell files found" >&2
	exit 2
fi
n=$(printf '%s\n' "$files" | wc -l)
# shellcheck disable=SC2086  # one file name per word; the repository has no blanks in names
if shellcheck --severity=info $files; then
	echo "shellcheck: $n files clean"
else
	echo "shellcheck: findings above (in $n files checked)" >&2
	exit 1
fi
