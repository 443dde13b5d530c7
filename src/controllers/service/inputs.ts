import { existsSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AiAccessPaths } from '../../config/paths.js';
import type { DesiredInfra } from '../../schemas/model.js';
import { sanitizerEndpoint } from '../../schemas/services.js';
import { AnklumeError } from '../../shared/errors.js';
import type { ServiceDeployment } from './deployment.js';
import { claudeCodeDeployments } from './claude-code-deployment.js';
import { openclawDeployment } from './openclaw-deployment.js';
import type { SkillFile } from './openclaw-files.js';
import { sanitizerDeployment } from './sanitizer-deployment.js';

/** The repository's `skills/` folder (next to dist/ when installed as a package, and in a checkout). */
export function skillsPath(): string {
  return fileURLToPath(new URL('../../../skills/', import.meta.url));
}

/**
 * anklume's skills as files (path below skills/, content), sorted: pushed
 * read-only into every assistant. A missing folder is an error, not an
 * assistant without its probes.
 */
export async function readSkills(root: string = skillsPath()): Promise<SkillFile[]> {
  let entries: string[];
  try {
    entries = (await readdir(root, { recursive: true })).map(String);
  } catch (err) {
    throw new AnklumeError('SKILLS_MISSING', `anklume's skills folder ${root} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  const files: SkillFile[] = [];
  for (const rel of entries.sort()) {
    const full = join(root, rel);
    if (!(await stat(full)).isFile()) continue;
    files.push({ path: rel.split(sep).join('/'), content: await readFile(full, 'utf8') });
  }
  return files;
}

/** dist/anklume-mcp-local.mjs (the MCP server of the claude_code role), next to the compiled controllers or in dist/. */
export function mcpBundlePath(): string {
  const candidates = [new URL('../../anklume-mcp-local.mjs', import.meta.url), new URL('../../../dist/anklume-mcp-local.mjs', import.meta.url)].map((u) => fileURLToPath(u));
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) throw new AnklumeError('BUNDLE_MISSING', `the MCP server bundle is missing (looked for ${candidates.join(', ')}); run npm run build`);
  return found;
}

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

/** The host files whose content goes into deployments (cloud keys, tokens): a change to any of them changes what is deployed. */
export function secretFilesOf(model: DesiredInfra): string[] {
  const files = [model.sanitizer.upstreams.anthropicKeyFile, model.sanitizer.upstreams.openaiKeyFile];
  for (const d of model.domains) files.push(d.openclaw?.gatewayTokenFile ?? null, d.openclaw?.telegram?.tokenFile ?? null);
  return files.filter((f): f is string => f !== null);
}

/**
 * What identifies the current content of those files without reading them
 * (inode, size, modification time; "-" for one that cannot be stat'ed): a key
 * rotated on the host, in place or by rename, changes it.
 */
export function secretFilesStamp(model: DesiredInfra): string {
  return secretFilesOf(model)
    .map((f) => {
      try {
        const s = statSync(f);
        return `${f}:${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return `${f}:-`;
      }
    })
    .join('|');
}

/**
 * The services anklume deploys into instances, with what only the host has
 * (the gateway build, a Node binary, the cloud key files). Empty when
 * infra.yml declares none.
 */
export async function loadDeployments(model: DesiredInfra, context: { infraText: string; nodeBinary: string; aiPaths: AiAccessPaths; stateDir: string }): Promise<ServiceDeployment[]> {
  const deployments: ServiceDeployment[] = [];
  if (sanitizerEndpoint(model) !== null) {
    const { read, blocked } = keyReader();
    const anthropic = await read('Anthropic', model.sanitizer.upstreams.anthropicKeyFile);
    const openai = await read('OpenAI', model.sanitizer.upstreams.openaiKeyFile);
    const deployment = sanitizerDeployment(model, {
      bundle: await readFile(sanitizerBundlePath(), 'utf8'),
      infraText: context.infraText,
      nodeBinary: context.nodeBinary,
      aiStateDir: dirname(context.aiPaths.stateFile),
      aiStateFile: context.aiPaths.stateFile,
      keys: { ...(anthropic === undefined ? {} : { anthropic }), ...(openai === undefined ? {} : { openai }) },
    });
    if (deployment !== null) deployments.push(blocked(deployment));
  }
  const assistants = model.domains.filter((d) => d.enabled && d.openclaw !== null);
  const skills = assistants.length === 0 ? [] : await readSkills();
  for (const domain of assistants) {
    const openclaw = domain.openclaw;
    if (openclaw === null) continue;
    const { read, blocked } = keyReader();
    const gatewayToken = openclaw.gatewayTokenFile === null ? await generatedToken(join(context.stateDir, 'openclaw', `${domain.name}.gateway-token`)) : await read('OpenClaw gateway token', openclaw.gatewayTokenFile);
    const telegramToken = openclaw.telegram === null ? undefined : await read('Telegram token', openclaw.telegram.tokenFile);
    // Without its token the config cannot be rendered: a placeholder keeps the plan readable, the problem blocks it.
    const values = { gatewayToken: gatewayToken?.trim() ?? 'unreadable', ...(telegramToken === undefined ? (openclaw.telegram === null ? {} : { telegramToken: 'unreadable' }) : { telegramToken }) };
    const d = openclawDeployment(model, domain, values, skills);
    if (d !== null) deployments.push(blocked(d));
  }
  for (const domain of model.domains.filter((d) => d.enabled && d.claudeCode !== null)) {
    const routerKey = await generatedToken(join(context.stateDir, 'claude-code', `${domain.name}.router-key`));
    let mcpBundle = '';
    let problem: string | undefined;
    try {
      mcpBundle = await readFile(mcpBundlePath(), 'utf8');
    } catch (err) {
      problem = (err as Error).message;
    }
    for (const d of claudeCodeDeployments(model, domain, { routerKey, mcpBundle })) deployments.push(problem === undefined || d.problem !== undefined ? d : { ...d, problem });
  }
  return deployments;
}

/**
 * Reads the host files of one service. A file that cannot be read blocks that
 * service (shown in plan and status), never the whole pass: `blocked` marks
 * the deployment with every such problem.
 */
function keyReader(): { read: (what: string, path: string | null) => Promise<string | undefined>; blocked: (d: ServiceDeployment) => ServiceDeployment } {
  const problems: string[] = [];
  return {
    read: async (what, path) => {
      try {
        return await readKey(what, path);
      } catch (err) {
        problems.push((err as Error).message);
        return undefined;
      }
    },
    blocked: (d) => (problems.length === 0 ? d : { ...d, problem: problems.join('; ') }),
  };
}

/**
 * A gateway token anklume made for a domain that names no token file: kept
 * on the host (0600), so it is the same on every pass and the service is not
 * restarted for nothing.
 */
export async function generatedToken(path: string): Promise<string> {
  const existing = await readFile(path, 'utf8').catch(() => undefined);
  if (existing !== undefined && existing.trim() !== '') return existing.trim();
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'w' });
  return token;
}
