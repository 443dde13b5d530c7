import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigSource, InvalidConfigError } from '../../src/daemon/config-source.js';
import { createLogger } from '../../src/shared/logger.js';

const logger = createLogger({ name: 'test', level: 'silent', pretty: false });
const GOOD = 'project_name: cs\ndomains:\n  pro: { machines: { pro-a: {} } }\n';
const BROKEN = 'project_name: cs\ndomains:\n  pro: { machines: { pro-a: { tpye: vm } } }\n';

function setup(): { infra: string; kept: string; open: (path?: string) => Promise<ConfigSource> } {
  const dir = mkdtempSync(join(tmpdir(), 'anklume-config-'));
  const infra = join(dir, 'infra.yml');
  const kept = join(dir, 'state', 'last-valid-infra.json');
  return {
    infra,
    kept,
    open: (path = infra) => ConfigSource.open({ path, debounceMs: 10, hostNetworks: () => [], logger, lastValidFile: kept, onChange: () => undefined }),
  };
}

describe('ConfigSource and the last valid infra.yml', () => {
  it('keeps a root-only copy of each valid version', async () => {
    const s = setup();
    writeFileSync(s.infra, GOOD);
    const source = await s.open();
    await source.close();
    expect(JSON.parse(readFileSync(s.kept, 'utf8'))).toEqual({ path: s.infra, text: GOOD });
    expect(statSync(s.kept).mode & 0o777).toBe(0o600);
  });

  it('starts on the last valid version when the file is broken, reporting it invalid with its position', async () => {
    const s = setup();
    writeFileSync(s.infra, GOOD);
    await (await s.open()).close();
    writeFileSync(s.infra, BROKEN);
    const source = await s.open();
    await source.close();
    expect(source.state.valid).toBe(false);
    expect(source.state.model.domains.map((d) => d.machines.map((m) => m.name))).toEqual([['pro-a']]);
    expect(source.state.errors[0]).toMatch(new RegExp(`^${s.infra.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:31: domains.pro.machines.pro-a.tpye: unknown key`));
  });

  it('does not start on a broken file with no valid version kept, nor on the copy of another file', async () => {
    const s = setup();
    writeFileSync(s.infra, BROKEN);
    await expect(s.open()).rejects.toBeInstanceOf(InvalidConfigError);
    const other = join(mkdtempSync(join(tmpdir(), 'anklume-config-')), 'infra.yml');
    writeFileSync(other, GOOD);
    await (await s.open(other)).close();
    await expect(s.open()).rejects.toBeInstanceOf(InvalidConfigError);
  });
});
