// Preloaded into every server the bench starts (`node --import tools/bench/core/probe.mjs ...`):
// answers the bench over the IPC channel with this process's CPU time (all threads: main,
// libuv pool, V8 helper threads, PGlite worker), its garbage-collection pauses and its
// event-loop delay since the previous snapshot. Nothing changes in the server itself.
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

if (typeof process.send === 'function') {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let gc = { count: 0, totalMs: 0, maxMs: 0, majorCount: 0, majorMs: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.count++;
      gc.totalMs += e.duration;
      if (e.duration > gc.maxMs) gc.maxMs = e.duration;
      if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        gc.majorCount++;
        gc.majorMs += e.duration;
      }
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  process.on('message', (msg) => {
    if (msg?.probe !== 'snap') return;
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    process.send({
      probe: 'snap',
      id: msg.id,
      cpu_us: cpu.user + cpu.system,
      gc: { ...gc },
      loop: { p50_ms: loop.percentile(50) / 1e6, p99_ms: loop.percentile(99) / 1e6, max_ms: loop.max / 1e6 },
      rss_mb: mem.rss / 2 ** 20,
      heap_used_mb: mem.heapUsed / 2 ** 20,
    });
    gc = { count: 0, totalMs: 0, maxMs: 0, majorCount: 0, majorMs: 0 };
    loop.reset();
  });
  // The channel must not keep a server alive that would otherwise exit.
  process.channel?.unref();
}
