// Runs before `npm start` and `npm test`. Plain JavaScript on purpose: it must run, and say
// something useful, on the old Node.js a machine may have, where TypeScript files do not.
// Corebank needs Node.js 24 (type stripping, node:sqlite); `npm install` brings it in as the
// `node` package, whose preinstall script must be allowed (package.json `allowScripts`).
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(
    `Corebank needs Node.js 24 or newer, but this is Node.js ${process.versions.node} (${process.execPath}).\n` +
      'Run it through npm (`npm start`, `npm test`) after `npm install`, which puts Node.js 24 into\n' +
      "node_modules/.bin. If that Node is missing, the install skipped the `node` package's preinstall\n" +
      'script: allow it (package.json "allowScripts") and run `npm ci` again.',
  );
  process.exit(1);
}
