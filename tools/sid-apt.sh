# Sourced (bash): apt with its own sources.list, lists and archive cache, for
# taking packages from another Debian suite (sid by default) into a private
# directory without touching the host's apt sources or package state.
# Nothing is installed: callers `apt-get download` and `dpkg-deb -x`.
#
#   . tools/sid-apt.sh
#   sid_apt_init DIR        the private apt state under DIR; refreshes the
#                           suite's index when it is more than a day old
#   apt-get "${SID_APT_OPTS[@]}" ...   apt-cache likewise
#
# SSW_APT_MIRROR (default deb.debian.org) and SSW_APT_SUITE (default sid)
# choose the archive; the kernel fetcher's older names SSW_KERNEL_MIRROR and
# SSW_KERNEL_SUITE still work.
SID_APT_OPTS=()

sid_apt_init() {	# DIR
	local dir=$1
	local mirror=${SSW_APT_MIRROR:-${SSW_KERNEL_MIRROR:-http://deb.debian.org/debian}}
	local suite=${SSW_APT_SUITE:-${SSW_KERNEL_SUITE:-sid}}
	mkdir -p "$dir/etc/sources.list.d" "$dir/etc/preferences.d" \
		"$dir/lists/partial" "$dir/cache/archives/partial"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
		>"$dir/etc/sources.list"
	SID_APT_OPTS=(
		-o "Dir::Etc::SourceList=$dir/etc/sources.list"
		-o "Dir::Etc::SourceParts=$dir/etc/sources.list.d"
		-o "Dir::Etc::Preferences=$dir/etc/preferences"
		-o "Dir::Etc::PreferencesParts=$dir/etc/preferences.d"
		-o "Dir::State::Lists=$dir/lists"
		-o "Dir::Cache=$dir/cache"
		-o "Dir::State::status=/dev/null"
		-o "APT::Architecture=amd64"
		-o "Debug::NoLocking=1"
		-o "APT::Sandbox::User=root"
	)
	if [ -z "$(find "$dir/lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null)" ]; then
		echo "== apt update ($suite, private lists in $dir)" >&2
		apt-get "${SID_APT_OPTS[@]}" -qq update >&2
	fi
}
