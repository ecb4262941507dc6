import { execFileSync, spawnSync } from 'node:child_process';
import { execa } from 'execa';
import { mkdirSync, rmSync, writeFileSync, existsSync, statSync, readFileSync, appendFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Topology } from './topology.js';
import { parseIperf, type IperfRun } from './iperf.js';
import { netSteps, stepCommand } from './provision.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * A lab of network namespaces. Routers (hub, spokes) also get a private mount namespace in which
 * /etc is an overlay and /run/frr, /run/wireguard, /run/ospfbond and /var/lib/ospfbond are private,
 * so FRR's own init script, vtysh, wireguard-go and ospfbond (its lock too) run there exactly as on
 * a real router (docs/design.md, Machine and FRR facts).
 * Names carry a random run id, so parallel runs never collide; teardown runs on exit and signals.
 */
export class Lab {
  readonly id: string;
  readonly dir: string;
  readonly prefix: string;
  private routers = new Set<string>();
  private made: string[] = [];
  private torn = false;

  constructor(
    readonly topo: Topology,
    // OSPFBOND_LAB_PREFIX: engineers running labs side by side on one machine tell theirs apart by it.
    id = `${process.env.OSPFBOND_LAB_PREFIX ?? 'ob'}${randomBytes(3).toString('hex')}`,
  ) {
    this.id = id;
    this.dir = `/run/${id}`;
    this.prefix = `/tmp/${id}-prefix`;
    const bye = () => this.teardown();
    process.once('exit', bye);
    // `on`, not `once`: a second signal during teardown (timeout(1) forwards one) must not kill us mid-way.
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(sig, () => {
        bye();
        process.exit(130);
      });
    }
  }

  ns(node: string): string {
    return `${this.id}-${node}`;
  }

  private enter(node: string): string[] {
    const args = ['nsenter', `--net=/run/netns/${this.ns(node)}`];
    if (this.routers.has(node)) args.push(`--mount=${this.dir}/${node}.mnt`);
    return args;
  }

  /**
   * Every command run on a node and what it printed, for the check that no private key shows up
   * anywhere (scenario.ts leakedSecrets). `secret`: a harness command that reads keys on purpose.
   */
  get transcript(): string {
    return `${this.dir}/transcript.log`;
  }

  private record(node: string, cmd: string, out: string): void {
    if (this.made.includes('dir')) appendFileSync(this.transcript, `[${node}] ${cmd}\n${out}\n`);
  }

  /** Runs a shell command on a node, recorded in the transcript unless `secret`. */
  private async exec(node: string, cmd: string, timeoutMs: number, secret = false) {
    const r = await execa(this.enter(node)[0]!, [...this.enter(node).slice(1), 'bash', '-c', cmd], {
      reject: false,
      timeout: timeoutMs,
      env: { PATH: `${this.prefix}/bin:${process.env.PATH}`, LC_ALL: 'C' },
    });
    if (!secret) this.record(node, cmd, `${r.stdout}\n${r.stderr}`);
    return r;
  }

  /** Runs a shell command on a node; throws with its output when it fails. */
  async sh(node: string, cmd: string, opts: { timeoutMs?: number; secret?: boolean } = {}): Promise<string> {
    const r = await this.exec(node, cmd, opts.timeoutMs ?? 120_000, opts.secret);
    if (r.exitCode !== 0) throw new Error(`[${node}] ${cmd}\n${r.exitCode === undefined ? r.shortMessage : `exit ${r.exitCode}`}\n${r.stdout}\n${r.stderr}`);
    return String(r.stdout);
  }

  /** Like sh, but returns the exit code and output instead of throwing. */
  async try(node: string, cmd: string, timeoutMs = 120_000): Promise<{ code: number; out: string }> {
    const r = await this.exec(node, cmd, timeoutMs);
    return { code: r.exitCode ?? -1, out: `${r.stdout}\n${r.stderr}` };
  }

  async build(): Promise<void> {
    // nsenter --mount sets a process's root to the mount namespace's root: inside a chroot, the
    // routers' commands would run on the host's own / (seen: a chrooted run edited the host's
    // /etc/frr). So look at / as nsenter would; a pivot_root'ed container passes.
    const here = statSync('/');
    const there = spawnSync('nsenter', ['--mount=/proc/self/ns/mnt', 'stat', '-c', '%d:%i', '/'], { encoding: 'utf8' });
    if (there.stdout.trim() !== `${here.dev}:${here.ino}`) {
      throw new Error(`the lab cannot run inside a chroot (its routers would act on the host's files; nsenter sees / as ${there.stdout.trim() || there.stderr.trim()}, this process as ${here.dev}:${here.ino}): run it on the machine itself, in a container or in a VM`);
    }
    mkdirSync(this.dir, { recursive: true });
    this.made.push('dir');
    // A private bind of the run dir, so mount-namespace files can be bound in it (as /run/netns is).
    execFileSync('mount', ['--bind', this.dir, this.dir]);
    execFileSync('mount', ['--make-private', this.dir]);
    for (const n of this.topo.nodes) {
      execFileSync('ip', ['netns', 'add', this.ns(n.name)]);
      this.made.push(`netns:${n.name}`);
      if (n.router) this.makeRouterMounts(n.name);
      await this.sh(n.name, 'ip link set lo up');
    }
    for (const l of this.topo.links) {
      // A veth pair can only be made with names free in both namespaces: temporary ones, renamed inside.
      execFileSync('ip', ['link', 'add', 'obtmp0', 'netns', this.ns(l.a.node), 'type', 'veth', 'peer', 'name', 'obtmp1', 'netns', this.ns(l.b.node)]);
      await this.sh(l.a.node, `ip link set obtmp0 name ${l.a.dev}`);
      await this.sh(l.b.node, `ip link set obtmp1 name ${l.b.dev}`);
    }
    // The rest is what the Vagrant lab runs on its VMs too: the same scripts, the same arguments.
    for (const step of netSteps(this.topo)) await this.sh(step.node, stepCommand(step));
  }

  private makeRouterMounts(node: string): void {
    const mnt = `${this.dir}/${node}.mnt`;
    const upper = `${this.dir}/${node}/upper`;
    const work = `${this.dir}/${node}/work`;
    mkdirSync(upper, { recursive: true });
    mkdirSync(work, { recursive: true });
    writeFileSync(mnt, '');
    const script = [
      `mount -t overlay overlay -o lowerdir=/etc,upperdir=${upper},workdir=${work} /etc`,
      'mkdir -p /run/frr /run/wireguard /run/ospfbond /var/lib/ospfbond',
      'mount -t tmpfs -o mode=0755 tmpfs /run/frr && chown frr:frr /run/frr',
      'mount -t tmpfs -o mode=0700 tmpfs /run/wireguard',
      'mount -t tmpfs -o mode=0700 tmpfs /var/lib/ospfbond',
      'mount -t tmpfs -o mode=0755 tmpfs /run/ospfbond',
    ].join(' && ');
    // Inside a nested mount namespace (a container), kernel 6.18 refuses to bind a new mount
    // namespace onto its file ("mount /proc/N/ns/mnt on FILE failed: Invalid argument") when the
    // namespace was made on a CPU whose namespace ids are behind the container's: the loop check
    // compares ids, and the kernel hands them out per CPU. Checked in a nested namespace: always
    // fails on CPU 0, always binds on CPU 1. So on that error: again, pinned to each CPU in turn.
    const unshare = ['unshare', `--mount=${mnt}`, '--propagation', 'private', 'sh', '-c', script];
    const tries = [unshare, ...cpus().map((_, n) => ['taskset', '-c', String(n), ...unshare])];
    for (const [i, argv] of tries.entries()) {
      try {
        execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
        break;
      } catch (err) {
        const stderr = String((err as { stderr?: Buffer }).stderr ?? '');
        if (i === tries.length - 1 || !/ns\/mnt on .* failed: Invalid argument/.test(stderr)) throw new Error(`unshare --mount=${mnt}: ${stderr.trim() || String(err)}`);
      }
    }
    this.routers.add(node);
    this.made.push(`mnt:${node}`);
  }

  /** PIDs of the processes in a node's network namespace whose command line matches (pkill would see every namespace). */
  pidsMatching(node: string, pattern: RegExp): number[] {
    return pidsIn(this.ns(node))
      .filter((p) => pattern.test(procFile(p, 'cmdline')?.replaceAll('\0', ' ') ?? ''))
      .map(Number);
  }

  /**
   * The processes of a program whose command line matches, one per running copy. A child forked
   * but not yet exec'd shows its parent's command line for a moment (the ospfbond daemon forks for
   * its vtysh, ip and wg several times a second): it is not a second copy, and is left out.
   */
  programPids(node: string, pattern: RegExp): number[] {
    return this.pidsMatching(node, pattern).filter((p) => {
      const ppid = procFile(String(p), 'stat')?.split(')').at(-1)?.trim().split(' ')[1];
      const cmdline = procFile(String(p), 'cmdline');
      return !ppid || cmdline === undefined || procFile(ppid, 'cmdline') !== cmdline;
    });
  }

  /** Signals processes of the lab; one that has exited meanwhile is what was wanted, not an error. */
  kill(pids: number[], signal: NodeJS.Signals = 'SIGKILL'): void {
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
  }

  /** Command names of the processes running in a node's network namespace. */
  processes(node: string): string[] {
    return pidsIn(this.ns(node)).flatMap((p) => procFile(p, 'comm')?.trim() ?? []);
  }

  /** An iperf3 server of this lab on its own port, listening when this returns; stop with the returned function. */
  async iperfServer(node: string, port: number, logfile?: string, extra = ''): Promise<() => Promise<void>> {
    const pidfile = `${this.dir}/iperf-${node}-${port}.pid`;
    await this.sh(node, `iperf3 -s -p ${port} -D -I ${pidfile}${logfile ? ` --logfile ${logfile}` : ''} ${extra}`);
    await waitFor(`iperf3 listening on ${node}:${port}`, 10_000, async () => (await this.sh(node, `ss -Htln 'sport = :${port}'`)).trim() !== '', 100);
    return async () => {
      await this.try(node, `kill $(cat ${pidfile}) 2>/dev/null; rm -f ${pidfile}`);
    };
  }

  /** Runs an iperf3 client with JSON output; a failure comes back as the run's `error`. */
  async iperfRun(node: string, server: string, port: number, args: string, timeoutMs = 120_000): Promise<IperfRun> {
    for (let attempt = 1; ; attempt++) {
      const r = await this.try(node, `iperf3 -c ${server} -p ${port} -J ${args}`, timeoutMs);
      const run = parseIperf(r.out.slice(0, r.out.lastIndexOf('}') + 1));
      if (r.code !== 0 && !run.error) run.error = `iperf3 exit ${r.code}`;
      // The server refuses a test while it is still closing the previous one's many streams, and
      // between two tests it has no listening socket at all: iperf3's server closes its listener at
      // the end of each test and opens a new one for the next (iperf_server_api.c, cleanup_server
      // and iperf_server_listen). A client right behind a 32-stream test met that gap in a CI run,
      // and in another its connect was reset ("unable to connect to server: Connection reset by
      // peer"): the listener closed under it. Only a connect that failed is tried again.
      const between =
        run.error?.includes('server is busy') || run.error?.includes('Connection refused') || (run.error?.includes('unable to connect to server') && run.intervals.length === 0);
      if (attempt > 10 || !between) return run;
      await sleep(500);
    }
  }

  /** Runs an iperf3 client and returns its received rate in Mbit/s; throws when the run failed. */
  async iperf(node: string, server: string, port: number, args: string): Promise<number> {
    const run = await this.iperfRun(node, server, port, args);
    if (run.error || run.intervals.length === 0) throw new Error(`[${node}] iperf3 to ${server}:${port}: ${run.error ?? 'no result'}`);
    return run.mbit;
  }

  /** `npm pack` the repo and install the tarball into a private prefix: the harness runs the real CLI. */
  async installPackage(): Promise<void> {
    mkdirSync(this.prefix, { recursive: true });
    const packDir = `${this.prefix}/pack`;
    mkdirSync(packDir, { recursive: true });
    const { stdout } = await execa('npm', ['pack', '--silent', '--pack-destination', packDir], { cwd: REPO });
    const tgz = `${packDir}/${stdout.trim().split('\n').at(-1)}`;
    await execa('npm', ['install', '-g', '--prefer-offline', '--no-audit', '--no-fund', '--prefix', this.prefix, tgz], { cwd: this.prefix });
  }

  /** Synchronous, so it also runs from an exit handler; kills every process in the lab's namespaces. */
  teardown(): void {
    if (this.torn) return;
    this.torn = true;
    for (const n of this.topo.nodes) {
      const ns = this.ns(n.name);
      if (!existsSync(`/run/netns/${ns}`)) continue;
      const pids = pidsIn(ns);
      if (pids.length) spawnSync('kill', ['-9', ...pids]);
      spawnSync('ip', ['netns', 'del', ns]);
    }
    for (const n of this.topo.nodes) if (n.router && existsSync(`${this.dir}/${n.name}.mnt`)) spawnSync('umount', [`${this.dir}/${n.name}.mnt`]);
    if (existsSync(this.dir)) {
      spawnSync('umount', ['-l', this.dir]);
      rmSync(this.dir, { recursive: true, force: true });
    }
    rmSync(this.prefix, { recursive: true, force: true });
  }
}

function pidsIn(ns: string): string[] {
  return spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
}

/** A /proc/PID file's text, undefined when the process is gone. */
function procFile(pid: string, name: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${name}`, 'utf8');
  } catch {
    return undefined;
  }
}

export async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined | false>, everyMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}
