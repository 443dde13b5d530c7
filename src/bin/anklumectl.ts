#!/usr/bin/env node
import { runCli } from '../cli/program.js';

const env = { ...process.env };
// A reader that stops early (`anklumectl status | head`) closes the pipe: end quietly, as Unix tools do.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});
const status = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  color: process.stdout.isTTY && env.NO_COLOR === undefined,
  env,
});
process.exitCode = status;
