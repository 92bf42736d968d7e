/**
 * npm run bench: Writ's token endpoint against the peer and against floors, all measured in the same run (issues #6,
 * #15). Builds the broker from the production code with a generated bench policy (100+ agents; a use case without a
 * budget, one with, and one behind an approval: the demo policy's real budgets would refuse a load run within
 * seconds) and a bench-only floor worker, runs both in the workerd that wrangler depends on (through Miniflare, each
 * on its own workerd socket), and runs the peer — node-oidc-provider doing the same work: client_credentials with a
 * fresh ES256 private_key_jwt assertion, an ES256 JWT access token (bench/peer-server.ts) — as a Node process
 * pinned to the same core. Drives all of them with autocannon at concurrency 1, 16 and 64 with a fresh client
 * assertion per request, interleaved round by round, and prints Writ ÷ peer for req/s, p90 and CPU per request,
 * with the CPU other processes used during each row; token exchange with a fresh DPoP proof per request also against
 * the same path without one. Then: CIBA collection, the verifier library against raw jose (with Bearer tokens, and
 * with DPoP-bound tokens and fresh proofs),
 * one agent against 100 (Writ and the peer), the heap of a second, inspected broker under the same load, the
 * production bundle's size and a cold start (a fresh workerd: start, then first token) against the floor worker's.
 * Prints one table and writes bench/results/latest.json. Loopback only, bounded (about 6 minutes).
 *
 *   npm run bench                       # the full run
 *   npm run bench -- --profile          # also CPU profiles of the broker (bench/results/*.cpuprofile)
 *   npm run bench -- --quick            # c16 only, one round, short runs: a smoke test, not for figures
 */
import { execFile, execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs, promisify } from "node:util";
import { gzipSync } from "node:zlib";
import type { JSONWebKeySet } from "jose";
import { type BenchAgent, BUDGETED_USE_CASE, type Grant, generateAgents, tokenRequestBodies, USE_CASE } from "../bench/agents.ts";
import { writeBenchPolicy } from "../bench/bench-policy.ts";
import { type ApprovedRequest, approvedRequests, collectBody } from "../bench/ciba.ts";
import { type Pinning, pinLoadGenerator, pinServer, threadCpuMs, workerdPids } from "../bench/cpu.ts";
import { type BenchDpopKey, dpopProofs, generateDpopKey } from "../bench/dpop.ts";
import { writeFloorConfig } from "../bench/floor-config.ts";
import { connectInspector, topFunctions, type WorkerInspector } from "../bench/inspector.ts";
import { runLoad } from "../bench/load.ts";
import { addBaseRatios, addFloorRatios, addPeerRatios, createMeasurer, MAX_BODIES, type Server, type Spec } from "../bench/measure.ts";
import { startPeer } from "../bench/peer.ts";
import {
  type BenchResults,
  type BundleResult,
  type ColdStartResult,
  computeTargets,
  FLOOR,
  formatReport,
  type Measured,
  type MemoryResult,
  PEER,
  ratio,
  type Skipped,
} from "../bench/results.ts";
import { benchDpopVerifier, benchVerifier, median } from "../bench/verifier-bench.ts";
import { type LocalWorker, startBroker, startLocalWorker } from "./local-broker.ts";
import { PROJECT_ROOT } from "./policy-path.ts";

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
  },
});

const RUN_SECONDS = flags.quick ? 2 : 3;
const WARMUP_SECONDS = 1;
/** Before anything is measured, so the first scenarios (c1) do not pay for V8 compiling Writ's code. */
const JIT_WARMUP_SECONDS = flags.quick ? 1 : 1.5;
const CONCURRENCIES = flags.quick ? [16] : [1, 16, 64];
const TARGET_CONCURRENCY = 16;
/** Rounds at the target concurrency, interleaved floor / Writ, so a slow moment of a shared machine hits both. */
const TARGET_ROUNDS = flags.quick ? 1 : 3;
const MANY_AGENTS = 100;
const MANY_AGENTS_CONCURRENCIES = flags.quick ? [16] : [16, 64];
const MANY_AGENTS_WARMUP_SECONDS = 2;
/** Fresh workerd starts per worker for the cold-start figure (medians). */
const COLD_STARTS = flags.quick ? 1 : 3;
const FLOOR_SPREAD = "floor.verify-sign-write-spread";
const CIBA_ID = "writ.ciba-collect";
const CIBA_LABEL = "Writ: collect an approved CIBA request";
/** Requests approved before the CIBA run (each takes four requests and an email to prepare). */
const CIBA_REQUESTS = flags.quick ? { warmup: 50, run: 300 } : { warmup: 100, run: 600 };
/** Past this, the verifier and many-agents phases (≈ 70 s together) are skipped, so a run stays bounded. */
const TIME_BUDGET_SECONDS = 330;
const HEAP_SAMPLE_MS = 250;
const RESULTS_DIR = resolve(PROJECT_ROOT, "bench/results");
const CRM_AUDIENCE = "https://crm.example.com";
const TOKEN_EXCHANGE_ID = "writ.token-exchange";
/** Tokens the verifier phases ask the broker for (cycled through by each round's verifications). */
const VERIFIER_TOKENS = 32;

const startedAt = performance.now();
const elapsedSeconds = () => (performance.now() - startedAt) / 1000;
const pinning = pinLoadGenerator();
const servers: Server[] = [];
const workers: LocalWorker[] = [];
/** The LocalWorker behind each workerd Server, for restarts (cold start). */
const localWorkers = new Map<Server, LocalWorker>();
const cleanups: (() => Promise<void>)[] = [];
const runs: Measured[] = [];
const { measureGroup, warmUp, rateBound, heap } = createMeasurer({
  runSeconds: RUN_SECONDS,
  warmupSeconds: WARMUP_SECONDS,
  heapSampleMs: HEAP_SAMPLE_MS,
});

try {
  const results = await bench();
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(resolve(RESULTS_DIR, "latest.json"), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\n${formatReport(results)}\n\nwritten to bench/results/latest.json`);
  const invalid = [...results.runs, ...("runs" in results.manyAgents ? results.manyAgents.runs : [])].filter(
    (r) => r.non2xx > 0 || r.errors > 0 || r.exhausted,
  );
  if (invalid.length > 0) {
    console.error(`\n${invalid.length} run(s) had refusals, errors or too few bodies: their figures are not to be trusted.`);
    process.exitCode = 1;
  }
} finally {
  for (const server of servers) server.inspector?.close();
  await Promise.allSettled(workers.map((worker) => worker.dispose()));
  await Promise.allSettled(cleanups.map((cleanup) => cleanup()));
}

async function bench(): Promise<BenchResults> {
  const loadAverage = loadavg();
  // Agent 000 carries the one-agent paths; 001–100 the many-agents runs, so their ledgers start empty.
  const agents = generateAgents(MANY_AGENTS + 1);
  const agent = agents[0] as BenchAgent;
  // The bundle is built on the side while the servers start: nothing is measured yet.
  const bundle = bundlePhase();
  const policy = await writeBenchPolicy(agents);
  cleanups.push(policy.dispose);
  progress(`building and starting the floor worker and the broker (production code, bench policy of ${agents.length} agents)`);
  const floorConfig = await writeFloorConfig();
  cleanups.push(floorConfig.dispose);
  const floor = await startServer("floor", () =>
    startLocalWorker({
      configPath: floorConfig.configPath,
      directSocket: true,
      keepRequestLogs: false,
      bindings: (url) => ({
        FLOOR_AGENT_KEYS: JSON.stringify(Object.fromEntries(agents.map((a) => [a.kid, a.publicJwk]))),
        FLOOR_AUDIENCE: url,
      }),
    }),
  );
  // Throughput is measured with no inspector: an attached inspector slows a worker down by about a quarter, and
  // the floors run without one. Heap and CPU profiles come from a second, inspected broker afterwards.
  const broker = await startServer("broker", () =>
    startBroker({ alias: { "writ-policy": policy.policyPath }, directSocket: true, keepRequestLogs: false }),
  );
  progress("starting the peer (node-oidc-provider), pinned like the broker");
  const peerProcess = await startPeer(agents, CRM_AUDIENCE, USE_CASE);
  cleanups.push(peerProcess.dispose);
  pinServer(peerProcess.pid, pinning);
  const peer: Server = { name: "peer", url: peerProcess.url, pid: peerProcess.pid };

  const specs = [
    ...floorSpecs(floor, agent),
    peerSpec(peer, [agent], PEER.oneAgent),
    ...writSpecs(broker, agent, policy.budgetsMissing === undefined),
  ];
  progress(`warm-up: every scenario at c${TARGET_CONCURRENCY} for ${JIT_WARMUP_SECONDS} s, unmeasured`);
  await warmUp(specs, TARGET_CONCURRENCY, JIT_WARMUP_SECONDS);
  for (const concurrency of CONCURRENCIES) {
    const rounds = concurrency === TARGET_CONCURRENCY ? TARGET_ROUNDS : 1;
    progress(`c${concurrency}: ${specs.length} scenarios × ${rounds} round(s)`);
    runs.push(...(await measureGroup(specs, concurrency, rounds)));
  }
  const ciba = await cibaPhase(broker, agents.slice(1, 1 + TARGET_CONCURRENCY));
  if (typeof ciba !== "string") runs.push(ciba);
  addFloorRatios(runs);
  addPeerRatios(runs);
  addBaseRatios(runs);

  const skipped: Skipped[] = [
    ...(policy.budgetsMissing === undefined
      ? []
      : [{ id: "writ.budgeted", label: "Writ: token exchange, with a budget", reason: policy.budgetsMissing }]),
    ...(typeof ciba === "string" ? [{ id: CIBA_ID, label: CIBA_LABEL, reason: ciba }] : []),
  ];

  progress("verifier library vs raw jose.jwtVerify");
  const verifier = await verifierPhase(broker, agent);
  progress("verifier library with DPoP-bound tokens and fresh proofs vs Bearer tokens vs raw jose.jwtVerify");
  const dpopVerifier = await dpopVerifierPhase(broker, agent);

  const manyAgentsResult = await manyAgentsPhase(floor, peer, broker, agents.slice(1), policy.budgetsMissing === undefined);

  progress(`memory: the broker's heap under the same load, on a broker with workerd's inspector attached`);
  const inspected = await startServer(
    "inspected broker",
    () => startBroker({ alias: { "writ-policy": policy.policyPath }, directSocket: true, keepRequestLogs: false, inspector: true }),
    true,
  );
  const idleHeap = await inspected.inspector?.heapUsage();
  const memoryRuns = await measureGroup(writSpecs(inspected, agent, policy.budgetsMissing === undefined), TARGET_CONCURRENCY, 1);

  // Before any profile: what stays live after the load, not what profiling adds.
  const liveAfterLoad = await inspected.inspector?.liveHeapUsage().catch(() => undefined);

  const profiles: NonNullable<BenchResults["profiles"]> = [];
  if (flags.profile && inspected.inspector) {
    const budgets = policy.budgetsMissing === undefined;
    const spread = agents.slice(1);
    const cases: [string, string, readonly BenchAgent[]][] = budgets
      ? [
          ["no-budget", USE_CASE, [agent]],
          ["budgeted", BUDGETED_USE_CASE, [agent]],
          [`budgeted-${spread.length}-agents`, BUDGETED_USE_CASE, spread],
        ]
      : [
          ["no-budget", USE_CASE, [agent]],
          [`no-budget-${spread.length}-agents`, USE_CASE, spread],
        ];
    for (const [name, useCase, profiled] of cases) {
      progress(`CPU profile of the broker: token exchange (${name}), c${TARGET_CONCURRENCY}`);
      // A profile that fails (an isolate too busy to answer the inspector) is left out, not the whole run.
      const profile = await profilePhase(inspected, profiled, name, useCase).catch((error: unknown) => {
        progress(`  profile ${name} failed: ${error instanceof Error ? error.message : String(error)}`);
        return undefined;
      });
      if (profile) profiles.push(profile);
    }
  }

  const heapPeaks = memoryRuns.flatMap((r) => r.heapPeakBytes ?? []);
  const memory: MemoryResult =
    idleHeap === undefined || liveAfterLoad === undefined || heapPeaks.length === 0
      ? { skipped: "workerd's inspector was not reachable" }
      : {
          peakUsedBytes: Math.max(...heapPeaks),
          peakTotalBytes: heap.totalPeak,
          idleUsedBytes: idleHeap.usedSize,
          liveAfterLoadBytes: liveAfterLoad.usedSize,
          samples: heap.samples,
          byPath: memoryRuns.map((r) => ({ id: r.id, label: r.label, peakUsedBytes: r.heapPeakBytes ?? 0 })),
        };

  progress(`cold start: a fresh workerd for the broker and for the floor worker, ${COLD_STARTS} time(s) each`);
  const coldStart = await coldStartPhase(
    { server: broker, worker: localWorker(broker), path: "/token" },
    { server: floor, worker: localWorker(floor), path: "/verify-sign-write" },
    agent,
  );
  const bundleResult = await bundle;

  return {
    generatedAt: new Date().toISOString(),
    durationSeconds: elapsedSeconds(),
    settings: {
      runSeconds: RUN_SECONDS,
      warmupSeconds: WARMUP_SECONDS,
      concurrencies: CONCURRENCIES,
      targetConcurrency: TARGET_CONCURRENCY,
      targetRounds: TARGET_ROUNDS,
    },
    environment: {
      node: process.version,
      workerd: execFileSync(resolve(PROJECT_ROOT, "node_modules/.bin/workerd"), ["--version"], { encoding: "utf8" }).trim(),
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? "unknown",
      pinning: describePinning(pinning),
      loadAverage,
      transport: "Miniflare 5 (wrangler's), each worker on its own workerd socket; autocannon over loopback HTTP/1.1 keep-alive",
      peer: describePeer(),
    },
    runs,
    skipped,
    manyAgents: manyAgentsResult,
    verifier,
    dpopVerifier,
    memory,
    bundle: bundleResult,
    coldStart,
    ...(profiles.length > 0 ? { profiles } : {}),
    targets: computeTargets({
      runs,
      skipped,
      manyAgents: manyAgentsResult,
      verifier,
      dpopVerifier,
      memory,
      concurrency: TARGET_CONCURRENCY,
    }),
  };
}

function floorSpecs(floor: Server, agent: BenchAgent): Spec[] {
  const bodies = (count: number) => tokenRequestBodies("client-credentials", [agent], floor.url, count);
  // Same size as a token request, so /sign pays the same body costs; its assertion is never checked.
  const staticBody = tokenRequestBodies("client-credentials", [agent], floor.url, 1)[0];
  return [
    { id: FLOOR.hello, label: "floor: hello", server: floor, path: "/hello", method: "GET" },
    {
      id: FLOOR.sign,
      label: "floor: sign one JWT",
      server: floor,
      path: "/sign",
      method: "POST",
      ...(staticBody ? { body: staticBody } : {}),
    },
    {
      id: FLOOR.verifySign,
      label: "floor: verify assertion + sign",
      server: floor,
      path: "/verify-sign",
      method: "POST",
      bodies,
      boundedBy: FLOOR.sign,
    },
    {
      id: FLOOR.verifySignWrite,
      label: "floor: verify + sign + DO write",
      server: floor,
      path: "/verify-sign-write",
      method: "POST",
      bodies,
      boundedBy: FLOOR.verifySign,
    },
    {
      id: FLOOR.verifySignWrite2,
      label: "floor: verify + sign + 2 DO writes",
      server: floor,
      path: "/verify-sign-write2",
      method: "POST",
      bodies,
      boundedBy: FLOOR.verifySignWrite,
    },
  ];
}

/**
 * The peer issuing a token: client_credentials with a fresh assertion per request (its audience is the peer's
 * issuer), the same scope. Its pool is sized from the "hello" floor: Node's crypto can outrun workerd's "sign one
 * JWT" floor (it did at c1), and running out of bodies spoils a run.
 */
function peerSpec(peer: Server, agents: readonly BenchAgent[], id: string): Spec {
  return {
    id,
    label: `peer: node-oidc-provider client_credentials${agents.length > 1 ? `, ${agents.length} clients` : ""}`,
    server: peer,
    path: "/token",
    method: "POST",
    bodies: (count) => tokenRequestBodies("client-credentials", agents, peer.url, count),
    boundedBy: FLOOR.hello,
  };
}

/**
 * Writ's paths that exist today. A new path is one more entry here and one less in `skipped`. Token exchange with
 * DPoP runs right after the same path without it, so each round pairs the two moments apart.
 */
function writSpecs(broker: Server, agent: BenchAgent, budgets: boolean): Spec[] {
  const token = (id: string, label: string, grant: Grant, useCase: string): Spec => ({
    id,
    label,
    server: broker,
    path: "/token",
    method: "POST",
    bodies: (count) => tokenRequestBodies(grant, [agent], broker.url, count, useCase),
    boundedBy: FLOOR.verifySign,
    floor: FLOOR.verifySignWrite,
    peer: PEER.oneAgent,
  });
  const tokenEndpoint = `${broker.url}/token`;
  const dpopKey = generateDpopKey();
  const withDpop: Spec = {
    ...token("writ.dpop", "Writ: token exchange with DPoP, no budget", "token-exchange", USE_CASE),
    // The same one-time bodies, each with a fresh proof (its own jti, iat now) for POST /token.
    bodies: (count) => {
      const proofs = dpopProofs(dpopKey, { method: "POST", url: tokenEndpoint }, count);
      return tokenRequestBodies("token-exchange", [agent], broker.url, count, USE_CASE).map((body, i) => ({
        body,
        headers: { DPoP: proofs[i] as string },
      }));
    },
    // Strictly more work than token exchange without a proof, measured just before in each round.
    boundedBy: TOKEN_EXCHANGE_ID,
    base: TOKEN_EXCHANGE_ID,
  };
  return [
    token(TOKEN_EXCHANGE_ID, "Writ: token exchange, no budget", "token-exchange", USE_CASE),
    withDpop,
    token("writ.client-credentials", "Writ: client_credentials, no budget", "client-credentials", USE_CASE),
    ...(budgets ? [token("writ.budgeted", "Writ: token exchange, with a budget", "token-exchange", BUDGETED_USE_CASE)] : []),
  ];
}

/**
 * The agent's poll that collects an approved CIBA request (two Durable Objects: the request's, then the agent's
 * ledger), count-bounded because every request must first be approved through the approver flow. One round at
 * the target concurrency; compared with the "verify + sign + 2 DO writes" floor. A string says why not.
 */
async function cibaPhase(broker: Server, agents: readonly BenchAgent[]): Promise<Measured | string> {
  const { warmup, run } = CIBA_REQUESTS;
  progress(
    `CIBA: ${warmup + run} requests approved through the approver flow (dev outbox, link, page), then collected at c${TARGET_CONCURRENCY}`,
  );
  let pool: ApprovedRequest[];
  try {
    pool = await approvedRequests(broker.url, agents, warmup + run);
  } catch (error) {
    return `approving requests failed: ${error instanceof Error ? error.message : String(error)}`;
  }
  let next = 0;
  const spec: Spec = {
    id: CIBA_ID,
    label: CIBA_LABEL,
    server: broker,
    path: "/token",
    method: "POST",
    bodies: (count) => {
      const now = Math.floor(Date.now() / 1000);
      const taken = pool.slice(next, next + count);
      next += taken.length;
      return taken.map((request) => collectBody(request, broker.url, now));
    },
    perRun: CIBA_REQUESTS,
    floor: FLOOR.verifySignWrite2,
  };
  const [measured] = await measureGroup([spec], TARGET_CONCURRENCY, 1);
  return measured ?? "no run";
}

/** Tokens the broker under test really issued, checked against the JWKS it really publishes. */
async function verifierPhase(broker: Server, agent: BenchAgent): Promise<BenchResults["verifier"]> {
  if (elapsedSeconds() > TIME_BUDGET_SECONDS) return { skipped: "time budget spent" };
  const tokens = await issueTokens(broker, agent);
  if (typeof tokens === "string") return { skipped: tokens };
  const jwks = (await (await fetch(`${broker.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
  return benchVerifier({ tokens, jwks, issuer: broker.url, audience: CRM_AUDIENCE, scope: USE_CASE });
}

/** Bearer tokens and tokens bound to one DPoP key, both issued by the broker under test, for the verifier with DPoP. */
async function dpopVerifierPhase(broker: Server, agent: BenchAgent): Promise<BenchResults["dpopVerifier"]> {
  if (elapsedSeconds() > TIME_BUDGET_SECONDS) return { skipped: "time budget spent" };
  const key = generateDpopKey();
  const bearerTokens = await issueTokens(broker, agent);
  if (typeof bearerTokens === "string") return { skipped: bearerTokens };
  const boundTokens = await issueTokens(broker, agent, key);
  if (typeof boundTokens === "string") return { skipped: boundTokens };
  const jwks = (await (await fetch(`${broker.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
  return benchDpopVerifier({
    boundTokens,
    bearerTokens,
    key,
    jwks,
    issuer: broker.url,
    audience: CRM_AUDIENCE,
    scope: USE_CASE,
    resourceUrl: `${CRM_AUDIENCE}/customers`,
  });
}

/** `VERIFIER_TOKENS` token exchanges, bound to `dpopKey` when given; a string says why not. */
async function issueTokens(broker: Server, agent: BenchAgent, dpopKey?: BenchDpopKey): Promise<string[] | string> {
  const tokenEndpoint = `${broker.url}/token`;
  const proofs = dpopKey ? dpopProofs(dpopKey, { method: "POST", url: tokenEndpoint }, VERIFIER_TOKENS) : [];
  const tokens: string[] = [];
  for (const [i, body] of tokenRequestBodies("token-exchange", [agent], broker.url, VERIFIER_TOKENS).entries()) {
    const proof = proofs[i];
    const response = await fetch(tokenEndpoint, {
      method: "POST",
      body,
      headers: { "content-type": "application/x-www-form-urlencoded", ...(proof === undefined ? {} : { DPoP: proof }) },
    });
    if (!response.ok) return `the broker refused a token request (${response.status})`;
    const answer = (await response.json()) as { access_token: string; token_type: string };
    if (dpopKey && answer.token_type !== "DPoP")
      return `the broker answered token_type ${answer.token_type} to a request with a DPoP proof`;
    tokens.push(answer.access_token);
  }
  return tokens;
}

/** A V8 CPU profile of the broker's isolate under token exchange load, written for Chrome DevTools or speedscope. */
async function profilePhase(
  broker: Server,
  agents: readonly BenchAgent[],
  name: string,
  useCase: string,
): Promise<{ path: string; file: string; top: { name: string; selfPercent: number }[] }> {
  const inspector = broker.inspector as WorkerInspector;
  const count = Math.min(MAX_BODIES, Math.ceil(rateBound(FLOOR.verifySign, TARGET_CONCURRENCY) * RUN_SECONDS * 1.5));
  const bodies = tokenRequestBodies("token-exchange", agents, broker.url, count, useCase);
  // Every agent's ledger created and warm first: the profile is of steady load, not of objects starting.
  if (agents.length > 1)
    await runLoad({
      url: `${broker.url}/token`,
      method: "POST",
      connections: TARGET_CONCURRENCY,
      durationSeconds: MANY_AGENTS_WARMUP_SECONDS,
      bodies: tokenRequestBodies("token-exchange", agents, broker.url, count, useCase),
    });
  await inspector.startProfile();
  await runLoad({
    url: `${broker.url}/token`,
    method: "POST",
    connections: TARGET_CONCURRENCY,
    durationSeconds: RUN_SECONDS,
    bodies,
  });
  const cpuProfile = await inspector.stopProfile();
  const file = `bench/results/broker-token-exchange-${name}.cpuprofile`;
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(resolve(PROJECT_ROOT, file), JSON.stringify(cpuProfile));
  return { path: `token exchange, ${name}`, file, top: topFunctions(cpuProfile, 12) };
}

/**
 * One agent's ledger object against load spread over 100 agents' objects (the budgeted path where budgets exist),
 * beside the floor's Durable Object write spread the same way, so that what the platform does when objects spread
 * is told apart from what Writ does, and beside the peer with as many clients (its goal: Writ ≥ 1.0× the peer).
 */
async function manyAgentsPhase(
  floor: Server,
  peer: Server,
  broker: Server,
  agents: readonly BenchAgent[],
  budgets: boolean,
): Promise<BenchResults["manyAgents"]> {
  if (elapsedSeconds() > TIME_BUDGET_SECONDS) return { skipped: "time budget spent" };
  const useCase = budgets ? BUDGETED_USE_CASE : USE_CASE;
  const path = budgets ? "token exchange, with a budget" : "token exchange, no budget";
  progress(`many agents: ${path}, 1 agent vs ${agents.length}`);
  const spec = (id: string, label: string, server: Server, route: string, spread: readonly BenchAgent[], floorId?: string): Spec => ({
    id,
    label,
    server,
    path: route,
    method: "POST",
    bodies: (count) => tokenRequestBodies("token-exchange", spread, server.url, count, useCase),
    boundedBy: FLOOR.verifySign,
    ...(floorId ? { floor: floorId } : {}),
  });
  const specs = [
    spec(FLOOR_SPREAD, `floor: verify + sign + DO write, ${agents.length} objects`, floor, "/verify-sign-write", agents),
    peerSpec(peer, agents, PEER.agents),
    spec("many.1-agent", `Writ: ${path}, 1 agent`, broker, "/token", agents.slice(0, 1), FLOOR.verifySignWrite),
    { ...spec("many.agents", `Writ: ${path}, ${agents.length} agents`, broker, "/token", agents, FLOOR_SPREAD), peer: PEER.agents },
  ];
  const measured: Measured[] = [];
  // A longer warm-up: every agent's object must exist (created, migrated) before the timed run.
  for (const concurrency of MANY_AGENTS_CONCURRENCIES)
    measured.push(...(await measureGroup(specs, concurrency, 1, MANY_AGENTS_WARMUP_SECONDS)));
  addFloorRatios([...runs, ...measured]);
  addPeerRatios(measured);
  const rpsOf = (id: string, concurrency: number) => [...runs, ...measured].find((r) => r.id === id && r.concurrency === concurrency)?.rps;
  const scaling = MANY_AGENTS_CONCURRENCIES.map((concurrency) => ({
    concurrency,
    writ: ratio(rpsOf("many.agents", concurrency), rpsOf("many.1-agent", concurrency)) ?? Number.NaN,
    floor: ratio(rpsOf(FLOOR_SPREAD, concurrency), rpsOf(FLOOR.verifySignWrite, concurrency)) ?? Number.NaN,
  }));
  return { agents: agents.length, runs: measured, scaling };
}

async function startServer(name: string, start: () => Promise<LocalWorker>, inspect = false): Promise<Server> {
  const before = new Set(workerdPids());
  const worker = await start();
  workers.push(worker);
  const pid = newWorkerdPid(before, name);
  pinServer(pid, pinning);
  const server: Server = { name, url: worker.url, pid };
  servers.push(server);
  localWorkers.set(server, worker);
  if (inspect && worker.inspectorUrl) server.inspector = await connectInspector(worker.inspectorUrl);
  return server;
}

function localWorker(server: Server): LocalWorker {
  const worker = localWorkers.get(server);
  if (!worker) throw new Error(`${server.name} is not a local worker`);
  return worker;
}

function newWorkerdPid(before: ReadonlySet<number>, name: string): number {
  const pid = workerdPids().find((p) => !before.has(p));
  if (pid === undefined) throw new Error(`cannot find the workerd process of the ${name}`);
  return pid;
}

/**
 * What `npm run build` ships (wrangler deploy --dry-run with the project's wrangler.toml), with esbuild's metafile:
 * total and gzipped size of the uploaded modules, and which packages weigh what in the main module.
 */
async function bundlePhase(): Promise<BundleResult> {
  const dir = await mkdtemp(join(tmpdir(), "writ-bench-bundle-"));
  try {
    const wrangler = resolve(PROJECT_ROOT, "node_modules/.bin/wrangler");
    const metafile = join(dir, "meta.json");
    const outDir = join(dir, "dist");
    await promisify(execFile)(wrangler, ["deploy", "--dry-run", "--outdir", outDir, "--metafile", metafile], {
      cwd: PROJECT_ROOT,
      timeout: 120_000,
      // The build's policy check refuses the demo policy's published keys (a deploy guard); this build is only weighed.
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", WRIT_ALLOW_DEMO_KEYS: "1" },
    });
    let rawBytes = 0;
    let gzipBytes = 0;
    for (const file of await readdir(outDir)) {
      if (file === "README.md" || file.endsWith(".map")) continue;
      const content = await readFile(join(outDir, file));
      rawBytes += content.byteLength;
      gzipBytes += gzipSync(content).byteLength;
    }
    type Meta = { outputs: Record<string, { entryPoint?: string; inputs: Record<string, { bytesInOutput: number }> }> };
    const meta = JSON.parse(await readFile(metafile, "utf8")) as Meta;
    const main = Object.values(meta.outputs).find((output) => output.entryPoint !== undefined);
    const byName = new Map<string, { bytes: number; modules: number }>();
    for (const [input, { bytesInOutput }] of Object.entries(main?.inputs ?? {})) {
      const name = packageOf(input);
      const entry = byName.get(name) ?? { bytes: 0, modules: 0 };
      byName.set(name, { bytes: entry.bytes + bytesInOutput, modules: entry.modules + 1 });
    }
    const heaviest = [...byName.entries()].map(([name, e]) => ({ name, ...e })).sort((a, b) => b.bytes - a.bytes);
    return { rawBytes, gzipBytes, heaviest };
  } catch (error) {
    return { skipped: `the build failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `node_modules/@scope/name/…` → `@scope/name`; Writ's own files → their top folder (`worker/`, `core/`, …). */
function packageOf(input: string): string {
  const inPackage = input.split("node_modules/").at(-1) as string;
  if (inPackage !== input)
    return inPackage
      .split("/")
      .slice(0, inPackage.startsWith("@") ? 2 : 1)
      .join("/");
  return `${input.split("/")[0]}/`;
}

type ColdTarget = { server: Server; worker: LocalWorker; path: string };

/**
 * A fresh workerd, as a new isolate at the edge: restart (stop, then start: workerd loads and evaluates the
 * bundle) and the first token request after it, for the broker and the floor worker in turn. Runs last: it replaces
 * the processes the rows above measured (the new ones are pinned the same way).
 */
async function coldStartPhase(broker: ColdTarget, floor: ColdTarget, agent: BenchAgent): Promise<ColdStartResult> {
  type Sample = { startMs: number; firstRequestMs: number; cpuMs: number };
  const times = { broker: [] as Sample[], floor: [] as Sample[] };
  try {
    for (let i = 0; i < COLD_STARTS; i++) {
      for (const [which, target] of [
        ["broker", broker],
        ["floor", floor],
      ] as const) {
        const before = new Set(workerdPids());
        const started = performance.now();
        await target.worker.restart();
        const startMs = performance.now() - started;
        target.server.pid = newWorkerdPid(before, target.server.name);
        pinServer(target.server.pid, pinning);
        const [body] = tokenRequestBodies("client-credentials", [agent], target.server.url, 1);
        const sent = performance.now();
        const response = await fetch(`${target.server.url}${target.path}`, {
          method: "POST",
          body: body ?? "",
          headers: { "content-type": "application/x-www-form-urlencoded" },
        });
        await response.arrayBuffer();
        const firstRequestMs = performance.now() - sent;
        if (!response.ok) return { skipped: `the ${which}'s first request after a restart answered ${response.status}` };
        // All the fresh process has run: loading and evaluating the bundle, then the first token.
        times[which].push({ startMs, firstRequestMs, cpuMs: threadCpuMs(target.server.pid) });
      }
    }
  } catch (error) {
    return { skipped: `restart failed: ${error instanceof Error ? error.message : String(error)}` };
  }
  const medianOf = (list: Sample[]) => ({
    startMs: median(list.map((t) => t.startMs)),
    firstRequestMs: median(list.map((t) => t.firstRequestMs)),
    cpuMs: median(list.map((t) => t.cpuMs)),
  });
  const b = medianOf(times.broker);
  const f = medianOf(times.floor);
  return {
    samples: COLD_STARTS,
    broker: b,
    floor: f,
    ratio: {
      startMs: ratio(b.startMs, f.startMs) ?? Number.NaN,
      firstRequestMs: ratio(b.firstRequestMs, f.firstRequestMs) ?? Number.NaN,
      cpuMs: ratio(b.cpuMs, f.cpuMs) ?? Number.NaN,
    },
  };
}

function describePeer(): string {
  const { version } = JSON.parse(readFileSync(resolve(PROJECT_ROOT, "node_modules/oidc-provider/package.json"), "utf8")) as {
    version: string;
  };
  return (
    `node-oidc-provider ${version} on Node ${process.version} (one process, pinned like workerd): client_credentials + private_key_jwt ` +
    "(fresh ES256 assertion, jti replay checked in its in-memory LRU), ES256 JWT access token"
  );
}

function describePinning(p: Pinning): string {
  return p.pinned ? `workerd pinned to CPU ${p.serverCpu}, load generator to CPU ${p.loadCpu} (taskset)` : `not pinned: ${p.reason}`;
}

function progress(message: string): void {
  console.log(`[bench ${elapsedSeconds().toFixed(0).padStart(3)} s] ${message}`);
}
