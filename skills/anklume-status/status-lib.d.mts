interface Condition {
  type: string;
  status: boolean;
  reason?: string;
  message?: string;
}
export function statusFindings(
  instances: { name: string; status: string; declared: boolean }[],
  conditions: { domain?: Condition[]; objects?: { kind?: string; name: string; conditions?: Condition[] }[] },
): { findings: { kind: string; severity: 'suspect' | 'critical'; subject: string; detail: string }[]; verdict: 'normal' | 'suspect' | 'critical' };
