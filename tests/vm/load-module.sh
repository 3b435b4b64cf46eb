#!/bin/bash
# Load secureswift.ko (path in $1) after modprobing the lib modules it
# depends on (the guest's /lib/modules is the distribution's, untouched).
# Further arguments are module parameters (the harness passes selftest=1).
set -euo pipefail
ko=${1:?usage: $0 secureswift.ko [param=value...]}
shift
deps=$(modinfo -F depends "$ko" | tr ',' ' ')
for d in $deps; do
	modprobe "$d"
done
insmod "$ko" "$@"
