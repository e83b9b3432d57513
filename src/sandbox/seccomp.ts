/**
 * The seccomp filter every sandbox runs under: a small generator of the classic-BPF program that
 * bubblewrap installs with `--seccomp FD` just before it executes the sandbox's command. It is a
 * deny-list at least as strict as Docker's default profile: calls that create namespaces (nested
 * user namespaces above all), load kernel code (modules, bpf, kexec), reach other processes
 * (ptrace, process_vm_*), expose the kernel's most attacked paths (io_uring, userfaultfd, keyrings,
 * perf) or change the host (mount, clock, swap, reboot) answer EPERM; clone3 answers ENOSYS, so
 * libc falls back to clone, whose flags the filter can see. A foreign architecture (32-bit
 * compat calls, x32) kills the process. It needs nothing at run time (no libseccomp).
 */

/** Architectures Nimbus has syscall tables for, named as the kernel's audit code names them. */
type SeccompArch = 'x86_64' | 'aarch64';

/** The architecture of this host's Node (the runtimes run on the same one), if supported. */
export function hostSeccompArch(): SeccompArch | undefined {
  if (process.arch === 'x64') return 'x86_64';
  if (process.arch === 'arm64') return 'aarch64';
  return undefined;
}

const AUDIT_ARCH: Record<SeccompArch, number> = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };

/**
 * System calls denied outright (EPERM), with their numbers on each architecture; a call an
 * architecture lacks has no number there. Numbers from the kernel's syscall tables (checked
 * against libseccomp's resolver).
 */
const DENIED: Record<string, Partial<Record<SeccompArch, number>>> = {
  // new namespaces and joining others
  setns: { x86_64: 308, aarch64: 268 },
  // kernel code: eBPF, modules, kexec
  bpf: { x86_64: 321, aarch64: 280 },
  init_module: { x86_64: 175, aarch64: 105 },
  finit_module: { x86_64: 313, aarch64: 273 },
  delete_module: { x86_64: 176, aarch64: 106 },
  create_module: { x86_64: 174 },
  get_kernel_syms: { x86_64: 177 },
  query_module: { x86_64: 178 },
  kexec_load: { x86_64: 246, aarch64: 104 },
  kexec_file_load: { x86_64: 320, aarch64: 294 },
  // the kernel's most attacked paths
  userfaultfd: { x86_64: 323, aarch64: 282 },
  io_uring_setup: { x86_64: 425, aarch64: 425 },
  io_uring_enter: { x86_64: 426, aarch64: 426 },
  io_uring_register: { x86_64: 427, aarch64: 427 },
  keyctl: { x86_64: 250, aarch64: 219 },
  add_key: { x86_64: 248, aarch64: 217 },
  request_key: { x86_64: 249, aarch64: 218 },
  perf_event_open: { x86_64: 298, aarch64: 241 },
  fanotify_init: { x86_64: 300, aarch64: 262 },
  // other processes
  ptrace: { x86_64: 101, aarch64: 117 },
  process_vm_readv: { x86_64: 310, aarch64: 270 },
  process_vm_writev: { x86_64: 311, aarch64: 271 },
  process_madvise: { x86_64: 440, aarch64: 440 },
  pidfd_getfd: { x86_64: 438, aarch64: 438 },
  kcmp: { x86_64: 312, aarch64: 272 },
  // mounts and file handles
  mount: { x86_64: 165, aarch64: 40 },
  umount2: { x86_64: 166, aarch64: 39 },
  pivot_root: { x86_64: 155, aarch64: 41 },
  chroot: { x86_64: 161, aarch64: 51 },
  move_mount: { x86_64: 429, aarch64: 429 },
  open_tree: { x86_64: 428, aarch64: 428 },
  fsopen: { x86_64: 430, aarch64: 430 },
  fsconfig: { x86_64: 431, aarch64: 431 },
  fsmount: { x86_64: 432, aarch64: 432 },
  fspick: { x86_64: 433, aarch64: 433 },
  mount_setattr: { x86_64: 442, aarch64: 442 },
  name_to_handle_at: { x86_64: 303, aarch64: 264 },
  open_by_handle_at: { x86_64: 304, aarch64: 265 },
  quotactl: { x86_64: 179, aarch64: 60 },
  quotactl_fd: { x86_64: 443, aarch64: 443 },
  lookup_dcookie: { x86_64: 212, aarch64: 18 },
  nfsservctl: { x86_64: 180, aarch64: 42 },
  // the host itself: power, swap, clocks, accounting, kernel log, hardware ports
  reboot: { x86_64: 169, aarch64: 142 },
  swapon: { x86_64: 167, aarch64: 224 },
  swapoff: { x86_64: 168, aarch64: 225 },
  acct: { x86_64: 163, aarch64: 89 },
  settimeofday: { x86_64: 164, aarch64: 170 },
  clock_settime: { x86_64: 227, aarch64: 112 },
  clock_adjtime: { x86_64: 305, aarch64: 266 },
  adjtimex: { x86_64: 159, aarch64: 171 },
  syslog: { x86_64: 103, aarch64: 116 },
  vhangup: { x86_64: 153, aarch64: 58 },
  iopl: { x86_64: 172 },
  ioperm: { x86_64: 173 },
  // obsolete calls Docker denies too
  uselib: { x86_64: 134 },
  ustat: { x86_64: 136 },
  sysfs: { x86_64: 139 },
  _sysctl: { x86_64: 156 },
};

/** Calls whose arguments decide: namespace flags of clone/unshare, personality values. */
const CLONE: Record<SeccompArch, number> = { x86_64: 56, aarch64: 220 };
const CLONE3: Record<SeccompArch, number> = { x86_64: 435, aarch64: 435 };
const UNSHARE: Record<SeccompArch, number> = { x86_64: 272, aarch64: 97 };
const PERSONALITY: Record<SeccompArch, number> = { x86_64: 135, aarch64: 92 };

/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET. */
const NAMESPACE_FLAGS =
  0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;
/** CLONE_NEWTIME: only meaningful to unshare (in clone's flags the bit is part of the exit signal). */
const CLONE_NEWTIME = 0x00000080;
/** personality() values Docker allows: PER_LINUX, PER_LINUX32, UNAME26 and both, and the query 0xffffffff. */
const ALLOWED_PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];
/** x32 system calls carry this bit in their number on x86_64. */
const X32_SYSCALL_BIT = 0x40000000;

const EPERM = 1;
const ENOSYS = 38;

/** What the filter denies, in words, for `nimbus doctor` and the isolation report. */
export function seccompDeniedCalls(): string[] {
  return [
    ...Object.keys(DENIED),
    'clone/unshare with namespace flags',
    'clone3 (ENOSYS: libc falls back to clone)',
    'personality other than the usual ones',
    'foreign architectures (x32, 32-bit compat): process killed',
  ];
}

// Classic BPF as seccomp reads it: struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }.
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;

const RET_ALLOW = 0x7fff0000;
const RET_KILL_PROCESS = 0x80000000;
const retErrno = (errno: number) => 0x00050000 | errno;

// struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; } (little-endian)
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const offsetArgLow = (i: number) => 16 + 8 * i;

type Target = string;
interface Instruction {
  code: number;
  k: number;
  /** Labels to jump to when the test holds / fails (conditional jumps only); undefined: next. */
  jt?: Target;
  jf?: Target;
  label?: string;
}

/** Compiles the filter for one architecture into the bytes bubblewrap reads from `--seccomp FD`. */
export function buildSeccompProgram(arch: SeccompArch): Buffer {
  const program: Instruction[] = [];
  const emit = (ins: Instruction) => program.push(ins);
  const label = (name: string) => program.push({ code: -1, k: 0, label: name });

  emit({ code: LD_W_ABS, k: OFFSET_ARCH });
  emit({ code: JEQ_K, k: AUDIT_ARCH[arch], jf: 'kill' });
  emit({ code: LD_W_ABS, k: OFFSET_NR });
  // syscall(-1) is how some programs probe; it answers ENOSYS as the kernel would (and as libseccomp does).
  emit({ code: JEQ_K, k: 0xffffffff, jt: 'enosys' });
  if (arch === 'x86_64') emit({ code: JGE_K, k: X32_SYSCALL_BIT, jt: 'kill' });
  for (const numbers of Object.values(DENIED)) {
    const nr = numbers[arch];
    if (nr !== undefined) emit({ code: JEQ_K, k: nr, jt: 'eperm' });
  }
  emit({ code: JEQ_K, k: CLONE3[arch], jt: 'enosys' });
  emit({ code: JEQ_K, k: CLONE[arch], jt: 'clone' });
  emit({ code: JEQ_K, k: UNSHARE[arch], jt: 'unshare' });
  emit({ code: JEQ_K, k: PERSONALITY[arch], jt: 'personality' });
  emit({ code: RET_K, k: RET_ALLOW });

  // The flags are the first argument of clone (x86_64 and aarch64 alike) and of unshare; every
  // namespace flag sits in their low 32 bits.
  label('clone');
  emit({ code: LD_W_ABS, k: offsetArgLow(0) });
  emit({ code: JSET_K, k: NAMESPACE_FLAGS, jt: 'eperm' });
  emit({ code: RET_K, k: RET_ALLOW });

  label('unshare');
  emit({ code: LD_W_ABS, k: offsetArgLow(0) });
  emit({ code: JSET_K, k: NAMESPACE_FLAGS | CLONE_NEWTIME, jt: 'eperm' });
  emit({ code: RET_K, k: RET_ALLOW });

  label('personality');
  emit({ code: LD_W_ABS, k: offsetArgLow(0) });
  for (const value of ALLOWED_PERSONALITIES) emit({ code: JEQ_K, k: value, jt: 'allow' });
  label('eperm');
  emit({ code: RET_K, k: retErrno(EPERM) });
  label('enosys');
  emit({ code: RET_K, k: retErrno(ENOSYS) });
  label('allow');
  emit({ code: RET_K, k: RET_ALLOW });
  label('kill');
  emit({ code: RET_K, k: RET_KILL_PROCESS });

  return assemble(program);
}

/** Resolves labels into relative jump offsets and writes the instructions out. */
function assemble(program: Instruction[]): Buffer {
  const positions = new Map<string, number>();
  const real: Instruction[] = [];
  for (const ins of program) {
    if (ins.label !== undefined) positions.set(ins.label, real.length);
    else real.push(ins);
  }
  const out = Buffer.alloc(real.length * 8);
  real.forEach((ins, index) => {
    const offset = (target: Target | undefined): number => {
      if (target === undefined) return 0;
      const at = positions.get(target);
      if (at === undefined) throw new Error(`seccomp program: no label ${target}`);
      const jump = at - index - 1;
      if (jump < 0 || jump > 255) throw new Error(`seccomp program: jump to ${target} out of range`);
      return jump;
    };
    out.writeUInt16LE(ins.code, index * 8);
    out.writeUInt8(offset(ins.jt), index * 8 + 2);
    out.writeUInt8(offset(ins.jf), index * 8 + 3);
    out.writeUInt32LE(ins.k >>> 0, index * 8 + 4);
  });
  return out;
}
