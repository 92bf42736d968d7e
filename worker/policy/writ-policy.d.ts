declare module "writ-policy" {
  const policy: unknown;
  export default policy;
}
