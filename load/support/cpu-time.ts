import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time (user + system, ms) that processes have spent, read from Linux /proc. Wall-clock
 * throughput on a shared two-core machine moves with whatever else runs; CPU per start does
 * not, so the load tools report both. Elsewhere (no /proc) the figures are absent.
 */

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime, and cutime + cstime: the children that have exited and were waited for. */
  readonly ownTicks: number;
  readonly reapedChildTicks: number;
}

const readStat = (pid: number): ProcStat | undefined => {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const field = (n: number) => Number(fields[n - 3]);
  return { pid, ppid: field(4), ownTicks: field(14) + field(15), reapedChildTicks: field(16) + field(17) };
};

const allStats = (): ProcStat[] =>
  readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .flatMap((name) => readStat(Number(name)) ?? []);

/** CPU ms of a process and all its descendants, living or reaped; undefined without /proc. */
export const processTreeCpuMs = (rootPid: number | undefined): number | undefined => {
  if (rootPid === undefined) return undefined;
  const stats = allStats();
  const root = stats.find((stat) => stat.pid === rootPid);
  if (!root) return undefined;
  const children = new Map<number, ProcStat[]>();
  for (const stat of stats) {
    const siblings = children.get(stat.ppid);
    if (siblings) siblings.push(stat);
    else children.set(stat.ppid, [stat]);
  }
  let ticks = 0;
  const visit = (stat: ProcStat) => {
    ticks += stat.ownTicks + stat.reapedChildTicks;
    for (const child of children.get(stat.pid) ?? []) visit(child);
  };
  visit(root);
  return (ticks * 1000) / TICKS_PER_SECOND;
};

/** The parent of a process (e.g. a PostgreSQL backend's postmaster). */
export const parentPid = (pid: number): number | undefined => readStat(pid)?.ppid;

/** This process's own CPU ms. */
export const ownCpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
