/**
 * Server on one core, load generator on the other, as the reference figures were measured: without it
 * autocannon and workerd fight over both cores and every ratio moves with the scheduler. Uses Linux `taskset`
 * (util-linux); where it is missing or there is one core, the bench says so in its results instead.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

export const SERVER_CPU = 0;
/** USER_HZ: /proc reports CPU time in these ticks; 100 on every Linux this runs on (getconf CLK_TCK). */
const CLOCK_TICKS_PER_SECOND = 100;
export const LOAD_CPU = 1;

export type Pinning = { pinned: true; serverCpu: number; loadCpu: number } | { pinned: false; reason: string };

/** Pins this process (autocannon and the Node side of Miniflare) to the load core. */
export function pinLoadGenerator(): Pinning {
  if (availableParallelism() < 2) return { pinned: false, reason: `only ${availableParallelism()} CPU available` };
  try {
    taskset(process.pid, LOAD_CPU);
  } catch (error) {
    return { pinned: false, reason: `taskset failed: ${error instanceof Error ? error.message : String(error)}` };
  }
  return { pinned: true, serverCpu: SERVER_CPU, loadCpu: LOAD_CPU };
}

/** The workerd processes this process started: Miniflare spawns each as a direct child. */
export function workerdPids(): number[] {
  return childPids(process.pid).filter((pid) => processName(pid) === "workerd");
}

/** Pins a workerd process, all its threads, to the server core. */
export function pinServer(pid: number, pinning: Pinning): void {
  if (pinning.pinned) taskset(pid, pinning.serverCpu);
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuTimes(pid);
  return user + system;
}

/** User and system (kernel: syscalls such as storage writes and fsync) CPU seconds, all threads, so far. */
export function cpuTimes(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: Number(fields[11]) / CLOCK_TICKS_PER_SECOND, system: Number(fields[12]) / CLOCK_TICKS_PER_SECOND };
}

/** This process's own CPU seconds (autocannon, body generation, the Node side of Miniflare). */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/**
 * CPU milliseconds a process's live threads have run, from each thread's schedstat (nanoseconds, unlike /proc/<pid>/stat's
 * 10 ms ticks): fine enough for one fresh workerd's start and first request, and unlike wall time, not stretched
 * when others keep the core busy.
 */
export function threadCpuMs(pid: number): number {
  let nanoseconds = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      nanoseconds += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return nanoseconds / 1e6;
}

/**
 * Busy CPU seconds of the whole machine so far, all cores (/proc/stat: user, nice, system, irq, softirq, steal).
 * Over a run, this minus what the measured server and this process used is what everyone else on a shared
 * machine took: a row measured while others were busy shows it, and can be rerun.
 */
export function machineBusySeconds(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS_PER_SECOND;
}

function taskset(pid: number, cpu: number): void {
  // -a: every thread of the process, not only its main thread.
  execFileSync("taskset", ["-a", "-p", "-c", String(cpu), String(pid)], { stdio: "ignore" });
}

function childPids(pid: number): number[] {
  const pids: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const children = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
    if (children) pids.push(...children.split(/\s+/).map(Number));
  }
  return pids;
}

function processName(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return undefined;
  }
}
