/**
 * Network isolation of bubblewrap sandboxes: every sandbox runs in a network namespace of its own,
 * so it cannot reach the host's loopback services, listen on host ports or meet other instances on
 * abstract Unix sockets.
 *
 * As root, a pool of prepared namespaces (one veth pair each, a /31 of the operator's sandbox
 * subnet) is kept ahead of demand and refilled off the request path; sandboxes enter one through
 * `nsenter` (an exec, no extra process). One nftables table per server (`nimbus_<block>`, created
 * at start, removed at close) drops everything from a sandbox to the host itself, NATs the rest to
 * the host's uplink, and lets out only sandboxes whose address is in its `internet` set, never to
 * loopback, private, link-local, multicast or reserved ranges unless the operator allows them. A
 * function's egress choice is applied when a pre-warmed sandbox is assigned to it (pre-warmed
 * sandboxes run only the platform's runtime and start with egress, so the default costs nothing;
 * `none` is one line to a long-lived `nft -i`): no process per cold start. Servers sharing a host each claim a block of the
 * subnet (the table name is the lock; a dead owner's block is reclaimed).
 *
 * Not root: bubblewrap's `--unshare-net` leaves loopback only (no egress).
 * It must never let a sandbox reach the host or another sandbox.
 */
import { execFile, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { FunctionNetwork } from '../core/function.js';
import type { NetworkIsolationReport } from '../core/ports.js';

const NFT = '/usr/sbin/nft';
const IP = '/usr/sbin/ip';
const NSENTER = '/usr/bin/nsenter';
/** nft buffers what it echoes when writing to a pipe; stdbuf makes it write each line at once. */
const STDBUF = '/usr/bin/stdbuf';

/** Destinations no sandbox reaches unless the operator allows them (IPv4; IPv6 has no egress at all). */
const DENIED_RANGES = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '224.0.0.0/4',
  '240.0.0.0/4',
] as const;
const DENIED_IPV6 = ['::1/128', 'fc00::/7', 'fe80::/10', 'ff00::/8'];

/** Addresses one server's namespaces take: 256 pairs (a /31 each). */
const BLOCK_ADDRESSES = 512;
const NAMESPACES_PER_BLOCK = BLOCK_ADDRESSES / 2;
/** Namespaces kept ready beyond those in use, so a spawn never waits for one. */
const SPARE_NAMESPACES = 2;

interface NetworkSettings {
  /** IPv4 subnet (CIDR, /23 or larger) the sandboxes' veth pairs take their addresses from. */
  subnet: string;
  /** IPv4 addresses or CIDR ranges the operator lets sandboxes reach although they are denied by default. */
  egressAllow: readonly string[];
}

/** One sandbox's place in the network: how to start it there, and its egress choice. */
interface NetworkLease {
  /** Wraps bubblewrap's command line so the sandbox starts inside its namespace. */
  wrap(file: string, args: string[]): { file: string; args: string[] };
  /** Applies the function's choice; resolves once the filter enforces it. */
  connect(network: FunctionNetwork): Promise<void>;
  /** Called once the sandbox is gone: the namespace returns to the pool without egress. */
  release(): void;
}

export interface NetworkIsolation {
  /** bubblewrap arguments every sandbox gets (`--unshare-net` where no prepared namespace is used). */
  readonly bwrapArgs: readonly string[];
  acquire(): Promise<NetworkLease>;
  report(): NetworkIsolationReport;
  close(): Promise<void>;
}

/** Parses `a.b.c.d/p` (or a bare address, /32); undefined when it is not IPv4 CIDR. */
function parseIpv4Cidr(text: string): { base: number; prefix: number } | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(text.trim());
  if (!match) return undefined;
  const octets = match.slice(1, 5).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  const prefix = match[5] === undefined ? 32 : Number(match[5]);
  if (prefix > 32) return undefined;
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  return { base: address - (address % size), prefix };
}

function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** IPv4 name servers of the host's resolv.conf (the file sandboxes see). */
function resolvers(): string[] {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8')
      .split('\n')
      .map((line) => /^\s*nameserver\s+(\S+)/.exec(line)?.[1])
      .filter((s): s is string => s !== undefined && parseIpv4Cidr(s) !== undefined);
  } catch {
    return [];
  }
}

function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && a.family === 'IPv4')
    .map((a) => a!.address);
}

/** Loopback only: what `--unshare-net` gives without root. */
class LoopbackOnlyNetwork implements NetworkIsolation {
  readonly bwrapArgs = ['--unshare-net'];
  constructor(private readonly why: string) {}
  acquire(): Promise<NetworkLease> {
    return Promise.resolve({
      wrap: (file, args) => ({ file, args }),
      connect: () => Promise.resolve(),
      release: () => undefined,
    });
  }
  report(): NetworkIsolationReport {
    return { ownNamespace: true, egress: 'none', deniedRanges: ['all'], allowed: [], warning: this.why };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Chooses the network isolation for bubblewrap sandboxes on this host; `probe` changes nothing on the host. */
export function createNetworkIsolation(settings: NetworkSettings, probe = false): NetworkIsolation {
  if (process.getuid?.() !== 0) {
    const helpers = ['/usr/bin/slirp4netns', '/usr/bin/pasta'].filter((p) => existsSync(p));
    return new LoopbackOnlyNetwork(
      `not running as root: functions get their own network namespace with loopback only, so no egress ` +
        (helpers.length > 0
          ? `(${helpers.join(', ')} is installed, but Nimbus does not use it yet)`
          : '(slirp4netns or pasta is not installed, and Nimbus does not use them yet)'),
    );
  }
  const missing = [NFT, IP, NSENTER, STDBUF].filter((p) => !existsSync(p));
  if (missing.length > 0) {
    return new LoopbackOnlyNetwork(
      `${missing.join(', ')} not installed (Debian: apt-get install nftables iproute2 util-linux coreutils): functions get loopback only, no egress`,
    );
  }
  if (probe) return new PlannedNetwork(settings);
  try {
    return new NamespacePool(settings);
  } catch (err) {
    return new LoopbackOnlyNetwork(
      `network namespaces with egress could not be set up (${(err as Error).message}): functions get loopback only, no egress`,
    );
  }
}

function filteredReport(settings: NetworkSettings): NetworkIsolationReport {
  const dns = resolvers();
  const unreachable = dns.filter((r) => r.startsWith('127.'));
  return {
    ownNamespace: true,
    egress: 'filtered',
    deniedRanges: [...DENIED_RANGES, "the host's own addresses", 'other sandboxes', ...DENIED_IPV6],
    allowed: [
      ...settings.egressAllow,
      ...dns.filter((r) => !r.startsWith('127.')).map((r) => `${r} port 53 (DNS)`),
    ],
    ...(unreachable.length > 0
      ? {
          warning: `the host's DNS resolver ${unreachable.join(', ')} is on loopback, which sandboxes cannot reach: functions cannot resolve names`,
        }
      : {}),
  };
}

/** What `nimbus doctor` reports as root without touching the host's network. */
class PlannedNetwork extends LoopbackOnlyNetwork {
  constructor(private readonly settings: NetworkSettings) {
    super('');
  }
  override report(): NetworkIsolationReport {
    return filteredReport(this.settings);
  }
}

interface Namespace {
  index: number;
  name: string;
  hostIf: string;
  hostAddress: string;
  sandboxAddress: string;
}

/** Root: prepared namespaces with veth pairs, NAT, and one nftables table. */
class NamespacePool implements NetworkIsolation {
  readonly bwrapArgs: readonly string[] = [];
  private readonly block: number;
  private readonly blockBase: number;
  private readonly table: string;
  private readonly free: Namespace[] = [];
  private readonly created: Namespace[] = [];
  private nextIndex = 0;
  private creating: Promise<Namespace> | undefined;
  private readonly nft: NftShell;
  private closed = false;

  constructor(private readonly settings: NetworkSettings) {
    const subnet = parseIpv4Cidr(settings.subnet);
    if (!subnet || subnet.prefix > 23)
      throw new Error(`sandbox subnet '${settings.subnet}' is not an IPv4 /23 or larger`);
    const blocks = 2 ** (32 - subnet.prefix) / BLOCK_ADDRESSES;
    let claimed: number | undefined;
    for (let k = 0; k < blocks && claimed === undefined; k++) {
      const base = subnet.base + k * BLOCK_ADDRESSES;
      // A block whose server died is taken over: its table and namespaces are removed first.
      const taken = this.tryClaim(k, base) || (reclaimIfOwnerDead(k) && this.tryClaim(k, base));
      if (taken) claimed = k;
    }
    if (claimed === undefined)
      throw new Error(`every block of the sandbox subnet ${settings.subnet} is in use by another server`);
    this.block = claimed;
    this.blockBase = subnet.base + claimed * BLOCK_ADDRESSES;
    this.table = tableName(claimed);
    // Forwarding is off on a fresh host; sandboxes' egress is routed through it.
    writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
    this.nft = new NftShell(this.table);
    this.topUp();
  }

  private tryClaim(block: number, base: number): boolean {
    const table = tableName(block);
    const ifs = `"${interfacePrefix(block)}*"`;
    const blockCidr = `${formatIpv4(base)}/23`;
    const set = (name: string, elements: string[]) =>
      `add set inet ${table} ${name} { type ipv4_addr; flags interval; auto-merge; }\n` +
      (elements.length > 0 ? `add element inet ${table} ${name} { ${elements.join(', ')} }\n` : '');
    const allowed = this.settings.egressAllow;
    const denied = [...DENIED_RANGES, ...hostAddresses()];
    const dns = resolvers().filter((r) => !r.startsWith('127.'));
    const script =
      // `create` fails if another server holds this block: the table is the lock.
      `create table inet ${table}\n` +
      `add chain inet ${table} owner_${process.pid}\n` +
      `add set inet ${table} internet { type ipv4_addr; }\n` +
      `add set inet ${table} sync { type mark; }\n` +
      set('allowed', [...allowed]) +
      set('denied', denied) +
      set('resolvers', dns) +
      // Nothing from a sandbox reaches the host itself (its services, the Nimbus API), whatever address it uses.
      `add chain inet ${table} input { type filter hook input priority filter - 1; policy accept; }\n` +
      `add rule inet ${table} input iifname ${ifs} ip daddr @allowed accept\n` +
      `add rule inet ${table} input iifname ${ifs} reject with icmpx admin-prohibited\n` +
      // The host opens no connection into a sandbox (a function's listening port stays its own).
      `add chain inet ${table} output { type filter hook output priority filter - 1; policy accept; }\n` +
      `add rule inet ${table} output oifname ${ifs} meta nfproto ipv4 ct state new drop\n` +
      `add chain inet ${table} egress\n` +
      `add chain inet ${table} forward { type filter hook forward priority filter - 1; policy accept; }\n` +
      `add rule inet ${table} forward oifname ${ifs} ct state established,related accept\n` +
      `add rule inet ${table} forward oifname ${ifs} drop\n` +
      `add rule inet ${table} forward iifname ${ifs} jump egress\n` +
      `add rule inet ${table} egress meta nfproto ipv6 drop\n` +
      `add rule inet ${table} egress ip saddr != @internet reject with icmpx admin-prohibited\n` +
      `add rule inet ${table} egress ip daddr ${this.settings.subnet} reject with icmpx admin-prohibited\n` +
      `add rule inet ${table} egress ip daddr @allowed accept\n` +
      `add rule inet ${table} egress ip daddr @resolvers udp dport 53 accept\n` +
      `add rule inet ${table} egress ip daddr @resolvers tcp dport 53 accept\n` +
      `add rule inet ${table} egress ip daddr @denied reject with icmpx admin-prohibited\n` +
      `add rule inet ${table} egress accept\n` +
      `add chain inet ${table} postrouting { type nat hook postrouting priority srcnat; policy accept; }\n` +
      `add rule inet ${table} postrouting ip saddr ${blockCidr} oifname != ${ifs} masquerade\n`;
    const result = spawnSync(NFT, ['-f', '-'], { input: script, encoding: 'utf8', timeout: 10_000 });
    if (result.status === 0) return true;
    if (/File exists/.test(result.stderr)) return false;
    throw new Error(`nft refused the ruleset: ${(result.stderr || result.error?.message || '').trim()}`);
  }

  async acquire(): Promise<NetworkLease> {
    const ns = this.free.shift() ?? (await this.create());
    this.topUp();
    const element = `inet ${this.table} internet { ${ns.sandboxAddress} }`;
    // Egress is on while the sandbox runs only the platform's runtime (nothing of a function has
    // loaded yet), so assigning it to a function with the default network costs nothing on the
    // cold start; only `none` waits for the filter.
    try {
      await this.nft.run(`add element ${element}`);
    } catch (err) {
      this.free.push(ns);
      throw err;
    }
    let inInternet = true;
    let released = false;
    return {
      wrap: (file, args) => ({ file: NSENTER, args: [`--net=/run/netns/${ns.name}`, '--', file, ...args] }),
      connect: async (network) => {
        const wanted = network === 'internet';
        if (wanted === inInternet) return;
        inInternet = wanted;
        await this.nft.run(`${wanted ? 'add' : 'delete'} element ${element}`);
      },
      release: () => {
        if (released) return;
        released = true;
        if (!inInternet) return void this.free.push(ns);
        // Back in the pool only once the filter no longer lets it out.
        this.nft
          .run(`delete element ${element}`)
          .then(() => (this.closed ? undefined : this.free.push(ns)))
          .catch(() => undefined); // never handed out again
      },
    };
  }

  /** Keeps a few namespaces ready, created one at a time in the background. */
  private topUp(): void {
    if (this.closed || this.creating || this.free.length >= SPARE_NAMESPACES) return;
    if (this.nextIndex >= NAMESPACES_PER_BLOCK) return;
    void this.create()
      .then((ns) => {
        this.free.push(ns);
        this.topUp();
      })
      .catch(() => undefined); // acquire() reports the failure when one is needed
  }

  private async create(): Promise<Namespace> {
    while (this.creating) await this.creating.catch(() => undefined);
    if (this.closed) throw new Error('the network namespace pool is closed');
    // An index whose setup failed is not used again (its leftovers may still be going away).
    const index = this.nextIndex++;
    if (index >= NAMESPACES_PER_BLOCK) {
      throw new Error(`all ${NAMESPACES_PER_BLOCK} network namespaces of this server are in use`);
    }
    const ns: Namespace = {
      index,
      name: `${namespacePrefix(this.block)}${index}`,
      hostIf: `${interfacePrefix(this.block)}${index}`,
      hostAddress: formatIpv4(this.blockBase + 2 * index),
      sandboxAddress: formatIpv4(this.blockBase + 2 * index + 1),
    };
    this.creating = (async () => {
      this.created.push(ns);
      await ipBatch(
        [],
        [
          `netns add ${ns.name}`,
          `link add ${ns.hostIf} type veth peer name eth0 netns ${ns.name}`,
          `addr add ${ns.hostAddress}/31 dev ${ns.hostIf}`,
          `link set ${ns.hostIf} up`,
        ],
      );
      await ipBatch(
        ['-n', ns.name],
        [
          `link set lo up`,
          `addr add ${ns.sandboxAddress}/31 dev eth0`,
          `link set eth0 up`,
          `route add default via ${ns.hostAddress}`,
        ],
      );
      return ns;
    })();
    try {
      return await this.creating;
    } catch (err) {
      await ipBatch(['-force'], [`netns del ${ns.name}`, `link del ${ns.hostIf}`]).catch(() => undefined);
      throw err;
    } finally {
      this.creating = undefined;
    }
  }

  report(): NetworkIsolationReport {
    return filteredReport(this.settings);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.creating?.catch(() => undefined);
    await this.nft.close();
    spawnSync(NFT, ['delete', 'table', 'inet', this.table], { timeout: 10_000 });
    // Deleting a namespace deletes its veth pair; a namespace still in use lives on until its processes exit.
    await ipBatch(
      [],
      this.created.map((ns) => `netns del ${ns.name}`),
    ).catch(() => undefined);
  }
}

const tableName = (block: number) => `nimbus_${block}`;
const namespacePrefix = (block: number) => `nimbus${block}-`;
const interfacePrefix = (block: number) => `nmb${block}h`;

/** Removes a block's table and namespaces when the server that claimed it is gone; true if it did. */
function reclaimIfOwnerDead(block: number): boolean {
  const listed = spawnSync(NFT, ['list', 'table', 'inet', tableName(block)], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  const owner = /chain owner_(\d+)/.exec(listed.stdout ?? '')?.[1];
  if (owner === undefined || isAlive(Number(owner))) return false;
  spawnSync(NFT, ['delete', 'table', 'inet', tableName(block)], { timeout: 10_000 });
  const names = spawnSync(IP, ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 })
    .stdout.split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(namespacePrefix(block)));
  if (names.length > 0) {
    spawnSync(IP, ['-force', '-batch', '-'], {
      input: names.map((n) => `netns del ${n}\n`).join(''),
      timeout: 10_000,
    });
  }
  // The kernel tears namespaces and their veth pairs down in the background: wait until the
  // interface names are free again.
  for (let waited = 0; waited < 5000; waited += 50) {
    const links = spawnSync(IP, ['-o', 'link', 'show'], { encoding: 'utf8', timeout: 10_000 }).stdout;
    const left = [...links.matchAll(new RegExp(`^\\d+: (${interfacePrefix(block)}\\d+)`, 'gm'))].map(
      (m) => m[1]!,
    );
    if (left.length === 0) break;
    spawnSync(IP, ['-force', '-batch', '-'], {
      input: left.map((l) => `link del ${l}\n`).join(''),
      timeout: 10_000,
    });
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
  return true;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ipBatch(options: string[], commands: string[]): Promise<void> {
  if (commands.length === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const child = execFile(IP, [...options, '-batch', '-'], { timeout: 10_000 }, (err, _out, stderr) => {
      if (err) reject(new Error(`ip failed: ${stderr.trim() || err.message}`));
      else resolve();
    });
    child.stdin?.end(commands.map((c) => `${c}\n`).join(''));
  });
}

/**
 * One long-lived `nft -e -i`: commands go in over stdin, in order. A command is confirmed by a
 * marker written after it (`add element … sync { N }`, which nft echoes once it is done); an error
 * reported in between fails the command.
 */
class NftShell {
  private readonly child: ChildProcessWithoutNullStreams;
  private marker = 0;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private errors = '';
  private stdoutTail = '';

  constructor(private readonly table: string) {
    this.child = spawn(STDBUF, ['-oL', '-eL', NFT, '-e', '-i'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => this.onOutput(chunk));
    this.child.stderr.on('data', (chunk: string) => (this.errors += chunk));
    this.child.stdin.on('error', () => undefined);
    this.child.once('exit', () => {
      for (const waiter of this.waiting.values()) waiter.reject(new Error('nft exited'));
      this.waiting.clear();
    });
    this.child.unref();
    for (const stream of [this.child.stdout, this.child.stderr, this.child.stdin]) {
      (stream as unknown as { unref?: () => void }).unref?.();
    }
  }

  run(command: string): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      return Promise.reject(new Error('nft is not running'));
    }
    const id = ++this.marker;
    // While an answer is awaited, nft's output keeps the process alive.
    if (this.waiting.size === 0) this.refOutput(true);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.stdin.write(
        `${command}\nadd element inet ${this.table} sync { ${id} }\nflush set inet ${this.table} sync\n`,
      );
    });
  }

  private onOutput(chunk: string): void {
    const lines = (this.stdoutTail + chunk).split('\n');
    this.stdoutTail = lines.pop() ?? '';
    for (const line of lines) {
      const match = /^add element inet \S+ sync \{ (?:0x0*)?([0-9a-f]+) \}/.exec(line.trim());
      if (!match) continue;
      const id = line.includes('0x') ? parseInt(match[1]!, 16) : Number(match[1]);
      const waiter = this.waiting.get(id);
      if (!waiter) continue;
      this.waiting.delete(id);
      if (this.waiting.size === 0) this.refOutput(false);
      const errors = this.errors.trim();
      this.errors = '';
      if (errors) waiter.reject(new Error(`nft: ${errors}`));
      else waiter.resolve();
    }
  }

  private refOutput(on: boolean): void {
    const stream = this.child.stdout as unknown as { ref?: () => void; unref?: () => void };
    if (on) stream.ref?.();
    else stream.unref?.();
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      this.child.once('exit', () => resolve());
      this.child.ref(); // wait for it even though nothing else may keep the process alive
      this.child.stdin.end();
      setTimeout(() => {
        this.child.kill('SIGKILL');
        resolve();
      }, 2000).unref();
    });
  }
}
