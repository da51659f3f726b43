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
#
# Environment: FECDEPLOY_STORAGE (default /srv/web-storage), FEC_PACK (default
# fec-pack), FECDEPLOY_FORMAT (zstd; use gzip for busybox FECs without zstd).
set -eu

storage=${FECDEPLOY_STORAGE:-/srv/web-storage}
fec_pack=${FEC_PACK:-fec-pack}
format=${FECDEPLOY_FORMAT:-zstd}
du='' version='' arch='' staged='' instances='' fecs='' dry=''

usage() { sed -n '2,24p' "$0" >&2; exit 2; }
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
	*) usage ;;
	esac
done
[ -n "$du" ] && [ -n "$version" ] && [ -n "$arch" ] && [ -n "$staged" ] || usage
[ -d "$staged" ] || { echo "yocto-fesa3-deploy: staged dir $staged does not exist" >&2; exit 2; }

if [ -n "$tofec" ]; then
	[ "$version" = dev ] || { echo "yocto-fesa3-deploy: -t sends a dev release: use -v dev" >&2; exit 2; }
	$dry "$fec_pack" -dev -to-fec "$tofec" -name "$du" -prefix "opt/fesa/$du/dev" -format "$format" "$staged"
	if [ -n "$instances" ]; then
		[ -d "$instances" ] || { echo "yocto-fesa3-deploy: instance dir $instances does not exist" >&2; exit 2; }
		$dry "$fec_pack" -dev -to-fec "$tofec" -name "$du-instance" -prefix "opt/fesa/$du/dev/instance" -format "$format" "$instances"
	fi
	exit 0
fi

link=
[ -n "$fecs" ] && link="-link $fecs"

# shellcheck disable=SC2086  # $link is empty or two words on purpose
$dry "$fec_pack" -storage "$storage" -name "$du" -version "$version" -arch "$arch" \
	-prefix "opt/fesa/$du/$version" -format "$format" $link "$staged"

if [ -n "$instances" ]; then
	[ -d "$instances" ] || { echo "yocto-fesa3-deploy: instance dir $instances does not exist" >&2; exit 2; }
	# shellcheck disable=SC2086
	$dry "$fec_pack" -storage "$storage" -kind configuration -name "$du-instance" -version "$version" \
		-arch noarch -prefix "opt/fesa/$du/$version/instance" -format "$format" $link "$instances"
fi
