// The machine's load while the bench measures: how much CPU other processes used (from
// /proc), so disturbed runs can be repeated and every figure carries its load caveat.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { round, sleep } from './config.mjs';
import { children } from './servers.mjs';

const CLK_TCK = 100;

export function cpuModel() {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    return line ? line.split(':').slice(1).join(':').trim() : 'unknown';
  } catch {
    return 'unknown';
  }
}

function machineTicks() {
  const [user, nice, system, idle, iowait, irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { busy: user + nice + system, steal, total: user + nice + system + idle + iowait + irq + softirq + steal };
}
function procTicks(pid, withChildren) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number); // f[0] is field 3 (state)
    return f[11] + f[12] + (withChildren ? f[13] + f[14] : 0); // utime stime [cutime cstime]
  } catch {
    return 0;
  }
}
/** Our ticks: this process, its reaped children, and the live ones (exited children move into cutime). */
function ourTicks() {
  let t = procTicks(process.pid, true);
  for (const child of children) if (child.exitCode === null) t += procTicks(child.pid, false);
  return t;
}
export const cpuSnap = () => ({ m: machineTicks(), ours: ourTicks() });
/** Cores' worth of CPU that processes other than ours used between two snapshots. */
export function otherCores(a, b = cpuSnap()) {
  const dt = b.m.total - a.m.total;
  return dt > 0 ? round((Math.max(0, b.m.busy - a.m.busy - (b.ours - a.ours)) / dt) * availableParallelism(), 2) : 0;
}

/** Waits (at most limitS) until other processes have used under 0.15 core for 10 s in a row. */
export async function waitQuiet(limitS) {
  const t0 = performance.now();
  let quiet = 0;
  while ((performance.now() - t0) / 1000 < limitS) {
    const a = cpuSnap();
    await sleep(1000);
    quiet = otherCores(a) < 0.15 ? quiet + 1 : 0;
    if (quiet >= 10) return round((performance.now() - t0) / 1000, 0);
  }
  return null;
}

export function startCpuMonitor() {
  const intervals = [];
  let prev = { m: machineTicks(), ours: ourTicks() };
  const first = prev;
  const timer = setInterval(() => {
    const now = { m: machineTicks(), ours: ourTicks() };
    const dt = now.m.total - prev.m.total;
    if (dt > 0) intervals.push({ foreign: Math.max(0, now.m.busy - prev.m.busy - (now.ours - prev.ours)) / dt, steal: (now.m.steal - prev.m.steal) / dt, ours: (now.ours - prev.ours) / dt });
    prev = now;
  }, 1000);
  timer.unref();
  return () => {
    clearInterval(timer);
    const cores = availableParallelism();
    const total = prev.m.total - first.m.total;
    const asCores = (x) => round(x * cores, 2);
    const sorted = intervals.map((i) => i.foreign).sort((a, b) => a - b);
    return {
      seconds: round(total / CLK_TCK / cores, 0),
      other_processes_cores_mean: asCores(Math.max(0, prev.m.busy - first.m.busy - (prev.ours - first.ours)) / total),
      other_processes_cores_p90: asCores(sorted[Math.floor(0.9 * (sorted.length - 1))] ?? 0),
      other_processes_cores_max: asCores(sorted[sorted.length - 1] ?? 0),
      steal_cores_mean: asCores((prev.m.steal - first.m.steal) / total),
      ours_cores_mean: asCores((prev.ours - first.ours) / total),
      intervals_over_10pct_core: intervals.filter((i) => i.foreign * cores > 0.1).length,
      intervals: intervals.length,
    };
  };
}
