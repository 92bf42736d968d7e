// Kept for test/admin/*, which another change is editing: they should import from requests.ts and assertions.ts.
export { ISSUER } from "./assertions.ts";
export { exchange } from "./requests.ts";
