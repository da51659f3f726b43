#!/bin/sh
# fec-boot.sh - the fecdeploy boot client for FECs that cannot run Go
# (PowerPC on Yocto). POSIX sh; needs only busybox applets (wget or curl, tar,
# gzip, sha256sum, awk, sed, find, ls, mv, od); uses zstd and openssl when the
# image has them. It follows the Go client (cmd/fec-boot, docs/boot.md) and is
# checked against it by the conformance suite (conformance/).
#
#   fec-boot.sh [--root DIR] [--url URL] [--fec NAME] [--config FILE]
#               [--cmdline FILE] [--allowed-roots LIST] [--public-key FILE]
#               [--retries N] [--no-scripts] [boot | install [KIND...]]
#
# Configuration, highest precedence first: options, environment
# (FECDEPLOY_URL, FECDEPLOY_FEC, FECDEPLOY_ROOT, FECDEPLOY_ALLOWED_ROOTS,
# FECDEPLOY_PUBLIC_KEY, FECDEPLOY_RETRIES, FECDEPLOY_CONFIG, FECDEPLOY_CMDLINE),
# kernel command line (fecdeploy.url=, fecdeploy.fec=, fecdeploy.<key>=),
# /etc/fecdeploy.conf (key=value: url, fec, allowed_roots, public_key, retries),
# defaults (FEC = short host name, allowed roots = opt).
#
# Exit codes: 0 ok, 2 configuration or usage, 3 storage unreachable or INDEX
# not found, 4 verification (signature, sha256, size, unsafe archive),
# 5 install, 6 init script; the most severe one wins (4 > 5 > 6).

PROG=fec-boot
LC_ALL=C
export LC_ALL
umask 022
NL='
'

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }

# ---------------------------------------------------------------- results

RC=0
# fail CODE MESSAGE: remember the most severe exit code and log the message.
fail() {
	log "error: $2"
	_rank() { case $1 in 2) echo 9 ;; 3) echo 8 ;; 4) echo 7 ;; 5) echo 6 ;; 6) echo 5 ;; 0) echo 0 ;; *) echo 4 ;; esac; }
	if [ "$(_rank "$1")" -gt "$(_rank "$RC")" ]; then RC=$1; fi
}

json_str() {
	# A JSON string literal: escape backslash, quote, control characters.
	printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/	/\\t/g' -e "s/$(printf '\r')/\\\\r/g" |
		awk 'BEGIN { ORS = "" } NR > 1 { print "\\n" } { print }' | {
		IFS= read -r s || true
		printf '"%s"' "$s"
	}
}

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

STATUS_ENTRIES=
STATUS_SCRIPTS=
# add_entry KIND NAME VERSION SHA256 ACTION ERROR
add_entry() {
	_e="{\"kind\":$(json_str "$1"),\"name\":$(json_str "$2"),\"version\":$(json_str "$3"),\"sha256\":$(json_str "$4"),\"action\":$(json_str "$5")"
	if [ -n "$6" ]; then _e="$_e,\"error\":$(json_str "$6")"; fi
	_e="$_e}"
	STATUS_ENTRIES="${STATUS_ENTRIES:+$STATUS_ENTRIES,
    }$_e"
}
# add_script NAME EXIT_CODE
add_script() {
	STATUS_SCRIPTS="${STATUS_SCRIPTS:+$STATUS_SCRIPTS,
    }{\"name\":$(json_str "$1"),\"exit_code\":$2}"
}

write_status() {
	[ -n "$STATE" ] || return 0
	mkdir -p "$STATE" 2>/dev/null || return 0
	{
		printf '{\n'
		printf '  "client": "fec-boot.sh",\n'
		printf '  "fec": %s,\n' "$(json_str "$FEC")"
		printf '  "url": %s,\n' "$(json_str "$URL")"
		printf '  "started": "%s",\n' "$STARTED"
		printf '  "finished": "%s",\n' "$(now)"
		printf '  "exit_code": %s,\n' "$RC"
		if [ -n "$ERROR" ]; then printf '  "error": %s,\n' "$(json_str "$ERROR")"; fi
		printf '  "entries": [%s%s%s],\n' "${STATUS_ENTRIES:+$NL    }" "$STATUS_ENTRIES" "${STATUS_ENTRIES:+$NL  }"
		printf '  "scripts": [%s%s%s]\n' "${STATUS_SCRIPTS:+$NL    }" "$STATUS_SCRIPTS" "${STATUS_SCRIPTS:+$NL  }"
		printf '}\n'
	} >"$STATE/status.json.tmp" && mv -f "$STATE/status.json.tmp" "$STATE/status.json"
}

ERROR=
# finish: write the status file, clean up, exit with the collected code.
finish() {
	[ -n "$WORK" ] && rm -rf "$WORK"
	write_status
	exit "$RC"
}

# fatal CODE MESSAGE: stop here (configuration, INDEX unreachable).
fatal() {
	fail "$1" "$2"
	ERROR=$2
	finish
}

# ---------------------------------------------------------------- names

# valid_name S: the rule of storage/index CheckName.
valid_name() {
	case $1 in
	'' | [!A-Za-z0-9]* | *[!A-Za-z0-9._-]*) return 1 ;;
	esac
	[ "${#1}" -le 100 ]
}

# valid_path P: the rule of storage/index CheckPath.
valid_path() {
	case $1 in '' | /* | */ | *//*) return 1 ;; esac
	_p=$1
	while :; do
		_seg=${_p%%/*}
		valid_name "$_seg" || return 1
		case $_p in */*) _p=${_p#*/} ;; *) return 0 ;; esac
	done
}

# ---------------------------------------------------------------- configuration

usage() {
	sed -n '9,12p' "$0" 2>/dev/null | sed 's/^# *//' >&2
}

STARTED=$(now)
STATE=
WORK=
FEC=
URL=

O_ROOT= O_URL= O_FEC= O_CONFIG= O_CMDLINE= O_ALLOWED= O_KEY= O_RETRIES= NO_SCRIPTS=0
MODE=boot
KINDS=
while [ $# -gt 0 ]; do
	case $1 in
	--root) O_ROOT=$2; shift ;;
	--root=*) O_ROOT=${1#*=} ;;
	--url) O_URL=$2; shift ;;
	--url=*) O_URL=${1#*=} ;;
	--fec) O_FEC=$2; shift ;;
	--fec=*) O_FEC=${1#*=} ;;
	--config) O_CONFIG=$2; shift ;;
	--config=*) O_CONFIG=${1#*=} ;;
	--cmdline) O_CMDLINE=$2; shift ;;
	--cmdline=*) O_CMDLINE=${1#*=} ;;
	--allowed-roots) O_ALLOWED=$2; shift ;;
	--allowed-roots=*) O_ALLOWED=${1#*=} ;;
	--public-key) O_KEY=$2; shift ;;
	--public-key=*) O_KEY=${1#*=} ;;
	--retries) O_RETRIES=$2; shift ;;
	--retries=*) O_RETRIES=${1#*=} ;;
	--no-scripts) NO_SCRIPTS=1 ;;
	-h | --help) usage; exit 0 ;;
	boot) MODE=boot ;;
	install) MODE=install; NO_SCRIPTS=1; shift; KINDS=$*; break ;;
	*) usage; fatal 2 "unknown argument '$1'" ;;
	esac
	[ $# -gt 0 ] || { usage; fatal 2 "option needs a value"; }
	shift
done

# conf_get FILE KEY: the value of KEY=... in a key=value file (last one wins).
conf_get() {
	[ -r "$1" ] || return 0
	sed -n "s/^[ 	]*$2[ 	]*=[ 	]*//p" "$1" | sed 's/[ 	]*$//' | tail -n 1
}
# cmdline_get FILE KEY: the value of fecdeploy.KEY= on a kernel command line.
cmdline_get() {
	[ -r "$1" ] || return 0
	tr ' ' '\n' <"$1" | sed -n "s/^fecdeploy\\.$2=//p" | tail -n 1
}

CONFIG=${O_CONFIG:-${FECDEPLOY_CONFIG:-/etc/fecdeploy.conf}}
CMDLINE=${O_CMDLINE:-${FECDEPLOY_CMDLINE:-/proc/cmdline}}
if [ -n "$O_CONFIG$FECDEPLOY_CONFIG" ] && [ ! -r "$CONFIG" ]; then
	fatal 2 "configuration file $CONFIG does not exist or is not readable"
fi

# setting OPTION ENVVAR KEY DEFAULT: the first non-empty source wins.
setting() {
	if [ -n "$1" ]; then printf '%s' "$1"; return; fi
	if [ -n "$2" ]; then printf '%s' "$2"; return; fi
	_v=$(cmdline_get "$CMDLINE" "$3")
	if [ -n "$_v" ]; then printf '%s' "$_v"; return; fi
	_v=$(conf_get "$CONFIG" "$3")
	if [ -n "$_v" ]; then printf '%s' "$_v"; return; fi
	printf '%s' "$4"
}

ROOT=$(setting "$O_ROOT" "$FECDEPLOY_ROOT" root /)
URL=$(setting "$O_URL" "$FECDEPLOY_URL" url "")
FEC=$(setting "$O_FEC" "$FECDEPLOY_FEC" fec "")
ALLOWED=$(setting "$O_ALLOWED" "$FECDEPLOY_ALLOWED_ROOTS" allowed_roots opt)
PUBKEY=$(setting "$O_KEY" "$FECDEPLOY_PUBLIC_KEY" public_key "")
RETRIES=$(setting "$O_RETRIES" "$FECDEPLOY_RETRIES" retries 5)
if [ -z "$FEC" ]; then
	FEC=$(hostname 2>/dev/null || uname -n)
	FEC=${FEC%%.*}
fi

ROOT=${ROOT%/}
[ -n "$ROOT" ] || ROOT=/
case $ROOT in /*) ;; *) ROOT=$(cd "$ROOT" 2>/dev/null && pwd) || fatal 2 "root directory does not exist" ;; esac
[ -d "$ROOT" ] || fatal 2 "root directory $ROOT does not exist"
R=${ROOT%/} # prefix for paths below the root ("" for /)
STATE=$R/var/lib/fecdeploy

[ -n "$URL" ] || fatal 2 "no storage URL: set fecdeploy.url= on the kernel command line, url= in $CONFIG, FECDEPLOY_URL or --url"
case $URL in
http://* | https://*) ;;
*) fatal 2 "storage URL '$URL' is not http:// or https://" ;;
esac
URL=${URL%/}
valid_name "$FEC" || fatal 2 "bad FEC name '$FEC': use only letters, digits, '.', '_' and '-', starting with a letter or digit"
[ "$FEC" != global ] || fatal 2 "'global' is the folder of shared init scripts, not a FEC name"
case $RETRIES in '' | *[!0-9]*) fatal 2 "retries '$RETRIES' is not a number" ;; esac
[ "$RETRIES" -ge 1 ] || RETRIES=1

ROOTS=
for _a in $(printf '%s' "$ALLOWED" | tr ',' ' '); do
	_a=${_a#/}
	_a=${_a%/}
	valid_path "$_a" || fatal 2 "allowed root '$_a' is not a relative path of safe names (e.g. opt)"
	ROOTS="$ROOTS $_a"
done
[ -n "$ROOTS" ] || fatal 2 "no allowed unpack roots configured"

for _k in $KINDS; do
	case $_k in init | software | configuration | data) ;;
	*) fatal 2 "unknown kind '$_k' (want init, software, configuration or data)" ;; esac
done

# ---------------------------------------------------------------- tools

for _t in tar sha256sum sed awk find ls mv od; do
	command -v "$_t" >/dev/null 2>&1 || fatal 2 "required tool '$_t' not found on PATH"
done
if command -v curl >/dev/null 2>&1; then
	FETCH=curl
elif command -v wget >/dev/null 2>&1; then
	FETCH=wget
else
	fatal 2 "neither curl nor wget found on PATH"
fi
TIMEOUT=
if command -v timeout >/dev/null 2>&1; then TIMEOUT="timeout 600"; fi

mkdir -p "$STATE/installed" "$STATE/staging" || fatal 5 "cannot create $STATE"
WORK=$(mktemp -d "$STATE/staging/run.XXXXXX") || fatal 5 "cannot create a staging directory in $STATE/staging"
trap 'RC=5; ERROR="interrupted"; finish' INT TERM HUP

# ---------------------------------------------------------------- HTTP

# A number 0..N-1 that differs between FECs and boots, without $RANDOM.
rand() {
	_r=$(cat /proc/sys/kernel/random/uuid 2>/dev/null | tr -dc 0-9 | cut -c1-6)
	[ -n "$_r" ] || _r=$(od -An -N2 -tu2 /dev/urandom 2>/dev/null | tr -dc 0-9)
	[ -n "$_r" ] || _r=$(printf '%s %s %s' "$FEC" "$(date +%s)" "$$" | sha256sum | tr -dc 0-9 | cut -c1-6)
	echo $((${_r:-0} % $1))
}

HTTP_CODE=
# fetch_once URL FILE: 0 ok; 1 retryable failure; 2 HTTP error that is final (404...).
fetch_once() {
	HTTP_CODE=
	if [ "$FETCH" = curl ]; then
		HTTP_CODE=$(curl -sS -L --connect-timeout 10 --speed-limit 1 --speed-time 60 -o "$2" -w '%{http_code}' "$1" 2>"$WORK/fetch.err")
		_rc=$?
		if [ $_rc -eq 0 ] && [ "$HTTP_CODE" = 200 ]; then return 0; fi
	else
		$TIMEOUT wget -q -O "$2" "$1" 2>"$WORK/fetch.err"
		_rc=$?
		[ $_rc -eq 0 ] && return 0
		# busybox wget exits 1 for every HTTP error; the status is in the message.
		HTTP_CODE=$(sed -n 's/.*server returned error: HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p' "$WORK/fetch.err" | head -n 1)
	fi
	rm -f "$2"
	case $HTTP_CODE in
	408 | 429 | 5??) return 1 ;;
	[1-5]??) return 2 ;;
	esac
	return 1
}

FETCH_ERR=
# fetch URL FILE: with retries, exponential backoff (1, 2, 4 ... 30 s) and jitter.
fetch() {
	_n=1
	_delay=1
	while :; do
		fetch_once "$1" "$2"
		case $? in
		0) return 0 ;;
		2) FETCH_ERR="HTTP $HTTP_CODE for $1"; return 2 ;;
		esac
		if [ -n "$HTTP_CODE" ] && [ "$HTTP_CODE" != 000 ]; then
			FETCH_ERR="HTTP $HTTP_CODE for $1"
		else
			FETCH_ERR="$1: $(tr '\n' ' ' <"$WORK/fetch.err" | sed 's/ *$//')"
		fi
		[ "$_n" -lt "$RETRIES" ] || return 1
		_sleep=$((_delay + $(rand $((_delay + 1)))))
		log "attempt $_n of $RETRIES failed ($FETCH_ERR); retrying in ${_sleep}s"
		sleep "$_sleep"
		_n=$((_n + 1))
		_delay=$((_delay * 2))
		[ "$_delay" -le 30 ] || _delay=30
	done
}

# ---------------------------------------------------------------- INDEX

INDEX_URL=$URL/fecs/$FEC/INDEX
fetch "$INDEX_URL" "$WORK/INDEX"
case $? in
0) ;;
2) case $HTTP_CODE in
	404) fatal 3 "no INDEX for FEC $FEC at $INDEX_URL (404): is the FEC name right and was it added with 'fecctl add-fec'?" ;;
	*) fatal 3 "cannot fetch INDEX: $FETCH_ERR" ;;
	esac ;;
*) fatal 3 "storage unreachable, giving up after $RETRIES attempts: $FETCH_ERR" ;;
esac

set -- $(ls -ln "$WORK/INDEX")
[ "$5" -le 4194304 ] || fatal 4 "INDEX from $INDEX_URL is larger than 4 MiB"

# Signature: when the FEC trusts a key, the INDEX must carry a valid signature
# from one of them before it is parsed.
if [ -n "$PUBKEY" ]; then
	[ -r "$PUBKEY" ] || fatal 2 "public key file $PUBKEY (public_key) does not exist or is not readable"
	command -v openssl >/dev/null 2>&1 ||
		fatal 2 "a public key is configured ($PUBKEY) but there is no openssl binary to verify INDEX.sig: add openssl (3.0 or newer) to the image or remove public_key"
	fetch "$INDEX_URL.sig" "$WORK/INDEX.sig"
	case $? in
	0) ;;
	2) case $HTTP_CODE in
		404) fatal 4 "INDEX for FEC $FEC is not signed ($INDEX_URL.sig: 404) but this FEC trusts $PUBKEY: refusing it" ;;
		*) fatal 3 "cannot fetch INDEX.sig: $FETCH_ERR" ;;
		esac ;;
	*) fatal 3 "storage unreachable, giving up after $RETRIES attempts: $FETCH_ERR" ;;
	esac
	# One PEM block per file: openssl reads only the first key of a file.
	awk -v dir="$WORK" '/-----BEGIN PUBLIC KEY-----/ { n++; f = dir "/key." n ".pem" } f { print > f } /-----END PUBLIC KEY-----/ { close(f); f = "" }' "$PUBKEY"
	_ok=0 _nkeys=0
	for _key in "$WORK"/key.*.pem; do
		[ -e "$_key" ] || continue
		_nkeys=$((_nkeys + 1))
		if openssl pkeyutl -verify -pubin -inkey "$_key" -rawin -in "$WORK/INDEX" -sigfile "$WORK/INDEX.sig" >/dev/null 2>&1; then
			_ok=1
			break
		fi
	done
	[ "$_nkeys" -gt 0 ] || fatal 2 "no PEM \"PUBLIC KEY\" block in $PUBKEY"
	[ "$_ok" = 1 ] || fatal 4 "INDEX signature does not verify with any trusted key ($_nkeys keys in $PUBKEY tried): refusing INDEX of FEC $FEC"
fi

# parse_index FILE: the checks of storage/index Parse, then one line per entry
# on stdout: kind name sha256 size path format version dev(0|1)
parse_index() {
	_last=$(tail -c 1 "$1" | od -An -tx1 | tr -d ' ')
	[ -s "$1" ] || { echo "malformed INDEX: empty file"; return 1; }
	[ "$_last" = 0a ] || { echo "malformed INDEX: last line does not end in a newline (truncated download?)"; return 1; }
	_ln=0 _hdr=0 _seen=" "
	while IFS= read -r _line; do
		_ln=$((_ln + 1))
		case $_line in '' | '#'*) continue ;; esac
		case $_line in *"	"* | *"$(printf '\r')"*)
			echo "malformed INDEX: line $_ln: contains a tab or carriage return; fields are separated by single spaces"
			return 1 ;;
		esac
		case $_line in ' '* | *' ' | *'  '*)
			echo "malformed INDEX: line $_ln: empty field (double, leading or trailing space)"
			return 1 ;;
		esac
		set -f
		# shellcheck disable=SC2086
		set -- $_line
		set +f
		if [ "$_hdr" = 0 ]; then
			[ "$1" = fecdeploy-index ] || { echo "malformed INDEX: line $_ln: does not start with \"fecdeploy-index\": not a fecdeploy INDEX"; return 1; }
			[ $# -ge 2 ] || { echo "malformed INDEX: line $_ln: header has no format version"; return 1; }
			case $2 in 1 | 0*1 | +1 | +0*1) ;; *) echo "unsupported INDEX format version: header says \"$2\", this client reads version 1"; return 1 ;; esac
			shift 2
			_ifec= _iarch=
			for _kv in "$@"; do
				case $_kv in *=*) ;; *) echo "malformed INDEX: line $_ln: header attribute \"$_kv\" is not key=value"; return 1 ;; esac
				case $_kv in
				fec=*) _ifec=${_kv#*=} ;;
				arch=*) _iarch=${_kv#*=} ;;
				*) valid_name "${_kv%%=*}" || { echo "malformed INDEX: line $_ln: bad attribute key \"${_kv%%=*}\""; return 1; } ;;
				esac
			done
			valid_name "$_ifec" && [ "$_ifec" != global ] || { echo "malformed INDEX: header: bad FEC name \"$_ifec\""; return 1; }
			valid_name "$_iarch" || { echo "malformed INDEX: header: bad architecture \"$_iarch\""; return 1; }
			[ "$_ifec" = "$FEC" ] || { echo "INDEX at $INDEX_URL is for FEC $_ifec, not $FEC"; return 1; }
			_hdr=1
			continue
		fi
		[ $# -ge 5 ] || { echo "malformed INDEX: line $_ln: entry has $# fields, want at least 5: kind name sha256 size path"; return 1; }
		_k=$1 _n=$2 _sum=$3 _size=$4 _path=$5
		shift 5
		case $_size in 0 | [1-9] | [1-9]*[0-9]) ;; *) _size=x ;; esac
		case $_size in *[!0-9]*) echo "malformed INDEX: line $_ln: size \"$4\" is not a plain decimal number"; return 1 ;; esac
		[ "${#_size}" -le 18 ] || { echo "malformed INDEX: line $_ln: size \"$_size\" is too large"; return 1; }
		_fmt= _ver= _dev=0
		for _kv in "$@"; do
			case $_kv in
			format=*) _fmt=${_kv#*=} ;;
			version=*) _ver=${_kv#*=} ;;
			dev) _dev=1 ;;
			*) valid_name "${_kv%%=*}" || { echo "malformed INDEX: line $_ln: bad attribute key \"${_kv%%=*}\""; return 1; } ;;
			esac
		done
		_where="malformed INDEX: line $_ln ($_k $_n)"
		case $_k in
		init | software | configuration | data) ;;
		*) echo "$_where: unknown kind \"$_k\" (this client knows init, software, configuration, data)"; return 1 ;;
		esac
		valid_name "$_n" || { echo "$_where: bad $_k name \"$_n\": use only letters, digits, '.', '_' and '-', starting with a letter or digit"; return 1; }
		case $_sum in *[!0-9a-f]*) _sum=x ;; esac
		[ "${#_sum}" = 64 ] || { echo "$_where: sha256 \"$3\" is not 64 lowercase hex digits"; return 1; }
		valid_path "$_path" || { echo "$_where: bad path \"$_path\""; return 1; }
		case $_k in
		init) [ -z "$_fmt" ] || { echo "$_where: init script has format=$_fmt; scripts are not archives"; return 1; } ;;
		*) case $_fmt in
			zstd | gzip | xz) ;;
			'') echo "$_where: archive entry has no format= attribute"; return 1 ;;
			*) echo "$_where: unknown archive format \"$_fmt\" (want zstd, gzip or xz)"; return 1 ;;
			esac ;;
		esac
		if [ -n "$_ver" ]; then valid_name "$_ver" || { echo "$_where: bad version \"$_ver\""; return 1; }; fi
		case $_seen in *" $_k/$_n "*) echo "malformed INDEX: line $_ln: $_k \"$_n\" is listed twice"; return 1 ;; esac
		_seen="$_seen$_k/$_n "
		echo "$_k $_n $_sum $_size $_path ${_fmt:--} ${_ver:--} $_dev"
	done <"$1"
	[ "$_hdr" = 1 ] || { echo "malformed INDEX: no header line"; return 1; }
}

_msg=$(parse_index "$WORK/INDEX" >"$WORK/entries") || true
if [ -n "$_msg" ]; then
	fatal 4 "INDEX of FEC $FEC from $INDEX_URL refused: $_msg"
fi
# Canonical order: kind (init, software, configuration, data), then name.
awk '{ r = ($1 == "init") ? 0 : ($1 == "software") ? 1 : ($1 == "configuration") ? 2 : 3; print r " " $0 }' "$WORK/entries" |
	sort -k1,1n -k3,3 | cut -d' ' -f2- >"$WORK/entries.sorted"

# ---------------------------------------------------------------- archives

# sizeof FILE: the size in bytes without reading the file.
sizeof() {
	set -- $(ls -ln "$1")
	echo "$5"
}

# magic FILE: the compression format from the first bytes.
magic() {
	case $(od -An -tx1 -N6 "$1" | tr -d ' \n') in
	1f8b*) echo gzip ;;
	fd377a585a00) echo xz ;;
	28b52ffd*) echo zstd ;;
	*) echo unknown ;;
	esac
}

# decode FORMAT FILE: the tar stream on stdout.
decode() {
	case $1 in
	gzip) gzip -dc "$2" ;;
	xz) xz -dc "$2" ;;
	zstd) zstd -dc "$2" ;;
	esac
}

# check_listing: read `tar -tv` output on stdin, print nothing when every entry
# is acceptable, else one reason. The rules of the archive package: regular
# files, directories and symlinks only; no absolute names, no "..", no
# duplicates; everything below an allowed root; symlink targets relative and
# inside an allowed root; at most 200000 entries and 8 GiB.
check_listing() {
	awk -v roots="$ROOTS" '
	function bad(r) { if (!reason) reason = r; }
	function under(p,   i) { for (i = 1; i <= nroots; i++) if (p == root[i] || index(p, root[i] "/") == 1) return 1; return 0 }
	function ancestor(p,   i) { for (i = 1; i <= nroots; i++) if (p == "" || index(root[i] "/", p "/") == 1) return 1; return 0 }
	# clean(p): resolve "." and ".." lexically; "" when p climbs above the top.
	function clean(p,   n, i, s, out, k) {
		n = split(p, s, "/"); k = 0
		for (i = 1; i <= n; i++) {
			if (s[i] == "" || s[i] == ".") continue
			if (s[i] == "..") { if (k == 0) return "/"; k--; continue }
			out[++k] = s[i]
		}
		p = ""; for (i = 1; i <= k; i++) p = p (i > 1 ? "/" : "") out[i]
		return p
	}
	BEGIN { nroots = split(roots, root, " "); reason = "" }
	reason { next }
	{
		line = $0
		if (!match(line, /^[-a-zA-Z][-rwxsStTl]+ [^ ]+ +[0-9]+ [0-9]+-[0-9]+-[0-9]+ [0-9]+:[0-9]+:[0-9]+ /)) {
			bad("unreadable listing line \"" line "\" (a name with a newline?)"); next
		}
		type = substr(line, 1, 1); name = substr(line, RLENGTH + 1); target = ""
		split(line, f, " "); size += f[3]; count++
		if (type == "l" || index(name, " -> ")) {
			i = index(name, " -> "); target = substr(name, i + 4); name = substr(name, 1, i - 1)
			if (type != "l") { bad("entry \"" name "\" is a hard link (to \"" target "\"); only files, directories and symlinks are allowed"); next }
		}
		if (type != "-" && type != "d" && type != "l") { bad("entry \"" name "\" is a device, FIFO or other special file (type " type "); only files, directories and symlinks are allowed"); next }
		if (type == "d") sub(/\/+$/, "", name)
		if (name ~ /^\// ) { bad("entry \"" name "\" has an absolute name"); next }
		if (name == ".." || name ~ /^\.\.\// || name ~ /\/\.\.\// || name ~ /\/\.\.$/) { bad("entry \"" name "\" has a \"..\" path segment"); next }
		c = clean(name)
		if (c in seen) { bad("entry \"" name "\" appears twice"); next }
		seen[c] = 1
		if (!under(c) && !(type == "d" && ancestor(c))) { bad("entry \"" name "\" is outside the allowed unpack roots (" roots " )"); next }
		if (type == "l") {
			if (target ~ /^\//) { bad("symlink \"" name "\" points to the absolute path \"" target "\""); next }
			d = c; sub(/\/?[^\/]*$/, "", d)
			t = clean(d "/" target)
			if (t == "/" || !under(t)) { bad("symlink \"" name "\" -> \"" target "\" escapes the allowed unpack roots"); next }
		}
	}
	END {
		if (!reason && count > 200000) reason = "more than 200000 entries"
		if (!reason && size > 8589934592) reason = "more than 8 GiB of files"
		if (reason) print reason
	}'
}

# tree_check DIR: what the listing cannot prove, checked on the staged files.
tree_check() {
	_x=$(find "$1" ! -type f ! -type d ! -type l | head -n 1)
	[ -z "$_x" ] || { echo "entry ${_x#"$1"/} is not a file, directory or symlink"; return; }
	_x=$(find "$1" -type f -links +1 | head -n 1)
	[ -z "$_x" ] || { echo "entry ${_x#"$1"/} is a hard link"; return; }
	_x=$(find "$1" -name "*$NL*" | head -n 1)
	[ -z "$_x" ] || { echo "an entry name contains a newline"; return; }
}

# merge_check SRC DST: print a conflict that would stop the move half-way.
merge_check() {
	for _s in "$1"/* "$1"/.[!.]* "$1"/..?*; do
		[ -e "$_s" ] || [ -L "$_s" ] || continue
		_d=$2/${_s##*/}
		if [ -d "$_d" ] && [ ! -L "$_d" ]; then
			if [ -d "$_s" ] && [ ! -L "$_s" ]; then
				merge_check "$_s" "$_d" || return 1
			else
				echo "$_d is a directory on the FEC but not in the archive"
				return 1
			fi
		elif [ -e "$_d" ] || [ -L "$_d" ]; then
			if [ -d "$_s" ] && [ ! -L "$_s" ]; then
				echo "$_d exists on the FEC and is not a directory"
				return 1
			fi
		fi
	done
}

# merge SRC DST: move the staged tree into place. A new directory is renamed
# in one step; an existing one is merged; files and symlinks replace theirs
# with one rename each (atomic on the same filesystem).
merge() {
	for _s in "$1"/* "$1"/.[!.]* "$1"/..?*; do
		[ -e "$_s" ] || [ -L "$_s" ] || continue
		_d=$2/${_s##*/}
		if [ -d "$_d" ] && [ ! -L "$_d" ]; then
			merge "$_s" "$_d" || return 1
		else
			mv -fT "$_s" "$_d" || return 1
		fi
	done
}

# install_archive KIND NAME FILE FORMAT: list, stage, check, move into place.
# Prints the reason and returns 4 (unsafe) or 5 (cannot install).
install_archive() {
	_fmt=$(magic "$3")
	case $_fmt in
	unknown) echo "not a gzip, xz or zstd archive (INDEX says format=$4)"; return 4 ;;
	zstd) command -v zstd >/dev/null 2>&1 || {
		echo "is zstd-compressed but this FEC has no zstd binary: add zstd to the image, or publish the archive with gzip or xz (and record the FEC's decoders with fecctl add-fec --decoders gzip,xz so that fecctl link refuses zstd)"
		return 5
	} ;;
	esac
	_stage=$WORK/stage.$1.$2
	mkdir -p "$_stage" || { echo "cannot create $_stage"; return 5; }
	# 1. list and refuse before anything is extracted
	{ decode "$_fmt" "$3" || echo "decode $?" >"$_stage.err2"; } 2>"$_stage.err1" | tar -tvf - >"$_stage.list" 2>"$_stage.err3"
	_trc=$?
	if [ -s "$_stage.err3" ]; then
		# busybox reports stripped absolute or ".." prefixes here
		echo "unsafe or corrupt archive: $(head -n 1 "$_stage.err3")"; return 4
	fi
	if [ -s "$_stage.err2" ] || [ "$_trc" != 0 ]; then
		echo "corrupt archive: $(cat "$_stage.err1" "$_stage.err3" | head -n 1)"; return 4
	fi
	_why=$(check_listing <"$_stage.list")
	[ -z "$_why" ] || { echo "unsafe archive: $_why"; return 4; }
	# 2. extract into the staging directory
	{ decode "$_fmt" "$3" || echo "decode $?" >"$_stage.err2"; } 2>"$_stage.err1" | tar -xof - -C "$_stage/" 2>"$_stage.err3"
	_trc=$?
	if [ -s "$_stage.err2" ] || [ "$_trc" != 0 ]; then
		echo "extracting failed: $(cat "$_stage.err1" "$_stage.err3" | head -n 1)"; return 5
	fi
	_why=$(tree_check "$_stage")
	[ -z "$_why" ] || { echo "unsafe archive: $_why"; return 4; }
	find "$_stage" -type f \( -perm -4000 -o -perm -2000 \) -exec chmod ug-s {} \;
	# 3. move into place
	_why=$(merge_check "$_stage" "$ROOT")
	[ -z "$_why" ] || { echo "cannot install: $_why"; return 5; }
	merge "$_stage" "$R" || { echo "moving files into $ROOT failed"; return 5; }
	rm -rf "$_stage" "$_stage".*
	return 0
}

# ---------------------------------------------------------------- install

# want_kind KIND: is this kind selected (install KIND...)?
want_kind() {
	[ -z "$KINDS" ] && return 0
	case " $KINDS " in *" $1 "*) return 0 ;; esac
	return 1
}

mkdir -p "$STATE/init" || fatal 5 "cannot create $STATE/init"
while read -r k n sum size path fmt ver dev; do
	want_kind "$k" || continue
	[ "$ver" = - ] && ver=
	url=$URL/$path
	mark=$STATE/installed/$k/$n
	dest=
	[ "$k" = init ] && dest=$STATE/init/$n
	if [ -f "$mark" ] && [ "$(cat "$mark")" = "$sum" ] && { [ -z "$dest" ] || [ -f "$dest" ]; }; then
		log "$k $n${ver:+ $ver}: unchanged"
		add_entry "$k" "$n" "$ver" "$sum" unchanged ""
		continue
	fi
	if [ "$k" != init ] && [ "$fmt" = zstd ] && ! command -v zstd >/dev/null 2>&1; then
		msg="$k $n ($path) is zstd-compressed but this FEC has no zstd binary: add zstd to the image, or publish the archive with gzip or xz (and record the FEC's decoders with fecctl add-fec --decoders gzip,xz so that fecctl link refuses zstd)"
		fail 5 "$msg"
		add_entry "$k" "$n" "$ver" "$sum" failed "$msg"
		continue
	fi
	file=$WORK/$k.$n.download
	fetch "$url" "$file"
	case $? in
	0) ;;
	*) msg="$k $n: download failed: $FETCH_ERR"
		fail 3 "$msg"
		add_entry "$k" "$n" "$ver" "$sum" failed "$msg"
		continue ;;
	esac
	got=$(sizeof "$file")
	if [ "$got" != "$size" ]; then
		msg="$k $n ($path): size is $got bytes, INDEX says $size: refusing it"
		fail 4 "$msg"; add_entry "$k" "$n" "$ver" "$sum" failed "$msg"; rm -f "$file"; continue
	fi
	got=$(sha256sum "$file")
	got=${got%% *}
	if [ "$got" != "$sum" ]; then
		msg="$k $n ($path): sha256 is $got, INDEX says $sum: refusing it"
		fail 4 "$msg"; add_entry "$k" "$n" "$ver" "$sum" failed "$msg"; rm -f "$file"; continue
	fi
	if [ "$k" = init ]; then
		chmod 0755 "$file" && mv -f "$file" "$dest" || {
			msg="init $n: cannot install it as $dest"
			fail 5 "$msg"; add_entry "$k" "$n" "$ver" "$sum" failed "$msg"; continue
		}
	else
		why=$(install_archive "$k" "$n" "$file" "$fmt")
		code=$?
		rm -rf "$file" "$WORK/stage.$k.$n" "$WORK/stage.$k.$n".*
		if [ $code != 0 ]; then
			msg="$k $n ($path): $why"
			fail $code "$msg"; add_entry "$k" "$n" "$ver" "$sum" failed "$msg"; continue
		fi
	fi
	mkdir -p "$STATE/installed/$k" && printf '%s\n' "$sum" >"$mark.tmp" && mv -f "$mark.tmp" "$mark"
	log "$k $n${ver:+ $ver}: installed"
	add_entry "$k" "$n" "$ver" "$sum" installed ""
done <"$WORK/entries.sorted"

# Scripts no longer in the INDEX are not run again.
if want_kind init; then
	for f in "$STATE/init"/*; do
		[ -e "$f" ] || continue
		grep -q "^init ${f##*/} " "$WORK/entries.sorted" || rm -f "$f" "$STATE/installed/init/${f##*/}"
	done
fi

# ---------------------------------------------------------------- init scripts

if [ "$NO_SCRIPTS" = 0 ]; then
	FECDEPLOY_FEC=$FEC
	FECDEPLOY_URL=$URL
	FECDEPLOY_ROOT=$ROOT
	FECDEPLOY_SOFTWARE=
	FECDEPLOY_DEV_SOFTWARE=
	export FECDEPLOY_FEC FECDEPLOY_URL FECDEPLOY_ROOT FECDEPLOY_SOFTWARE FECDEPLOY_DEV_SOFTWARE
	while read -r k n sum size path fmt ver dev; do
		[ "$k" = software ] || continue
		[ "$ver" = - ] && ver=
		var=$(printf '%s' "$n" | tr 'a-z' 'A-Z' | tr -c 'A-Z0-9' '_')
		FECDEPLOY_SOFTWARE="${FECDEPLOY_SOFTWARE:+$FECDEPLOY_SOFTWARE }$n"
		[ "$dev" = 1 ] && FECDEPLOY_DEV_SOFTWARE="${FECDEPLOY_DEV_SOFTWARE:+$FECDEPLOY_DEV_SOFTWARE }$n"
		eval "FECDEPLOY_SW_${var}_VERSION=\$ver; FECDEPLOY_SW_${var}_DEV=\$dev; export FECDEPLOY_SW_${var}_VERSION FECDEPLOY_SW_${var}_DEV"
	done <"$WORK/entries.sorted"
	while read -r k n sum rest; do
		[ "$k" = init ] || continue
		script=$STATE/init/$n
		if [ ! -f "$script" ]; then
			msg="init script $n was not installed; not run"
			fail 6 "$msg"
			add_script "$n" 127
			continue
		fi
		log "running init script $n"
		{
			(cd "$ROOT" && exec "$script" </dev/null) 2>&1
			echo $? >"$WORK/script.rc"
		} | sed "s/^/[$n] /"
		code=$(cat "$WORK/script.rc" 2>/dev/null)
		code=${code:-1}
		add_script "$n" "$code"
		if [ "$code" != 0 ]; then
			fail 6 "init script $n exited with $code"
		fi
	done <"$WORK/entries.sorted"
fi

finish
