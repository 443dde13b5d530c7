/**
 * Where exclusive AI access is recorded on the host (spec/002): the current
 * holder, the switch log, and the lock that keeps switches one at a time.
 * Each has a flag and an environment variable so tests use temporary paths.
 */
export interface AiAccessPaths {
  readonly stateFile: string;
  readonly switchLog: string;
  readonly lockFile: string;
}

export const DEFAULT_AI_ACCESS_PATHS: AiAccessPaths = {
  stateFile: '/opt/anklume/ai-access-current',
  switchLog: '/var/log/anklume/ai-switch.log',
  lockFile: '/run/anklume/ai-switch.lock',
};

export function resolveAiAccessPaths(flags: { aiStateFile?: string | undefined; aiSwitchLog?: string | undefined; aiSwitchLock?: string | undefined }, env: Readonly<Record<string, string | undefined>>): AiAccessPaths {
  return {
    stateFile: flags.aiStateFile ?? env.ANKLUME_AI_STATE_FILE ?? DEFAULT_AI_ACCESS_PATHS.stateFile,
    switchLog: flags.aiSwitchLog ?? env.ANKLUME_AI_SWITCH_LOG ?? DEFAULT_AI_ACCESS_PATHS.switchLog,
    lockFile: flags.aiSwitchLock ?? env.ANKLUME_AI_SWITCH_LOCK ?? DEFAULT_AI_ACCESS_PATHS.lockFile,
  };
}
