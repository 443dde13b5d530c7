import { describe, expect, it } from 'vitest';
import { HOST_DIRS, HOST_FILES, SANITIZER_DIRS, SANITIZER_FILES, resolveAiAccessPaths, resolveControlSocket, resolveInfraPath, resolveSanitizerConfig, resolveStateDir } from '../../src/config/paths.js';
import { GatewayConfigSchema } from '../../src/gateway/config.js';

describe('host paths', () => {
  it('derives every default file from its directory', () => {
    expect(HOST_FILES).toMatchObject({
      infra: '/etc/anklume/infra.yml',
      sanitizerConfig: '/etc/anklume/sanitizer.yml',
      controlSocket: '/run/anklume/anklumed.sock',
      aiAccessState: '/opt/anklume/ai-access-current',
      aiSwitchLog: '/var/log/anklume/ai-switch.log',
    });
    expect(HOST_DIRS.state).toBe('/var/lib/anklume');
    expect(HOST_DIRS.openclawCache).toBe('/var/cache/anklume-openclaw');
  });

  it("keeps the sanitizer's own directories (inside its instance) apart from the host's", () => {
    expect(SANITIZER_DIRS).toEqual({ stateName: 'anklume-sanitizer', logsName: 'llm-sanitizer', state: '/var/lib/anklume-sanitizer', logs: '/var/log/llm-sanitizer' });
    expect(SANITIZER_FILES.audit).toBe('/var/log/llm-sanitizer/audit.log');
    expect(SANITIZER_DIRS.state).not.toBe(HOST_DIRS.state);
  });

  it("gives the gateway's config its defaults from the same names", () => {
    const c = GatewayConfigSchema.parse({});
    expect(c).toMatchObject({ infra: HOST_FILES.infra, state_dir: SANITIZER_DIRS.state, audit: { path: SANITIZER_FILES.audit }, ai_access: { holder_file: HOST_FILES.aiAccessState } });
  });
});

describe('path resolution: the flag, then the environment, then the default', () => {
  it.each([
    { name: 'infra.yml', resolve: (flag: string | undefined, env: Record<string, string>) => resolveInfraPath({ flag, env }), envVar: 'ANKLUME_CONFIG', fallback: HOST_FILES.infra },
    { name: 'control socket', resolve: (flag: string | undefined, env: Record<string, string>) => resolveControlSocket({ flag, env }), envVar: 'ANKLUME_SOCKET', fallback: HOST_FILES.controlSocket },
    { name: 'sanitizer config', resolve: (flag: string | undefined, env: Record<string, string>) => resolveSanitizerConfig({ flag, env }), envVar: 'ANKLUME_SANITIZER_CONFIG', fallback: HOST_FILES.sanitizerConfig },
    { name: 'AI state file', resolve: (flag: string | undefined, env: Record<string, string>) => resolveAiAccessPaths({ aiStateFile: flag }, env).stateFile, envVar: 'ANKLUME_AI_STATE_FILE', fallback: HOST_FILES.aiAccessState },
    { name: 'switch log', resolve: (flag: string | undefined, env: Record<string, string>) => resolveAiAccessPaths({ aiSwitchLog: flag }, env).switchLog, envVar: 'ANKLUME_AI_SWITCH_LOG', fallback: HOST_FILES.aiSwitchLog },
  ])('$name', ({ resolve, envVar, fallback }) => {
    expect(resolve('/flag', { [envVar]: '/env' })).toBe('/flag');
    expect(resolve(undefined, { [envVar]: '/env' })).toBe('/env');
    expect(resolve(undefined, {})).toBe(fallback);
  });

  it('state directory: ANKLUME_STATE_DIR, else /var/lib/anklume', () => {
    expect(resolveStateDir({ ANKLUME_STATE_DIR: '/tmp/s' })).toBe('/tmp/s');
    expect(resolveStateDir({})).toBe(HOST_DIRS.state);
  });
});
