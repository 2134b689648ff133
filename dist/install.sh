#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# install.sh: install or uninstall hooksupd from a source tree; `make
# install`, `make uninstall` and `make package` (which stages a package
# root with it) call it. One table below drives both actions, so
# uninstall removes exactly the files install put.
#
# Usage: dist/install.sh install|uninstall|list
#
# Environment (the Makefile sets them):
#   PREFIX       /usr/local (default) or /usr
#   DESTDIR      staging root; empty installs on this host
#   BINARY       the hooksupd binary to install (default bin/hooksupd)
#   MANDIR       generated man pages (default bin/man)
#   COMPLETIONS  generated shell completions: bash, zsh and fish files, if
#                present (default bin/completions)
#   UNITDIR      default /lib/systemd/system for PREFIX=/usr (where
#                packages put units), else /etc/systemd/system (where
#                systemd looks for units of the local admin: it never reads
#                /usr/local/lib/systemd/system on every distribution)
#   CONFDIR      default /etc/hooksupd
#   DOCDIR       default $PREFIX/share/doc/hooksupd
#   NOLICENSE=1  leave LICENSE out of DOCDIR (a Debian package carries
#                the licence in its copyright file instead)
#
# The configuration CONFDIR/hooks.toml is installed only when none exists,
# and uninstalled only when it is still the shipped example: an edited
# configuration is kept.
set -eu

cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
BINARY=${BINARY:-bin/hooksupd}
MANDIR=${MANDIR:-bin/man}
COMPLETIONS=${COMPLETIONS:-bin/completions}
if [ -z "${UNITDIR:-}" ]; then
	case $PREFIX in
	/usr) UNITDIR=/lib/systemd/system ;;
	*) UNITDIR=/etc/systemd/system ;;
	esac
fi
CONFDIR=${CONFDIR:-/etc/hooksupd}
DOCDIR=${DOCDIR:-$PREFIX/share/doc/hooksupd}
share=$PREFIX/share

# files prints "MODE SOURCE DESTINATION" for every installed file except
# the configuration.
files() {
	echo "0755 $BINARY $PREFIX/bin/hooksupd"
	echo "0644 bin/unit/hooksupd.service $UNITDIR/hooksupd.service"
	echo "0644 dist/systemd/hooksupd.socket $UNITDIR/hooksupd.socket"
	for m in "$MANDIR"/*.gz; do
		[ -e "$m" ] || { echo "install.sh: no man pages in $MANDIR (make man)" >&2; exit 1; }
		b=${m##*/}
		s=${b%.gz}
		echo "0644 $m $share/man/man${s##*.}/$b"
	done
	echo "0644 README.md $DOCDIR/README.md"
	echo "0644 dist/PROTOCOL.md $DOCDIR/PROTOCOL.md"
	echo "0644 CHANGELOG.md $DOCDIR/CHANGELOG.md"
	[ "${NOLICENSE:-}" = 1 ] || echo "0644 LICENSE $DOCDIR/LICENSE"
	# Examples are documentation: not executable here (copy one and
	# chmod it to use it; strict_modes wants it root-owned anyway).
	git ls-files examples 2>/dev/null | grep -v '^examples/bin/' || find examples -type f ! -path 'examples/bin/*' | sort
	if [ -e "$COMPLETIONS/hooksupd.bash" ]; then
		echo "0644 $COMPLETIONS/hooksupd.bash $share/bash-completion/completions/hooksupd"
		echo "0644 $COMPLETIONS/_hooksupd $share/zsh/vendor-completions/_hooksupd"
		echo "0644 $COMPLETIONS/hooksupd.fish $share/fish/vendor_completions.d/hooksupd.fish"
	fi
}

# table normalises the example lines (bare paths) into the same form.
table() {
	files | while read -r a b c; do
		if [ -z "$b" ]; then
			echo "0644 $a $DOCDIR/$a"
		else
			echo "$a $b $c"
		fi
	done
}

# unit renders the service unit with this install's paths.
unit() {
	mkdir -p bin/unit
	sed -e "s|/usr/local/bin/hooksupd|$PREFIX/bin/hooksupd|g" \
		-e "s|/etc/hooksupd/hooks.toml|$CONFDIR/hooks.toml|g" \
		dist/systemd/hooksupd.service >bin/unit/hooksupd.service
}

live_systemd() { [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; }

case ${1:-} in
install)
	unit
	table | while read -r mode src dst; do
		install -D -m "$mode" "$src" "$DESTDIR$dst"
	done
	if [ -e "$DESTDIR$CONFDIR/hooks.toml" ]; then
		echo "keeping the existing $DESTDIR$CONFDIR/hooks.toml (the example is dist/hooks.toml)"
	else
		install -D -m 0644 dist/hooks.toml "$DESTDIR$CONFDIR/hooks.toml"
	fi
	if live_systemd; then
		echo "systemctl daemon-reload"
		systemctl daemon-reload
	fi
	;;
uninstall)
	if live_systemd && [ -e "$UNITDIR/hooksupd.service" ]; then
		echo "systemctl disable --now hooksupd.service hooksupd.socket"
		systemctl disable --now hooksupd.service hooksupd.socket || true
	fi
	table | while read -r mode src dst; do
		rm -f "$DESTDIR$dst"
	done
	conf=$DESTDIR$CONFDIR/hooks.toml
	if [ -e "$conf" ]; then
		if cmp -s "$conf" dist/hooks.toml; then
			rm -f "$conf"
		else
			echo "keeping $conf: it differs from the shipped example"
		fi
	fi
	# Only directories of hooksupd's own, and only when empty.
	for d in "$DOCDIR/examples/hooks/tagger" "$DOCDIR/examples/hooks" "$DOCDIR/examples" "$DOCDIR" "$CONFDIR"; do
		rmdir "$DESTDIR$d" 2>/dev/null || true
	done
	if live_systemd; then
		echo "systemctl daemon-reload"
		systemctl daemon-reload
	fi
	;;
list)
	table | while read -r mode src dst; do echo "$dst"; done
	echo "$CONFDIR/hooks.toml"
	;;
*)
	echo "usage: dist/install.sh install|uninstall|list" >&2
	exit 2
	;;
esac
