import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { labTopology, vagrantSites } from '../lab/topology.js';
import { netSteps, ospfbondSteps, vagrantLab, vagrantLabJson, PROVISION_DIR, VAGRANT_BUNDLE_DIR, type Step } from '../lab/provision.js';

/** The Vagrant lab's description (vagrant/lab.json, read by the Vagrantfile) against the namespace lab's. */
const LAB_JSON = fileURLToPath(new URL('../../../vagrant/lab.json', import.meta.url));

test('vagrant/lab.json is the namespace lab\'s demo topology (aggregation on) and steps (else: npm run vagrant:export)', () => {
  assert.equal(readFileSync(LAB_JSON, 'utf8'), vagrantLabJson());
});

test('the Vagrant machines run exactly the namespace lab\'s provisioning steps, node by node', () => {
  const file = JSON.parse(readFileSync(LAB_JSON, 'utf8')) as ReturnType<typeof vagrantLab>;
  const topo = labTopology(vagrantSites());
  assert.deepEqual(file.topology, topo);
  assert.deepEqual(file.machines.map((m) => m.name), topo.nodes.map((n) => n.name));
  const byNode = (steps: Step[], node: string) => steps.filter((s) => s.node === node);
  for (const m of file.machines) {
    assert.deepEqual(m.net, byNode(netSteps(topo), m.name), m.name);
    assert.deepEqual(m.ospfbond, byNode(ospfbondSteps(topo, VAGRANT_BUNDLE_DIR), m.name), m.name);
  }
  // The shape: a hub, a spoke with two WANs, two NATting and shaping ISPs, a server.
  assert.deepEqual(file.machines.map((m) => m.role).sort(), ['core', 'host', 'hub', 'isp', 'isp', 'server', 'spoke']);
  const isps = file.machines.filter((m) => m.role === 'isp');
  for (const isp of isps) {
    assert.ok(isp.net.some((s) => s.script === 'isp.sh'), `${isp.name} NATs`);
    assert.ok(isp.net.some((s) => s.script === 'link.sh' && s.args[2] === '20'), `${isp.name} shapes its access line`);
  }
});

test('each lab link is one VM NIC at each end: same internal network, mirrored UDP tunnel ports, unique MACs, the link\'s device name', () => {
  const { topology, machines } = vagrantLab();
  const nics = machines.flatMap((m) => m.nics.map((n) => ({ ...n, node: m.name })));
  assert.equal(new Set(nics.map((n) => n.mac)).size, nics.length);
  assert.equal(nics.length, 2 * topology.links.length);
  for (const l of topology.links) {
    const a = nics.find((n) => n.node === l.a.node && n.dev === l.a.dev)!;
    const b = nics.find((n) => n.node === l.b.node && n.dev === l.b.dev)!;
    assert.ok(a && b, `${l.a.node}:${l.a.dev} - ${l.b.node}:${l.b.dev}`);
    assert.equal(a.intnet, b.intnet);
    assert.deepEqual([a.udp.localPort, a.udp.remotePort], [b.udp.remotePort, b.udp.localPort]);
    // eth0 is often the box's management NIC: a lab device of that name could not be renamed to.
    assert.ok(!/^(eth|en)/.test(a.dev) && !/^(eth|en)/.test(b.dev), 'no lab device named like a VM NIC');
  }
});

test('every step names an executable shared script', () => {
  const { machines } = vagrantLab();
  for (const s of machines.flatMap((m) => [...m.net, ...m.ospfbond])) {
    assert.ok(statSync(`${PROVISION_DIR}/${s.script}`).mode & 0o100, `${s.script} is executable`);
  }
});
