#!/bin/sh
# fecd-forced-command.sh: on a FEC, the only commands the release service's
# ssh key may run. Install it (root-owned, mode 0755), e.g. as
# /usr/libexec/fecdeploy/fecd-forced-command.sh, and put the service's
# public key into root's authorized_keys with it as the forced command:
#
#   command="/usr/libexec/fecdeploy/fecd-forced-command.sh",restrict ssh-ed25519 AAAA... fecd@writer
#
# sshd runs this script whatever the client asked for; the request is in
# $SSH_ORIGINAL_COMMAND. Allowed, exactly:
#   restart <service>   restart one service (a FESA class): systemctl restart,
#                       else /etc/init.d/<service> restart
#   reboot              reboot the FEC (a second after answering)
# Everything else is refused (exit 2) and logged. <service> is letters,
# digits and _ . @ - only, not starting with - or .; no shell ever sees it.
#
# FECD_RESTART_CMD and FECD_REBOOT_CMD (set with environment= in
# authorized_keys, never by the client) replace the restart and reboot
# programs, e.g. for a FEC without systemd or for tests.
set -u

log() {
	logger -t fecd-forced-command "$*" 2>/dev/null || true
}

refuse() {
	log "refused: $1"
	echo "fecd-forced-command: refused: $1 (allowed: restart <service>, reboot)" >&2
	exit 2
}

req=${SSH_ORIGINAL_COMMAND:-}
case $req in
*[!A-Za-z0-9_.@\ -]*) refuse "\"$req\" contains characters outside letters, digits, _ . @ - and blanks" ;;
esac
set -f
# shellcheck disable=SC2086 # split on blanks on purpose; globbing is off
set -- $req
set +f

case ${1:-} in
restart)
	[ $# -eq 2 ] || refuse "\"$req\": restart takes exactly one service name"
	name=$2
	case $name in
	-* | .*) refuse "service name \"$name\" starts with - or ." ;;
	esac
	log "restart $name"
	if [ -n "${FECD_RESTART_CMD:-}" ]; then
		exec "$FECD_RESTART_CMD" "$name"
	fi
	if command -v systemctl >/dev/null 2>&1; then
		exec systemctl restart "$name"
	fi
	if [ -x "/etc/init.d/$name" ]; then
		exec "/etc/init.d/$name" restart
	fi
	echo "fecd-forced-command: no service $name (no systemctl, no /etc/init.d/$name)" >&2
	exit 3
	;;
reboot)
	[ $# -eq 1 ] || refuse "\"$req\": reboot takes no argument"
	log "reboot"
	# Answer first, then reboot a second later: the service records "ok"
	# instead of a connection cut off by the reboot.
	prog=${FECD_REBOOT_CMD:-reboot}
	# shellcheck disable=SC2016 # $0 is expanded by the inner shell
	nohup sh -c 'sleep 1; exec "$0"' "$prog" </dev/null >/dev/null 2>&1 &
	echo "rebooting"
	exit 0
	;;
*)
	refuse "\"$req\""
	;;
esac
