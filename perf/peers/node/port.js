// The command line the Node peers share: --help prints `usage` and exits 0;
// --port P (else `fallback`) is returned; anything else is an error that
// names `script` and exits 2.
'use strict';

module.exports = function portFromArgs(script, usage, fallback) {
  let port = fallback;
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(usage);
    process.exit(0);
  }
  for (let i = 0; i < args.length; i += 2) {
    if (args[i] === '--port') port = Number(args[i + 1]);
    else { console.error(`${script}: unknown option ${args[i]}`); process.exit(2); }
  }
  return port;
};
