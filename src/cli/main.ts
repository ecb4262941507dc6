#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { OspfbondError, EXIT } from '../base/errors.js';
import { DEFAULT_CONFIG } from '../base/paths.js';
import { CONFIRM_MIN_S, CONFIRM_MAX_S } from '../engine/confirm.js';

const print = (line: string) => process.stdout.write(`${line}\n`);
// Each command's module is imported when the command runs: the daemon, which stays in memory on a
// small router, then carries no table renderer, doctor or init code (docs/design.md, "Where the
// memory goes").
const collect = (v: string, prev: string[]) => [...prev, v];

const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('ospfbond')
  .version(version)
  .description('Bond several WAN links into one: a WireGuard+VXLAN tunnel per WAN to a hub, OSPF ECMP and BFD over them')
  .option('-c, --config <file>', 'config file', DEFAULT_CONFIG)
  .showHelpAfterError()
  .addHelpText(
    'after',
    `
Example (hub, then spoke):
  hub#   ospfbond init hub --endpoint hub.example.net
  hub#   ospfbond hub add-spoke site1 --wans dsl,lte
  hub#   ospfbond apply
  site1# ospfbond init spoke --bundle site1.ospfbond --wan dsl:dev=eth0,gw=dhcp --wan lte:dev=usb0,gw=192.168.8.1 --lan-dev eth1
  site1# ospfbond apply`,
  );
const configFile = () => resolve(program.opts<{ config: string }>().config);

const init = program.command('init').description('write the config (and keys) of a hub or spoke; changes nothing on the router');
init
  .command('hub')
  .description('write the hub config and its WireGuard key')
  .requiredOption('--endpoint <host[:port]>', 'name or IPv4 address (and UDP port, default 51820) spokes connect to')
  .option('--uplink <dev>', 'device toward the internet (default: the default route\'s)')
  .addOption(new Option('--nat', 'masquerade spoke traffic leaving the uplink (default)').default(true))
  .addOption(new Option('--no-nat', 'route spoke traffic without NAT'))
  .option('--uplink-allow <list>', 'what the uplink accepts from the internet besides WireGuard: PROTO/PORT,... (ssh: tcp/22), none, or any (no filter but OSPF, BFD and VXLAN dropped)', 'tcp/22')
  .option('--tunnel-pool <cidr>', 'addresses for tunnels and taps, 8 per tunnel', '10.255.0.0/16')
  .option('--force', 'replace an existing config')
  .addHelpText('after', '\nExample:\n  ospfbond init hub --endpoint hub.example.net:51820 --uplink eth0')
  .action(async (o) => (await import('./init.js')).initHub(configFile(), o, print));
init
  .command('spoke')
  .description('write the spoke config from the hub\'s bundle and this router\'s WANs')
  .requiredOption('--bundle <file>', 'the file `ospfbond hub add-spoke` wrote')
  .requiredOption('--wan <spec>', 'NAME:dev=IFACE,gw=IPV4|dhcp[,mtu=N][,down=MBIT,up=MBIT], once per WAN (rates default to the bundle\'s)', collect, [])
  .option('--lan-dev <iface>', 'LAN interface announced to the hub (repeatable)', collect, [])
  .option('--hub-key <key>', 'the hub\'s public key, as `hub add-spoke` printed it: refuse a bundle from another hub')
  .option('--aggregate <tcp|off>', 'one connection gets the sum of the links through MPTCP proxies (default: the bundle\'s, else tcp)')
  .option('--force', 'replace an existing config')
  .addHelpText(
    'after',
    `
Examples:
  ospfbond init spoke --bundle site1.ospfbond --wan dsl:dev=eth0,gw=dhcp --wan lte:dev=usb0,gw=192.168.8.1 --lan-dev eth1
  ospfbond init spoke --bundle site1.ospfbond --hub-key "$(ssh root@hub wg show obwg0 public-key)" --wan dsl:dev=eth0,gw=dhcp --wan lte:dev=usb0,gw=dhcp`,
  )
  .action(async (o) => (await import('./init.js')).initSpoke(configFile(), o, print));

const hub = program.command('hub').description('manage the spokes of a hub');
hub
  .command('add-spoke <name>')
  .description('allocate tunnels and keys for a spoke and write its bundle')
  .requiredOption('--wans <list>', 'the spoke\'s WAN names, comma-separated')
  .option('--rate <spec>', 'WAN=DOWN/UP line rate in Mbit/s, once per WAN: each end shapes its tunnel to it', collect, [])
  .option('--out <file>', 'bundle file (default ./NAME.ospfbond)')
  .option('--aggregate <tcp|off>', 'single-connection aggregation for this site (default tcp)')
  .addHelpText('after', '\nExample:\n  ospfbond hub add-spoke site1 --wans dsl,lte --rate dsl=50/10 --rate lte=30/5 --out /root/site1.ospfbond')
  .action(async (name: string, o) => (await import('./hub.js')).addSpoke(configFile(), name, o, print));
hub
  .command('remove-spoke <name>')
  .description('forget a spoke; the next apply removes its tunnels')
  .addHelpText('after', '\nExample:\n  ospfbond hub remove-spoke site1 && ospfbond apply')
  .action(async (name: string) => (await import('./hub.js')).removeSpoke(configFile(), name, print));

program
  .command('apply')
  .description('make the router match the config, printing every command it runs')
  .option('--dry-run', 'print the plan and change nothing')
  .option('--confirm <seconds>', `revert to the last applied config after SECONDS (${CONFIRM_MIN_S}-${CONFIRM_MAX_S}) unless \`ospfbond confirm\` comes first`)
  .option('--boot', 'what ospfbond-apply.service runs: revert a confirm window a reboot cut short, skip a config that was rolled back or reverted')
  .addHelpText(
    'after',
    `
Examples:
  ospfbond apply --dry-run && ospfbond apply
  ospfbond apply --confirm 120     # then, still reachable: ospfbond confirm`,
  )
  .action(async (o) => (await import('./apply.js')).apply(configFile(), o, print));
program
  .command('confirm')
  .description('keep the change of `apply --confirm`: cancel its revert and record it as the applied config')
  .addHelpText('after', '\nExample:\n  ospfbond apply --confirm 300 && ping -c3 192.0.2.1 && ospfbond confirm')
  .action(async () => (await import('./confirm.js')).confirm(print));
program
  .command('revert')
  .description('undo the change of `apply --confirm` now, without waiting for its timer')
  .addOption(new Option('--token <token>', 'the confirm window the timer belongs to').hideHelp())
  .addOption(new Option('--after <seconds>', 'wait first (the timer without systemd)').hideHelp())
  .addHelpText('after', '\nExample:\n  ospfbond revert')
  .action(async (o) => (await import('./confirm.js')).revert(o, print));
program
  .command('status')
  .description('per tunnel: WAN, WireGuard, OSPF, BFD, costs at both ends, ECMP membership, traffic')
  .option('--json', 'machine-readable (schema ospfbond.status/1, docs/status.schema.json)')
  .option('--watch [seconds]', 'redraw every SECONDS (default 2) with current rates')
  .addHelpText('after', '\nExample:\n  ospfbond status --watch\n  ospfbond status --json | jq \'.tunnels[] | {wan, ospf, inEcmp}\'')
  .action(async (o) => (await import('./status.js')).status(configFile(), o, print));
program
  .command('mode <mode>')
  .description('active-active (every WAN carries traffic) or active-standby (only --primary WANs do until they all fail); the other end follows')
  .option('--primary <wans>', 'active-standby: the WANs that carry traffic, comma-separated')
  .option('--spoke <name>', 'on the hub: the site to change')
  .addHelpText('after', '\nExamples:\n  site1# ospfbond mode active-standby --primary dsl\n  hub#   ospfbond mode active-active --spoke site1')
  .action(async (m: string, o) => (await import('./mode.js')).mode(configFile(), m, o, print));
program
  .command('daemon')
  .description('keep the router right: repair drift, re-resolve the hub, mirror the policy, log stats, serve metrics ([daemon] in the config)')
  .option('--log-level <level>', 'pino level: debug, info, warn, error', 'info')
  .addHelpText('after', '\nExample (by hand; systemd runs it from systemd/ospfbond.service):\n  ospfbond daemon --log-level debug\nLogs JSON lines on stdout; intervals and metrics_listen are in the [daemon] section of the config.')
  .action(async (o: { logLevel: string }) => {
    await (await import('../daemon/scheduler.js')).runDaemon(configFile(), o);
    // Stopped by a signal: exit now rather than wait for a library's last timer.
    process.exit(0);
  });
program
  .command('doctor')
  .description('check what the router needs (FRR daemons, WireGuard, VXLAN, nftables, sysctls, clock) and print the fix for each problem')
  .option('--json', 'the checks as JSON')
  .addHelpText('after', '\nExample:\n  ospfbond doctor || echo "fix what it lists, then run it again"')
  .action(async (o) => (await import('./doctor.js')).doctor(configFile(), o, print));
program
  .command('down')
  .description('remove everything ospfbond created and restore what it changed')
  .addHelpText('after', '\nExample:\n  ospfbond down')
  .action(async () => (await import('./down.js')).down(print));

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof OspfbondError) {
    process.stderr.write(`ospfbond: ${err.message}${err.hint ? ` (${err.hint})` : ''}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`ospfbond: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(EXIT.failure);
}
