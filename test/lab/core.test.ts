import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Lab } from './lab.js';
import { waitFor, REPO } from './lab.js';
import { buildBondedLab, allFull, allBonded, ospfNeighbors, fullTaps, ospfNexthopDevs, wanBytes, adjacencyUptimes, adjacencyResets, hubTunnels, hubTunnelOf, USER_BGP, itLeaksNoSecrets } from './scenario.js';
import { labTopology, coreSites, routerNodes, wanCount } from './topology.js';
import { limitMbit } from './iperf.js';
import { ospfInterfaces, ospfNexthops } from '../../src/frr/json.js';

/**
 * The core issue's behaviour on real kernels, FRR and wireguard-go: a hub, a two-WAN and a three-WAN
 * spoke behind three carrier-NAT ISPs, built with the installed CLI as a user would.
 */
const RATE_MBIT = 20;
let lab: Lab;
const t = labTopology(coreSites(RATE_MBIT));
const routers = routerNodes(t);

/** The interfaces of zebra's selected OSPF route to `prefix` with an active nexthop (undefined: OSPF's route is not the selected one). */
async function ospfVia(node: string, prefix: string): Promise<string[] | undefined> {
  return ospfNexthops(await lab.sh(node, `vtysh -c 'show ip route ${prefix} json'`))[prefix]?.sort();
}

describe('namespace lab: hub and spokes bonded over WireGuard+VXLAN with OSPF ECMP', { timeout: 900_000 }, () => {
  before(async () => {
    const setup = await buildBondedLab(t);
    lab = setup.lab;
    assert.deepEqual(setup.linksAfterDryRun, [], 'apply --dry-run creates nothing');
    for (const out of Object.values(setup.dryRunOutput)) assert.match(out, /\[#\] ip link add obt.*\n[\s\S]*dry run, \d+ steps planned, nothing changed/);
    console.log(`# measured: all ${wanCount(t)} adjacencies Full ${setup.fullSeconds.toFixed(1)} s after apply started on all routers; every spoke default ECMP after ${setup.bondedSeconds.toFixed(1)} s`);
    for (const out of Object.values(setup.applyOutput)) {
      assert.match(out, /\[#\] ip link add obt/, 'apply prints each command it runs');
    }
    for (const s of t.spokes) {
      assert.match(setup.applyOutput[s.name]!, new RegExp(`endpoint ${t.hub.name.replaceAll('.', '\\.')}:51820`), 'the spoke keeps the hub\'s name');
      assert.match(await lab.sh(s.name, 'grep hub_endpoint /etc/ospfbond/ospfbond.ini'), new RegExp(t.hub.name));
    }
  });
  after(() => lab?.teardown());

  it('1: every tap has a Full adjacency and the hub is DR', async () => {
    assert.ok(await allFull(lab));
    const taps = Object.entries(ospfInterfaces(await lab.sh('hub', "vtysh -c 'show ip ospf interface json'"))).filter(([n]) => /^obt\d+$/.test(n));
    assert.equal(taps.length, 5);
    for (const [name, i] of taps) assert.equal(i.state, 'DR', `hub is DR on ${name}`);
    for (const s of t.spokes) {
      assert.deepEqual(Object.keys(await ospfNeighbors(lab, s.name)).sort(), s.wans.map((w) => `obt-${w.name}`).sort());
    }
  });

  it('2: each spoke\'s default is ECMP over all its tunnels; the hub\'s route to each LAN is ECMP', async () => {
    for (const s of t.spokes) {
      const taps = s.wans.map((w) => `obt-${w.name}`).sort();
      const via = await ospfVia(s.name, '0.0.0.0/0');
      assert.ok(via, `${s.name}: default from OSPF`);
      assert.deepEqual(via, taps, `${s.name}: default over every tunnel`);
      // And in the kernel, which is what forwards packets (not only zebra's view):
      assert.deepEqual(await ospfNexthopDevs(lab, s.name, 'default'), taps, `${s.name}: kernel default is multipath`);
      // A WAN's own DHCP default stays, demoted below OSPF and the blackhole fallback.
      const kernel = JSON.parse(await lab.sh(s.name, 'ip -j route show default')) as { protocol?: string; metric?: number }[];
      for (const r of kernel.filter((r) => r.protocol !== 'ospf')) {
        assert.equal(r.metric, 251 * 2 ** 24, `${s.name}: WAN default demoted`);
      }
      assert.equal((await ospfVia('hub', s.lanPrefix))?.length, s.wans.length, `hub: ${s.lanPrefix} over ${s.wans.length} taps`);
    }
  });

  it('3: a LAN host reaches the internet server, which sees the hub\'s address', async () => {
    const logfile = `${lab.dir}/iperf-nat.log`;
    const stop = await lab.iperfServer('server', 5201, logfile);
    for (const s of t.spokes) {
      await lab.sh(s.host, `ping -c 3 -i 0.2 -W 2 ${t.server.addr}`);
      await lab.iperf(s.host, t.server.addr, 5201, '-t 1');
    }
    await stop();
    const log = await lab.sh('server', `cat ${logfile}`);
    const sources = [...log.matchAll(/Accepted connection from ([\d.]+)/g)].map((m) => m[1]);
    assert.ok(sources.length >= t.spokes.length);
    assert.deepEqual([...new Set(sources)], [t.hub.endpoint], 'every connection arrives NATed to the hub');
  });

  it('4: each tunnel\'s outer packets leave through its own WAN', async () => {
    const tunnels = await hubTunnels(lab);
    for (const s of t.spokes) {
      for (const w of s.wans) {
        const hubTap = hubTunnelOf(tunnels, s.name, w.name).addresses.hubTap;
        const before = await wanBytes(lab, s);
        // 200 pings of 1000 bytes to the hub's end of this tunnel only: about 240 kB of outer packets.
        await lab.sh(s.name, `ping -q -c 200 -i 0.005 -s 1000 -W 2 ${hubTap}`);
        const after = await wanBytes(lab, s);
        for (const x of s.wans) {
          const delta = after[x.name]!.tx - before[x.name]!.tx;
          if (x.name === w.name) assert.ok(delta > 200 * 1000, `${s.name}: tunnel ${w.name}'s packets leave ${x.name} (${delta} bytes)`);
          else assert.ok(delta < 50_000, `${s.name}: tunnel ${w.name}'s packets stay off ${x.name} (${delta} bytes: only hellos, BFD, keepalives)`);
        }
      }
    }
  });

  it('5: a LAN host of one spoke reaches a LAN host of the other, through the hub', async () => {
    const [a, b] = t.spokes as [(typeof t.spokes)[0], (typeof t.spokes)[0]];
    await lab.sh(a.host, `ping -c 3 -i 0.2 -W 2 ${b.hostAddr}`);
    const trace = await lab.sh(a.host, `tracepath -n -m 5 ${b.hostAddr} 2>&1 || true`);
    assert.match(trace, /100\.127\.0\.\d+/, 'the path crosses a tunnel address (the hub)');
  });

  it('5b: the hub\'s uplink takes only WireGuard from the internet: OSPF, BFD and VXLAN sent at it are dropped and ignored', async () => {
    type Rule = { rule?: { expr: { match?: { right?: unknown }; counter?: { packets: number }; accept?: null; drop?: null }[] } };
    // Each counted rule of the hub's input chain, by what it matches, with its packet count.
    const counters = async () => {
      const j = JSON.parse(await lab.sh('hub', 'nft -j list chain inet ospfbond input')) as { nftables: Rule[] };
      const out: Record<string, number> = {};
      for (const r of j.nftables) {
        const e = r.rule?.expr ?? [];
        const c = e.find((x) => x.counter)?.counter;
        if (!c) continue;
        const key = e.filter((x) => x.match).map((x) => JSON.stringify(x.match!.right)).join(' ') + (e.some((x) => 'accept' in x) ? ' accept' : ' drop');
        out[key] = c.packets;
      }
      return out;
    };
    const hubNeighbors = async () => Object.keys(await ospfNeighbors(lab, 'hub')).sort();
    const bfdPeers = async () => (JSON.parse(await lab.sh('hub', "vtysh -c 'show bfd peers json'")) as { peer: string }[]).map((p) => p.peer).sort();
    const [before, nbrs, peers] = [await counters(), await hubNeighbors(), await bfdPeers()];
    const N = 20;
    await lab.sh('server', `python3 ${REPO}test/lab/tools/inject.py ${t.hub.endpoint} ${N}`);
    await sleep(1500);
    const after = await counters();
    const delta = (k: string) => (after[k] ?? NaN) - (before[k] ?? NaN);
    const up = JSON.stringify(t.hub.uplink);
    assert.equal(delta(`${up} "ospf" drop`), N, `every OSPF hello from the internet dropped\n${JSON.stringify(after)}`);
    assert.equal(delta(`${up} {"set":[3784,3785,4784,4789]} drop`), 2 * N, 'every BFD and VXLAN packet dropped');
    assert.ok(delta(`${up} 51820 accept`) >= N, 'the WireGuard port is open (junk there is WireGuard\'s to ignore)');
    assert.equal(delta(`${up} drop`), N, 'the TCP SYN to another port dropped');
    assert.deepEqual(await hubNeighbors(), nbrs, 'no OSPF neighbour from the internet');
    assert.deepEqual(await bfdPeers(), peers, 'no BFD session from the internet');
    assert.ok(await allFull(lab), 'the tunnels\' adjacencies are untouched');
    // ICMP stays open (path MTU discovery, ping) and replies to the hub's own connections come in.
    await lab.sh('server', `ping -c 2 -i 0.2 -W 2 ${t.hub.endpoint}`);
    console.log(`# measured: ${N} each of OSPF, BFD, VXLAN, TCP SYN and WireGuard junk sent at the hub's uplink: ${delta(`${up} "ospf" drop`)} OSPF, ${delta(`${up} {"set":[3784,3785,4784,4789]} drop`)} BFD+VXLAN, ${delta(`${up} drop`)} other dropped`);
  });

  it('6: with every ISP dropping traffic, no LAN packet leaves a WAN un-encapsulated; the bond comes back by itself', async () => {
    const leakRule = (devs: string[]) => `nft -f - <<'EOF'
table inet leak {
  chain pre {
    type filter hook prerouting priority -300; policy accept;
    iifname { ${devs.map((d) => `"${d}"`).join(', ')} } meta nfproto ipv4 udp dport ${51820} counter name tunnel
    iifname { ${devs.map((d) => `"${d}"`).join(', ')} } meta nfproto ipv4 udp dport != ${51820} counter name leak
    iifname { ${devs.map((d) => `"${d}"`).join(', ')} } meta nfproto ipv4 meta l4proto != udp counter name leak
  }
  counter tunnel {}
  counter leak {}
}
EOF`;
    const counters = async (isp: string) => {
      const j = JSON.parse(await lab.sh(isp, 'nft -j list counters table inet leak')) as { nftables: { counter?: { name: string; packets: number } }[] };
      const c = Object.fromEntries(j.nftables.filter((x) => x.counter).map((x) => [x.counter!.name, x.counter!.packets]));
      return { tunnel: c.tunnel ?? 0, leak: c.leak ?? 0 };
    };
    for (const isp of t.isps) await lab.sh(isp.name, leakRule(isp.subscriberDevs));
    // IPv4 only: the veths' own IPv6 link-local chatter (ND, MLD) is no LAN traffic.
    // The counter can see a leak: a packet the spoke itself sends straight out a WAN is counted.
    await lab.try(t.spokes[0]!.name, `ping -c 1 -W 1 ${t.spokes[0]!.wans[0]!.gw}`);
    assert.ok((await counters('isp1')).leak >= 1, 'the leak counter counts an un-encapsulated packet');
    for (const isp of t.isps) await lab.sh(isp.name, 'nft reset counters table inet leak >/dev/null');

    // Every ISP drops everything it would forward, as when the path dies upstream of the modem.
    for (const isp of t.isps) await lab.sh(isp.name, 'nft add table inet cut && nft add chain inet cut cutoff "{ type filter hook forward priority -10; policy drop; }"');
    for (const s of t.spokes) {
      await waitFor(`${s.name}: every adjacency down`, 15_000, async () => Object.keys(await ospfNeighbors(lab, s.name)).length === 0);
    }
    for (const s of t.spokes) {
      await lab.try(s.host, `ping -c 20 -i 0.05 -W 1 ${t.server.addr}`);
      await lab.try(s.host, `timeout 3 bash -c 'exec 3<>/dev/tcp/${t.server.addr}/80'`);
    }
    let tunnelTries = 0;
    for (const isp of t.isps) {
      const c = await counters(isp.name);
      assert.equal(c.leak, 0, `${isp.name}: no packet but WireGuard left a spoke's WAN`);
      tunnelTries += c.tunnel;
    }
    assert.ok(tunnelTries > 0, 'the tunnels kept trying to re-establish over every WAN');

    for (const isp of t.isps) await lab.sh(isp.name, 'nft delete table inet cut && nft delete table inet leak');
    const start = Date.now();
    await waitFor('every adjacency Full again', 120_000, () => allFull(lab), 250);
    await waitFor('every spoke default ECMP again', 60_000, () => allBonded(lab), 250);
    console.log(`# measured: all adjacencies Full ${((Date.now() - start) / 1000).toFixed(1)} s after the ISPs recovered`);
    for (const s of t.spokes) await waitFor(`${s.host} reaches the server`, 20_000, async () => (await lab.try(s.host, `ping -c 1 -W 1 ${t.server.addr}`)).code === 0);
  });

  it('throughput: 32 TCP flows each way from a two-WAN site use both WANs and no adjacency drops (measured, printed)', async () => {
    const s = t.spokes[0]!;
    const stop = await lab.iperfServer('server', 5202);
    const before = await adjacencyUptimes(lab);
    const t0 = Date.now();
    const up = await lab.iperf(s.host, t.server.addr, 5202, '-P 32 -t 6 -O 2');
    const down = await lab.iperf(s.host, t.server.addr, 5202, '-P 32 -t 6 -O 2 -R');
    const resets = await adjacencyResets(lab, before, Date.now() - t0);
    await stop();
    const sum = RATE_MBIT * s.wans.length;
    const limit = limitMbit(s.wans.map((w) => w.rateMbit));
    console.log(`# measured: 32 flows over ${s.wans.length} x ${RATE_MBIT} Mbit/s: upload ${up.toFixed(1)} Mbit/s, download ${down.toFixed(1)} Mbit/s; link sum ${sum}, encapsulation limit ${limit.toFixed(1)} (${((100 * up) / limit).toFixed(0)} % / ${((100 * down) / limit).toFixed(0)} %)`);
    // Unshaped, a saturating download filled the ISP's drop-tail queue and BFD lost three packets in
    // a row: an adjacency went down in both runs measured. Shaped, BFD and OSPF jump our own queue.
    assert.deepEqual(resets, [], 'no adjacency went down while the lines were saturated');
    // The control packets really went through the priority class, on both ends of a tunnel.
    for (const [node, dev] of [['hub', hubTunnelOf(await hubTunnels(lab), s.name, 'wan1').tap], [s.name, 'obt-wan1']] as const) {
      const sent = /class htb 1:10 [^\n]*\n Sent \d+ bytes (\d+) pkt/.exec(await lab.sh(node, `tc -s class show dev ${dev}`));
      assert.ok(sent && Number(sent[1]) > 0, `${node} ${dev}: OSPF/BFD packets counted in the priority class`);
    }
    // Both links carry the flows: more than one link's worth gets through in each direction.
    assert.ok(up > RATE_MBIT * 1.2, `upload uses more than one WAN (${up.toFixed(1)} Mbit/s)`);
    assert.ok(down > RATE_MBIT * 1.2, `download uses more than one WAN (${down.toFixed(1)} Mbit/s)`);
  });

  it('7a: apply twice changes nothing', async () => {
    for (const n of routers) {
      const out = await lab.sh(n, 'ospfbond apply 2>&1');
      assert.match(out, /up to date, nothing to do/, `${n}: second apply`);
      assert.doesNotMatch(out, /\[#\]/, `${n}: second apply runs nothing`);
    }
  });

  it('remove-spoke then apply removes that site\'s tunnels from the hub and nothing else', async () => {
    const gone = t.spokes[1]!;
    const goneKeys = await Promise.all(gone.wans.map(async (w) => (await lab.sh(gone.name, `wg show obw-${w.name} public-key`)).trim()));
    await lab.sh('hub', `ospfbond hub remove-spoke ${gone.name} && ospfbond apply 2>&1`);
    const taps = (await lab.sh('hub', 'ip -o link show')).split('\n').filter((l) => /: obt\d+/.test(l));
    assert.equal(taps.length, t.spokes[0]!.wans.length, 'only the remaining site\'s taps are left');
    const peers = (await lab.sh('hub', 'wg show obwg0 peers')).trim().split('\n');
    assert.equal(peers.length, t.spokes[0]!.wans.length, 'the removed site\'s WireGuard peers (keys) are gone');
    assert.deepEqual(goneKeys.filter((k) => peers.includes(k)), [], 'none of the removed site\'s keys is a peer any more');
    // Revoked at once: the site's sessions die with its peers, nothing waits for a rekey.
    const after = await lab.try(gone.host, `ping -c 3 -i 0.2 -W 1 ${t.server.addr}`);
    assert.match(after.out, / 0 received/, 'the removed site reaches nothing through the hub right after the apply');
    assert.equal((await fullTaps(lab, 'hub')).length, t.spokes[0]!.wans.length, 'the other site stays Full');
    await lab.sh(t.spokes[0]!.host, `ping -c 2 -i 0.2 -W 2 ${t.server.addr}`);
  });

  it('7b: down leaves no ospfbond object, restores what it changed, keeps the user\'s router bgp', async () => {
    assert.equal((await lab.sh('hub', 'sysctl -n net.ipv4.fib_multipath_hash_policy')).trim(), '1');
    for (const n of routers) {
      await lab.sh(n, 'ospfbond down 2>&1');
      const links = JSON.parse(await lab.sh(n, 'ip -j -d link show')) as { ifname: string; ifalias?: string }[];
      assert.deepEqual(links.filter((l) => l.ifalias?.startsWith('ospfbond') || l.ifname.startsWith('ob')).map((l) => l.ifname), [], `${n}: no ospfbond links`);
      assert.ok(!lab.processes(n).includes('wireguard-go'), `${n}: no wireguard-go left running`);
      // iproute2 shows a rule's protocol as `proto 79`, the tag `down` removes rules by.
      assert.doesNotMatch(await lab.sh(n, 'ip rule show'), / proto 79\b|4f42/, `${n}: no ospfbond rules`);
      assert.doesNotMatch(await lab.sh(n, 'ip route show table all'), /proto 79|metric 42110/, `${n}: no ospfbond routes`);
      assert.doesNotMatch(await lab.sh(n, 'nft list tables'), /ospfbond/, `${n}: no nft table (inet, nor ip for duplication)`);
      const conf = await lab.sh(n, 'cat /etc/frr/frr.conf');
      assert.doesNotMatch(conf, /ospfbond/, `${n}: frr.conf without ospfbond's block`);
      const running = await lab.sh(n, "vtysh -c 'show running-config'");
      assert.doesNotMatch(running, /router ospf|ip ospf|ospfbond-fast/, `${n}: FRR runs no ospfbond config`);
      assert.equal((await lab.try(n, 'test -e /var/lib/ospfbond/state.json')).code, 1, `${n}: state file removed`);
      assert.match(await lab.sh(n, 'ospfbond down 2>&1'), /nothing of ospfbond/, `${n}: down again finds nothing`);
    }
    assert.equal((await lab.sh('hub', 'sysctl -n net.ipv4.fib_multipath_hash_policy')).trim(), '0', 'hub: sysctl restored');
    // sitea's "DHCP" default route is back at its original metric.
    assert.match(await lab.sh('sitea', 'ip route show default'), /^default via 100\.64\.1\.\d+ dev wan1 *$/m);
    const hubRunning = await lab.sh('hub', "vtysh -c 'show running-config'");
    assert.ok(hubRunning.includes(USER_BGP.split('\n')[0]!), 'the user\'s router bgp is still running');
    assert.ok((await lab.sh('hub', 'cat /etc/frr/frr.conf')).includes(USER_BGP.trimEnd()), 'and still in frr.conf');
  });

  itLeaksNoSecrets(() => lab);
});
