#!/bin/sh
# Load anklume's isolation table (nft table inet anklume) before Incus starts,
# so that no instance Incus autostarts ever runs without it (docs/firewall.md).
# Run by anklume-firewall.service at boot; safe to run by hand at any time.
#
#   - the last table anklume applied, saved by every successful apply in
#     $ANKLUME_STATE_DIR/firewall.nft (default /var/lib/anklume), when nft
#     accepts it;
#   - otherwise the closed table below: nothing enters or leaves a net-*
#     bridge until anklumed applies the rendered one.
#
# Exits non-zero only when nft cannot load even the closed table: the unit
# then fails and, being required by incus.service, keeps Incus from starting.
set -u
STATE_DIR=${ANKLUME_STATE_DIR:-/var/lib/anklume}
NFT=${ANKLUME_NFT:-/usr/sbin/nft}
SAVED=$STATE_DIR/firewall.nft

if [ -s "$SAVED" ]; then
  if "$NFT" -c -f "$SAVED" && "$NFT" -f "$SAVED"; then
    echo "anklume-firewall: loaded the last applied table from $SAVED"
    exit 0
  fi
  echo "anklume-firewall: $SAVED could not be loaded; loading the closed table instead" >&2
else
  echo "anklume-firewall: no saved table at $SAVED (anklume never applied one); loading the closed table" >&2
fi

# Rendered by renderClosedFirewall() (src/firewall/render.ts); a test keeps the two equal.
"$NFT" -f - <<'NFT'
table inet anklume
delete table inet anklume
table inet anklume {
	chain forward {
		type filter hook forward priority filter - 10; policy accept;
		iifname "net-*" drop comment "closed until anklume applies its rules"
		oifname "net-*" drop comment "closed until anklume applies its rules"
	}
	chain input {
		type filter hook input priority filter - 10; policy accept;
		iifname "net-*" drop comment "closed until anklume applies its rules"
	}
}
NFT
status=$?
[ "$status" = 0 ] && echo "anklume-firewall: loaded the closed table"
exit "$status"
