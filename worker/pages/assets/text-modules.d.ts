/** The pages' assets are bundled as Text modules (wrangler.toml `[[rules]]`): importing one gives its contents. */
declare module "*.css" {
  const text: string;
  export default text;
}

/** Named, not `*.js`, which would also claim real code (and a pattern may hold only one `*`). */
declare module "*/pages/assets/approval.js" {
  const text: string;
  export default text;
}
