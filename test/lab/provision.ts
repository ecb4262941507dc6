import { fileURLToPath } from 'node:url';
import { shellQuote } from '../../src/model/step.js';
import { labTopology, vagrantSites, type Topology } from './topology.js';

/** The shell scripts both labs run on their nodes (test/lab/provision/). */
export const PROVISION_DIR = fileURLToPath(new URL('../../../test/lab/provision/', import.meta.url));

/** One run of a shared provisioning script on a node: `bash provision/SCRIPT ARGS...`. */
export interface Step {
  node: string;
  script: 'link.sh' | 'node.sh' | 'isp.sh' | 'hub.sh' | 'spoke.sh';
  args: string[];
}

/**
 * The network of the lab once its links exist (veth pairs, or the VMs' NICs): addresses and ISP
 * shaping on every link end, then each node's sysctls and routes, then the ISPs' NAT.
 */
export function netSteps(topo: Topology): Step[] {
  const steps: Step[] = [];
  for (const l of topo.links) {
    for (const end of [l.a, l.b]) {
      steps.push({ node: end.node, script: 'link.sh', args: [end.dev, end.addr ?? '-', ...(l.rateMbit ? [String(l.rateMbit)] : [])] });
    }
  }
  for (const n of topo.nodes) steps.push({ node: n.name, script: 'node.sh', args: [n.router ? 'router' : 'plain', ...(n.routes ?? [])] });
  for (const isp of topo.isps) steps.push({ node: isp.name, script: 'isp.sh', args: [isp.uplink] });
  return steps;
}

/**
 * What a user runs to set the sites up, before `apply`: init the hub, add each spoke (its bundle
 * lands in `bundleDir` on the hub), then init each spoke from that bundle, found at the same path on
 * the spoke (copying it there is the lab's business).
 */
export function ospfbondSteps(topo: Topology, bundleDir: string): Step[] {
  const t = topo;
  const steps: Step[] = [{ node: t.hub.node, script: 'hub.sh', args: ['init', t.hub.name, t.hub.uplink, t.tunnelPool] }];
  for (const s of t.spokes) {
    const aggregate = [`aggregate=${s.aggregate}`];
    steps.push({ node: t.hub.node, script: 'hub.sh', args: ['add-spoke', s.name, bundlePath(bundleDir, s.name), ...s.wans.map((w) => `${w.name}=${w.rateMbit}`), ...aggregate] });
  }
  for (const s of t.spokes) {
    steps.push({
      node: s.name,
      script: 'spoke.sh',
      args: [bundlePath(bundleDir, s.name), t.hub.name, t.hub.endpoint, s.lanDev, ...s.wans.map((w) => `${w.name}=${w.dhcp ? 'dhcp' : w.gw}`)],
    });
  }
  return steps;
}

export function bundlePath(dir: string, spoke: string): string {
  return `${dir}/${spoke}.ospfbond`;
}

/** The step as the namespace lab runs it on a node: `bash test/lab/provision/SCRIPT ARGS...`. */
export function stepCommand(step: Step): string {
  return ['bash', shellQuote(`${PROVISION_DIR}${step.script}`), ...step.args.map(shellQuote)].join(' ');
}

export type VagrantRole = 'hub' | 'spoke' | 'isp' | 'server' | 'host' | 'core';

/** A VM's NIC on one lab link: a VirtualBox internal network, or a libvirt UDP tunnel between two VMs. */
export interface VagrantNic {
  dev: string;
  mac: string;
  intnet: string;
  udp: { localPort: number; remotePort: number };
}

export interface VagrantMachine {
  name: string;
  role: VagrantRole;
  memoryMb: number;
  nics: VagrantNic[];
  /** Run at every boot, after the NICs have their lab names. */
  net: Step[];
  /** Run once the machine has ospfbond installed: hub before spokes. */
  ospfbond: Step[];
}

/** On the VMs the hub writes each bundle here; the Vagrantfile copies it to the same path on the spoke. */
export const VAGRANT_BUNDLE_DIR = '/root';

/**
 * The Vagrant lab, derived from the same topology and steps as the namespace lab and written to
 * vagrant/lab.json (`npm run vagrant:export`); the Vagrantfile only loops over it, and a unit test
 * keeps the file equal to this function's result.
 */
export function vagrantLab(topo: Topology = labTopology(vagrantSites())): { topology: Topology; machines: VagrantMachine[] } {
  const net = netSteps(topo);
  const osb = ospfbondSteps(topo, VAGRANT_BUNDLE_DIR);
  const role = (name: string): VagrantRole => {
    const n = topo.nodes.find((x) => x.name === name)!;
    if (n.router) return n.router;
    if (topo.isps.some((i) => i.name === name)) return 'isp';
    if (topo.server.node === name) return 'server';
    if (topo.spokes.some((s) => s.host === name)) return 'host';
    return 'core';
  };
  const nics = new Map<string, VagrantNic[]>(topo.nodes.map((n) => [n.name, []]));
  topo.links.forEach((l, i) => {
    if (i > 255) throw new Error('more than 256 links: the MAC scheme below runs out');
    const hex = i.toString(16).padStart(2, '0');
    const intnet = `ospfbond-${i}-${l.a.node}-${l.b.node}`;
    const port = 30000 + 2 * i;
    nics.get(l.a.node)!.push({ dev: l.a.dev, mac: `02:0b:00:00:${hex}:01`, intnet, udp: { localPort: port, remotePort: port + 1 } });
    nics.get(l.b.node)!.push({ dev: l.b.dev, mac: `02:0b:00:00:${hex}:02`, intnet, udp: { localPort: port + 1, remotePort: port } });
  });
  return {
    topology: topo,
    machines: topo.nodes.map((n) => ({
      name: n.name,
      role: role(n.name),
      // Node.js, npm's install of ospfbond and FRR on the routers; the others only route and NAT.
      memoryMb: n.router ? 1024 : 384,
      nics: nics.get(n.name)!,
      net: net.filter((s) => s.node === n.name),
      ospfbond: osb.filter((s) => s.node === n.name),
    })),
  };
}

export function vagrantLabJson(): string {
  return `${JSON.stringify(vagrantLab(), null, 2)}\n`;
}
