#!/bin/sh
# yocto-fesa3-deploy.sh — the deploy step yocto-fesa3 (and the FESA Eclipse
# plug-in through it) runs after building a deploy unit.
#
#   yocto-fesa3-deploy.sh [-n] -u DEPLOY_UNIT -v VERSION -a ARCH -d STAGED_DIR [-i INSTANCE_DIR] [-f FEC,...]
#   yocto-fesa3-deploy.sh [-n] -u DEPLOY_UNIT -v dev -a ARCH -d STAGED_DIR [-i INSTANCE_DIR] -t FEC
#
#   -u  deploy unit, e.g. BeamPosition_DU (the software name in the storage)
#   -v  version: strict semver for productive releases, or "dev"
#   -a  architecture of the binary (x86_64, ppc, ...)
#   -d  staged install tree of the deploy unit (becomes opt/fesa/<DU>/<VERSION>/)
#   -i  instance files (become configuration <DU>-instance at the same version,
#       so an instance file always names the binary version it belongs to)
#   -f  FECs to link right away
#   -t  dev release straight onto this FEC over ssh instead of the storage
#       (-v must be dev; the path the FESA IDE plug-in calls; needs the FEC's
#       client, FECDEPLOY_FEC_CLIENT, default fec-boot)
#   -n  print the commands instead of running them
#   -h  print this help
#
# Environment: FECDEPLOY_STORAGE (default /srv/web-storage), FEC_PACK (default
# fec-pack), FECDEPLOY_FORMAT (default: fec-pack's choice for the architecture,
# gzip for ppc and for the noarch instance archive, zstd otherwise).
set -eu

storage=${FECDEPLOY_STORAGE:-/srv/web-storage}
fec_pack=${FEC_PACK:-fec-pack}
format=${FECDEPLOY_FORMAT:-}
du='' version='' arch='' staged='' instances='' fecs='' dry=''

# usage prints the comment block at the top of this file (the help), not code.
usage() {
	awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
}
tofec=''
while getopts "u:v:a:d:i:f:t:nh" opt; do
	case $opt in
	u) du=$OPTARG ;;
	v) version=$OPTARG ;;
	a) arch=$OPTARG ;;
	d) staged=$OPTARG ;;
	i) instances=$OPTARG ;;
	f) fecs=$OPTARG ;;
	t) tofec=$OPTARG ;;
	n) dry='echo' ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
if [ -z "$du" ] || [ -z "$version" ] || [ -z "$arch" ] || [ -z "$staged" ]; then
	echo "yocto-fesa3-deploy: -u, -v, -a and -d are required" >&2
	usage >&2
	exit 2
fi
[ -d "$staged" ] || { echo "yocto-fesa3-deploy: staged dir $staged does not exist" >&2; exit 2; }

fmt=
if [ -n "$format" ]; then fmt="-format $format"; fi

if [ -n "$tofec" ]; then
	[ "$version" = dev ] || { echo "yocto-fesa3-deploy: -t sends a dev release: use -v dev" >&2; exit 2; }
	# shellcheck disable=SC2086  # $fmt is empty or two words on purpose
	$dry "$fec_pack" -dev -to-fec "$tofec" -name "$du" -arch "$arch" -prefix "opt/fesa/$du/dev" $fmt "$staged"
	if [ -n "$instances" ]; then
		[ -d "$instances" ] || { echo "yocto-fesa3-deploy: instance dir $instances does not exist" >&2; exit 2; }
		# shellcheck disable=SC2086
		$dry "$fec_pack" -dev -to-fec "$tofec" -name "$du-instance" -arch noarch -prefix "opt/fesa/$du/dev/instance" $fmt "$instances"
	fi
	exit 0
fi

link=
if [ -n "$fecs" ]; then link="-link $fecs"; fi

# shellcheck disable=SC2086  # $link and $fmt are empty or two words on purpose
$dry "$fec_pack" -storage "$storage" -name "$du" -version "$version" -arch "$arch" \
	-prefix "opt/fesa/$du/$version" $fmt $link "$staged"

if [ -n "$instances" ]; then
	[ -d "$instances" ] || { echo "yocto-fesa3-deploy: instance dir $instances does not exist" >&2; exit 2; }
	# shellcheck disable=SC2086
	$dry "$fec_pack" -storage "$storage" -kind configuration -name "$du-instance" -version "$version" \
		-arch noarch -prefix "opt/fesa/$du/$version/instance" $fmt $link "$instances"
fi
