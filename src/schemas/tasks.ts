/**
 * Task types of spec/000 §4's routing table ("routage statique par type de
 * tache"), as the sanitizer reads them from `x-anklume-task`. One list, so
 * infra.yml's cron jobs, the OpenClaw configs and the gateway agree.
 * Only the cloud ones escalate a local-first domain.
 */
export const LOCAL_TASKS = ['parsing', 'reformatting', 'inventory', 'triage', 'summary', 'codegen'] as const;
export const CLOUD_TASKS = ['correlation', 'forensics', 'incident-analysis', 'architecture', 'report'] as const;
export const TASK_TYPES = [...LOCAL_TASKS, ...CLOUD_TASKS] as const;
export type TaskType = (typeof TASK_TYPES)[number];

export function isCloudTask(task: string): boolean {
  return (CLOUD_TASKS as readonly string[]).includes(task);
}

/** The local task type each anklume-mcp-local tool sends as `x-anklume-task`: local in the table, so the sanitizer keeps it on Ollama. */
export const MCP_TOOL_TASKS = { generate: 'codegen', review: 'triage', fix: 'codegen', test: 'codegen' } as const satisfies Record<string, (typeof LOCAL_TASKS)[number]>;
