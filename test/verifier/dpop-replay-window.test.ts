// The edges of a DPoP proof's window, from a replayer's side: a proof captured with its token and sent again while the
// verifier would still accept it must be refused by every replay store, up to the last millisecond of its last second.
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { DPOP_PROOF_MAX_AGE_SECONDS } from "../../schemas/dpop.ts";
import {
  DpopReplayDurableObject,
  durableObjectDpopReplayStore,
  type ReplayNamespace,
  type ReplayStorage,
} from "../../verifier/dpop-replay-durable-object.ts";
import {
  createVerifier,
  type DpopReplayStore,
  memoryDpopReplayStore,
  WritVerifyError,
  type WritVerifyErrorCode,
} from "../../verifier/index.ts";
import { MAX_CLOCK_TOLERANCE_SECONDS } from "../../verifier/options.ts";
import { jwksOf, signToken, type TestKey, testKey } from "../support/access-tokens.ts";
import { ISSUER } from "../support/assertions.ts";
import { CRM_API, CUSTOMERS_READ } from "../support/demo-policy.ts";
import { type DpopKey, dpopKey, dpopProof } from "../support/dpop-proofs.ts";
import { rejectionOf } from "../support/rejection.ts";

const URL_ = `${CRM_API}/customers`;
/** A whole second plus 200 ms, so that the proof's `iat` (whole seconds) is earlier than the moment it is made. */
const START_MS = 1_800_000_000_200;

let issuerKey: TestKey;
let agentKey: DpopKey;

beforeAll(async () => {
  issuerKey = await testKey("writ-1");
  agentKey = await dpopKey();
});

afterEach(() => {
  vi.useRealTimers();
});

/**
 * `DurableObjectStorage`'s key-value calls over a sorted map: `runInDurableObject` needs the class bound in the
 * project's wrangler.toml, which is the broker's. Keys are ASCII, so string order is the storage's byte order.
 */
function memoryStorage(): ReplayStorage & { entries: Map<string, unknown>; alarmAt: () => number | null } {
  const entries = new Map<string, unknown>();
  let alarm: number | null = null;
  return {
    entries,
    alarmAt: () => alarm,
    async get<T>(key: string) {
      return entries.get(key) as T | undefined;
    },
    async put(values) {
      for (const [key, value] of Object.entries(values)) entries.set(key, value);
    },
    async delete(keys) {
      return keys.filter((key) => entries.delete(key)).length;
    },
    async list<T>({ prefix, end, limit }: { prefix: string; end: string; limit: number }) {
      const keys = [...entries.keys()].filter((key) => key.startsWith(prefix) && key < end).sort();
      return new Map(keys.slice(0, limit).map((key) => [key, entries.get(key) as T]));
    },
    async getAlarm() {
      return alarm;
    },
    async setAlarm(at) {
      alarm = at;
    },
  };
}

/** A namespace of `DpopReplayDurableObject`s in this isolate, reached through their own `fetch` as a stub would. */
function durableObjects() {
  const objects = new Map<string, { object: DpopReplayDurableObject; storage: ReturnType<typeof memoryStorage> }>();
  const objectFor = (name: string) => {
    let found = objects.get(name);
    if (found === undefined) {
      const storage = memoryStorage();
      found = { object: new DpopReplayDurableObject({ storage }), storage };
      objects.set(name, found);
    }
    return found;
  };
  const namespace: ReplayNamespace = {
    idFromName: (name) => name,
    get: (id: never) => ({ fetch: (input, init) => objectFor(id as string).object.fetch(new Request(input, init)) }),
  };
  /** Every stored entry of every object, to show that a refusal wrote nothing. */
  const snapshot = () => [...objects.values()].flatMap(({ storage }) => [...storage.entries].sort());
  return { store: durableObjectDpopReplayStore(namespace), objectFor, snapshot };
}

const stores: [string, () => { store: DpopReplayStore; snapshot?: () => unknown }][] = [
  ["the in-memory store", () => ({ store: memoryDpopReplayStore() })],
  ["the Durable Object store", () => durableObjects()],
];

function dpopRequest(token: string, proof: string): Request {
  return new Request(URL_, { headers: { Authorization: `DPoP ${token}`, DPoP: proof } });
}

async function refusedWith(promise: Promise<unknown>, code: WritVerifyErrorCode): Promise<void> {
  expect((await rejectionOf(promise, WritVerifyError)).code).toBe(code);
}

describe.each(stores)("replaying a proof at the end of its window: %s", (_name, makeStore) => {
  it.each([
    ["the default 30 s tolerance, iat now", 30, 0],
    ["the largest tolerance (300 s), iat 300 s ahead", MAX_CLOCK_TOLERANCE_SECONDS, MAX_CLOCK_TOLERANCE_SECONDS],
  ])("refuses the replay in the last second the proof is fresh (%s), and it is stale right after", async (_label, tolerance, ahead) => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(START_MS);
    const { store, snapshot } = makeStore();
    const verifier = createVerifier({
      issuer: ISSUER,
      audience: CRM_API,
      jwks: jwksOf(issuerKey),
      clockToleranceSeconds: tolerance,
      dpop: { replayStore: store },
    });
    const token = await signToken(issuerKey, { claims: { cnf: { jkt: agentKey.jkt }, exp: Math.floor(START_MS / 1000) + 3600 } });
    const iat = Math.floor(START_MS / 1000) + ahead;
    const proof = await dpopProof(agentKey, { htm: "GET", htu: URL_, accessToken: token, claims: { iat } });
    await expect(verifier.verifyRequest(dpopRequest(token, proof), { scope: CUSTOMERS_READ })).resolves.toMatchObject({
      agent: "support-bot",
    });
    const recorded = snapshot?.();

    // The proof's last fresh second: iat + max age + tolerance, and half of it gone.
    const lastSecond = iat + DPOP_PROOF_MAX_AGE_SECONDS + tolerance;
    vi.setSystemTime(lastSecond * 1000 + 500);
    await refusedWith(verifier.verifyRequest(dpopRequest(token, proof), { scope: CUSTOMERS_READ }), "ERR_WRIT_DPOP_PROOF_REPLAYED");
    vi.setSystemTime(lastSecond * 1000 + 999);
    await refusedWith(verifier.verifyRequest(dpopRequest(token, proof), { scope: CUSTOMERS_READ }), "ERR_WRIT_DPOP_PROOF_REPLAYED");
    if (snapshot) expect(snapshot()).toEqual(recorded);

    // One millisecond later the proof itself is stale: refused before the store is asked.
    vi.setSystemTime((lastSecond + 1) * 1000);
    await refusedWith(verifier.verifyRequest(dpopRequest(token, proof), { scope: CUSTOMERS_READ }), "ERR_WRIT_DPOP_PROOF_INVALID");
    if (snapshot) expect(snapshot()).toEqual(recorded);
  });
});

describe("DpopReplayDurableObject retention", () => {
  it("keeps a key for as long as the largest clock tolerance can keep a proof fresh", () => {
    // iat up to `tolerance` ahead, fresh until the end of the second iat + max age + tolerance.
    expect(DpopReplayDurableObject.maxRetentionMs).toBeGreaterThanOrEqual(
      (2 * MAX_CLOCK_TOLERANCE_SECONDS + DPOP_PROOF_MAX_AGE_SECONDS + 1) * 1000,
    );
  });

  it("keeps a key until the exact instant it was asked for, and forgets it then", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(START_MS);
    const { store, objectFor } = durableObjects();
    const until = START_MS + 661_000;
    expect(await store.useOnce("jkt-a:p-1", until)).toBe(true);
    expect(objectFor("jkt-a").storage.entries.get("k:jkt-a:p-1")).toBe(until);
    vi.setSystemTime(until - 1);
    expect(await store.useOnce("jkt-a:p-1", until)).toBe(false);
    vi.setSystemTime(until);
    expect(await store.useOnce("jkt-a:p-1", until + 1000)).toBe(true);
  });

  it("refuses to record a key for longer than it keeps any (the verifier then answers 503), instead of shortening it", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(START_MS);
    const { store, objectFor, snapshot } = durableObjects();
    await expect(store.useOnce("jkt-b:p-1", START_MS + DpopReplayDurableObject.maxRetentionMs + 1)).rejects.toThrow(/answered 400/);
    expect(snapshot()).toEqual([]);
    expect(objectFor("jkt-b").storage.alarmAt()).toBeNull();
    expect(await store.useOnce("jkt-b:p-1", START_MS + DpopReplayDurableObject.maxRetentionMs)).toBe(true);
  });
});

describe("memoryDpopReplayStore: entries do not expire in insertion order", () => {
  it("makes room from an expired entry that sits behind a later-expiring one, instead of answering full", async () => {
    let now = 0;
    const store = memoryDpopReplayStore({ capacity: 2, now: () => now });
    // A client may date its proof up to the tolerance ahead: the first entry outlives the second.
    expect(await store.useOnce("ahead", 200)).toBe(true);
    expect(await store.useOnce("now", 100)).toBe(true);
    now = 150;
    expect(await store.useOnce("new", 250)).toBe(true);
    expect(await store.useOnce("ahead", 300)).toBe(false);
    expect(await store.useOnce("new", 300)).toBe(false);
  });
});
