import { detectHostNetworks, loadInfraFile } from '../config/load.js';
import { formatIssue, formatPath, type LocatedIssue } from '../config/issues.js';
import type { DesiredInfra } from '../schemas/model.js';
import { EXIT, paint, type CliIo } from './io.js';

export interface ValidateOptions {
  readonly file: string;
  readonly json: boolean;
}

/** `anklumectl validate`: check infra.yml, print every error or a summary. Changes nothing. */
export async function runValidate(options: ValidateOptions, io: CliIo): Promise<number> {
  const result = await loadInfraFile(options.file, { hostNetworks: detectHostNetworks() });
  if (options.json) {
    const body = result.ok
      ? { valid: true, file: options.file, summary: summarize(result.model), model: result.model }
      : { valid: false, file: options.file, errors: result.issues.map(issueJson) };
    io.stdout(`${JSON.stringify(body, null, 2)}\n`);
    return result.ok ? EXIT.ok : EXIT.failure;
  }
  if (!result.ok) {
    for (const issue of result.issues) io.stderr(`${paint(io, 'red', 'error')} ${formatIssue(issue)}\n`);
    const n = result.issues.length;
    io.stderr(`${n} error${n === 1 ? '' : 's'} in ${options.file}; nothing was changed\n`);
    return EXIT.failure;
  }
  const s = summarize(result.model);
  io.stdout(`${paint(io, 'green', 'valid')} ${options.file}: ${s.domains} domains (${s.enabledDomains} enabled), ${s.machines} machines, ${s.policies} network policies\n`);
  for (const d of result.model.domains) {
    const state = d.enabled ? '' : paint(io, 'dim', ' (disabled)');
    io.stdout(`  ${d.name.padEnd(12)} ${d.trustLevel.padEnd(12)} ${d.network.subnet.padEnd(16)} ${d.bridge.padEnd(15)} ai=${d.aiProvider}${d.aiSanitize === false ? '' : ` sanitize=${String(d.aiSanitize)}`}${state}\n`);
    for (const m of d.machines) io.stdout(`    ${m.name.padEnd(24)} ${m.type.padEnd(3)} ${m.ip}${m.gpu ? ' gpu' : ''}\n`);
  }
  return EXIT.ok;
}

function summarize(model: DesiredInfra): { domains: number; enabledDomains: number; machines: number; policies: number } {
  return {
    domains: model.domains.length,
    enabledDomains: model.domains.filter((d) => d.enabled).length,
    machines: model.domains.reduce((n, d) => n + d.machines.length, 0),
    policies: model.policies.length,
  };
}

/** One validation error as `--json` prints it (validate, sanitize). */
export function issueJson(issue: LocatedIssue): Record<string, unknown> {
  return {
    file: issue.file,
    line: issue.line,
    column: issue.column,
    path: formatPath(issue.path),
    rule: issue.rule,
    message: issue.message,
    ...(issue.expected === undefined ? {} : { expected: issue.expected }),
    ...(issue.found === undefined ? {} : { found: issue.found }),
    ...(issue.hint === undefined ? {} : { hint: issue.hint }),
  };
}
