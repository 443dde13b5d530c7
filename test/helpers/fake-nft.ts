import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How the stand-in answers each kind of call: exit code and output. */
export interface FakeNftBehaviour {
  check?: { code: number; stderr?: string };
  apply?: { code: number; stderr?: string };
  list?: { code: number; stdout?: string; stderr?: string };
}

export interface FakeNft {
  readonly binary: string;
  /** Change what it answers from now on. */
  behave(b: FakeNftBehaviour): void;
  /** Every call so far: its arguments and what came on stdin. */
  calls(): { args: string[]; stdin: string }[];
}

/**
 * An executable that stands in for nft where the real one must not run (tests
 * of failure paths): it records its calls and answers as told. Calls with `-c`
 * are checks, `list` calls are listings, anything else is an apply.
 */
export function fakeNft(initial: FakeNftBehaviour = {}): FakeNft {
  const dir = mkdtempSync(join(tmpdir(), 'anklume-fake-nft-'));
  const behaviourFile = join(dir, 'behaviour.json');
  const logFile = join(dir, 'calls.jsonl');
  const binary = join(dir, 'nft');
  writeFileSync(logFile, '');
  writeFileSync(
    binary,
    `#!${process.execPath}
const fs = require('node:fs');
const args = process.argv.slice(2);
const stdin = args.includes('-f') ? fs.readFileSync(0, 'utf8') : '';
fs.appendFileSync(${JSON.stringify(logFile)}, JSON.stringify({ args, stdin }) + '\\n');
const b = JSON.parse(fs.readFileSync(${JSON.stringify(behaviourFile)}, 'utf8'));
const kind = args.includes('-c') ? 'check' : args.includes('list') ? 'list' : 'apply';
const r = b[kind] || { code: 0 };
if (r.stdout) process.stdout.write(r.stdout);
if (r.stderr) process.stderr.write(r.stderr);
process.exitCode = r.code;
`,
  );
  chmodSync(binary, 0o755);
  const behave = (b: FakeNftBehaviour): void => writeFileSync(behaviourFile, JSON.stringify(b));
  behave(initial);
  return {
    binary,
    behave,
    calls: () => readFileSync(logFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { args: string[]; stdin: string }),
  };
}

/**
 * An executable `nft` that runs the real one in network namespace `ns`, so a
 * test never touches the host's table. It execs all the way down: its process
 * is nft itself, as in production, so stopping it ends nft.
 */
export function nftInNamespace(dir: string, ns: string): string {
  const binary = join(dir, 'nft');
  writeFileSync(binary, `#!/bin/sh\nexec ip netns exec ${ns} nft "$@"\n`);
  chmodSync(binary, 0o755);
  return binary;
}
