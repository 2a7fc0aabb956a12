// Runs the original library, @sisense/task-manager@0.1.1, through the suite's
// scenarios and prints one JSON line. Started by run.sh, which installs the
// package and passes its folder in TM_ORIGINAL_DIR.
//
// Yield equivalent: tokio's `yield_now` puts the task behind every other ready
// task and lets the I/O and timer drivers run before it resumes. In Node that is
// `setImmediate` (check phase, after the poll phase), so it is the headline. A
// microtask (`await Promise.resolve()`) never lets the event loop turn and is
// much cheaper; it is measured too, as the figure most favourable to the original.
import { createRequire } from "node:module";
import path from "node:path";

const dir = process.env.TM_ORIGINAL_DIR;
if (!dir) throw new Error("TM_ORIGINAL_DIR is not set: start this through run.sh");
const require = createRequire(path.join(dir, "package.json"));
const { AbstractTaskManager, Step, TaskPassport } = require("@sisense/task-manager");

const smoke = process.env.TM_BENCH_SMOKE === "1";
const size = (name, full, tiny) => Number(process.env[name] ?? (smoke ? tiny : full));
const TASKS = size("TM_ORIG_TASKS", 1_000_000, 2_000);
const SCALING_TASKS = size("TM_ORIG_SCALING_TASKS", 100_000, 500);
const CANCEL_TASKS = size("TM_ORIG_CANCEL_TASKS", 10_000, 200);
const MEMORY_TASKS = size("TM_ORIG_MEMORY_TASKS", 100_000, 1_000);
const REPS = size("TM_ORIG_REPS", 1, 1);
const SCALING = process.env.TM_ORIG_SCALING !== "0";

const yields = {
  setImmediate: () => new Promise((resolve) => setImmediate(resolve)),
  microtask: () => Promise.resolve(),
};

// The package ships the manager as an abstract base that users subclass.
class Manager extends AbstractTaskManager {}

class SlotPassport extends TaskPassport {
  constructor(slot) {
    super();
    this.slot = slot;
  }
}

const now = () => process.hrtime.bigint();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const settle = () => new Promise((resolve) => setImmediate(resolve));

function threeStepFlow(manager, steps, yieldOnce) {
  const list = [];
  for (let i = 0; i < steps; i += 1) {
    list.push(
      new Step(
        `step${i}`,
        async (_task, input) => {
          await yieldOnce();
          return (input ?? 0) + 1;
        },
        async () => {},
      ),
    );
  }
  return manager.createFlow(list);
}

// `inFlight` workers share one counter, so exactly that many tasks are running
// until the last ones drain: the same shape as the Rust driver's window.
async function runTasks(flow, steps, count, inFlight) {
  let next = 0;
  let wrong = 0;
  const worker = async () => {
    while (next < count) {
      next += 1;
      const result = await flow(new TaskPassport());
      if (result.status !== "SUCCESS" || result.result !== steps) wrong += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
  if (wrong > 0) throw new Error(`${wrong} tasks did not return ${steps}`);
}

async function throughput(yieldName, steps, inFlight, tasks) {
  const walls = [];
  const cpus = [];
  for (let rep = 0; rep < REPS; rep += 1) {
    const manager = new Manager();
    const flow = threeStepFlow(manager, steps, yields[yieldName]);
    // Warm the JIT up before timing.
    await runTasks(flow, steps, Math.min(tasks, 20_000), inFlight);
    globalThis.gc?.();
    const cpu0 = process.cpuUsage();
    const t0 = now();
    await runTasks(flow, steps, tasks, inFlight);
    const wall = Number(now() - t0);
    const cpu = process.cpuUsage(cpu0);
    walls.push(wall / tasks);
    cpus.push(((cpu.user + cpu.system) * 1000) / tasks);
    if (manager.runningTasks.size !== 0) throw new Error("running-task map not empty");
  }
  return {
    yield: yieldName,
    steps,
    in_flight: inFlight,
    tasks,
    reps: REPS,
    wall_ns_per_task: median(walls),
    cpu_ns_per_task: median(cpus),
  };
}

// Parks `count` tasks in a step that never resolves; its cancel logic stamps the
// time at its first line, like the Rust probes.
async function parkTasks(count) {
  const manager = new Manager();
  const stamps = new BigInt64Array(count);
  const park = new Step(
    "park",
    () => new Promise(() => {}),
    async (task) => {
      stamps[task.passport.slot] = now();
    },
  );
  const flow = manager.createFlow([park]);
  const passports = [];
  const results = [];
  for (let slot = 0; slot < count; slot += 1) {
    const passport = new SlotPassport(slot);
    passports.push(passport);
    results.push(flow(passport));
  }
  await settle();
  return { manager, stamps, passports, results };
}

async function cancellation(count) {
  const one = await parkTasks(count);
  const latencies = [];
  for (const passport of one.passports) {
    const t0 = now();
    const cleanedUp = one.manager.cancel(passport.taskId, "bench");
    latencies.push(Number(one.stamps[passport.slot] - t0));
    await cleanedUp;
  }
  await Promise.all(one.results);
  latencies.sort((a, b) => a - b);
  const pick = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];

  const all = await parkTasks(count);
  const t0 = now();
  await Promise.all(all.passports.map((p) => all.manager.cancel(p.taskId, "bench")));
  const cancelAll = Number(now() - t0);
  await Promise.all(all.results);
  return {
    tasks: count,
    canceller: "same event loop (cancel logic starts synchronously inside cancel())",
    p50_ns: pick(0.5),
    p99_ns: pick(0.99),
    max_ns: latencies[latencies.length - 1],
    cancel_all_ns: cancelAll,
  };
}

async function memory(count) {
  globalThis.gc?.();
  const before = process.memoryUsage();
  const parked = await parkTasks(count);
  globalThis.gc?.();
  const after = process.memoryUsage();
  const perTask = (key) => (after[key] - before[key]) / count;
  const figures = {
    tasks: count,
    rss_bytes_per_task: perTask("rss"),
    heap_bytes_per_task: perTask("heapUsed"),
  };
  // Keep the parked tasks reachable until after the snapshot.
  if (parked.manager.runningTasks.size !== count) throw new Error("tasks were not parked");
  return figures;
}

const runs = [];
runs.push(await throughput("setImmediate", 3, 1000, TASKS));
runs.push(await throughput("microtask", 3, 1000, TASKS));
if (SCALING) {
  for (const inFlight of [1, 10, 100_000]) {
    runs.push(await throughput("setImmediate", 3, inFlight, SCALING_TASKS));
  }
  for (const steps of [1, 10]) {
    runs.push(await throughput("setImmediate", steps, 1000, SCALING_TASKS));
  }
}

console.log(
  JSON.stringify({
    original: "@sisense/task-manager@0.1.1",
    node: process.version,
    smoke,
    yield_equivalent: "setImmediate",
    throughput: runs,
    cancel: await cancellation(CANCEL_TASKS),
    memory: await memory(MEMORY_TASKS),
  }),
);
