#!/bin/sh
# fec-boot.sh - the fecdeploy boot client for FECs that cannot run Go
# (PowerPC on Yocto). POSIX sh; needs only busybox applets (wget or curl, tar,
# gzip, sha256sum, awk, sed, find, ls, mv, od); uses zstd and openssl when the
# image has them. It follows the Go client (cmd/fec-boot, docs/boot.md) and is
# checked against it by the conformance suite (conformance/).
#
#   fec-boot.sh [boot] [--url URL] [--fec NAME] [--root DIR]
#               [--allowed-roots LIST] [--public-keys FILES] [--root-keys FILES] [--conf FILE]
#               [--cmdline FILE] [--retries N] [--dry-run] [--force] [flags]
#   fec-boot.sh install [flags] [KIND...]
#
# fec-boot.sh --help lists every flag. Configuration, highest precedence
# first: flags; the environment (FECDEPLOY_URL, FECDEPLOY_FEC, FECDEPLOY_ROOT,
# FECDEPLOY_ALLOWED_ROOTS, FECDEPLOY_PUBLIC_KEYS, FECDEPLOY_ROOT_KEYS, ...: a
# flag's name in upper case); the kernel command line (fecdeploy.url=,
# fecdeploy.fec=, fecdeploy.report=; the file is --cmdline, FECDEPLOY_CMDLINE
# or /proc/cmdline);
# the configuration file (--conf, FECDEPLOY_CONF or /etc/fecdeploy.conf;
# key=value lines with a flag's name in snake case: url, fec, allowed_roots,
# public_keys, retries, ...); the defaults (FEC = short host name, allowed
# roots = opt). With --report URL (FECDEPLOY_REPORT, report=) the status file
# is sent to the release service after a boot, best effort (docs/service.md).
#
# Exit codes: 0 ok, 2 configuration or usage, 3 storage unreachable or INDEX
# not found, 4 verification (signature, sha256, size, unsafe archive),
# 5 install, 6 init script; the most severe (lowest non-zero) one wins.

# Word splitting of ls output and option lists is intended; tr ranges are ASCII (LC_ALL=C).
# shellcheck disable=SC2086,SC2046,SC1007,SC2015,SC2018,SC2019,SC2094,SC2154
PROG=fec-boot
LC_ALL=C
export LC_ALL
umask 022
NL='
'

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }

# rmf FILE...: rm -f FILE..., without starting rm when none of them exists
# (most often none does: validators, stop marks).
rmf() {
	for _x; do
		if [ -e "$_x" ] || [ -L "$_x" ]; then
			rm -f "$@"
			return
		fi
	done
}

# split SEP STRING: STRING with every SEP replaced by a space, in $W, for
# `for x in $W` (as `tr SEP ' '` did, without its two processes).
split() {
	_ss=$2 W=
	while :; do
		case $_ss in
		*"$1"*) W="$W${_ss%%"$1"*} "; _ss=${_ss#*"$1"} ;;
		*) W=$W$_ss; return ;;
		esac
	done
}

# ---------------------------------------------------------------- results

RC=0
# rank CODE: severity; the lowest non-zero exit code is the most severe.
# (in $RK: no subshell)
rank() { if [ "$1" = 0 ]; then RK=0; else RK=$((10 - $1)); fi; }
# worse CODE: CODE is more severe than the exit code so far
worse() {
	rank "$RC"
	_rk=$RK
	rank "$1"
	[ "$RK" -gt "$_rk" ]
}
# fail CODE MESSAGE: remember the most severe exit code and log the message.
fail() {
	case $1 in [1-9]) ;; *) set -- 5 "$2" ;; esac
	log "error: $2"
	if worse "$1"; then RC=$1; fi
	ERRORS="${ERRORS:+$ERRORS$NL}$2"
}

# json_str S: S as a JSON string literal: backslash, quote and control
# characters escaped, bytes that are not UTF-8 replaced by U+FFFD (as Go's
# encoding/json does), so that the status file stays valid whatever bytes
# an error quotes.
json_str() {
	case $1 in
	*[\\\"]* | *[!\ -~]*) ;;
	*) printf '"%s"' "$1"; return ;;
	esac
	printf '%s\n' "$1" | awk '
	BEGIN { ORS = ""; for (i = 1; i < 256; i++) ord[sprintf("%c", i)] = i; printf "\"" }
	NR > 1 { printf "\\n" }
	{
		s = $0; n = length(s); o = ""
		for (i = 1; i <= n; i++) {
			ch = substr(s, i, 1); c = ord[ch]
			if (ch == "\"" || ch == "\\") { o = o "\\" ch; continue }
			if (c < 32) { o = o (c == 9 ? "\\t" : c == 13 ? "\\r" : sprintf("\\u%04x", c)); continue }
			if (c < 128) { o = o ch; continue }
			k = 0; lo = 128; hi = 191
			if (c >= 194 && c <= 223) k = 1
			else if (c >= 224 && c <= 239) { k = 2; if (c == 224) lo = 160; if (c == 237) hi = 159 }
			else if (c >= 240 && c <= 244) { k = 3; if (c == 240) lo = 144; if (c == 244) hi = 143 }
			ok = k > 0 && i + k <= n
			for (j = 1; ok && j <= k; j++) {
				d = ord[substr(s, i + j, 1)]
				if (j == 1 ? (d < lo || d > hi) : (d < 128 || d > 191)) ok = 0
			}
			if (ok) { o = o substr(s, i, k + 1); i += k } else o = o "\\ufffd"
		}
		printf "%s", o
	}
	END { printf "\"" }'
}

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
# ms: milliseconds since boot (or since the epoch) into $MS, for durations;
# no subshell, it runs often.
ms() {
	if [ -r /proc/uptime ]; then
		read -r _up _ </proc/uptime
		case $_up in
		*.??) MS=$((${_up%.*} * 1000 + 1${_up#*.} * 10 - 1000)) ;;
		*) MS=$((${_up%.*} * 1000)) ;;
		esac
	else
		MS=$(($(date +%s) * 1000))
	fi
}

# bounded S CMD...: runs the command CMD (not a function), stopped with
# SIGTERM after S seconds, and writes "rc=<its exit status>" (143 when
# stopped) to fd 3. CMD's output goes where the caller's does. It bounds
# every wget request by the time left before the deadline.
# Not busybox timeout: its watchdog process keeps the caller's pipes open
# for up to a second after the command has ended, so every download read
# through a pipe waited that second. Not `wait`: busybox ash's wait can miss
# a child that exits at once. Here CMD is in the foreground, telling its
# pid through a pipe to the watchdog, and holding that pipe's write end:
# the watchdog sees the pipe end as soon as CMD does, and holds none of the
# caller's files.
bounded() {
	_bs=$1
	shift
	{
		{
			sh -c 'echo $$ >&9; exec "$@"' bounded "$@" 9>&1 >&8 8>&-
			echo "rc=$?" >&3
		} | watchdog "$_bs" >/dev/null 2>&1 3>&- 8>&-
	} 8>&1
}

# watchdog S: reads a pid on stdin, then stops that process with SIGTERM
# after S seconds unless stdin ends first. busybox read -t says 1 both at
# the end of input and at its timeout: a read that ends well before its
# second is the end of input.
watchdog() {
	read -r _wp || return 0
	_ws=$1
	while [ "$_ws" -gt 0 ]; do
		ms
		_w0=$MS
		# shellcheck disable=SC3045 # busybox ash has read -t
		read -r -t 1 _ && continue
		ms
		[ $((MS - _w0)) -ge 900 ] || return 0
		_ws=$((_ws - 1))
	done
	kill "$_wp" 2>/dev/null
}

STATUS_ENTRIES=
STATUS_SCRIPTS=
REMOVED=
REPAIRS=
# repaired MESSAGE: broken state found and repaired; said on stderr, in the
# summary and in the status file ("repairs"), never silently.
repaired() {
	log "state repaired: $1"
	REPAIRS="${REPAIRS:+$REPAIRS$NL}$1"
}
SUMMARY_SCRIPTS=
# jsv STRING: the JSON literal of STRING in $JV, without a subshell when
# nothing needs escaping.
jsv() {
	case $1 in
	*[\\\"]* | *[!\ -~]*) JV=$(json_str "$1") ;;
	*) JV="\"$1\"" ;;
	esac
}

# add_entry SLOT KIND NAME VERSION DEV SHA256 ACTION BYTES DURATION_MS ERROR
# The entries are written in INDEX order (SLOT) whatever order they finish in.
add_entry() {
	_slot=$1
	# the line of the summary printed at the end
	_name="$3${4:+ $4}"
	[ "$5" != 1 ] || _name="$_name (dev)"
	printf '  %-9s %-13s %-36s %10s %7sms%s\n' "$7" "$2" "$_name" "$8 B" "$9" "${10:+  ${10}}" >"$WORK/sum.$_slot"
	jsv "$2"
	_e="{\"kind\": $JV"
	jsv "$3"
	_e="$_e, \"name\": $JV"
	if [ -n "$4" ]; then jsv "$4"; _e="$_e, \"version\": $JV"; fi
	if [ "$5" = 1 ]; then _e="$_e, \"dev\": true"; else _e="$_e, \"dev\": false"; fi
	jsv "$6"
	_e="$_e, \"sha256\": $JV"
	jsv "$7"
	_e="$_e, \"action\": $JV, \"bytes\": $8, \"duration_ms\": $9"
	shift 9
	if [ -n "$1" ]; then jsv "$1"; _e="$_e, \"error\": $JV"; fi
	printf '%s}' "$_e" >"$WORK/entry.$_slot"
}
# add_script NAME ACTION EXIT_CODE DURATION_MS ERROR OUTPUT_FILE
add_script() {
	SUMMARY_SCRIPTS="$SUMMARY_SCRIPTS$(printf '  %-9s %-13s %-36s %10s %7sms%s' "$2" init "$1" "exit $3" "$4" "${5:+  $5}")$NL"
	_e="{\"name\": $(json_str "$1"), \"action\": $(json_str "$2"), \"exit_code\": $3, \"duration_ms\": $4"
	if [ -n "$5" ]; then _e="$_e, \"error\": $(json_str "$5")"; fi
	if [ -n "$6" ] && [ -s "$6" ]; then
		_o=
		while IFS= read -r _l; do _o="${_o:+$_o, }$(json_str "$_l")"; done <<EOT
$(tail -n 20 "$6")
EOT
		_e="$_e, \"output\": [$_o]"
	fi
	STATUS_SCRIPTS="${STATUS_SCRIPTS:+$STATUS_SCRIPTS,$NL    }$_e}"
}

write_status() {
	[ -n "$STATUS_FILE" ] && [ "$COMMAND" = boot ] && [ "$DRY_RUN" = 0 ] || return 0
	mkdir -p "${STATUS_FILE%/*}" 2>/dev/null || return 0
	{
		printf '{\n'
		printf '  "client": "fec-boot.sh",\n'
		printf '  "fec": %s,\n' "$(json_str "$FEC")"
		printf '  "base_url": %s,\n' "$(json_str "$(redact "$URL")")"
		printf '  "root": %s,\n' "$(json_str "$ROOT")"
		printf '  "command": "%s",\n' "$COMMAND"
		printf '  "dry_run": false,\n'
		printf '  "index_sha256": "%s",\n' "$INDEX_SHA256"
		printf '  "started": "%s",\n' "$STARTED"
		printf '  "finished": "%s",\n' "$(now)"
		ms
		printf '  "duration_ms": %s,\n' "$((MS - START_MS))"
		printf '  "entries": [%s%s%s],\n' "${STATUS_ENTRIES:+$NL    }" "$STATUS_ENTRIES" "${STATUS_ENTRIES:+$NL  }"
		printf '  "scripts": [%s%s%s],\n' "${STATUS_SCRIPTS:+$NL    }" "$STATUS_SCRIPTS" "${STATUS_SCRIPTS:+$NL  }"
		if [ -n "$REMOVED" ]; then
			printf '  "removed": ['
			_sep=
			for _d in $REMOVED; do printf '%s%s' "$_sep" "$(json_str "$_d")"; _sep=', '; done
			printf '],\n'
		fi
		if [ -n "$REPAIRS" ]; then
			_o=
			while IFS= read -r _l; do _o="${_o:+$_o, }$(json_str "$_l")"; done <<EOT
$REPAIRS
EOT
			printf '  "repairs": [%s],\n' "$_o"
		fi
		printf '  "exit_code": %s' "$RC"
		if [ -n "$ERRORS" ]; then printf ',\n  "error": %s' "$(json_str "$ERRORS")"; fi
		printf '\n}\n'
	} >"$STATUS_FILE.tmp" 2>/dev/null && [ "$(tail -c 2 "$STATUS_FILE.tmp")" = "}" ] &&
		mv -f "$STATUS_FILE.tmp" "$STATUS_FILE" 2>/dev/null && return 0
	# a full or read-only state filesystem: no half-written file stays
	rm -f "$STATUS_FILE.tmp"
	log "error: cannot write the status file $STATUS_FILE (a full or read-only filesystem?)"
	if worse 5; then RC=5; fi
}

# report_status: send the status file to the release service (report=),
# best effort: at most about 3 s, no retry, never changes the exit code.
report_status() {
	[ -n "$REPORT" ] && [ -n "$STATUS_FILE" ] && [ -f "$STATUS_FILE" ] && [ "$COMMAND" = boot ] && [ "$DRY_RUN" = 0 ] || return 0
	_ru="${REPORT%/}/api/v1/fecs/$FEC/report"
	if [ "$FETCH" = curl ]; then
		curl -sS -f -o /dev/null --max-time 3 -H 'Content-Type: application/json' --data-binary "@$STATUS_FILE" "$_ru" 2>/dev/null ||
			log "warning: status not reported to $(redact "$REPORT") (the boot is not affected)"
		return 0
	fi
	# busybox wget: -T crashes and Yocto has no timeout applet: at most 3 s.
	_rr=$({ bounded 3 wget -q -O /dev/null --header 'Content-Type: application/json' --post-file "$STATUS_FILE" "$_ru" >/dev/null 2>&1; } 3>&1)
	[ "$_rr" = rc=0 ] || log "warning: status not reported to $(redact "$REPORT") (the boot is not affected)"
}

# finish: write the status file, clean up, exit with the collected code.
finish() {
	# background downloads still running (interrupted): stop them first
	for _p in $PIDS; do kill "$_p" 2>/dev/null; done
	if [ -n "$WORK" ]; then
		_i=1
		while [ -f "$WORK/entry.$_i" ]; do
			STATUS_ENTRIES="${STATUS_ENTRIES:+$STATUS_ENTRIES,$NL    }$(cat "$WORK/entry.$_i")"
			_i=$((_i + 1))
		done
	fi
	write_status
	report_status
	summary
	[ -n "$WORK" ] && rm -rf "$WORK"
	exit "$RC"
}

# summary: what this run did, on stdout (as the Go client prints it).
summary() {
	[ -n "$INDEX_SHA256" ] || [ -n "$WORK" ] || return 0
	_what=$COMMAND
	[ "$DRY_RUN" = 0 ] || _what="$_what (dry run)"
	printf 'fec-boot.sh %s of FEC %s from %s%s\n' "$_what" "$FEC" "$(redact "$URL")" "${INDEX_SHA256:+ (INDEX sha256 $(printf '%.12s' "$INDEX_SHA256"))}"
	_in=0 _sk=0 _fa=0 _i=1
	while [ -n "$WORK" ] && [ -f "$WORK/sum.$_i" ]; do
		read -r _a _ <"$WORK/sum.$_i"
		case $_a in installed | dry-run) _in=$((_in + 1)) ;; skipped) _sk=$((_sk + 1)) ;; failed) _fa=$((_fa + 1)) ;; esac
		cat "$WORK/sum.$_i"
		_i=$((_i + 1))
	done
	printf '%s' "$SUMMARY_SCRIPTS"
	for _d in $REMOVED; do printf '  removed   %s\n' "$_d"; done
	[ -z "$REPAIRS" ] || printf '%s\n' "$REPAIRS" | sed 's/^/  repaired  /'
	_ns=$(printf '%s' "$SUMMARY_SCRIPTS" | grep -c .)
	_sf=$(printf '%s' "$SUMMARY_SCRIPTS" | grep -c '^  failed ')
	ms
	printf '%d installed, %d skipped, %d failed; %d scripts, %d failed; %dms; exit code %d\n' \
		"$_in" "$_sk" "$_fa" "$_ns" "$_sf" "$((MS - START_MS))" "$RC"
}

# fatal CODE MESSAGE: stop here (configuration, INDEX unreachable or refused).
fatal() {
	fail "$1" "$2"
	finish
}

# redact URL: user information and query replaced by REDACTED (as the Go
# client's status file and messages show them), no fragment.
redact() {
	_u=${1%%#*}
	case $_u in
	*://*@*) _h=${_u#*://}; _h=${_h%%/*}
		case $_h in *@*) _u="${_u%%://*}://REDACTED@${_u#*@}" ;; esac ;;
	esac
	case $_u in *\?*) _u="${_u%%\?*}?REDACTED" ;; esac
	printf '%s' "$_u"
}

# scrub TEXT: TEXT without the base URL's user information and query, and
# without the user information of any URL in it (a tool's message may quote them).
scrub() {
	_ui=
	case $URL in *://*@*) _ui=${URL#*://}; _ui=${_ui%%/*}; case $_ui in *@*) _ui=${_ui%@*} ;; *) _ui= ;; esac ;; esac
	_q=
	case $URL in *\?*) _q=${URL#*\?} ;; esac
	if [ -z "$_ui$_q" ]; then
		case $1 in *://*@*) ;; *) printf '%s\n' "$1"; return ;; esac # nothing to scrub: no awk
	fi
	printf '%s\n' "$1" | awk -v a="$_ui" -v b="$_q" '
	function cut(s, x,   i, o) {
		if (x == "") return s
		o = ""
		while ((i = index(s, x)) > 0) { o = o substr(s, 1, i - 1) "REDACTED"; s = substr(s, i + length(x)) }
		return o s
	}
	{ s = cut(cut($0, a), b); gsub(/:\/\/[^\/@ ]*@/, "://REDACTED@", s); print s }'
}

# plain URL: without user information, query and fragment (the scripts' FECDEPLOY_URL).
plain() {
	_u=${1%%#*}
	_u=${_u%%\?*}
	case $_u in
	*://*@*) _h=${_u#*://}; _h=${_h%%/*}
		case $_h in *@*) _u="${_u%%://*}://${_u#*@}" ;; esac ;;
	esac
	printf '%s' "$_u"
}

# url_for PATH: PATH below the base URL, keeping the base URL's query
# (e.g. ?token=...) at the end, in $U (no subshell: it runs per download).
url_for() {
	case $URL in
	*\?*) U="${URL%%\?*}/$1?${URL#*\?}" ;;
	*) U="$URL/$1" ;;
	esac
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
	cat <<'EOT'
Usage:
  fec-boot.sh [boot] [flags]             fetch the INDEX, install every archive, run the init scripts
  fec-boot.sh install [flags] [kind...]  install archives only (kinds: software, configuration, data)
  fec-boot.sh install-archive FILE -sha256 HEX -name NAME [-version dev] [-prefix DIR] [flags]
                                         install a dev release copied onto this FEC, verified and
                                         staged as at boot; recorded as a dev release
  fec-boot.sh dev ls [-json] [flags]     list the dev releases installed on this FEC
  fec-boot.sh dev rm NAME [flags]        remove a dev release (its prefix directory and record)

Examples:
  fec-boot.sh --url http://storage.example/ --fec ppc01   boot this FEC as ppc01
  fec-boot.sh                                  boot with the kernel command line (fecdeploy.url=)
                                               and /etc/fecdeploy.conf
  fec-boot.sh --dry-run --root /tmp/fecroot    show what would be installed, under /tmp/fecroot
  fec-boot.sh install software                 (from an init script) install the software only
  FECDEPLOY_URL=http://storage.example/ fec-boot.sh --retries 0 --start-jitter 0
                                               one quick attempt, e.g. by hand on a console

Flags [environment variable, kernel parameter, /etc/fecdeploy.conf key]:
  --url URL              base URL of the web storage [FECDEPLOY_URL, fecdeploy.url=, url=]
  --fec NAME             this FEC's name (default: short host name) [FECDEPLOY_FEC, fecdeploy.fec=, fec=]
  --root DIR             unpack below DIR; scripts run in it (default /) [FECDEPLOY_ROOT, root=]
  --allowed-roots LIST   comma-separated directories below the root archives may write to (default opt)
                         [FECDEPLOY_ALLOWED_ROOTS, allowed_roots=]
  --state-dir DIR        installed state and script copies (default <root>/var/lib/fecdeploy) [FECDEPLOY_STATE_DIR, state_dir=]
  --status-file FILE     JSON status file (default <state-dir>/status.json) [FECDEPLOY_STATUS_FILE, status_file=]
  --retries N            retries per request (default 8) [FECDEPLOY_RETRIES, retries=]
  --retry-wait-max D     longest backoff between retries (default 30s) [FECDEPLOY_RETRY_WAIT_MAX, retry_wait_max=]
  --deadline D           overall deadline for fetching and installing (default 10m) [FECDEPLOY_DEADLINE, deadline=]
  --script-timeout D     timeout of each init script, needs a timeout applet (default 5m) [FECDEPLOY_SCRIPT_TIMEOUT, script_timeout=]
  --start-jitter D       random delay before a boot starts (default 5s) [FECDEPLOY_START_JITTER, start_jitter=]
  --public-keys FILES    comma-separated PEM files of trusted INDEX signing keys; needs openssl [FECDEPLOY_PUBLIC_KEYS, public_keys=]
  --root-keys FILES      comma-separated PEM files of the pinned root keys: follow the storage's keyring (keys/keyring);
                         public_keys is then ignored; needs openssl [FECDEPLOY_ROOT_KEYS, root_keys=]
  --ca-file FILE         PEM CA certificates for https, needs curl [FECDEPLOY_CA_FILE, ca_file=]
  --report URL           release service the boot status is sent to, best effort [FECDEPLOY_REPORT, fecdeploy.report=, report=]
  --dry-run              report what would change [FECDEPLOY_DRY_RUN, dry_run=]
  --force                reinstall archives even when installed [FECDEPLOY_FORCE, force=]
  --keep-previous[=false] keep each software's previous version for a rollback; older ones are removed
                         (default true) [FECDEPLOY_KEEP_PREVIOUS, keep_previous=]
  --allow-http-redirect  let an https URL follow a redirect to http (default false: refused)
                         [FECDEPLOY_ALLOW_HTTP_REDIRECT, allow_http_redirect=]
  --conf FILE            configuration file (default /etc/fecdeploy.conf) [FECDEPLOY_CONF]
  --cmdline FILE         kernel command line (default /proc/cmdline, 'none' ignores it) [FECDEPLOY_CMDLINE]
  --parallel N           archives prepared (downloaded, verified, decompressed) ahead at once (default 4) [FECDEPLOY_PARALLEL, parallel=]
  --idle-timeout D       fail a request whose next bytes do not come within D (default 30s; curl only) [FECDEPLOY_IDLE_TIMEOUT, idle_timeout=]
  --retry-after-cap D    longest Retry-After honoured (default 60s) [FECDEPLOY_RETRY_AFTER_CAP, retry_after_cap=]

Exit codes (when several problems occur, the lowest non-zero code wins):
  0 ok, 2 configuration or usage, 3 storage unreachable or no INDEX (404),
  4 verification (signature, sha256/size, unsafe archive), 5 install, 6 init script
EOT
}

STARTED=$(now)
ms
START_MS=$MS
STATUS_FILE=
REPORT=
FETCH=
PIDS=
WORK=
FEC=
URL=
ROOT=
INDEX_SHA256=
ERRORS=
COMMAND=boot
DRY_RUN=0

KEYS="url fec root allowed_roots state_dir status_file parallel retries retry_wait_max retry_after_cap idle_timeout deadline script_timeout start_jitter public_keys root_keys ca_file report dry_run force keep_previous allow_http_redirect"
# Flags are kept as O_<key>; set_flag KEY VALUE.
set_flag() { eval "O_$1=\$2; F_$1=1"; }
O_conf='' O_cmdline='' KINDS='' ARGS_LEFT=''
O_sha256='' O_name='' O_version='' O_prefix='' O_json=''
if [ $# -gt 0 ]; then
	case $1 in boot | install | install-archive | dev) COMMAND=$1; shift ;; esac
fi
while [ $# -gt 0 ]; do
	_a=$1
	case $_a in
	--) shift; ARGS_LEFT="$ARGS_LEFT $*"; break ;;
	-h | -help | --help) usage; exit 0 ;;
	-*) ;;
	*)
		# install-archive and dev take flags after their arguments, and may
		# follow flags ("fec-boot.sh --root /x install-archive FILE -sha256 ...")
		case $COMMAND in
		install-archive | dev) ARGS_LEFT="$ARGS_LEFT $_a"; shift; continue ;;
		boot) case $_a in install-archive | dev) [ -z "$ARGS_LEFT" ] && { COMMAND=$_a; shift; continue; } ;; esac ;;
		esac
		ARGS_LEFT="$ARGS_LEFT $*"; break ;;
	esac
	_a=${_a#-}
	_a=${_a#-}
	_v=
	_hasv=0
	case $_a in *=*) _v=${_a#*=}; _a=${_a%%=*}; _hasv=1 ;; esac
	_k=$_a
	while :; do case $_k in *-*) _k=${_k%%-*}_${_k#*-} ;; *) break ;; esac; done
	_known=" $KEYS conf cmdline "
	case $COMMAND in install-archive | dev) _known="$_known sha256 name version prefix json " ;; esac
	case $_known in
	*" $_k "*) ;;
	*) usage >&2; fatal 2 "flag provided but not defined: -$_a (see fec-boot.sh --help)" ;;
	esac
	case $_k in
	dry_run | force | json | keep_previous | allow_http_redirect) [ "$_hasv" = 1 ] || _v=true ;;
	*) if [ "$_hasv" = 0 ]; then
		[ $# -ge 2 ] || fatal 2 "flag needs an argument: -$_a (see fec-boot.sh --help)"
		_v=$2
		shift
	fi ;;
	esac
	set_flag "$_k" "$_v"
	shift
done
set -f
# shellcheck disable=SC2086
set -- $ARGS_LEFT
set +f
if [ "$COMMAND" = boot ] && [ "${1:-}" = install ]; then COMMAND=install; shift; fi
if [ "$COMMAND" = boot ] && [ $# -gt 0 ]; then fatal 2 "unexpected argument \"$1\" (see fec-boot.sh --help)"; fi
DEV_ARGS=
DEV_CMD=
case $COMMAND in
install-archive | dev) DEV_ARGS=$*; DEV_CMD=1; set -- ;;
esac
KINDS=$*

# Configuration file: key=value lines, '#' comments; unknown keys are errors.
CONF=/etc/fecdeploy.conf
CONF_EXPLICIT=0
if [ -n "${FECDEPLOY_CONF:-}" ]; then CONF=$FECDEPLOY_CONF CONF_EXPLICIT=1; fi
if [ -n "$O_conf" ]; then CONF=$O_conf CONF_EXPLICIT=1; fi
if [ -e "$CONF" ] || [ "$CONF_EXPLICIT" = 1 ]; then
	[ -r "$CONF" ] || fatal 2 "reading configuration file: $CONF does not exist or is not readable"
	_n=0
	while IFS= read -r _line || [ -n "$_line" ]; do
		_n=$((_n + 1))
		# blanks around the line, the key and the value, and quotes around
		# the value, go (without sed: a FEC's boot forks little)
		_line=${_line#"${_line%%[! 	]*}"}
		_line=${_line%"${_line##*[! 	]}"}
		case $_line in '' | '#'*) continue ;; *=*) ;; *) fatal 2 "$CONF:$_n: \"$_line\" is not key=value" ;; esac
		_k=${_line%%=*}
		_k=${_k%"${_k##*[! 	]}"}
		_v=${_line#*=}
		_v=${_v#"${_v%%[! 	]*}"}
		_v=${_v#"${_v%%[!\"\']*}"}
		_v=${_v%"${_v##*[!\"\']}"}
		case " $KEYS " in *" $_k "*) ;; *) fatal 2 "$CONF:$_n: unknown key \"$_k\" (known: $(printf '%s\n' $KEYS | sort | tr '\n' ' ' | sed 's/ $//; s/ /, /g'))" ;; esac
		eval "C_$_k=\$_v"
	done <"$CONF"
fi

# Kernel command line: fecdeploy.url= and fecdeploy.fec= (double quotes group).
CMDLINE=/proc/cmdline
if [ -n "${FECDEPLOY_CMDLINE:-}" ]; then CMDLINE=$FECDEPLOY_CMDLINE; fi
if [ -n "$O_cmdline" ]; then CMDLINE=$O_cmdline; fi
if [ "$CMDLINE" != none ] && [ -r "$CMDLINE" ]; then
	for _k in url fec report; do
		_v=$(awk -v key="fecdeploy.$_k" '{
			s = $0; cur = ""; q = 0; n = 0
			for (i = 1; i <= length(s); i++) {
				c = substr(s, i, 1)
				if (c == "\"") { q = !q; continue }
				if (!q && (c == " " || c == "\t")) { if (cur != "") w[++n] = cur; cur = ""; continue }
				cur = cur c
			}
			if (cur != "") w[++n] = cur
			for (i = 1; i <= n; i++) { j = index(w[i], "="); k = j ? substr(w[i], 1, j - 1) : w[i]; if (k == key) { v = j ? substr(w[i], j + 1) : ""; found = 1 } }
		} END { if (found) print v }' "$CMDLINE")
		[ -n "$_v" ] && eval "K_$_k=\$_v"
	done
fi

# The readers below set $GOT and run in this shell, not in a $(...)
# subshell: process creation is what a busybox boot spends most of its time
# on, and a refusal (fatal) must end the script, not a subshell.

# upper KEY: a configuration key as in its environment variable, in $UP.
upper() {
	case $1 in
	url) UP=URL ;; fec) UP=FEC ;; root) UP=ROOT ;; allowed_roots) UP=ALLOWED_ROOTS ;;
	state_dir) UP=STATE_DIR ;; status_file) UP=STATUS_FILE ;; parallel) UP=PARALLEL ;;
	retries) UP=RETRIES ;; retry_wait_max) UP=RETRY_WAIT_MAX ;; retry_after_cap) UP=RETRY_AFTER_CAP ;;
	idle_timeout) UP=IDLE_TIMEOUT ;; deadline) UP=DEADLINE ;; script_timeout) UP=SCRIPT_TIMEOUT ;;
	start_jitter) UP=START_JITTER ;; public_keys) UP=PUBLIC_KEYS ;; root_keys) UP=ROOT_KEYS ;;
	ca_file) UP=CA_FILE ;; report) UP=REPORT ;;
	dry_run) UP=DRY_RUN ;; force) UP=FORCE ;;
	keep_previous) UP=KEEP_PREVIOUS ;; allow_http_redirect) UP=ALLOW_HTTP_REDIRECT ;;
	*) UP= ;;
	esac
}

# get KEY DEFAULT: flag > environment > kernel command line > file > default.
get() {
	upper "$1"
	eval "_f=\${F_$1:-0} _fv=\${O_$1:-} _cv=\${K_$1:-} _fl=\${C_$1:-} _ev=\${FECDEPLOY_$UP:-}"
	if [ "$_f" = 1 ]; then GOT=$_fv
	elif [ -n "$_ev" ]; then GOT=$_ev
	elif [ -n "$_cv" ]; then GOT=$_cv
	elif [ -n "$_fl" ]; then GOT=$_fl
	else GOT=$2; fi
}

# seconds KEY DEFAULT: get, as a duration (30s, 5m, 1h, 500ms or plain
# seconds) in whole seconds.
seconds() {
	get "$1" "$2"
	case $GOT in
	*[!0-9]*) ;;
	?*) return ;;
	esac
	GOT=$(printf '%s' "$GOT" | awk '{
		s = $0; t = 0; if (s == "") exit 1
		while (s != "") {
			if (!match(s, /^[0-9]+(\.[0-9]+)?/)) exit 1
			n = substr(s, 1, RLENGTH) + 0; s = substr(s, RLENGTH + 1)
			if (s ~ /^ms/) { t += n / 1000; s = substr(s, 3) }
			else if (s ~ /^s/) { t += n; s = substr(s, 2) }
			else if (s ~ /^m/) { t += n * 60; s = substr(s, 2) }
			else if (s ~ /^h/) { t += n * 3600; s = substr(s, 2) }
			else exit 1
		}
		printf "%d\n", (t == int(t)) ? t : int(t) + 1
	}') || { get "$1" "$2"; fatal 2 "$1=\"$GOT\" is not a duration (like 30s, 5m or a number of seconds)"; }
}

# boolean KEY DEFAULT: get, as 1 or 0.
boolean() {
	get "$1" "$2"
	case $GOT in
	1 | [Tt][Rr][Uu][Ee] | [Yy][Ee][Ss] | [Oo][Nn]) GOT=1 ;;
	0 | [Ff][Aa][Ll][Ss][Ee] | [Nn][Oo] | [Oo][Ff][Ff] | '') GOT=0 ;;
	*) fatal 2 "$1=\"$GOT\" is not a boolean (true/false, 1/0)" ;;
	esac
}

get url ""
URL=$GOT
case $URL in
*\?*) _q=${URL#*\?}; URL=${URL%%\?*}; while [ "${URL%/}" != "$URL" ]; do URL=${URL%/}; done; URL="$URL?$_q" ;;
*) while [ "${URL%/}" != "$URL" ]; do URL=${URL%/}; done ;;
esac
get fec ""; FEC=$GOT
get root /; ROOT=$GOT
get allowed_roots opt; ALLOWED=$GOT
get state_dir ""; STATE=$GOT
get status_file ""; STATUS_FILE_CFG=$GOT
get retries 8; RETRIES=$GOT
seconds retry_wait_max 30; RETRY_WAIT_MAX=$GOT
seconds retry_after_cap 60; RETRY_AFTER_CAP=$GOT
seconds idle_timeout 30; IDLE_TIMEOUT=$GOT
[ "$IDLE_TIMEOUT" -ge 1 ] || IDLE_TIMEOUT=30
seconds deadline 600; DEADLINE=$GOT
seconds script_timeout 300; SCRIPT_TIMEOUT=$GOT
seconds start_jitter 5; START_JITTER=$GOT
get public_keys ""; PUBKEYS=$GOT
get root_keys ""; ROOTKEYS=$GOT
get ca_file ""; CA_FILE=$GOT
get report ""; REPORT=$GOT
boolean dry_run false; DRY_RUN=$GOT
boolean force false; FORCE=$GOT
boolean keep_previous true; KEEP_PREVIOUS=$GOT
boolean allow_http_redirect false; ALLOW_HTTP_REDIRECT=$GOT
get parallel 4; PARALLEL=$GOT
case $PARALLEL in -*) PARALLEL=0 ;; esac
case $PARALLEL in *[!0-9]* | '') fatal 2 "parallel=\"$PARALLEL\" is not a whole number" ;; esac
[ "$PARALLEL" -ge 1 ] || PARALLEL=4
case $RETRIES in -*) RETRIES=0 ;; esac
case $RETRIES in *[!0-9]* | '') fatal 2 "retries=\"$RETRIES\" is not a whole number" ;; esac

case $COMMAND in install-archive | dev) [ -n "$URL" ] || URL=http://localhost ;; esac # not contacted
[ -n "$URL" ] || fatal 2 "no base URL: set --url, FECDEPLOY_URL, fecdeploy.url= on the kernel command line or url= in /etc/fecdeploy.conf"
case $URL in
http://?* | https://?*) ;;
*) fatal 2 "base URL \"$(redact "$URL")\" is not an http:// or https:// URL" ;;
esac
if [ -z "$FEC" ]; then
	FEC=$(hostname 2>/dev/null || uname -n)
	FEC=${FEC%%.*}
fi
valid_name "$FEC" || fatal 2 "bad FEC name \"$FEC\": use only letters, digits, '.', '_' and '-', starting with a letter or digit"
[ "$FEC" != global ] || fatal 2 "bad FEC name \"global\": \"global\" is the folder of shared init scripts, not a FEC"
case $ROOT in /*) ;; *) ROOT=$(pwd)/$ROOT ;; esac
[ "$ROOT" = / ] || ROOT=${ROOT%/}
R=${ROOT%/} # prefix for paths below the root ("" for /)
[ -n "$STATE" ] || STATE=$R/var/lib/fecdeploy
STATUS_FILE=${STATUS_FILE_CFG:-$STATE/status.json}

ROOTS=
split ',' "$ALLOWED"
for _a in $W; do
	_b=$(printf '%s' "$_a" | sed 's#^/*##; s#/*$##')
	case /$_b/ in //* | */../* | */./*) fatal 2 "allowed root \"$_a\" must be a directory below the root, like opt or opt/fesa" ;; esac
	ROOTS="$ROOTS $_b"
done
ROOTS=${ROOTS# }

for _k in $KINDS; do
	case $_k in software | configuration | data) ;;
	*) fatal 2 "kind \"$_k\" cannot be installed; use software, configuration or data (init scripts run at boot)" ;; esac
done

# check_key_files LIST WHAT: every file of the comma-separated LIST is
# readable and holds a PEM public key; WHAT names them in the message.
check_key_files() {
	split ',' "$1"
	for _f in $W; do
		[ -r "$_f" ] || fatal 2 "reading $2 file: $_f does not exist or is not readable"
		grep -q -- '-----BEGIN PUBLIC KEY-----' "$_f" || fatal 2 "$2 file $_f: no PEM \"PUBLIC KEY\" block found"
	done
}
if [ -n "$PUBKEYS" ]; then
	check_key_files "$PUBKEYS" "public key"
	command -v openssl >/dev/null 2>&1 ||
		fatal 2 "public keys are configured ($PUBKEYS) but this FEC has no openssl binary to verify INDEX.sig: add openssl (3.0 or newer) to the image, or remove public_keys"
fi
# Root keys: the FEC follows the keyring (docs/security.md, "Keys"). Without
# openssl nothing can be verified: refused, never booted unverified.
if [ -n "$ROOTKEYS" ]; then
	check_key_files "$ROOTKEYS" "root key"
	command -v openssl >/dev/null 2>&1 ||
		fatal 2 "root keys are configured ($ROOTKEYS) but this FEC has no openssl binary to verify the keyring and INDEX.sig: add openssl (3.0 or newer) to the image; nothing is installed unverified"
fi
# TRUST: the INDEX must be signed (by a pinned key, or by a key of the keyring).
TRUST=
[ -z "$PUBKEYS$ROOTKEYS" ] || TRUST=1

# ---------------------------------------------------------------- tools

for _t in tar gzip sha256sum sed awk find ls mv od sort tail head tr cut grep mktemp env; do
	command -v "$_t" >/dev/null 2>&1 || fatal 2 "required tool \"$_t\" not found on PATH"
done
if command -v curl >/dev/null 2>&1; then
	FETCH=curl
elif command -v wget >/dev/null 2>&1; then
	FETCH=wget
else
	fatal 2 "neither curl nor wget found on PATH"
fi
# busybox wget sends the user and password of a URL on to whatever host a
# redirect points to, and cannot be told not to follow redirects.
case $URL in
*://*@*) _h=${URL#*://}; _h=${_h%%/*}
	case $_h in *@*) [ "$FETCH" = curl ] || fatal 2 "the base URL $(redact "$URL") carries a user and password, but this FEC has only busybox wget, which would send them on to any host a redirect points to: add curl to the image, or give the credential as a query (?token=...)" ;; esac ;;
esac
if [ -n "$CA_FILE" ] && [ "$FETCH" != curl ]; then
	log "warning: ca_file=$CA_FILE needs curl; busybox wget uses its own certificate handling"
fi
FRACTIONAL_SLEEP=0
sleep 0.001 2>/dev/null && FRACTIONAL_SLEEP=1

if [ "$DRY_RUN" = 1 ]; then
	# a dry run writes nothing below the root
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/fec-boot.XXXXXXXX") || fatal 5 "cannot create a work directory in ${TMPDIR:-/tmp}"
else
	mkdir -p "$STATE" || fatal 5 "cannot create the state directory $STATE"
	# Work and staging directories of interrupted runs (a kill, a power
	# cut): named .work-<pid>-* and .fecdeploy-staging-<pid>-*, removed when
	# that process no longer runs (not those of a running boot: an init
	# script may call `fec-boot.sh install` while the boot waits); names
	# without a pid (older clients) when older than a day.
	leftover() {
		[ -d "$1" ] && [ ! -L "$1" ] || return 0
		_n=${1##*/}
		_n=${_n#.work-}
		_n=${_n#.fecdeploy-staging-}
		case $_n in
		[0-9]*-*) _pid=${_n%%-*}
			[ "$_pid" != $$ ] && ! kill -0 "$_pid" 2>/dev/null || return 0 ;;
		*) [ -n "$(find "$1" -maxdepth 0 -mtime +1)" ] || return 0 ;;
		esac
		chmod -R u+rwx "$1" 2>/dev/null
		rm -rf "$1" && log "removed $1, the staging or work directory of an interrupted run"
	}
	for _d in "$STATE"/.work-*; do leftover "$_d"; done
	for _r in $ROOTS; do
		for _d in "$R/$_r"/.fecdeploy-staging-*; do leftover "$_d"; done
	done
	WORK=$(mktemp -d "$STATE/.work-$$-XXXXXXXX") || fatal 5 "cannot create a work directory in $STATE"
fi
trap 'fail 5 "interrupted"; finish' INT TERM HUP

# sha256 FILE [SIZE]: "<hex> ..."; openssl when the image has it (assembler
# SHA-256, several times faster than busybox's on most CPUs), else
# sha256sum. openssl takes longer to start than busybox takes to hash 1 MiB,
# so a file known to be smaller (SIZE: INDEX, signatures, keyrings, scripts,
# small archives) is hashed by busybox.
HAVE_OPENSSL=0
command -v openssl >/dev/null 2>&1 && HAVE_OPENSSL=1
sha256() {
	if [ "$HAVE_OPENSSL" = 1 ] && [ "${2:-1048576}" -ge 1048576 ]; then
		openssl dgst -sha256 -r "$1" 2>/dev/null && return
	fi
	sha256sum "$1"
}

# ---------------------------------------------------------------- HTTP

# rand N: a number in 0..N that differs between FECs and boots, without $RANDOM
# (Yocto's busybox ash has none).
rand() {
	_r=$(tr -dc 0-9 </proc/sys/kernel/random/uuid 2>/dev/null | cut -c1-9)
	[ -n "$_r" ] || _r=$(od -An -N4 -tu4 /dev/urandom 2>/dev/null | tr -dc 0-9)
	[ -n "$_r" ] || _r=$(printf '%s %s %s' "$FEC" "$(date +%s)" "$$" | sha256sum | tr -dc 0-9 | cut -c1-9)
	echo $((1${_r:-0} % ($1 + 1)))
}

# sleep_ms N
sleep_ms() {
	if [ "$FRACTIONAL_SLEEP" = 1 ]; then
		sleep "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))"
	else
		sleep $((($1 + 999) / 1000))
	fi
}

# left: seconds until the deadline (at least 1) in $LEFT.
left() {
	ms
	LEFT=$((DEADLINE - (MS - START_MS) / 1000))
	[ "$LEFT" -ge 1 ] || LEFT=1
}

# sizeof FILE: the size in bytes without reading the file (0 when missing),
# in $SZ (no subshell: it runs several times per download).
sizeof() {
	[ -e "$1" ] || { SZ=0; return; }
	set -- $(ls -ln "$1")
	SZ=$5
}

HTTP_CODE=
RETRY_AFTER_MS=
# hdr NAME: the value of header NAME in the last response of $HDRS (header
# lines as curl -D or busybox wget -S print them), empty when absent.
hdr() {
	printf '%s\n' "$HDRS" | awk -v n="$1" 'BEGIN { n = tolower(n) ":" }
	{ sub(/\r$/, ""); sub(/^  /, "") }
	/^HTTP\// { v = "" }
	{ i = index($0, ":"); if (i && tolower(substr($0, 1, i)) == n) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v) } }
	END { print v }'
}

# retry_after: a Retry-After header of the last response (seconds or an HTTP
# date) in RETRY_AFTER_MS, capped at retry_after_cap; empty when absent.
retry_after() {
	RETRY_AFTER_MS=
	_ra=$(hdr Retry-After)
	case $_ra in
	'') return ;;
	*[!0-9]*)
		_ra=$(date -u -D '%a, %d %b %Y %H:%M:%S' -d "${_ra% GMT}" +%s 2>/dev/null) || return
		_ra=$((_ra - $(date -u +%s)))
		[ "$_ra" -ge 0 ] || _ra=0 ;;
	esac
	[ "${#_ra}" -le 9 ] || _ra=999999999
	[ "$_ra" -le "$RETRY_AFTER_CAP" ] || _ra=$RETRY_AFTER_CAP
	RETRY_AFTER_MS=$((_ra * 1000))
}

# fetch_once URL FILE CAP [EXPECT]: one GET of URL into FILE, reading at most
# CAP+1 bytes (a longer body is refused without being written whole). EXPECT,
# when given, is the size the INDEX names: a body cut short before it leaves
# FILE and its validator (FILE.v) for the next attempt, which resumes with a
# Range (and If-Range) request.
# Returns 0 ok; 1 retryable; 2 final HTTP error (403, 404...); 3 larger than
# CAP; 4 FILE could not be written (a local failure, not the network's); 5 a
# redirect from https to http, refused (allow_http_redirect).
# FETCH_MSG says why.
# An https base URL never silently turns into http: the headers of every
# response (curl -D, wget -S) are checked for a Location to http.
NO_HTTP_REDIRECT=
case $URL in https://*) [ "$ALLOW_HTTP_REDIRECT" = 1 ] || NO_HTTP_REDIRECT=1 ;; esac
fetch_once() {
	HTTP_CODE= RETRY_AFTER_MS= FETCH_MSG= HDRS=
	_off=0 _ir=
	if [ -n "${4:-}" ] && [ -s "$2" ] && [ -s "$2.v" ]; then
		sizeof "$2"
		_off=$SZ
		read -r _ir <"$2.v" || _ir=
		if [ "$_off" -ge "$4" ] || [ -z "$_ir" ]; then _off=0 _ir=; fi
	fi
	rmf "$2.v"
	[ "$_off" -gt 0 ] || { : >"$2"; } 2>/dev/null || {
		FETCH_MSG="cannot create $2 (is the state filesystem full or read-only?)"
		return 4
	}
	left
	# Everything but the body is kept in memory ($_res): on a full state
	# filesystem the reason must not need a file there. fd 3 collects the
	# tools' messages, the headers and the exit codes.
	if [ "$FETCH" = curl ]; then
		_res=$({ { curl -sS -L --connect-timeout 10 --speed-limit 1 --speed-time "$IDLE_TIMEOUT" --max-time "$LEFT" \
			${CA_FILE:+--cacert "$CA_FILE"} ${NO_HTTP_REDIRECT:+--proto-redir =https} -D /proc/self/fd/3 ${_ir:+-C "$_off" -H "If-Range: $_ir"} -o - "$1" 2>&3 3>&3
			echo "rc=$?" >&3; } | head -c $(($3 + 1 - _off)) 2>&3 >>"$2" || echo "local=$?" >&3; } 3>&1)
	else
		# busybox wget: -c resumes (it restarts from zero itself when the
		# server answers 200); -S prints the headers, indented, on stderr.
		if [ "$_off" -gt 0 ]; then
			# wget -c writes FILE itself: a watcher stops it past the cap.
			rm -f "$2.pid"
			_res=$({
				(
					# shellcheck disable=SC2016 # expanded by the inner sh
					bounded "$LEFT" sh -c 'echo $$ >"$0"; exec "$@"' "$2.pid" \
						wget -S -q -c --header "If-Range: $_ir" -O "$2" "$1" 2>&3
				) &
				_bg=$!
				while kill -0 "$_bg" 2>/dev/null; do
					_st=
					[ -r "/proc/$_bg/stat" ] && read -r _ _ _st _ <"/proc/$_bg/stat"
					[ "$_st" != Z ] || break
					sizeof "$2"
					if [ "$SZ" -gt "$3" ]; then
						read -r _p <"$2.pid" && kill "$_p" 2>/dev/null
						break
					fi
					sleep_ms 100
				done
			} 3>&1)
			rm -f "$2.pid"
		else
			_res=$({ bounded "$LEFT" wget -S -q -O - "$1" 2>&3 |
				head -c $(($3 + 1)) 2>&3 >>"$2" || echo "local=$?" >&3; } 3>&1)
		fi
	fi
	# one awk for what the tools said: exit code, status, local and other errors
	HDRS=$_res
	eval "$(printf '%s\n' "$_res" | awk '
	function q(s) { gsub(/\047/, "\047\\\047\047", s); return "\047" s "\047" }
	/^rc=/ { rc = substr($0, 4); next }
	/^local=/ { loc = loc ? loc : "write error"; next }
	/^ *HTTP\/[0-9.]* [0-9][0-9][0-9]/ { sub(/^ */, ""); split($0, f, " "); code = f[2]; next }
	/^head:|can.t create|No space left|Read-only file system/ { if (!lm) lm = $0; next }
	/^(curl|wget|timeout):/ { if ($0 !~ /restart failed/) em = $0 }
	END { print "_rc=" q(rc) " HTTP_CODE=" q(code) " _lmsg=" q(lm ? lm : loc) " _emsg=" q(em) }')"
	if [ -n "$NO_HTTP_REDIRECT" ] && printf '%s\n' "$_res" | grep -qi '^ *location: *http:'; then
		# what came over plain http (busybox wget follows redirects
		# silently) is thrown away before anything uses it
		rm -f "$2" "$2.v"
		FETCH_MSG="redirected from https to plain http: refused (fix the server's redirect, or set allow_http_redirect if this is intended)"
		return 5
	fi
	if [ -n "$_lmsg" ]; then
		rm -f "$2"
		FETCH_MSG="cannot write $2: $_lmsg (a local failure: free space in ${2%/*} or make it writable)"
		return 4
	fi
	sizeof "$2"
	_got=$SZ
	if [ "$_got" -gt "$3" ]; then
		rm -f "$2"
		FETCH_MSG="response larger than $3 bytes"
		return 3
	fi
	case $HTTP_CODE in
	'' | 000 | 2??) ;;
	*)
		rm -f "$2"
		case $HTTP_CODE in 429 | 503) retry_after ;; esac
		FETCH_MSG="HTTP $HTTP_CODE"
		case $HTTP_CODE in
		416) return 1 ;; # the partial file is gone: the next attempt starts from zero
		501) return 2 ;;
		408 | 429 | 5??) return 1 ;;
		*) return 2 ;;
		esac ;;
	esac
	# A complete response (its length as the server said) is the caller's
	# to verify; a transfer that broke after the status line (reset, stall,
	# truncation: curl 18/28/56 with status 200) is retried like a failed
	# connection, and resumed when the server sent a validator.
	[ "$_rc" != 0 ] || return 0
	case $_rc in
	143) FETCH_MSG="no complete answer within the ${LEFT}s left: stopped at the deadline" ;;
	*) FETCH_MSG=${_emsg:-"transfer failed (exit status $_rc)"} ;;
	esac
	_v=$(hdr ETag)
	[ -n "$_v" ] || _v=$(hdr Last-Modified)
	case $_rc in 33) _v= ;; esac # the server cannot resume: start from zero
	if [ -n "${4:-}" ] && [ -n "$_v" ] && [ "$_got" -gt 0 ]; then
		printf '%s\n' "$_v" >"$2.v" 2>/dev/null || rm -f "$2.v"
	else
		rm -f "$2"
	fi
	return 1
}

FETCH_ERR=
# fetch URL FILE CAP [EXPECT]: fetch_once with retries (connection errors,
# broken transfers, 408, 429, 5xx; never 403/404) and full-jitter
# exponential backoff (0.5 s, 1 s, 2 s ... retry_wait_max), within the
# overall deadline. A 429/503 with Retry-After (a busy server, e.g. a boot
# storm meeting its limit) is waited for instead, plus up to half of it at
# random (the FECs sent away together do not come back together), and does
# not use up the retries: the server is up and said when to ask again.
# Returns 0, 1 (gave up), 2 (final HTTP error), 3 (too large) or 4 (local
# write failure); FETCH_ERR says why, without credentials.
fetch() {
	_n=0
	_cap=500
	while :; do
		fetch_once "$1" "$2" "$3" "${4:-}"
		_frc=$?
		[ "$_frc" != 0 ] || { rmf "$2.v"; return 0; }
		FETCH_ERR="GET $(redact "$1"): $(scrub "$FETCH_MSG")"
		[ "$_frc" = 1 ] || { rm -f "$2" "$2.v"; return $_frc; }
		if [ "$_n" -ge "$RETRIES" ] && [ -z "$RETRY_AFTER_MS" ]; then rm -f "$2" "$2.v"; return 1; fi
		ms
		if [ $(((MS - START_MS) / 1000)) -ge "$DEADLINE" ]; then
			FETCH_ERR="$FETCH_ERR (deadline of ${DEADLINE}s reached)"
			rm -f "$2" "$2.v"
			return 1
		fi
		if [ -n "$RETRY_AFTER_MS" ]; then
			[ "$RETRY_AFTER_MS" -ge 500 ] || RETRY_AFTER_MS=500
			_w=$((RETRY_AFTER_MS + $(rand $((RETRY_AFTER_MS / 2)))))
		else
			_w=$(rand "$_cap")
		fi
		log "attempt $((_n + 1)) failed ($FETCH_ERR); retrying in ${_w}ms"
		sleep_ms "$_w"
		_n=$((_n + 1))
		_cap=$((_cap * 2))
		[ "$_cap" -le $((RETRY_WAIT_MAX * 1000)) ] || _cap=$((RETRY_WAIT_MAX * 1000))
	done
}

# ---------------------------------------------------------------- INDEX

if [ "$COMMAND" = boot ] && [ "$START_JITTER" -gt 0 ] && [ "$DRY_RUN" = 0 ]; then
	_w=$(rand $((START_JITTER * 1000)))
	log "start delay against boot storms: ${_w}ms"
	sleep_ms "$_w"
fi

url_for "fecs/$FEC/INDEX"
INDEX_URL=$U

# fetch_index: INDEX into $WORK/INDEX, its sha256 into INDEX_SHA256. A FEC
# that boots before the web server keeps asking until the deadline: each
# round is a full set of retries, then a jittered pause (as the Go client).
fetch_index() {
	_round=1
	while :; do
		fetch "$INDEX_URL" "$WORK/INDEX" 4194304
		_frc=$?
		[ "$_frc" = 1 ] || break
		ms
		_rest=$((DEADLINE * 1000 - (MS - START_MS)))
		if [ "$_rest" -le 0 ]; then
			fatal 3 "no INDEX for FEC \"$FEC\" within the deadline of ${DEADLINE}s: $FETCH_ERR"
		fi
		_w=$(rand $((RETRY_WAIT_MAX * 1000)))
		[ "$_w" -le "$_rest" ] || _w=$_rest
		log "storage unreachable, trying again until the deadline (round $_round, waiting ${_w}ms): $FETCH_ERR"
		sleep_ms "$_w"
		_round=$((_round + 1))
	done
	case $_frc in
	0) ;;
	5) fatal 4 "fetching the INDEX of FEC \"$FEC\": $FETCH_ERR" ;;
	2) case $HTTP_CODE in
		403 | 404) fatal 3 "FEC \"$FEC\" is not known to the storage at $(redact "$URL"): $FETCH_ERR; check the FEC name (--fec, fecdeploy.fec=) and the base URL" ;;
		*) fatal 3 "fetching the INDEX of FEC \"$FEC\": $FETCH_ERR" ;;
		esac ;;
	3) fatal 4 "INDEX of FEC \"$FEC\" from $(redact "$INDEX_URL") is larger than 4 MiB (the download was stopped there)" ;;
	4) fatal 5 "fetching the INDEX of FEC \"$FEC\": $FETCH_ERR" ;;
	esac
	INDEX_SHA256=$(sha256 "$WORK/INDEX" 0)
	INDEX_SHA256=${INDEX_SHA256%% *}
}

# start_sig: fetch INDEX.sig in the background, at the same moment as the
# INDEX: the two requests are milliseconds apart, so a storage that rewrites
# the pair several times a second still hands out matching pairs. The
# result goes to $WORK/sig.rc (no `wait`: see the Busybox notes).
start_sig() {
	rm -f "$WORK/sig.rc"
	(
		url_for "fecs/$FEC/INDEX.sig"
		fetch "$U" "$WORK/INDEX.sig" 1024
		printf '%s %s %s\n' "$?" "${HTTP_CODE:-0}" "$FETCH_ERR" >"$WORK/sig.rc.tmp"
		mv -f "$WORK/sig.rc.tmp" "$WORK/sig.rc"
	) &
	SIG_PID=$!
	PIDS="$PIDS $SIG_PID"
}

# check_signature: 0 when $WORK/INDEX.sig verifies $WORK/INDEX with a trusted
# key; otherwise 1 with SIG_ERR set. Waits for start_sig's fetch.
check_signature() {
	while [ ! -e "$WORK/sig.rc" ]; do
		if ! kill -0 "$SIG_PID" 2>/dev/null; then
			[ -e "$WORK/sig.rc" ] || echo "1 0 fetching INDEX.sig failed (the background job died)" >"$WORK/sig.rc"
		fi
		sleep_ms 20
	done
	read -r _src HTTP_CODE FETCH_ERR <"$WORK/sig.rc"
	case $_src in
	0) ;;
	5) fatal 4 "fetching the INDEX signature: $FETCH_ERR" ;;
	2) [ "$HTTP_CODE" = 404 ] || fatal 3 "fetching the INDEX signature: $FETCH_ERR"
		SIG_ERR="index: INDEX is not signed (no INDEX.sig) but this FEC trusts signing keys"
		: >"$WORK/INDEX.sig"
		return 1 ;;
	3) fatal 4 "INDEX of FEC \"$FEC\" refused: its signature INDEX.sig is larger than 1 KiB (an ed25519 signature is 64 bytes)" ;;
	4) fatal 5 "fetching the INDEX signature: $FETCH_ERR" ;;
	*) fatal 3 "fetching the INDEX signature: $FETCH_ERR" ;;
	esac
	verify_pair "$WORK/INDEX" "$WORK/INDEX.sig" && return 0
	# The storage changed between the two requests: the INDEX of this round
	# may match the signature of the previous one, or the other way round
	# (both are signed by a trusted key: either is authentic and recent).
	if [ -s "$WORK/INDEX.prev" ]; then
		verify_pair "$WORK/INDEX" "$WORK/INDEX.sig.prev" && return 0
		if verify_pair "$WORK/INDEX.prev" "$WORK/INDEX.sig"; then
			mv -f "$WORK/INDEX.prev" "$WORK/INDEX"
			INDEX_SHA256=$(sha256 "$WORK/INDEX" 0)
			INDEX_SHA256=${INDEX_SHA256%% *}
			return 0
		fi
	fi
	verify_pair "$WORK/INDEX" "$WORK/INDEX.sig"
}

# verify_pair INDEX SIG: 0 when SIG is a signature of INDEX by a trusted key,
# else 1 with SIG_ERR set.
verify_pair() {
	_nkeys=0
	sizeof "$2"
	_sigsize=$SZ
	for _key in "$WORK"/key.*.pem; do
		[ -e "$_key" ] || continue
		_nkeys=$((_nkeys + 1))
		if [ "$_sigsize" = 64 ] && openssl pkeyutl -verify -pubin -inkey "$_key" -rawin -in "$1" -sigfile "$2" >/dev/null 2>&1; then
			return 0
		fi
	done
	SIG_ERR="index: INDEX signature does not verify with any trusted key ($_nkeys keys tried)"
	return 1
}

# CLIENT_EPOCH: a clock before this date (the date of this client's
# freshness rules, index.ClientEpoch) is not set: expiry cannot be judged.
CLIENT_EPOCH=1796083200

# num_lt A B: A < B for plain decimals without leading zeros, compared as
# strings (no 64-bit shell arithmetic needed).
num_lt() {
	[ "${#1}" -lt "${#2}" ] && return 0
	[ "${#1}" -gt "${#2}" ] && return 1
	[ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | LC_ALL=C sort | head -n 1)" = "$1" ]
}

# ---------------------------------------------------------------- keyring

# The keyring (docs/security.md, "Keys"; index.VerifyKeyring and
# index.WalkKeyrings are the rules): with root_keys the FEC trusts no INDEX
# key directly. keys/keyring, signed by a root key (keys/keyring.sig, raw
# ed25519 like INDEX.sig), names the keys that sign INDEX files. A keyring
# that hands over to new root keys is also served as keys/keyring.<serial>
# and listed in keys/rotations; a FEC walks those above the keyring serial
# it accepted, in order. What it accepted is recorded in
# $STATE/keyring-state (serial=, reset=, the roots to trust as PEM), in one
# atomic write, after the INDEX was accepted too.

# split_pem FILE PREFIX: each PEM public key block of FILE into PREFIX.<n>.pem
# (openssl reads only the first key of a file).
split_pem() {
	awk -v p="$2" '/-----BEGIN PUBLIC KEY-----/ { n++; f = p "." n ".pem" } f { print > f } /-----END PUBLIC KEY-----/ { close(f); f = "" }' "$1"
}

# is_decimal V MAX: a plain decimal (no leading zero) of at most MAX digits.
is_decimal() {
	case $1 in 0 | [1-9] | [1-9]*[0-9]) ;; *) return 1 ;; esac
	case $1 in *[!0-9]*) return 1 ;; esac
	[ "${#1}" -le "$2" ]
}

# verify_with DIR DATA SIG: 0 when SIG (64 bytes) is a signature of DATA by
# one of the keys DIR/*.pem.
verify_with() {
	sizeof "$3"
	[ "$SZ" = 64 ] || return 1
	for _vk in "$1"/*.pem; do
		[ -e "$_vk" ] || continue
		openssl pkeyutl -verify -pubin -inkey "$_vk" -rawin -in "$2" -sigfile "$3" >/dev/null 2>&1 && return 0
	done
	return 1
}

# parse_keyring FILE DIR: the checks of index.ParseKeyring. Sets KP_SERIAL,
# KP_EXPIRES, KP_RESET (0 = none); writes the root keys as DIR/root.<n>.pem
# and the INDEX keys as DIR/key.<n>.pem. On failure prints why, returns 1.
parse_keyring() {
	_kd=$2
	rm -rf "$_kd" && mkdir -p "$_kd" || { echo "cannot create $_kd"; return 1; }
	[ -s "$1" ] || { echo "malformed keyring: empty"; return 1; }
	[ "$(tail -c 1 "$1" | od -An -tx1 | tr -d ' ')" = 0a ] || { echo "malformed keyring: the last line does not end in a newline"; return 1; }
	KP_SERIAL= KP_EXPIRES= KP_RESET=0
	_ln=0 _nr=0 _nk=0 _ids=" " _rev=" " _cr=$(printf '\r')
	while IFS= read -r _line; do
		_ln=$((_ln + 1))
		_bad="malformed keyring: line $_ln"
		case $_line in *"  "* | ' '* | *' ' | *"	"* | *"$_cr"*) echo "$_bad: empty field, tab or carriage return"; return 1 ;; esac
		set -f
		set -- $_line
		set +f
		if [ "$_ln" = 1 ]; then
			[ $# = 4 ] && [ "$1" = fecdeploy-keyring ] && [ "$2" = 1 ] || { echo "$_bad: want \"fecdeploy-keyring 1 serial=<n> expires=<unix seconds>\""; return 1; }
			case $3 in serial=*) ;; *) echo "$_bad: want serial= then expires="; return 1 ;; esac
			case $4 in expires=*) ;; *) echo "$_bad: want serial= then expires="; return 1 ;; esac
			KP_SERIAL=${3#serial=} KP_EXPIRES=${4#expires=}
			is_decimal "$KP_SERIAL" 19 && [ "$KP_SERIAL" != 0 ] || { echo "$_bad: bad serial \"$KP_SERIAL\""; return 1; }
			# expires: at most 1<<62 nanoseconds in seconds (index.ParseKeyring)
			is_decimal "$KP_EXPIRES" 19 && [ "$KP_EXPIRES" != 0 ] && ! num_lt 4611686018 "$KP_EXPIRES" || { echo "$_bad: bad expires \"$KP_EXPIRES\""; return 1; }
			continue
		fi
		case $#:$1 in
		3:root | 3:key)
			# an ed25519 PKIX key is 44 bytes: 60 base64 characters
			case $3 in *[!A-Za-z0-9+/=]*) echo "$_bad: key $2: not base64"; return 1 ;; esac
			[ "${#3}" = 60 ] || { echo "$_bad: key $2 is not an ed25519 key"; return 1; }
			printf '%s\n' "$3" | openssl base64 -d -A >"$_kd/der" 2>/dev/null
			sizeof "$_kd/der"
			# the PKIX prefix 302a300506032b6570032100 of an ed25519 key is
			# these 16 base64 characters (12 bytes: no group spans it)
			[ "$SZ" = 44 ] && case $3 in MCowBQYDK2VwAyEA*) true ;; *) false ;; esac ||
				{ echo "$_bad: key $2 is not an ed25519 key"; return 1; }
			_id=$(sha256 "$_kd/der" 44 | cut -c1-16)
			[ "$_id" = "$2" ] || { echo "$_bad: key id $2 does not match the key ($_id)"; return 1; }
			if [ "$1" = root ]; then
				_nr=$((_nr + 1)) _f=$_kd/root.$_nr.pem
			else
				_nk=$((_nk + 1)) _f=$_kd/key.$_nk.pem _ids="$_ids$_id "
			fi
			printf -- '-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n' "$3" >"$_f" || { echo "cannot write $_f"; return 1; } ;;
		2:revoked)
			case $2 in *[!0-9a-f]*) echo "$_bad: want root|key <keyid> <base64>, revoked <keyid> or reset <serial>"; return 1 ;; esac
			[ "${#2}" = 16 ] || { echo "$_bad: want root|key <keyid> <base64>, revoked <keyid> or reset <serial>"; return 1; }
			_rev="$_rev$2 " ;;
		2:reset)
			is_decimal "$2" 19 && [ "$2" != 0 ] || { echo "$_bad: bad reset \"$2\": want a serial above 0"; return 1; }
			[ "$KP_RESET" = 0 ] || { echo "$_bad: a second reset line"; return 1; }
			KP_RESET=$2 ;;
		*) echo "$_bad: want root|key <keyid> <base64>, revoked <keyid> or reset <serial>"; return 1 ;;
		esac
	done <"$1"
	[ "$_nk" -gt 0 ] || { echo "malformed keyring: no INDEX-signing key"; return 1; }
	for _id in $_rev; do
		case $_ids in *" $_id "*) echo "malformed keyring: key $_id is both listed and revoked"; return 1 ;; esac
	done
	rm -f "$_kd/der"
}

# get_keyfile PATH FILE CAP: fetch a keyring file below the base URL and
# add its sha256 to KR_SEEN. No answer (network, 5xx after the retries) exits
# 3 as for the INDEX; returns 1 with KR_ERR set when the storage refuses it
# (404, 403, too large, https to http): the caller decides.
get_keyfile() {
	url_for "$1"
	fetch "$U" "$2" "$3"
	_gk=$?
	case $_gk in
	0) KR_SEEN="$KR_SEEN $(sha256 "$2" 0 | cut -c1-64)"; return 0 ;;
	2) case $HTTP_CODE in 404 | 403) KR_ERR="index: keyring: $1: HTTP $HTTP_CODE"; return 1 ;; esac ;;
	3) KR_ERR="$1 is larger than $3 bytes"; return 1 ;;
	5) KR_ERR="fetching $1: $FETCH_ERR"; return 1 ;;
	4) fatal 5 "fetching the keyring: $1: $FETCH_ERR" ;;
	esac
	fatal 3 "fetching the keyring: $1: $FETCH_ERR"
}

# check_keyring PATH ACCEPTED SANE: fetch PATH and PATH.sig, verify with
# $WORK/roots/*.pem, parse into $WORK/kr (index.VerifyKeyring). Returns 1
# with KR_ERR set when refused.
check_keyring() {
	get_keyfile "$1" "$WORK/kr.data" 65536 || return 1
	get_keyfile "$1.sig" "$WORK/kr.sig" 1024 || return 1
	if ! verify_with "$WORK/roots" "$WORK/kr.data" "$WORK/kr.sig"; then
		_nr=$(find "$WORK/roots" -name '*.pem' | wc -l | tr -d ' ')
		KR_ERR="$1: index: keyring signature does not verify with any trusted root key ($_nr root keys tried)"
		[ -s "$WORK/kr.sig" ] || KR_ERR="$1: index: keyring signature does not verify with any trusted root key: its signature file is empty"
		return 1
	fi
	parse_keyring "$WORK/kr.data" "$WORK/kr" >"$WORK/kr.msg" || { KR_ERR="$1: $(cat "$WORK/kr.msg")"; return 1; }
	if num_lt "$KP_SERIAL" "$2"; then
		KR_ERR="$1: index: keyring is older than the one already accepted (replay): serial $KP_SERIAL, this FEC already accepted serial $2"
		return 1
	fi
	if [ "$3" = 1 ] && ! num_lt "$(date -u +%s)" "$KP_EXPIRES"; then
		_when=$(date -u -d "@$KP_EXPIRES" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null) || _when="unix time $KP_EXPIRES"
		KR_ERR="$1: index: keyring has expired: it expired at $_when (re-sign it with the root key: fecctl keyring resign)"
		return 1
	fi
}

# next_roots: the roots the checked keyring names, if any, become the trusted ones.
next_roots() {
	[ -e "$WORK/kr/root.1.pem" ] || return 0
	rm -rf "$WORK/roots" && mkdir "$WORK/roots" && cp "$WORK"/kr/root.*.pem "$WORK/roots/" || fatal 5 "cannot copy the root keys in $WORK"
}

# load_roots: the trusted roots into $WORK/roots (from the keyring state, or
# the pinned root keys) and the state into KR_SERIAL, KR_APPLIED.
KR_SERIAL=0 KR_APPLIED=0 KR_RESET=0 KR_NEW=0
load_roots() {
	rm -rf "$WORK/roots" && mkdir -p "$WORK/roots" || fatal 5 "cannot create $WORK/roots"
	_ks=$STATE/keyring-state
	if [ -f "$_ks" ]; then
		_l1= _l2=
		{ read -r _l1 && read -r _l2; } <"$_ks"
		_damaged="the state file $_ks is damaged"
		_how="restore it, or remove it deliberately to trust only the pinned root keys again (docs/security.md)"
		case $_l1 in serial=*) KR_SERIAL=${_l1#serial=} ;; *) fatal 5 "$_damaged (line 1: want serial=<number>): $_how" ;; esac
		case $_l2 in reset=*) KR_APPLIED=${_l2#reset=} ;; *) fatal 5 "$_damaged (line 2: want reset=<number>): $_how" ;; esac
		is_decimal "$KR_SERIAL" 19 || fatal 5 "$_damaged (line 1: want serial=<number>): $_how"
		is_decimal "$KR_APPLIED" 19 || fatal 5 "$_damaged (line 2: want reset=<number>): $_how"
		split_pem "$_ks" "$WORK/roots/r"
		[ -e "$WORK/roots/r.1.pem" ] || fatal 5 "$_damaged (no root key in it): $_how"
	else
		_n=0
		split ',' "$ROOTKEYS"
		for _f in $W; do
			_n=$((_n + 1))
			split_pem "$_f" "$WORK/roots/p$_n"
		done
	fi
}

# walk_keyrings: one walk from the trusted roots to the current keyring
# (index.WalkKeyrings). Returns 1 with KR_ERR when refused; KR_SEEN names
# what it fetched.
walk_keyrings() {
	KR_SEEN= KR_ERR=
	load_roots
	_now=$(date -u +%s)
	_sane=1
	num_lt "$_now" "$CLIENT_EPOCH" && _sane=0
	_acc=$KR_SERIAL
	if get_keyfile keys/rotations "$WORK/rotations" 65536; then
		_last=0
		set -f
		_rot=$(cat "$WORK/rotations")
		set -- $_rot
		set +f
		for _s in "$@"; do
			is_decimal "$_s" 19 || { KR_ERR="index: malformed keyring: rotations: rotation serial \"$_s\" is not a plain decimal number"; return 1; }
			num_lt "$_last" "$_s" || { KR_ERR="index: malformed keyring: rotations list is not strictly increasing at $_s"; return 1; }
			_last=$_s
			num_lt "$_acc" "$_s" || continue
			# An old link of the chain may have expired long ago; only the
			# signature chain and the order matter for it.
			check_keyring "keys/keyring.$_s" "$_acc" 0 || return 1
			[ "$KP_SERIAL" = "$_s" ] || { KR_ERR="index: malformed keyring: keys/keyring.$_s says serial $KP_SERIAL"; return 1; }
			next_roots
			_acc=$_s
		done
	else
		case $KR_ERR in
		*"HTTP 404") KR_ERR= ;; # no rotations
		*"HTTP 403") fatal 3 "fetching the keyring rotations: $KR_ERR" ;;
		*) return 1 ;;
		esac
	fi
	check_keyring keys/keyring "$_acc" "$_sane" || return 1
	next_roots
}

# follow_keyring: walk_keyrings, again with backoff (250 ms doubling to 2 s)
# while what the storage serves keeps changing (a keyring change renames
# keyring and keyring.sig one after the other), until the deadline; the same
# files refused after two more fetches are final (as for INDEX.sig). Leaves the keyring's keys as $WORK/key.k.*.pem and KR_* for
# check_fresh and commit_keyring.
follow_keyring() {
	_kprev=-
	_ksame=0
	_kwait=250
	until walk_keyrings; do
		if [ "$KR_SEEN" = "$_kprev" ]; then _ksame=$((_ksame + 1)); else _ksame=0; fi
		ms
		_rest=$((DEADLINE * 1000 - (MS - START_MS)))
		if [ "$_ksame" -ge 2 ] || [ "$_rest" -le 0 ]; then
			fatal 4 "keyring refused: $KR_ERR"
		fi
		[ "$_kprev" != - ] || log "keyring refused ($KR_ERR); fetching it again (a keyring change may be under way)"
		_kprev=$KR_SEEN
		_w=$(rand "$_kwait")
		[ "$_w" -le "$_rest" ] || _w=$_rest
		sleep_ms "$_w"
		_kwait=$((_kwait * 2))
		[ "$_kwait" -le 2000 ] || _kwait=2000
	done
	KR_NEW=$KP_SERIAL KR_RESET=$KP_RESET
	_n=0
	for _f in "$WORK"/kr/key.*.pem; do
		_n=$((_n + 1))
		cp "$_f" "$WORK/key.k.$_n.pem" || fatal 5 "cannot copy the keyring keys in $WORK"
	done
}

# commit_keyring RESET(0|1): record the keyring state after the INDEX was
# accepted (one atomic write; a failure is reported, the boot goes on).
commit_keyring() {
	_applied=$KR_APPLIED
	[ "$1" = 0 ] || _applied=$KR_RESET
	[ "$KR_NEW" != "$KR_SERIAL" ] || [ "$_applied" != "$KR_APPLIED" ] || return 0
	{ printf 'serial=%s\nreset=%s\n' "$KR_NEW" "$_applied" && cat "$WORK"/roots/*.pem; } >"$STATE/.keyring-state.tmp" 2>/dev/null &&
		mv -f "$STATE/.keyring-state.tmp" "$STATE/keyring-state" ||
		fail 5 "cannot record the keyring serial $KR_NEW in $STATE/keyring-state (disk full?)"
}

if [ -z "$DEV_CMD" ]; then
	[ -z "$TRUST" ] || start_sig
	fetch_index
fi

# Signature: when the FEC trusts keys, the INDEX must carry a valid signature
# from one of them before it is parsed.
if [ -n "$TRUST" ] && [ -z "$DEV_CMD" ]; then
	if [ -n "$ROOTKEYS" ]; then
		follow_keyring # the keys of the keyring, as $WORK/key.k.*.pem
	else
		# One PEM block per file: openssl reads only the first key of a file.
		_nkeys=0
		split ',' "$PUBKEYS"
		for _f in $W; do
			_nkeys=$((_nkeys + 1))
			split_pem "$_f" "$WORK/key.$_nkeys"
		done
	fi
	# A reindex replaces INDEX and INDEX.sig one after the other: a FEC that
	# fetched between the two renames holds a pair that does not match.
	# Fetch both again, with backoff, while the storage keeps changing them
	# (until the deadline); a pair that stays the same and does not verify
	# is refused after two more fetches.
	_same=0
	_wcap=250
	_pair=
	until check_signature; do
		_now="$INDEX_SHA256 $(sha256 "$WORK/INDEX.sig" 0 | cut -c1-64)"
		if [ "$_now" = "$_pair" ]; then _same=$((_same + 1)); else _same=0; fi
		_pair=$_now
		ms
		_rest=$((DEADLINE * 1000 - (MS - START_MS)))
		if [ "$_same" -ge 2 ] || [ "$_rest" -le 0 ]; then
			[ "$_rest" -gt 0 ] || SIG_ERR="$SIG_ERR (the INDEX kept changing until the deadline of ${DEADLINE}s)"
			fatal 4 "INDEX of FEC \"$FEC\" from $(redact "$INDEX_URL") refused: $SIG_ERR"
		fi
		_w=$(rand "$_wcap")
		[ "$_w" -le "$_rest" ] || _w=$_rest
		log "INDEX signature does not verify ($SIG_ERR); fetching INDEX and signature again in ${_w}ms (a reindex may be under way)"
		sleep_ms "$_w"
		_wcap=$((_wcap * 2))
		[ "$_wcap" -le 2000 ] || _wcap=2000
		cp -f "$WORK/INDEX" "$WORK/INDEX.prev" && cp -f "$WORK/INDEX.sig" "$WORK/INDEX.sig.prev" || fatal 5 "cannot copy the INDEX in $WORK"
		start_sig
		fetch_index
		if [ -n "$ROOTKEYS" ]; then
			# The keyring may have changed too: a key rotation under way
			# (keyring add, then the INDEX re-signed with the new key).
			rm -f "$WORK"/key.k.*.pem
			follow_keyring
		fi
	done
fi

# parse_index FILE: the checks of storage/index Parse, then one line per entry
# on stdout: kind name sha256 size path format version dev(0|1)
parse_index() {
	_out=$2
	_last=$(tail -c 1 "$1" | od -An -tx1 | tr -d ' ')
	[ -s "$1" ] || { echo "malformed INDEX: empty file"; return 1; }
	[ "$_last" = 0a ] || { echo "malformed INDEX: last line does not end in a newline (truncated download?)"; return 1; }
	# The INDEX is ASCII (docs/index-format.md): any other byte, in a comment
	# too, is refused (tab and CR get their own message below).
	_bad=$(tr -d '\t\r\n -~' <"$1" | head -c 1 | od -An -tx1 | tr -d ' \n')
	if [ -n "$_bad" ]; then
		_ln=$(od -An -v -tx1 "$1" | tr -s ' ' '\n' | awk -v b="$_bad" '$0 == "" { next } { if ($0 == b) { print n + 1; exit } if ($0 == "0a") n++ }')
		echo "malformed INDEX: line $_ln: byte 0x$_bad is not ASCII (the INDEX is ASCII text: a damaged or foreign file?)"
		return 1
	fi
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
			_ifec= _iarch= _iser= _iexp=
			for _kv in "$@"; do
				case $_kv in *=*) ;; *) echo "malformed INDEX: line $_ln: header attribute \"$_kv\" is not key=value"; return 1 ;; esac
				case $_kv in
				fec=*) _ifec=${_kv#*=} ;;
				arch=*) _iarch=${_kv#*=} ;;
				serial=* | expires=*)
					_v=${_kv#*=}
					case $_v in [1-9] | [1-9]*[0-9]) ;; *) _v=x ;; esac
					case $_v in *[!0-9]*) echo "malformed INDEX: line $_ln: ${_kv%%=*} \"${_kv#*=}\" is not a plain decimal number above 0"; return 1 ;; esac
					[ "${#_v}" -le 19 ] || { echo "malformed INDEX: line $_ln: ${_kv%%=*} \"$_v\" has more than 19 digits"; return 1; }
					case $_kv in serial=*) _iser=$_v ;; *) _iexp=$_v ;; esac ;;
				*) valid_name "${_kv%%=*}" || { echo "malformed INDEX: line $_ln: bad attribute key \"${_kv%%=*}\""; return 1; } ;;
				esac
			done
			echo "${_iser:--} ${_iexp:--}" >"$WORK/fresh"
			valid_name "$_ifec" && [ "$_ifec" != global ] || { echo "malformed INDEX: header: bad FEC name \"$_ifec\""; return 1; }
			valid_name "$_iarch" || { echo "malformed INDEX: header: bad architecture \"$_iarch\""; return 1; }
			[ "$_ifec" = "$FEC" ] || { echo "INDEX at $(redact "$INDEX_URL") is for FEC $_ifec, not $FEC"; return 1; }
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
		echo "$_k $_n $_sum $_size $_path ${_fmt:--} ${_ver:--} $_dev" >>"$_out"
	done <"$1"
	[ "$_hdr" = 1 ] || { echo "malformed INDEX: no header line"; return 1; }
}

: >"$WORK/entries"
_msg=
[ -n "$DEV_CMD" ] || _msg=$(parse_index "$WORK/INDEX" "$WORK/entries") || true
if [ -n "$_msg" ]; then
	fatal 4 "INDEX of FEC \"$FEC\" from $(redact "$INDEX_URL") refused: $_msg"
fi

# ---------------------------------------------------------------- freshness

# check_fresh: the rules of index.CheckFresh on a signed INDEX: refuse a
# serial below the highest accepted (replay) and, with a sane clock, an
# expired INDEX (freeze); then record the serial. Refusals change nothing.
check_fresh() {
	read -r _iser _iexp <"$WORK/fresh" || { _iser=- _iexp=-; }
	_acc=
	if [ -f "$STATE/accepted-serial" ]; then
		read -r _acc <"$STATE/accepted-serial"
		case $_acc in [1-9] | [1-9]*[0-9]) ;; *) fatal 5 "the state file $STATE/accepted-serial is damaged (\"$_acc\"): restore it, or remove it deliberately (docs/security.md, serial reset)" ;; esac
	fi
	# A serial reset of the keyring this FEC has not applied yet lowers the
	# floor to min(accepted, reset) (index.ApplyReset).
	_floor=$_acc _reset=0
	if [ -n "$ROOTKEYS" ] && [ "$KR_RESET" != 0 ] && num_lt "$KR_APPLIED" "$KR_RESET"; then
		_reset=1
		if [ -n "$_acc" ] && num_lt "$KR_RESET" "$_acc"; then _floor=$KR_RESET; fi
	fi
	_refused="INDEX of FEC \"$FEC\" from $(redact "$INDEX_URL") refused"
	if [ -n "$_floor" ] && [ "$_floor" != 0 ]; then
		[ "$_iser" != - ] || fatal 4 "$_refused: replay: it has no serial, this FEC already accepted serial $_floor"
		! num_lt "$_iser" "$_floor" || fatal 4 "$_refused: replay: serial $_iser, this FEC already accepted serial $_floor (an old INDEX served again; docs/security.md)"
	fi
	_now=$(date -u +%s)
	if num_lt "$_now" "$CLIENT_EPOCH"; then
		log "warning: the clock ($(now)) is before this client's date: INDEX expiry not checked, only its serial"
	elif [ "$_iexp" != - ] && ! num_lt "$_now" "$_iexp"; then
		_when=$(date -u -d "@$_iexp" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null) || _when="unix time $_iexp"
		fatal 4 "$_refused: expired at $_when, the clock says $(now) (is the writer's re-signing job running?)"
	fi
	[ "$DRY_RUN" = 0 ] || return 0
	if [ "$_reset" = 1 ] && [ "$_floor" != "$_acc" ]; then
		log "warning: serial reset by the keyring (reset $KR_RESET): accepting INDEX serial $_iser below the serial $_acc accepted before"
	fi
	if [ "$_iser" != - ] && { [ -z "$_acc" ] || num_lt "$_acc" "$_iser" || { [ "$_reset" = 1 ] && num_lt "$_iser" "$_acc"; }; }; then
		{ echo "$_iser" >"$STATE/.accepted-serial.tmp" && mv -f "$STATE/.accepted-serial.tmp" "$STATE/accepted-serial"; } 2>/dev/null || {
			fail 5 "cannot record the INDEX serial $_iser in $STATE/accepted-serial (disk full?): replays are not detected until it can"
			return 0
		}
	fi
	[ -z "$ROOTKEYS" ] || commit_keyring "$_reset"
}
[ -z "$TRUST" ] || [ -n "$DEV_CMD" ] || check_fresh

[ -n "$DEV_CMD" ] || log "INDEX fetched: FEC $FEC, $(wc -l <"$WORK/entries" | tr -d ' ') entries, sha256 $INDEX_SHA256"

# ---------------------------------------------------------------- archives

# magic FILE: the compression format from the first bytes.
magic() {
	set -- $(od -An -tx1 -N6 "$1")
	case "$1$2$3$4$5$6" in
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
	xz) if command -v xz >/dev/null 2>&1; then xz -dc "$2"; else unxz -c "$2"; fi ;;
	zstd) zstd -dc "$2" ;;
	esac
}

# check_listing TAR: read `tar -tv` output of the plain tar TAR on stdin,
# print nothing when every entry is acceptable, else one reason. The rules of
# the archive package: regular files, directories and symlinks only; no
# absolute names, no "..", no duplicates, nothing written through an earlier
# file or symlink; everything below an allowed root (directories at or above
# one are no-ops); at most 256 path components; symlink targets relative
# and, resolved lexically, inside their allowed root; at most 200000 entries
# and 8 GiB. Then the layout (the archive package's layout.go): when the tar
# is longer than its listed headers and data plus the end-of-archive marker,
# it has headers busybox does not list (PAX, GNU long names) or padding, and
# check_layout walks its headers.
check_listing() {
	sizeof "$1"
	awk -v roots="$ROOTS" -v tarsize="$SZ" -v names="$(tar -tf "$1" 2>/dev/null | wc -l)" '
	function bad(n, r) { if (!reason) reason = "entry \"" n "\": " r }
	function within(p, r) { return p == r || index(p, r "/") == 1 }
	BEGIN { nroots = split(roots, root, " "); reason = "" }
	reason { next }
	{
		line = $0
		if (!match(line, /^[-a-zA-Z][-rwxsStTl]+ [^ ]+ +[0-9]+ [0-9]+-[0-9]+-[0-9]+ [0-9]+:[0-9]+:[0-9]+ /)) {
			reason = "unreadable listing line \"" line "\" (a name with a newline?)"; next
		}
		type = substr(line, 1, 1); name = substr(line, RLENGTH + 1); target = ""
		split(line, f, " "); size += f[3]; count++
		listed += 512 + int((f[3] + 511) / 512) * 512
		if (type == "l" || index(name, " -> ")) {
			i = index(name, " -> "); target = substr(name, i + 4); name = substr(name, 1, i - 1)
			if (type != "l") { bad(name, "hardlink to \"" target "\"; hardlinks are refused (pack a copy or a symlink instead)"); next }
		}
		if (type == "c" || type == "b") { bad(name, "device node; only regular files, directories and symlinks are allowed"); next }
		if (type == "p") { bad(name, "FIFO; only regular files, directories and symlinks are allowed"); next }
		if (type != "-" && type != "d" && type != "l") { bad(name, "unsupported entry type " type "; only regular files, directories and symlinks are allowed"); next }
		if (name == "") { bad(name, "empty name"); next }
		if (length(name) > 4095) { bad(name, "a name of " length(name) " bytes; at most 4095 are allowed"); next }
		if (type == "d") sub(/\/+$/, "", name)
		n = split(name, seg, "/"); c = ""
		for (i = 1; i <= n; i++) {
			if (seg[i] == "..") { bad(name, "name contains \"..\""); next }
			if (length(seg[i]) > 255) { bad(name, "a name component of " length(seg[i]) " bytes; at most 255 are allowed"); next }
			if (seg[i] == "" || seg[i] == ".") continue
			c = (c == "") ? seg[i] : c "/" seg[i]
			if (i == n) break
			if (!(c in kind)) kind[c] = "i" # an implicit directory
			else if (kind[c] == "-" || kind[c] == "l") { bad(name, "would be written through the earlier non-directory entry \"" c "\""); next }
		}
		if (split(c, tmp, "/") > 256) { bad(name, split(c, tmp, "/") " path components deep; at most 256 are allowed"); next }
		if ((c in kind) && !(kind[c] == "i" && type == "d")) { bad(name, "appears twice in the archive (as \"" c "\" after cleaning)"); next }
		kind[c] = type
		a = ""
		for (i = 1; i <= nroots; i++) {
			if (c == "" || within(root[i], c)) {
				if (type != "d") { bad(name, "is not a directory, but \"" c "\" is an allowed root (or its parent)"); next }
				a = "-"; break
			}
			if (within(c, root[i])) { a = root[i]; break }
		}
		if (a == "-") next
		if (a == "") { bad(name, "lies outside the allowed roots [" roots "]; this FEC installs only below those (check the pack prefix or the FEC allowed roots)"); next }
		if (type == "l") {
			if (target == "") { bad(name, "symlink with an empty target"); next }
			if (target ~ /^\//) { bad(name, "symlink to the absolute path \"" target "\"; use a relative target inside " a); next }
			if (length(target) > 4095) { bad(name, "a symlink target of " length(target) " bytes; at most 4095 are allowed"); next }
			nl++; lname[nl] = c; larea[nl] = a; link[c] = target
		}
	}
	# resolve(i): "" when link i stays inside its allowed root, following the
	# other links of the archive, else the reason (the rule of archive.resolveInside).
	function resolve(i,   base, cur, todo, s, p, hops, t) {
		base = split(larea[i], tmp, "/")
		cur = lname[i]; sub(/\/[^\/]*$/, "", cur)
		todo = link[lname[i]]; hops = 0
		while (todo != "") {
			p = index(todo, "/")
			if (p) { s = substr(todo, 1, p - 1); todo = substr(todo, p + 1) } else { s = todo; todo = "" }
			if (s == "" || s == ".") continue
			if (s == "..") {
				if (split(cur, tmp, "/") <= base) return "resolves outside " larea[i]
				sub(/\/?[^\/]*$/, "", cur); continue
			}
			cur = cur "/" s
			if (!(cur in link)) continue
			if (++hops > 40) return "is a symlink loop"
			t = link[cur]
			if (t ~ /^\//) return "resolves outside " larea[i]
			sub(/\/?[^\/]*$/, "", cur)
			todo = (todo == "") ? t : t "/" todo
		}
		return ""
	}
	END {
		for (i = 1; !reason && i <= nl; i++) {
			r = resolve(i)
			if (r != "") bad(lname[i], "symlink to \"" link[lname[i]] "\" " r (r ~ /^resolves/ ? "; use a relative target inside it" : ""))
		}
		if (!reason && count > 200000) reason = "more than 200000 entries"
		if (!reason && size > 8589934592) reason = "more than 8 GiB of files"
		# tar -t prints no link targets: more lines with -v mean a target
		# with a newline, whose extra lines would fake entries
		if (!reason && NR != names + 0) reason = "a symlink target contains a newline (busybox lists one name a line)"
		if (!reason && tarsize != listed + 1024) reason = "-"
		if (reason) print reason
	}'
}

# check_layout TAR: walk the headers of the plain tar TAR as busybox tar
# walks them (one od per header: only for archives with extension headers
# or padding) and print why it is refused, nothing when it is fine. The
# rules of the archive package (layout.go), so that busybox and the Go
# client read the same entries: PAX headers carry only path and linkpath
# records (busybox ignores all others: size, sparse files, times), no PAX
# global headers, at most one extension header of a kind per entry and no
# PAX header together with a GNU long name, GNU long names 1 to 4095 bytes,
# no header without a name, no single zero block inside the archive, the
# prefix field only in plain ustar headers, link, directory and other
# header-only types with size 0, after the end at most 1 MiB of zeros.
check_layout() {
	sizeof "$1"
	awk -v tar="$1" -v tarsize="$SZ" '
	# need(o, n): bytes o..o+n-1 of the tar at hand, reading a window of
	# at least 64 KiB with one od (archives of small files get many headers
	# per od), one 512-byte block per line, kept as hex text: only the
	# bytes looked at are converted. 0 when the tar ends before.
	function need(o, n,   cmd, line, k, w) {
		if (o >= WB && o + n <= WB + WN) return 1
		if (o + n > tarsize) return 0
		w = n < 65536 ? 65536 : n
		if (o + w > tarsize) w = tarsize - o
		cmd = "od -An -v -tx1 -w512 -j " o " -N " w " \"" tar "\""
		k = 0
		while ((cmd | getline line) > 0) L[k++] = line
		close(cmd)
		WB = o; WN = k * 512
		if (WN > w) WN = w
		return o + n <= WB + WN
	}
	# byte(i): byte i of the tar (after need)
	function byte(i,   j) { j = i - WB; return X[substr(L[int(j / 512)], (j % 512) * 3 + 2, 2)] }
	# str(o, n): the C string in bytes o..o+n-1
	function str(o, n,   s, i) {
		s = ""
		for (i = o; i < o + n && byte(i) != 0; i++) s = s C[byte(i)]
		return s
	}
	function octal(o, n,   i, v, d) {
		for (i = o; i < o + n && byte(i) == 32; i++) ;
		v = 0; d = 0
		for (; i < o + n && byte(i) >= 48 && byte(i) <= 55; i++) { v = v * 8 + byte(i) - 48; d++ }
		if (!d) return -1
		for (; i < o + n; i++) if (byte(i) != 0 && byte(i) != 32) return -1
		return v
	}
	function blocks(n) { return int((n + 511) / 512) * 512 }
	# records(s): "" when the PAX records s are acceptable, else why; sets P to the path
	function records(s,   sp, n, kv, eq, k, v, seen) {
		P = ""
		while (s != "") {
			sp = index(s, " ")
			if (sp < 2 || substr(s, 1, sp - 1) !~ /^[1-9][0-9]*$/) return "a malformed PAX record"
			n = substr(s, 1, sp - 1) + 0
			if (n <= sp || n > length(s) || substr(s, n, 1) != "\n") return "a malformed PAX record"
			kv = substr(s, sp + 1, n - sp - 1); s = substr(s, n + 1)
			eq = index(kv, "=")
			if (!eq) return "a malformed PAX record"
			k = substr(kv, 1, eq - 1); v = substr(kv, eq + 1)
			if (k == "path" || k == "linkpath") {
				if (v == "") return "an empty PAX \"" k "\" record (Go reader keeps the ustar field, busybox tar takes the empty value)"
				if (k in seen) return "the PAX record \"" k "\" twice"
				seen[k] = 1
				if (k == "path") P = v
			} else if (k ~ /^GNU\.sparse\./) {
				return "a sparse file (PAX record \"" k "\"); sparse files are refused (busybox tar would install the sparse map as content)"
			} else {
				return "the PAX record \"" k "\", which busybox tar ignores (only path and linkpath are honoured): the two boot clients would install different trees; the writer never makes it"
			}
		}
		return ""
	}
	function walk(   off, h, zeros, pX, pL, pK, ppath, name, prefix, full, typ, size, i, zero, s, r, cmd, nz) {
		off = 0; zeros = 0; WB = -1; WN = 0
		while (1) {
			if (!need(off, 512)) return "the tar ends inside a header"
			h = off; off += 512
			zero = 1
			for (i = h; i < h + 512; i++) if (byte(i)) { zero = 0; break }
			if (zero) {
				if (pX || pL || pK) return "entry \"" ext "\": an extension header with no entry after it"
				if (++zeros == 2) break
				continue
			}
			if (zeros) return "a single zero block inside the archive (busybox tar skips it, Go reader stops); the tar is damaged"
			name = str(h, 100); prefix = str(h + 345, 155); typ = C[byte(h + 156)]
			full = name
			if (prefix != "") {
				full = prefix "/" name
				if (str(h + 257, 6) != "ustar" || byte(h + 262) != 0 || (str(h + 508, 4) == "tar" && byte(h + 511) == 0)) return "entry \"" full "\": the prefix field is set in a non-ustar header"
			}
			if (ppath != "") full = ppath
			if (name == "" && prefix == "" && !pL) return "entry \"" full "\": a header without a name (busybox tar takes it for the end of the archive and reads on)"
			size = octal(h + 124, 12)
			if (size < 0) return "entry \"" full "\": the size field is not an octal number"
			if (typ == "x" || typ == "L" || typ == "K") {
				if (pX || (typ == "x" && (pL || pK)) || (typ == "L" && pL) || (typ == "K" && pK)) return "entry \"" full "\": more than one extension header for one entry"
				if (typ == "x" && size > 1048575) return "entry \"" full "\": a PAX header of " size " bytes (at most 1048575)"
				if (typ != "x" && (size > 4095 || size == 0)) return "entry \"" full "\": a GNU long name or link of " size " bytes (1 to 4095)"
				if (!need(off, size)) return "the tar ends inside an extension header"
				ext = full
				if (typ == "x") {
					for (i = off; i < off + size; i++) if (!byte(i)) return "entry \"" full "\": a malformed PAX record"
					r = records(str(off, size))
					if (r != "") return "entry \"" (P != "" ? P : full) "\": " r
					pX = 1
					if (P != "") ppath = P
				} else {
					s = str(off, size)
					if (s == "") return "entry \"" full "\": an empty GNU long name or link"
					if (typ == "L") { pL = 1; ppath = s } else pK = 1
				}
				off += blocks(size)
				continue
			}
			if (typ == "g") return "entry \"" full "\": a PAX global header; busybox tar ignores it, so the two boot clients would read the archive differently"
			pX = pL = pK = 0; ppath = ""
			if (typ >= "1" && typ <= "6") {
				if (size) return "entry \"" full "\": a header of type " typ " with a size of " size " bytes (both readers take it for 0: what follows would be read as headers)"
			} else off += blocks(size)
		}
		if (tarsize - off > 1048576) return "more than 1048576 bytes of padding after the tar end"
		if (tarsize > off) {
			cmd = "tail -c +" (off + 1) " \"" tar "\" | tr -d \"\\000\" | wc -c"
			cmd | getline nz; close(cmd)
			if (nz + 0) return "data after the tar end-of-archive marker"
		}
		return ""
	}
	BEGIN {
		for (i = 1; i < 256; i++) C[i] = sprintf("%c", i)
		C[0] = ""
		for (i = 0; i < 256; i++) X[sprintf("%02x", i)] = i
		print walk()
	}' | grep -v '^$'
}

# tree_check DIR: what the listing cannot prove, checked on the staged files
# in one walk: only files, directories and symlinks, no hardlinks, no newline
# in a name.
tree_check() {
	_x=$(find "$1" \( ! -type f ! -type d ! -type l \) -o \( -type f -links +1 \) -o -name "*$NL*" | head -n 1)
	[ -z "$_x" ] && return
	if [ -f "$_x" ] && [ ! -L "$_x" ]; then
		echo "entry \"${_x#"$1"/}\": hardlink; hardlinks are refused"
	elif [ -d "$_x" ] || [ -f "$_x" ] || [ -L "$_x" ]; then
		echo "an entry name contains a newline"
	else
		echo "entry \"${_x#"$1"/}\": not a file, directory or symlink"
	fi
}

# merge_check SRC DST: print the conflict that would stop the move half-way
# (a directory where a file goes, or the other way round).
merge_check() {
	for _s in "$1"/* "$1"/.[!.]* "$1"/..?*; do
		[ -e "$_s" ] || [ -L "$_s" ] || continue
		_d=$2/${_s##*/}
		if [ -d "$_d" ] && [ ! -L "$_d" ]; then
			if [ -d "$_s" ] && [ ! -L "$_s" ]; then
				merge_check "$_s" "$_d" || return 1
			else
				echo "$_d is a directory where the archive has a file or symlink; nothing was changed (remove it if the archive is right)"
				return 1
			fi
		elif [ -e "$_d" ] || [ -L "$_d" ]; then
			if [ -d "$_s" ] && [ ! -L "$_s" ]; then
				echo "$_d exists as a file or symlink where the archive has a directory; nothing was changed (remove it if the archive is right)"
				return 1
			fi
		fi
	done
}

# merge SRC DST: move the staged tree into place. A new directory is renamed
# in one step; an existing one is merged (its mode kept); files and symlinks
# replace theirs with one rename each (atomic on the same filesystem).
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

# list_archive FILE FORMAT OUT TAR: decompress a verified archive once into
# the plain tar TAR while listing the stream (`tar -tv`) into OUT; the
# extraction reads TAR, so nothing is decompressed twice. The listing is
# watched as it streams: past 200,000 entries or 8 GiB of file data the
# decompression stops at once, before the rest of the tar is written.
# Prints a reason and returns 1 when the archive cannot be read or is over a
# limit, 2 when TAR or OUT cannot be written (a local failure).
list_archive() {
	rmf "$3.stop"
	# Messages and exit codes are kept in memory: on a full state filesystem
	# a file for them could not be written either.
	_res=$({ { decode "$2" "$1" 2>&3; echo "drc=$?" >&3; } | tee "$4" 2>&3 |
		{ tar -tvf - 2>&3; echo "trc=$?" >&3; [ -e "$3.stop" ] || cat >/dev/null; } |
		awk -v out="$3" -v stop="$3.stop" '
		{ print > out; n++; split($0, f, " "); s += f[3] }
		n > 200000 || s > 8589934592 {
			printf "" > stop; close(stop)
			print (n > 200000 ? "limit=more than 200000 entries" : "limit=more than 8 GiB of files")
			exit
		}' 2>&3; } 3>&1)
	# what the tools said, sorted in one pass without a process per question
	_lim= _e= _drc= _trc= _tarm= _oth= _hasoth=
	while IFS= read -r _l; do
		case $_l in
		drc=*) _drc=$_drc${_drc:+$NL}${_l#drc=}; continue ;;
		trc=*) _trc=$_trc${_trc:+$NL}${_l#trc=}; continue ;;
		limit=*) [ -n "$_lim" ] || _lim=${_l#limit=} ;;
		esac
		case $_l in
		tee:* | awk:* | *'No space left'* | *'Read-only file system'* | *"can't create"*) [ -n "$_e" ] || _e=$_l ;;
		esac
		case $_l in
		tar:*) [ -n "$_tarm" ] || _tarm=$_l ;;
		*) [ -n "$_hasoth" ] || { _oth=$_l _hasoth=1; } ;;
		esac
	done <<EOF
$_res
EOF
	if [ -n "$_lim" ]; then
		rm -f "$4"
		echo "archive: unsafe entry: $_lim (decompression stopped there)"
		return 1
	fi
	if [ -n "$_e" ]; then
		rm -f "$4"
		echo "archive: cannot write the decompressed archive to ${4%/*}: $_e (a local failure: free space there, or set parallel = 1)"
		return 2
	fi
	if [ "$_drc" != 0 ]; then
		echo "archive: corrupt $2 stream: $_oth"
		return 1
	fi
	# A tar ends in two zero blocks: anything else is a truncated archive
	# or one with data after its end.
	# (tail seeks; cmp with a skip offset would read the whole file)
	sizeof "$4"
	if [ "$SZ" -lt 1024 ] || [ -n "$(tail -c 1024 "$4" | od -An -v -tx1 | tr -d ' 0\n')" ]; then
		echo "archive: corrupt archive: the tar does not end in an end-of-archive marker (truncated, or data after its end)"
		return 1
	fi
	_e=$_tarm
	if [ -n "$_e" ]; then
		# busybox reports stripped absolute names and ".." prefixes here
		case $_e in
		*"removing leading '"*..*) echo "archive: unsafe entry: a name contains \"..\" ($_e)" ;;
		*"removing leading '/"*) echo "archive: unsafe entry: absolute name; entries must be relative to / ($_e)" ;;
		*) echo "archive: corrupt or unreadable archive: $_e" ;;
		esac
		return 1
	fi
	if [ "$_trc" != 0 ]; then
		echo "archive: corrupt archive: tar exited with $_trc"
		return 1
	fi
}

# prepare KIND NAME SHA256 SIZE PATH FORMAT: download, verify and list one
# archive into $WORK/<kind>.<name>.*; writes .ok or .fail (code and message).
# Runs in the background, one ahead of the installs.
prepare() {
	prepare1 "$@"
	echo "$1.$2" >&7
}
prepare1() {
	_base=$WORK/$1.$2
	ms
	_t0=$MS
	if [ "$6" = zstd ] && ! command -v zstd >/dev/null 2>&1; then
		printf '5 is zstd-compressed (%s) but this FEC has no zstd binary: add zstd to the image, or publish it as gzip or xz (fec-pack --format gzip) and record the FEC'"'"'s decoders (fecctl add-fec --decoders gzip,xz) so that fecctl link refuses zstd archives for it\n' "$5" >"$_base.fail"
		return
	fi
	url_for "$5"
	fetch "$U" "$_base.dl" "$4" "$4"
	case $? in
	0) ;;
	3) printf '4 verify: size mismatch: the download is longer than the %s bytes the INDEX says, stopped there (%s)\n' "$4" "$5" >"$_base.fail"; return ;;
	5) printf '4 %s\n' "$FETCH_ERR" >"$_base.fail"; return ;;
	*) printf '5 %s\n' "$FETCH_ERR" >"$_base.fail"; return ;;
	esac
	sizeof "$_base.dl"
	_got=$SZ
	if [ "$_got" != "$4" ]; then
		printf '4 verify: size mismatch: got %s bytes, INDEX says %s (%s)\n' "$_got" "$4" "$5" >"$_base.fail"; return
	fi
	_got=$(sha256 "$_base.dl" "$_got")
	_got=${_got%% *}
	if [ "$_got" != "$3" ]; then
		printf '4 verify: sha256 mismatch: got %s, INDEX says %s (%s)\n' "$_got" "$3" "$5" >"$_base.fail"; return
	fi
	_fmt=$(magic "$_base.dl")
	case $_fmt in
	unknown) printf '4 archive: unknown compression format (not zstd, gzip or xz; INDEX says %s)\n' "$6" >"$_base.fail"; return ;;
	zstd) command -v zstd >/dev/null 2>&1 || {
		printf '5 is zstd-compressed but this FEC has no zstd binary: add zstd to the image, or publish it as gzip or xz\n' >"$_base.fail"; return; } ;;
	esac
	_why=$(list_archive "$_base.dl" "$_fmt" "$_base.list" "$_base.tar")
	case $? in
	0) ;;
	2) printf '5 %s\n' "$_why" >"$_base.fail"; return ;;
	*) printf '4 %s\n' "$_why" >"$_base.fail"; return ;;
	esac
	rm -f "$_base.dl"
	_why=$(check_listing "$_base.tar" <"$_base.list")
	[ "$_why" != - ] || _why=$(check_layout "$_base.tar")
	[ -z "$_why" ] || { printf '4 archive: unsafe entry: %s\n' "$_why" >"$_base.fail"; return; }
	ms
	echo "$_fmt $((MS - _t0))" >"$_base.ok"
}

# newer_local LISTING: the restore policy of persistent data (as the Go
# client's newerLocalData): when a regular file below the entries the
# archive covers (those whose parent is not in it) is newer than the newest
# file in the archive (and not written by this run: $WORK/begun), print why
# and return 1: the local data is kept.
newer_local() {
	awk -v roots="$ROOTS" '
	BEGIN { nroots = split(roots, root, " ") }
	{
		line = $0
		if (!match(line, /^[-a-zA-Z][-rwxsStTl]+ [^ ]+ +[0-9]+ [0-9]+-[0-9]+-[0-9]+ [0-9]+:[0-9]+:[0-9]+ /)) next
		type = substr(line, 1, 1); name = substr(line, RLENGTH + 1)
		split(line, f, " "); t = f[4] " " f[5]
		if (type == "l") name = substr(name, 1, index(name, " -> ") - 1)
		sub(/\/+$/, "", name); sub(/^(\.\/)+/, "", name)
		for (i = 1; i <= nroots; i++) if (name == root[i] || index(root[i], name "/") == 1) next
		if (type == "-" && t > newest) newest = t
		have[name] = 1; order[++n] = name
	}
	END {
		print (newest == "" ? "1970-01-01 00:00:00" : newest)
		for (i = 1; i <= n; i++) { p = order[i]; if (!sub(/\/[^\/]*$/, "", p) || !(p in have)) print order[i] }
	}' "$1" >"$1.tops"
	{
		read -r _newest
		touch -d "$_newest" "$1.ref" || { echo "cannot compare with the snapshot time $_newest"; return 1; }
		while IFS= read -r _top; do
			[ -e "$R/$_top" ] || continue
			_f=$(find "$R/$_top" -type f -newer "$1.ref" ! -newer "$WORK/begun" | head -n 1)
			if [ -n "$_f" ]; then
				echo "kept the local data: /${_f#"$R"/} is newer than the snapshot (newest file $_newest); remove the local data, or install with --force, to restore the snapshot"
				return 1
			fi
		done
	} <"$1.tops"
	return 0
}

# version_dir PREFIX NAME VERSION: the version directory of a software
# archive whose own directory is PREFIX (as the Go client's versionDir):
# PREFIX cut after its last component equal to VERSION, when a component
# before it is NAME, below an allowed root and plain; "" otherwise.
version_dir() {
	[ -n "$1" ] && [ -n "$3" ] || return 0
	_vp= _acc= _nm=0 _hit=
	split '/' "$1"
	for _c in $W; do
		_acc=${_acc:+$_acc/}$_c
		if [ "$_c" = "$3" ]; then _hit=$_acc _vp=$_nm; fi
		[ "$_c" != "$2" ] || _nm=1
	done
	[ -n "$_hit" ] && [ "$_vp" = 1 ] || return 0
	is_version_dir "$2" "$_hit" && printf '%s' "$_hit"
}

# is_version_dir NAME DIR: DIR lies below an allowed root, is plain, and has
# a component NAME before its last one.
is_version_dir() {
	case /$2/ in */../* | */./* | *//*) return 1 ;; esac
	case $2 in *[!A-Za-z0-9._+/@:-]*) return 1 ;; esac
	_ivd=1
	for _r in $ROOTS; do case $2 in "$_r"/?*) _ivd=0 ;; esac; done
	[ "$_ivd" = 0 ] || return 1
	case /${2%/*}/ in *"/$1/"*) return 0 ;; esac
	return 1
}

# read_record FILE: an install record into REC_SHA, REC_VERSION, REC_DIR,
# REC_OLD, REC_DEV; 1 when it is not one.
read_record() {
	REC_SHA= REC_VERSION= REC_DIR= REC_OLD= REC_DEV=
	[ -f "$1" ] || return 1
	read -r _l <"$1" || return 1
	for _w in $_l; do
		case $_w in
		sha256=*) REC_SHA=${_w#sha256=} ;; version=*) REC_VERSION=${_w#version=} ;;
		dir=*) REC_DIR=${_w#dir=} ;; old=*) REC_OLD=${_w#old=} ;;
		dev=*) REC_DEV=${_w#dev=} ;;
		esac
	done
	[ "${#REC_SHA}" = 64 ]
}

# owns DIR VERSION: the record read last names DIR as installed by this
# client (its dir, an old one, or, for records without dir=, the same
# version).
owns() {
	[ -n "$REC_SHA" ] || return 1
	[ "$REC_DIR" != "$1" ] || return 0
	case ,$REC_OLD, in *",$1,"*) return 0 ;; esac
	[ -z "$REC_DIR" ] && [ "$REC_VERSION" = "$2" ] && [ "${1##*/}" = "$2" ]
}

# install_archive KIND NAME FORMAT VERSION: extract a prepared archive into
# staging inside its allowed root, check the staged files, move them into
# place. A software version directory that does not exist moves in with one
# rename; one this client installed before is replaced as a whole (moved
# aside, the new one moved in, the old one removed: busybox mv cannot swap
# two directories in one step). The version directory it now owns goes to
# $WORK/<kind>.<name>.dir. Prints the reason and returns 4 (unsafe), 5
# (cannot install) or 9 (data kept: newer local data, see newer_local).
install_archive() {
	_base=$WORK/$1.$2
	_kind=$1 _name=$2 _ver=$4
	if [ "$1" = data ] && [ "$FORCE" = 0 ]; then
		newer_local "$_base.list" || return 9
	fi
	# Stage inside the first allowed root the archive writes to (same
	# filesystem: the moves are renames), creating the root if missing.
	_area=
	for _r in $ROOTS; do
		if grep -q -e " $_r/" -e " $_r\$" "$_base.list"; then _area=$_r; break; fi
	done
	[ -n "$_area" ] || _area=${ROOTS%% *}
	_made=
	_p=
	split '/' "$_area"
	for _c in $W; do
		_p=${_p:+$_p/}$_c
		if [ ! -d "$R/$_p" ]; then
			mkdir "$R/$_p" 2>/dev/null || { echo "allowed root $_area: cannot create $R/$_p"; return 5; }
			_made="$R/$_p $_made"
		fi
	done
	_stage=$(mktemp -d "$R/$_area/.fecdeploy-staging-$$-XXXXXXXX") || { echo "cannot create a staging directory in $R/$_area"; return 5; }
	_rc=0
	_why=
	tar -xof "$_base.tar" -C "$_stage/" 2>"$_base.err"
	_trc=$?
	rm -f "$_base.tar"
	if [ "$_trc" != 0 ]; then
		_why="archive: extracting failed: $(head -n 1 "$_base.err")"; _rc=5
	fi
	if [ $_rc = 0 ]; then
		_why=$(tree_check "$_stage")
		[ -z "$_why" ] || { _why="archive: unsafe entry: $_why"; _rc=4; }
	fi
	_vd= _own= _aside=
	if [ $_rc = 0 ]; then
		# Modes are clamped as in the Go client: no setuid, setgid, sticky
		# bit, no group or other write (busybox chmod ignores "o-t": "-t")
		find "$_stage" ! -type l \( -perm -4000 -o -perm -2000 -o -perm -1000 -o -perm -0020 -o -perm -0002 \) -exec chmod ug-s,go-w,-t {} +
		if [ "$_kind" = software ]; then
			# the archive's own directory: the single-directory chain of the staged tree (paths from the root)
			_c=$_stage _rel=
			while :; do
				_cnt=0 _one=
				for _e in "$_c"/* "$_c"/.[!.]* "$_c"/..?*; do
					[ -e "$_e" ] || [ -L "$_e" ] || continue
					_cnt=$((_cnt + 1)) _one=$_e
				done
				[ "$_cnt" = 1 ] && [ -d "$_one" ] && [ ! -L "$_one" ] || break
				_c=$_one _rel=${_rel:+$_rel/}${_one##*/}
			done
			_vd=$(version_dir "$_rel" "$_name" "$_ver")
		fi
		if [ -n "$_vd" ]; then
			read_record "$STATE/installed/$_kind/$_name"
			if [ ! -e "$R/$_vd" ] && [ ! -L "$R/$_vd" ]; then
				_own=$_vd
			elif [ -d "$R/$_vd" ] && [ ! -L "$R/$_vd" ] && owns "$_vd" "$_ver"; then
				_own=$_vd _aside=$_stage-old
				mv "$R/$_vd" "$_aside" || { _why="archive: commit: cannot move the old $_vd aside"; _rc=5; _aside=; }
			fi
		fi
	fi
	if [ $_rc = 0 ]; then
		_why=$(merge_check "$_stage" "$R")
		[ -z "$_why" ] || { _why="archive: commit: $_why"; _rc=5; }
	fi
	if [ $_rc = 0 ]; then
		_made=
		merge "$_stage" "$R" || { _why="archive: commit (partially done): moving files into $ROOT failed"; _rc=5; }
	fi
	if [ -n "$_aside" ]; then
		if [ $_rc = 0 ]; then
			chmod -R u+rwx "$_aside" 2>/dev/null
			rm -rf "$_aside"
		elif [ ! -e "$R/$_vd" ]; then
			mv "$_aside" "$R/$_vd"
		fi
	fi
	[ $_rc != 0 ] || printf '%s\n' "$_own" >"$_base.dir"
	rm -rf "$_stage"
	for _d in $_made; do rmdir "$_d" 2>/dev/null; done
	[ -z "$_why" ] || echo "$_why"
	return $_rc
}

# ---------------------------------------------------------------- install

# want_kind KIND: is this archive kind selected (install KIND...)?
want_kind() {
	[ -z "$KINDS" ] && return 0
	case " $KINDS " in *" $1 "*) return 0 ;; esac
	return 1
}

# installed_sha KIND NAME: the sha256 recorded after the last commit, in $ISHA.
# A record that cannot be used (not a file, unreadable, no sha256) is
# removed, so that this install can write a good one, and said so.
installed_sha() {
	ISHA=
	_rec=$STATE/installed/$1/$2
	[ -e "$_rec" ] || [ -L "$_rec" ] || return 0
	_l=
	if [ -f "$_rec" ] && [ ! -L "$_rec" ]; then
		read -r _l <"$_rec" || true
		for _w in $_l; do
			case $_w in sha256=*) ISHA=${_w#sha256=} ;; esac
		done
		case $ISHA in *[!0-9a-f]*) ISHA= ;; esac
		[ "${#ISHA}" = 64 ] && return 0
		ISHA=
		_what="is corrupt (no sha256 in \"$(printf '%.60s' "$_l")\")"
		rm -f "$_rec"
	else
		_what="is not a regular file"
		rm -rf "$_rec"
	fi
	if [ -e "$_rec" ] || [ -L "$_rec" ]; then
		fail 5 "state: the install record $_rec $_what and cannot be removed"
	else
		repaired "the install record $_rec $_what: removed, $1 $2 is installed again"
	fi
}

# record KIND NAME SHA256 VERSION PATH [DIR [OLD]]: the state line the Go
# client writes (written whole or not at all: a short write leaves no record).
record() {
	_t=$STATE/installed/$1/.$2.tmp
	if mkdir -p "$STATE/installed/$1" 2>/dev/null &&
		printf 'sha256=%s version=%s path=%s%s%s\n' "$3" "$4" "$5" "${6:+ dir=$6}" "${7:+ old=$7}" >"$_t" 2>/dev/null &&
		sizeof "$_t" && [ "$SZ" -gt 80 ] && mv -f "$_t" "$STATE/installed/$1/$2" 2>/dev/null; then
		return 0
	fi
	rm -f "$_t"
	return 1
}

# ---------------------------------------------------------------- dev releases

# A dev release (fec-pack -dev -to-fec) is recorded like an INDEX entry with
# dev=1: "sha256=<hex> version=<v> path=dev:<file> dev=1 prefix=<p> installed=<time>".

# dev_record FILE: the words of a state record into R_<key>.
dev_record() {
	R_sha256= R_version= R_path= R_dev= R_prefix= R_installed=
	read -r _l <"$1" || [ -n "$_l" ] || return 1
	for _w in $_l; do
		case $_w in
		sha256=* | version=* | path=* | dev=* | prefix=* | installed=*) eval "R_${_w%%=*}=\${_w#*=}" ;;
		esac
	done
	[ "$R_prefix" != - ] || R_prefix=
}

dev_install() {
	[ $# = 1 ] || fatal 2 "install-archive wants one FILE, got $# arguments (fec-boot.sh install-archive FILE -sha256 HEX -name NAME)"
	_file=$1
	_ver=${O_version:-dev}
	[ -f "$_file" ] || fatal 2 "install-archive: $_file is not a regular file"
	valid_name "$O_name" || fatal 2 "bad software name \"$O_name\" (-name): use only letters, digits, '.', '_' and '-'"
	valid_name "$_ver" || fatal 2 "bad version \"$_ver\" (-version)"
	case $O_sha256 in *[!0-9a-f]* | '') fatal 2 "-sha256 \"$O_sha256\" is not a lowercase hex sha256 (64 characters): give the sha256 of the archive as sent" ;; esac
	[ ${#O_sha256} = 64 ] || fatal 2 "-sha256 \"$O_sha256\" is not a lowercase hex sha256 (64 characters)"
	_pfx=$(printf '%s' "$O_prefix" | sed 's#^/*##; s#/*$##')
	if [ -n "$_pfx" ]; then
		_ok=0
		valid_path "$_pfx" && for _r in $ROOTS; do case $_pfx in "$_r"/*) _ok=1 ;; esac; done
		[ $_ok = 1 ] || fatal 2 "prefix \"$O_prefix\" must lie below one of the allowed roots ($ROOTS)"
	fi
	_got=$(sha256 "$_file")
	[ "${_got%% *}" = "$O_sha256" ] || fatal 4 "install-archive $_file: verify: sha256 mismatch: got ${_got%% *}, want $O_sha256; nothing installed"
	_fmt=$(magic "$_file")
	case $_fmt in
	unknown) fatal 4 "install-archive $_file: archive: unknown compression format (not zstd, gzip or xz)" ;;
	zstd) command -v zstd >/dev/null 2>&1 || fatal 5 "install-archive $_file: zstd-compressed, but this FEC has no zstd binary: send it as gzip (fec-pack -format gzip)" ;;
	esac
	_base=$WORK/software.$O_name
	_why=$(list_archive "$_file" "$_fmt" "$_base.list" "$_base.tar") || fatal 4 "install-archive $_file: $_why"
	_why=$(check_listing "$_base.tar" <"$_base.list")
	[ "$_why" != - ] || _why=$(check_layout "$_base.tar")
	[ -z "$_why" ] || fatal 4 "install-archive $_file: archive: unsafe entry: $_why"
	_why=$(install_archive software "$O_name" "$_fmt")
	_rc=$?
	[ "$_rc" = 0 ] || fatal "$_rc" "install-archive $_file: $_why"
	sync
	mkdir -p "$STATE/installed/software" &&
		printf 'sha256=%s version=%s path=dev:%s dev=1 prefix=%s installed=%s\n' "$O_sha256" "$_ver" "${_file##*/}" "${_pfx:--}" "$(now)" \
			>"$STATE/installed/software/.$O_name.tmp" &&
		mv -f "$STATE/installed/software/.$O_name.tmp" "$STATE/installed/software/$O_name" ||
		fatal 5 "install-archive: installed, but recording it in $STATE failed"
	sizeof "$_file"
	echo "installed $O_name $_ver (dev release, sha256 $O_sha256, $SZ bytes)"
}

dev_ls() {
	_first=1
	[ -n "$O_json" ] && printf '['
	[ -n "$O_json" ] || printf '%-20s %-10s %-12s %-20s %s\n' NAME VERSION SHA256 INSTALLED PREFIX
	for _f in "$STATE/installed/software"/*; do
		[ -f "$_f" ] || continue
		dev_record "$_f" || continue
		[ "$R_dev" = 1 ] || continue
		_n=${_f##*/}
		if [ -n "$O_json" ]; then
			[ $_first = 1 ] || printf ','
			_first=0
			printf '\n  {"name": %s, "version": %s, "sha256": %s, "file": %s, "prefix": %s, "installed": %s}' \
				"$(json_str "$_n")" "$(json_str "$R_version")" "$(json_str "$R_sha256")" "$(json_str "${R_path#dev:}")" \
				"$(json_str "$R_prefix")" "$(json_str "${R_installed:-0001-01-01T00:00:00Z}")"
		else
			printf '%-20s %-10s %-12.12s %-20s %s\n' "$_n" "$R_version" "$R_sha256" "$R_installed" "$R_prefix"
		fi
	done
	[ -z "$O_json" ] || printf '\n]\n'
}

dev_rm() {
	[ $# = 1 ] || fatal 2 "dev rm wants one NAME"
	valid_name "$1" || fatal 2 "bad software name \"$1\""
	_f=$STATE/installed/software/$1
	{ [ -f "$_f" ] && dev_record "$_f" && [ "$R_dev" = 1 ]; } || fatal 2 "no dev release \"$1\" on this FEC (fec-boot.sh dev ls lists them)"
	if [ -n "$R_prefix" ]; then
		_ok=0
		valid_path "$R_prefix" && for _r in $ROOTS; do case $R_prefix in "$_r"/*) _ok=1 ;; esac; done
		[ $_ok = 1 ] || fatal 5 "recorded prefix \"$R_prefix\" of dev release $1 is not below the allowed roots; remove it by hand"
		_p=$R
		split '/' "$R_prefix"
		for _c in $W; do
			_p=$_p/$_c
			[ ! -L "$_p" ] || fatal 5 "$_p is a symlink; dev release $1 not removed, remove it by hand"
		done
		rm -rf "${R:-}/$R_prefix" || fatal 5 "removing $R/$R_prefix failed"
	fi
	rm -f "$_f" || fatal 5 "removing $_f failed"
	echo "removed dev release $1 $R_version${R_prefix:+ ($R_prefix)}"
}

if [ -n "$DEV_CMD" ]; then
	set -f
	# shellcheck disable=SC2086
	set -- $DEV_ARGS
	set +f
	case $COMMAND in
	install-archive) dev_install "$@" ;;
	dev)
		case ${1:-} in
		ls) dev_ls ;;
		rm) shift; dev_rm "$@" ;;
		*) fatal 2 "dev wants ls or rm NAME (see fec-boot.sh --help)" ;;
		esac ;;
	esac
	rm -rf "$WORK"
	exit 0
fi

# Dev releases recorded before this run: kept unless the INDEX names them.
KEPT_DEV=
if [ "$DRY_RUN" = 0 ] && want_kind software; then
	for _f in "$STATE/installed/software"/*; do
		[ -f "$_f" ] || continue
		dev_record "$_f" || continue
		[ "$R_dev" = 1 ] || continue
		_n=${_f##*/}
		if grep -q "^software $_n " "$WORK/entries"; then
			log "software $_n: the INDEX names it, so the INDEX wins: its archive replaces the dev release copied onto this FEC"
		else
			log "software $_n: dev release kept, the INDEX does not name it; start scripts see it as a dev release"
			KEPT_DEV="$KEPT_DEV $_n:$R_version:$R_sha256"
		fi
	done
fi

# Archives in INDEX order; entry.<n> holds the status of the n-th.
: >"$WORK/failed"
: >"$WORK/begun" # files modified after this were written by this run (newer_local)
_i=0
_total=0
# shellcheck disable=SC2034 # fmt is used in the eval below
while read -r k n sum size path fmt ver dev; do
	[ "$k" != init ] || continue
	want_kind "$k" || continue
	_i=$((_i + 1))
	[ "$ver" != - ] || ver=
	installed_sha "$k" "$n"
	if [ "$FORCE" = 0 ] && [ "$ISHA" = "$sum" ]; then
		log "$k $n${ver:+ $ver}: skipped (sha256 already installed)"
		printf '%s %s %s %s %s\n' "$k" "$n" "${ver:--}" "$dev" "$sum" >"$WORK/done.$_i"
		add_entry "$_i" "$k" "$n" "$ver" "$dev" "$sum" skipped 0 0 ""
	elif [ "$DRY_RUN" = 1 ]; then
		add_entry "$_i" "$k" "$n" "$ver" "$dev" "$sum" dry-run "$size" 0 ""
	else
		_total=$((_total + 1))
		eval "TODO_$_total=\"\$_i \$k \$n \$sum \$size \$path \$fmt \${ver:--} \$dev\""
	fi
done <"$WORK/entries"
for _k in $KEPT_DEV; do
	_i=$((_i + 1))
	_n=${_k%%:*} _r=${_k#*:}
	printf 'software %s %s 1 %s\n' "$_n" "${_r%%:*}" "${_r#*:}" >"$WORK/done.$_i"
	add_entry "$_i" software "$_n" "${_r%%:*}" 1 "${_r#*:}" kept-dev 0 0 ""
done
NKEPT=$_i

# Up to `parallel` archives are downloaded, verified, decompressed and listed
# in the background ahead of the one being extracted and moved into place.
# Each background preparation writes a line to the FIFO on fd 7 when done;
# the main loop blocks reading it. (`wait PID` is not used: busybox ash's
# wait builtin can miss the exit of a child that ends very quickly and then
# sleeps forever.)
mkfifo "$WORK/ready" && exec 7<>"$WORK/ready" || fatal 5 "cannot create a FIFO in $WORK"
# start_prepare J: prepare the J-th archive of the todo list in the background.
start_prepare() {
	[ "$1" -le "$_total" ] || return 0
	# shellcheck disable=SC2046
	eval "set -- \"\$1\" \$TODO_$1"
	prepare "$3" "$4" "$5" "$6" "$7" "$8" &
	eval "PID_$1=\$!"
	PIDS="$PIDS $!"
}
_j=1
while [ "$_j" -le "$PARALLEL" ]; do
	start_prepare "$_j"
	_j=$((_j + 1))
done
_j=1
while [ "$_j" -le "$_total" ]; do
	eval "set -- \$TODO_$_j"
	_i=$1 k=$2 n=$3 sum=$4 size=$5 path=$6 ver=$8 dev=$9
	[ "$ver" != - ] || ver=
	_base=$WORK/$k.$n
	while [ ! -e "$_base.ready" ]; do
		# shellcheck disable=SC3045 # busybox ash has read -t
		if read -r -t 10 _x <&7; then
			: >"$WORK/$_x.ready"
			continue
		fi
		# no news for 10 s: is the job still working?
		eval "_p=\$PID_$_j"
		_st=
		[ -r "/proc/$_p/stat" ] && read -r _ _ _st _ <"/proc/$_p/stat"
		if [ -f "$_base.ok" ] || [ -f "$_base.fail" ] || ! kill -0 "$_p" 2>/dev/null || [ "$_st" = Z ]; then
			[ -f "$_base.ok" ] || [ -f "$_base.fail" ] || echo "5 preparing the archive failed (the background job died)" >"$_base.fail"
			: >"$_base.ready"
		fi
	done
	ms
	_t0=$MS
	start_prepare $((_j + PARALLEL))
	_base=$WORK/$k.$n
	_code=0
	_why=
	_prep_ms=0
	_lost="preparing the archive failed, and its reason could not be written to $WORK (a full state filesystem?)"
	if [ -f "$_base.fail" ]; then
		read -r _code _why <"$_base.fail" || true
		case $_code in [2-6]) ;; *) _code=5 _why=$_lost ;; esac
	elif [ -f "$_base.ok" ]; then
		read -r _dfmt _prep_ms <"$_base.ok" || true
		case $_dfmt in
		gzip | xz | zstd)
			_why=$(install_archive "$k" "$n" "$_dfmt" "$ver")
			_code=$? ;;
		*) _code=5 _why=$_lost _prep_ms=0 ;;
		esac
	else
		_code=5 _why="preparing the download failed"
	fi
	_bytes=0
	[ -e "$_base.dl" ] || [ -e "$_base.tar" ] || [ -e "$_base.ok" ] && _bytes=$size
	_own=
	[ ! -f "$_base.dir" ] || read -r _own <"$_base.dir"
	rm -rf "$_base".*
	ms
	_dur=$((MS - _t0 + ${_prep_ms:-0}))
	if [ "$_code" = 0 ]; then
		# the version directories of earlier versions still on disk, newest first
		read_record "$STATE/installed/$k/$n"
		_old=
		[ -z "$REC_DIR" ] || [ "$REC_DIR" = "$_own" ] || _old=$REC_DIR
		split ',' "$REC_OLD"
		for _o in $W; do
			[ "$_o" = "$_own" ] || [ "$_o" = "$REC_DIR" ] || _old=${_old:+$_old,}$_o
		done
		if record "$k" "$n" "$sum" "$ver" "$path" "$_own" "$_old"; then
			log "$k $n${ver:+ $ver}: installed ($_bytes bytes, ${_dur}ms)"
			printf '%s %s %s %s %s\n' "$k" "$n" "${ver:--}" "$dev" "$sum" >"$WORK/done.$_i"
			add_entry "$_i" "$k" "$n" "$ver" "$dev" "$sum" installed "$_bytes" "$_dur" ""
		else
			_code=5 _why="installed, but writing its install record $STATE/installed/$k/$n failed (a full or read-only state filesystem?); it is installed again at the next boot"
		fi
	fi
	if [ "$_code" = 9 ]; then
		log "$k $n: $_why"
		add_entry "$_i" "$k" "$n" "$ver" "$dev" "$sum" kept "$_bytes" "$_dur" "$k $n: $_why"
		_code=0
	fi
	if [ "$_code" != 0 ]; then
		fail "$_code" "$k $n: $_why"
		echo "$k/$n" >>"$WORK/failed"
		add_entry "$_i" "$k" "$n" "$ver" "$dev" "$sum" failed "$_bytes" "$_dur" "$k $n: $_why"
	fi
	_j=$((_j + 1))
done

# ---------------------------------------------------------------- old versions

# remove_version_dir NAME DIR: remove one version directory this client
# installed (as the Go client's removeVersionDir): below an allowed root, a
# directory (not a symlink), holding and lying in no kept one ($KEEP); renamed
# into a staging name first, then deleted; parents left empty are removed up
# to the allowed root.
remove_version_dir() {
	is_version_dir "$1" "$2" || { log "$2 is no version directory of $1 below the allowed roots: left alone"; return 1; }
	for _k in $KEEP; do
		case $_k/ in "$2"/*) log "$2 holds the kept version directory $_k: left alone"; return 1 ;; esac
		case $2/ in "$_k"/*) log "$2 lies in the kept version directory $_k: left alone"; return 1 ;; esac
	done
	[ -e "$R/$2" ] || [ -L "$R/$2" ] || return 0
	[ -d "$R/$2" ] && [ ! -L "$R/$2" ] || { log "$2 is not a directory: left alone"; return 1; }
	_ar=
	for _r in $ROOTS; do
		case $2 in "$_r"/*) [ "${#_r}" -le "${#_ar}" ] || _ar=$_r ;; esac
	done
	_tmp=$(mktemp -d "$R/$_ar/.fecdeploy-staging-$$-XXXXXXXX") || return 1
	mv "$R/$2" "$_tmp/d" || { rmdir "$_tmp"; return 1; }
	chmod -R u+rwx "$_tmp" 2>/dev/null
	rm -rf "$_tmp"
	_p=${2%/*}
	while [ "$_p" != "$_ar" ] && is_dir_below "$_p"; do
		rmdir "$R/$_p" 2>/dev/null || break
		_p=${_p%/*}
	done
}
is_dir_below() {
	for _r in $ROOTS; do case $1 in "$_r"/?*) return 0 ;; esac; done
	return 1
}

# After a boot whose archives all installed: remove the version directories
# of software that left the INDEX and of versions before the previous one
# (the previous one too unless keep_previous), only those the install
# records name (docs/boot.md "Old versions").
REMOVED=
if [ "$COMMAND" = boot ] && [ "$DRY_RUN" = 0 ] && [ -d "$STATE/installed/software" ]; then
	if [ -s "$WORK/failed" ]; then
		log "old versions are kept: not every archive of the INDEX is installed"
	else
		KEEP=
		for _f in "$STATE/installed/software"/*; do
			grep -q "^software ${_f##*/} " "$WORK/entries" && read_record "$_f" || continue
			KEEP="$KEEP $REC_DIR"
			[ "$KEEP_PREVIOUS" = 0 ] || [ -z "$REC_OLD" ] || KEEP="$KEEP ${REC_OLD%%,*}"
		done
		for _f in "$STATE/installed/software"/*; do
			_n=${_f##*/}
			valid_name "$_n" && read_record "$_f" || continue
			# a dev release the INDEX does not name is kept (kept-dev above)
			[ "$REC_DEV" != 1 ] || grep -q "^software $_n " "$WORK/entries" || continue
			_path=$(sed -n 's/.* path=\([^ ]*\).*/\1/p' "$_f")
			_in=0
			grep -q "^software $_n " "$WORK/entries" && _in=1
			_prev=
			if [ "$_in" = 1 ]; then
				_drop=$REC_OLD
				if [ "$KEEP_PREVIOUS" = 1 ] && [ -n "$REC_OLD" ]; then
					_prev=${REC_OLD%%,*}
					case $REC_OLD in *,*) _drop=${REC_OLD#*,} ;; *) _drop= ;; esac
				fi
			else
				_drop=$REC_DIR${REC_OLD:+,$REC_OLD}
			fi
			_left=
			split ',' "$_drop"
			for _d in $W; do
				if remove_version_dir "$_n" "$_d"; then
					log "removed $_d (software $_n)"
					REMOVED="$REMOVED $_d"
				else
					_left=${_left:+$_left,}$_d
				fi
			done
			if [ "$_in" = 0 ]; then
				if [ -z "$_left" ]; then rm -f "$_f"; else record software "$_n" "$REC_SHA" "$REC_VERSION" "$_path" "" "$_left"; fi
				continue
			fi
			_new=$_prev${_left:+${_prev:+,}$_left}
			if [ "$_new" != "$REC_OLD" ]; then
				record software "$_n" "$REC_SHA" "$REC_VERSION" "$_path" "$REC_DIR" "$_new"
			fi
		done
	fi
fi

# ---------------------------------------------------------------- init scripts

# fetch_script NAME SHA256 SIZE PATH: a verified local copy in $STATE/scripts.
# Prints the reason and returns 4 or 5 on failure.
fetch_script() {
	_dst=$STATE/scripts/$1
	sizeof "$_dst"
	if [ -f "$_dst" ] && [ "$SZ" = "$3" ]; then
		_got=$(sha256 "$_dst" "$SZ")
		if [ "${_got%% *}" = "$2" ]; then chmod 0755 "$_dst"; return 0; fi
	fi
	_tmp=$STATE/scripts/.$1.tmp
	url_for "$4"
	fetch "$U" "$_tmp" "$3" "$3"
	case $? in
	0) ;;
	3) echo "verify: size mismatch: the download is longer than the $3 bytes the INDEX says, stopped there"; return 4 ;;
	5) echo "$FETCH_ERR"; return 4 ;;
	*) echo "$FETCH_ERR"; return 5 ;;
	esac
	sizeof "$_tmp"
	_got=$SZ
	[ "$_got" = "$3" ] || { rm -f "$_tmp"; echo "verify: size mismatch: got $_got bytes, INDEX says $3"; return 4; }
	_got=$(sha256 "$_tmp" "$_got")
	_got=${_got%% *}
	[ "$_got" = "$2" ] || { rm -f "$_tmp"; echo "verify: sha256 mismatch: got $_got, INDEX says $2"; return 4; }
	chmod 0755 "$_tmp" && mv -f "$_tmp" "$_dst" || { echo "cannot install it as $_dst"; return 5; }
}

# envname NAME: NAME in upper case, every character other than A-Z, 0-9
# and _ replaced by _, in $EN (FECDEPLOY_SW_<EN>_VERSION; one per software,
# so no processes).
envname() {
	_s=$1 EN=
	while [ -n "$_s" ]; do
		_r=${_s#?}
		_c=${_s%"$_r"}
		_s=$_r
		case $_c in
		a) _c=A ;; b) _c=B ;; c) _c=C ;; d) _c=D ;; e) _c=E ;; f) _c=F ;; g) _c=G ;;
		h) _c=H ;; i) _c=I ;; j) _c=J ;; k) _c=K ;; l) _c=L ;; m) _c=M ;; n) _c=N ;;
		o) _c=O ;; p) _c=P ;; q) _c=Q ;; r) _c=R ;; s) _c=S ;; t) _c=T ;; u) _c=U ;;
		v) _c=V ;; w) _c=W ;; x) _c=X ;; y) _c=Y ;; z) _c=Z ;;
		[A-Z0-9_]) ;;
		*) _c=_ ;;
		esac
		EN=$EN$_c
	done
}

# Init scripts run at boot only, in name order.
if [ "$COMMAND" = boot ]; then
	grep '^init ' "$WORK/entries" | sort -k2,2 >"$WORK/scripts"
	if [ "$DRY_RUN" = 0 ]; then
		mkdir -p "$STATE/scripts" || fail 6 "cannot create $STATE/scripts"
		for _f in "$STATE/scripts"/* "$STATE/scripts"/.[!.]*; do
			[ -e "$_f" ] || continue
			grep -q "^init ${_f##*/} " "$WORK/scripts" || rm -f "$_f"
		done
	fi
	: >"$WORK/runnable"
	while read -r k n sum size path rest; do
		if [ "$DRY_RUN" = 1 ]; then
			add_script "$n" dry-run -1 0 "" ""
			continue
		fi
		_why=$(fetch_script "$n" "$sum" "$size" "$path")
		_code=$?
		if [ "$_code" != 0 ]; then
			fail "$_code" "init $n: $_why"
			add_script "$n" failed -1 0 "init $n: $_why" ""
		else
			echo "$n" >>"$WORK/runnable"
		fi
	done <"$WORK/scripts"

	if [ "$DRY_RUN" = 0 ] && [ -s "$WORK/runnable" ]; then
		# The scripts' environment: none of ours from the caller, then what
		# this boot installed (docs/boot.md).
		for _v in $(env | sed -n 's/^\(FECDEPLOY_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$_v"; done
		[ -n "${PATH:-}" ] || PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
		export PATH
		_plain=$(plain "$URL")
		FECDEPLOY_FEC=$FEC
		FECDEPLOY_URL=$_plain
		FECDEPLOY_ROOT=$ROOT
		FECDEPLOY_STATE_DIR=$STATE
		split ' ' "$ROOTS"
		FECDEPLOY_ALLOWED_ROOTS=
		for _r in $W; do FECDEPLOY_ALLOWED_ROOTS=${FECDEPLOY_ALLOWED_ROOTS:+$FECDEPLOY_ALLOWED_ROOTS,}$_r; done
		FECDEPLOY_SOFTWARE=
		FECDEPLOY_DEV_SOFTWARE=
		FECDEPLOY_FAILED=
		if [ -f "$WORK/failed" ]; then
			while IFS= read -r _l; do FECDEPLOY_FAILED="${FECDEPLOY_FAILED:+$FECDEPLOY_FAILED }$_l"; done <"$WORK/failed"
		fi
		export FECDEPLOY_FEC FECDEPLOY_URL FECDEPLOY_ROOT FECDEPLOY_STATE_DIR FECDEPLOY_ALLOWED_ROOTS \
			FECDEPLOY_SOFTWARE FECDEPLOY_DEV_SOFTWARE FECDEPLOY_FAILED
		_i=1
		while [ "$_i" -le "$NKEPT" ]; do
			if [ -f "$WORK/done.$_i" ]; then
				read -r k n ver dev sum <"$WORK/done.$_i"
				if [ "$k" = software ]; then
					[ "$ver" != - ] || ver=
					envname "$n"
					var=$EN
					FECDEPLOY_SOFTWARE="${FECDEPLOY_SOFTWARE:+$FECDEPLOY_SOFTWARE }$n"
					[ "$dev" = 1 ] && FECDEPLOY_DEV_SOFTWARE="${FECDEPLOY_DEV_SOFTWARE:+$FECDEPLOY_DEV_SOFTWARE }$n"
					eval "FECDEPLOY_SW_${var}_VERSION=\$ver FECDEPLOY_SW_${var}_DEV=\$dev; export FECDEPLOY_SW_${var}_VERSION FECDEPLOY_SW_${var}_DEV"
				fi
			fi
			_i=$((_i + 1))
		done
		HAVE_SETSID=0
		command -v setsid >/dev/null 2>&1 && HAVE_SETSID=1
		while read -r n; do
			log "running init script $n"
			ms
			_t0=$MS
			# Like execve: a script needs a #! line (ash would run it anyway).
			case $(od -An -tx1 -N4 "$STATE/scripts/$n" | tr -d ' \n') in
			2321*)
				# Like execve: a missing interpreter is 127 (both clients).
				read -r _interp _rest <"$STATE/scripts/$n"
				_interp=${_interp#??}
				[ -n "$_interp" ] || _interp=${_rest%% *}
				if [ -n "$_interp" ] && [ ! -x "$_interp" ]; then
					_why="cannot execute: interpreter not found (the #! line names a program this FEC does not have)"
					fail 6 "init $n: $_why"
					add_script "$n" failed 127 0 "$_why" ""
					continue
				fi ;;
			7f454c46) ;;
			*)
				fail 6 "init $n: cannot execute: exec format error (no #! line?)"
				add_script "$n" failed 126 0 "cannot execute: exec format error (no #! line?)" ""
				continue ;;
			esac
			# The script runs in the foreground, in a session and process group
			# of its own (setsid), with its output in a file: a daemon it starts
			# that keeps the output open cannot block the boot. A watchdog kills
			# the group after script_timeout. (No background `wait`: busybox
			# ash's wait builtin can miss a child that exits at once.)
			rmf "$WORK/script.timeout" "$WORK/script.done" "$WORK/script.pid" "$WORK/watchdog.pid"
			_setsid=
			[ "$HAVE_SETSID" = 0 ] || _setsid=setsid
			if [ "$SCRIPT_TIMEOUT" -gt 0 ]; then
				(
					sh -c 'echo $$ >"$1"; exec sleep "$2"' watchdog "$WORK/watchdog.pid" "$SCRIPT_TIMEOUT"
					[ -e "$WORK/script.done" ] && exit 0
					: >"$WORK/script.timeout"
					# On a loaded FEC the timeout can pass before the script has
					# written its pid: wait for it rather than kill nothing.
					while [ ! -s "$WORK/script.pid" ]; do
						[ ! -e "$WORK/script.done" ] || exit 0
						sleep_ms 10
					done
					read -r _p <"$WORK/script.pid" || exit 0
					kill -KILL -"$_p" 2>/dev/null || kill -KILL "$_p" 2>/dev/null
				) </dev/null >/dev/null 2>&1 7>&- &
			fi
			FECDEPLOY_SCRIPT=$n sh -c 'echo $$ >"$1"; cd "$2" && exec $3 "$4"' fec-boot.sh \
				"$WORK/script.pid" "$ROOT" "$_setsid" "$STATE/scripts/$n" </dev/null >"$WORK/script.out" 2>&1 7>&-
			_code=$?
			: >"$WORK/script.done"
			if [ "$SCRIPT_TIMEOUT" -gt 0 ]; then
				# stop the watchdog's sleep (it then sees script.done and exits)
				while [ ! -s "$WORK/watchdog.pid" ] && [ ! -e "$WORK/script.timeout" ]; do sleep_ms 10; done
				[ -e "$WORK/script.timeout" ] || { read -r _p <"$WORK/watchdog.pid" && kill "$_p" 2>/dev/null; }
			fi
			sed "s/^/[$n] /" "$WORK/script.out"
			ms
			_dur=$((MS - _t0))
			if [ -e "$WORK/script.timeout" ]; then
				_code=124
				_why="timed out after ${SCRIPT_TIMEOUT}s; its process group was killed"
				fail 6 "init $n: $_why"
				add_script "$n" failed "$_code" "$_dur" "$_why" "$WORK/script.out"
			elif [ "$_code" = 0 ]; then
				add_script "$n" ran 0 "$_dur" "" "$WORK/script.out"
			else
				case $_code in
				126 | 127) _why="cannot execute (exit status $_code)" ;;
				*) _why="exited with exit status $_code" ;;
				esac
				fail 6 "init $n: $_why"
				add_script "$n" failed "$_code" "$_dur" "$_why" "$WORK/script.out"
			fi
		done <"$WORK/runnable"
	fi
fi

finish
