// Runs before every npm script (plain JavaScript, so that it runs on any Node): the scripts are TypeScript run by
// Node's type stripping and the test runner needs Node 22.18 or newer; an older Node gets one line saying so.
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(
    `Writ needs Node.js 22.18 or newer (this is ${process.version}): install it from https://nodejs.org or with \`npm install node@22\` in a folder of your own and put its node_modules/node/bin first on PATH.`,
  );
  process.exit(1);
}
