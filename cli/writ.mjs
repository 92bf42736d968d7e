#!/usr/bin/env node
// The `writ` bin: plain JavaScript, so that any Node reaches the version check (scripts/node-version.mjs prints one
// line naming 22.18 and exits) instead of failing on the TypeScript of cli/writ.ts.
import "../scripts/node-version.mjs";

await import("./writ.ts");
