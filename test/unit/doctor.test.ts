import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseListeners, uplinkBlocked } from '../../src/doctor/uplink.js';

// `ss -Htulnp` on a lab hub with a user's bgpd, wireguard-go and sshd (columns as iproute2 6.1 prints them).
const SS = `udp   UNCONN 0      0                  0.0.0.0:3784       0.0.0.0:*    users:(("bfdd",pid=4013,fd=14))
udp   UNCONN 0      0                  0.0.0.0:49152      0.0.0.0:*    users:(("bfdd",pid=4013,fd=21))
udp   UNCONN 0      0                  0.0.0.0:51820      0.0.0.0:*    users:(("wireguard-go",pid=3855,fd=8))
udp   UNCONN 0      0                     [::]:51820         [::]:*    users:(("wireguard-go",pid=3855,fd=9))
udp   UNCONN 0      0                  0.0.0.0:53         0.0.0.0:*    users:(("dnsmasq",pid=77,fd=4))
udp   UNCONN 0      0           [fe80::1]%up0:546            [::]:*    users:(("dhclient",pid=80,fd=5))
tcp   LISTEN 0      4096               0.0.0.0:179        0.0.0.0:*    users:(("bgpd",pid=3985,fd=22))
tcp   LISTEN 0      4096                  [::]:179           [::]:*    users:(("bgpd",pid=3985,fd=23))
tcp   LISTEN 0      3                127.0.0.1:2605       0.0.0.0:*    users:(("bgpd",pid=3985,fd=19))
tcp   LISTEN 0      128                0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=500,fd=3))
tcp   LISTEN 0      128           198.51.100.2:8080       0.0.0.0:*    users:(("nginx",pid=600,fd=6))
tcp   LISTEN 0      128              10.0.0.1:9100        0.0.0.0:*    users:(("node_exporter",pid=700,fd=3))
`;

test('ss lines: protocol, address (IPv6 brackets and scope removed), port, process', () => {
  const l = parseListeners(SS);
  assert.equal(l.length, 12);
  assert.deepEqual(l[5], { proto: 'udp', addr: 'fe80::1', port: 546, process: 'dhclient' });
  assert.deepEqual(l[7], { proto: 'tcp', addr: '::', port: 179, process: 'bgpd' });
});

test('blocked: reachable from the uplink, not ospfbond\'s own (nor bfdd\'s session sockets), not allowed, once per service', () => {
  const blocked = uplinkBlocked(parseListeners(SS), ['198.51.100.2'], [{ proto: 'tcp', port: 22 }], 51820);
  assert.deepEqual(blocked.map((b) => `${b.proto}/${b.port} ${b.process}`), ['udp/53 dnsmasq', 'tcp/179 bgpd', 'tcp/8080 nginx']);
  assert.deepEqual(uplinkBlocked(parseListeners(SS), ['198.51.100.2'], [{ proto: 'tcp', port: 22 }, { proto: 'udp', port: 53 }, { proto: 'tcp', port: 179 }, { proto: 'tcp', port: 8080 }], 51820), []);
});
