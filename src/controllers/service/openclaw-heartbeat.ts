import type { DesiredDomain } from '../../schemas/model.js';
import { HEARTBEAT_ESCALATION_TASK, taskRoute } from './openclaw-tasks.js';

/**
 * The heartbeat's prompt (spec/000 §3, "patron de surveillance par
 * heartbeat"): run the probes, triage locally into a verdict of a fixed JSON
 * shape, keep routine results in memory without a message, tell the owners of
 * an anomaly, and escalate only as the domain allows. Pure. OpenClaw sends the
 * prompt verbatim as the user message of each heartbeat turn.
 */

/** The probes the heartbeat runs: anklume's skills (repository `skills/`). */
export const HEARTBEAT_PROBES = ['anklume-status', 'anklume-scan', 'anklume-disk'] as const;

/** The model alias of the escalation, defined only where the domain may reach the cloud. */
export const ESCALATION_ALIAS = 'escalate';

/** The reply OpenClaw treats as "nothing to deliver". */
export const SILENT_REPLY = 'NO_REPLY';

/** Whether a critical verdict of this domain may be escalated to the cloud (through the sanitizer, as incident analysis). */
export function heartbeatEscalates(domain: DesiredDomain): boolean {
  return taskRoute(domain, HEARTBEAT_ESCALATION_TASK) === 'cloud';
}

export function renderHeartbeatPrompt(domain: DesiredDomain): string {
  const escalation = heartbeatEscalates(domain)
    ? [
        `5. Only if the verdict is "critical": ask for a deeper analysis by starting one sub-agent (sessions_spawn) with model "${ESCALATION_ALIAS}", giving it the findings JSON only, and add its conclusion to your message. It goes to the cloud through anklume's sanitizer as "${HEARTBEAT_ESCALATION_TASK}". Never for "suspect", never with any other model.`,
      ]
    : ['5. Do not escalate: this domain keeps its AI local. Never use another model.'];
  return [
    `anklume heartbeat of domain ${domain.name}. Triage its state; you see only this domain.`,
    '1. Run the probes, each exactly as its skill says, and read their JSON:',
    ...HEARTBEAT_PROBES.map((p) => `   - ${p}`),
    '2. Decide one verdict from the findings: "normal" (nothing new, or only info), "suspect" (something to look at: an undeclared host, a port no policy opens, a changed service, a probe that could not run), "critical" (an attack or an outage in progress, a disk at 90 %). Judge the findings, not your confidence.',
    '3. Write the verdict, as exactly one line of JSON of this shape, at the end of memory/anklume-heartbeat.md (create it if missing), with the time:',
    '   {"time":"<ISO time>","verdict":"normal|suspect|critical","findings":[{"probe":"anklume-status|anklume-scan|anklume-disk","severity":"info|suspect|critical","summary":"<one sentence>"}]}',
    `4. If the verdict is "normal", reply exactly ${SILENT_REPLY} and nothing else: routine results stay in memory, nobody is notified. Otherwise reply with that JSON line first, then at most five short lines for the owners: what changed, where, what to check.`,
    ...escalation,
  ].join('\n');
}
