#!/bin/bash
# Load secureswift.ko (path in $1) after modprobing the lib modules it
# depends on (the guest's /lib/modules is the distribution's, untouched).
set -euo pipefail
ko=${1:?usage: $0 secureswift.ko}
deps=$(modinfo -F depends "$ko" | tr ',' ' ')
for d in $deps; do
	modprobe "$d"
done
insmod "$ko"
