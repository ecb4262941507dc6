#!/usr/bin/env bash
# An ISP router is a carrier NAT: its subscribers leave by UPLINK with its own public address.
# Usage: isp.sh UPLINK
set -euo pipefail
uplink=$1

nft -f - <<NFT
table ip isp
delete table ip isp
table ip isp {
  chain post { type nat hook postrouting priority srcnat; policy accept; oifname "$uplink" masquerade; }
}
NFT
