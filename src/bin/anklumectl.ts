#!/usr/bin/env node
import { runCli } from '../cli/program.js';

const env = { ...process.env };
const status = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  color: process.stdout.isTTY && env.NO_COLOR === undefined,
  env,
});
process.exitCode = status;
