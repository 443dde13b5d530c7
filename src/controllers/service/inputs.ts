import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AiAccessPaths } from '../../config/ai-paths.js';
import type { DesiredInfra } from '../../schemas/model.js';
import { AnklumeError } from '../../shared/errors.js';
import type { ServiceDeployment } from './deployment.js';
import { sanitizerDeployment } from './sanitizer.js';

/** dist/anklume-sanitizer.mjs, next to the compiled controllers (or, from the sources, in dist/). */
export function sanitizerBundlePath(): string {
  const candidates = [new URL('../../anklume-sanitizer.mjs', import.meta.url), new URL('../../../dist/anklume-sanitizer.mjs', import.meta.url)].map((u) => fileURLToPath(u));
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) throw new AnklumeError('BUNDLE_MISSING', `the gateway bundle is missing (looked for ${candidates.join(', ')}); run npm run build`);
  return found;
}

async function readKey(what: string, path: string | null): Promise<string | undefined> {
  if (path === null) return undefined;
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new AnklumeError('KEY_UNREADABLE', `cannot read the ${what} key file ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The services anklume deploys into instances, with what only the host has
 * (the gateway build, a Node binary, the cloud key files). Empty when
 * infra.yml declares none.
 */
export async function loadDeployments(model: DesiredInfra, context: { infraText: string; nodeBinary: string; aiPaths: AiAccessPaths }): Promise<ServiceDeployment[]> {
  if (!model.domains.some((d) => d.enabled && d.machines.some((m) => m.roles.includes('llm_sanitizer')))) return [];
  const anthropic = await readKey('Anthropic', model.sanitizer.upstreams.anthropicKeyFile);
  const openai = await readKey('OpenAI', model.sanitizer.upstreams.openaiKeyFile);
  const deployment = sanitizerDeployment(model, {
    bundle: await readFile(sanitizerBundlePath(), 'utf8'),
    infraText: context.infraText,
    nodeBinary: context.nodeBinary,
    aiStateDir: dirname(context.aiPaths.stateFile),
    aiStateFile: context.aiPaths.stateFile,
    keys: { ...(anthropic === undefined ? {} : { anthropic }), ...(openai === undefined ? {} : { openai }) },
  });
  return deployment === null ? [] : [deployment];
}
