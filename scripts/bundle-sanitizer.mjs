// The gateway as one self-contained file (dist/anklume-sanitizer.mjs): the
// operator pushes it into the sanitizer instance, which has Node but no
// node_modules. pino-pretty stays out: the service logs JSON.
import { build } from 'esbuild';

// anklume-mcp-local the same way: pushed into claude_code machines, run by the pinned Node there.
await build({
  entryPoints: ['src/bin/anklume-mcp-local.ts'],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  outfile: 'dist/anklume-mcp-local.mjs',
  banner: { js: "import { createRequire as __anklumeRequire } from 'node:module'; const require = __anklumeRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
});

await build({
  entryPoints: ['src/bin/anklume-sanitizer.ts'],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  outfile: 'dist/anklume-sanitizer.mjs',
  external: ['pino-pretty'],
  // Bundled CommonJS modules call require(): give them one.
  banner: { js: "import { createRequire as __anklumeRequire } from 'node:module'; const require = __anklumeRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
});
