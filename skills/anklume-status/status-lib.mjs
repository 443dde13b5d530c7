// @ts-check
// Pure parts of the anklume-status skill (tested by anklume's unit tests).

/**
 * @typedef {{ type: string, status: boolean, reason?: string, message?: string }} Condition
 */

/**
 * Findings from the domain view's answers: a machine of infra.yml that is not
 * running, an instance infra.yml does not declare, and what anklume's
 * conditions say (Degraded: critical; not Ready: suspect).
 * @param {{ name: string, status: string, declared: boolean }[]} instances `GET /v1/instances`
 * @param {{ domain?: Condition[], objects?: { kind?: string, name: string, conditions?: Condition[] }[] }} conditions `GET /v1/conditions`
 */
export function statusFindings(instances, conditions) {
  /** @type {{ kind: string, severity: 'suspect' | 'critical', subject: string, detail: string }[]} */
  const findings = [];
  for (const i of instances) {
    if (!i.declared) findings.push({ kind: 'undeclared-instance', severity: 'suspect', subject: i.name, detail: `${i.name} runs in the domain but is not in infra.yml` });
    else if (i.status !== 'Running') findings.push({ kind: 'instance-stopped', severity: 'suspect', subject: i.name, detail: `${i.name} is ${i.status.toLowerCase()}` });
  }
  /** @param {string} subject @param {Condition[] | undefined} list */
  const judge = (subject, list) => {
    const degraded = list?.find((c) => c.type === 'Degraded' && c.status);
    const ready = list?.find((c) => c.type === 'Ready');
    const why = (/** @type {Condition} */ c) => [c.reason, c.message].filter(Boolean).join(': ');
    if (degraded !== undefined) findings.push({ kind: 'condition', severity: 'critical', subject, detail: `${subject} is Degraded (${why(degraded)})` });
    else if (ready !== undefined && !ready.status) findings.push({ kind: 'condition', severity: 'suspect', subject, detail: `${subject} is not Ready (${why(ready)})` });
  };
  judge('the domain', conditions.domain);
  for (const o of conditions.objects ?? []) judge(`${o.kind ?? 'object'} ${o.name}`, o.conditions);
  /** @type {'normal' | 'suspect' | 'critical'} */
  const verdict = findings.some((f) => f.severity === 'critical') ? 'critical' : findings.length > 0 ? 'suspect' : 'normal';
  return { findings, verdict };
}
