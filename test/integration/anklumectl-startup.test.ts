import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

// anklumectl starts at once: building the program loads no command's code;
// a command loads its own modules when it runs.
const dir = mkdtempSync(join(tmpdir(), 'anklume-loads-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function loadedBy(args: string[]): string[] {
  const file = join(dir, `${args.join('_').replace(/\W/g, '')}.txt`);
  execFileSync(process.execPath, ['--import', join(ROOT, 'test/fixtures/record-loads.mjs'), join(ROOT, 'dist/bin/anklumectl.js'), ...args], { env: { ...process.env, LOADS_FILE: file }, stdio: ['ignore', 'ignore', 'ignore'] });
  return [...new Set(readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((u) => u.replace(`file://${ROOT}`, '')))];
}

describe('anklumectl start-up', () => {
  it('--version and --help load the program and commander only', () => {
    for (const args of [['--version'], ['--help'], ['apply', '--help']]) {
      const ours = loadedBy(args).filter((u) => u.startsWith('dist/'));
      expect(ours.sort()).toEqual(['dist/bin/anklumectl.js', 'dist/cli/io.js', 'dist/cli/options.js', 'dist/cli/program.js', 'dist/config/incus-endpoint.js', 'dist/config/paths.js', 'dist/schemas/schema-kinds.js', 'dist/shared/errors.js', 'dist/verify/defaults.js']);
      expect(loadedBy(args).some((u) => u.includes('node_modules/zod/'))).toBe(false);
    }
  });

  it('a command loads its own module, not the others', () => {
    const loads = loadedBy(['schema', 'machine']);
    expect(loads).toContain('dist/cli/schema.js');
    for (const other of ['dist/cli/apply.js', 'dist/cli/status.js', 'dist/incus/client.js', 'dist/cli/sanitize.js']) expect(loads).not.toContain(other);
  });
});
