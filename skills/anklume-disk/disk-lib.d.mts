// Types of disk-lib.mjs for anklume's TypeScript tests.
export function parseMounts(text: string): { source: string; mount: string; type: string; readOnly: boolean }[];
export function diskFindings(filesystems: { mount: string; readOnly: boolean; usedPercent: number; inodesUsedPercent: number | null }[]): {
  findings: { kind: string; severity: 'suspect' | 'critical'; mount: string; detail: string }[];
  verdict: 'normal' | 'suspect' | 'critical';
};
