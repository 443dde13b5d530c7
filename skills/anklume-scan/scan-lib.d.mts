// Types of scan-lib.mjs for anklume's TypeScript tests.
export interface OpenPort { port: number; protocol: string; service: string; product: string; version: string }
export interface ScannedHost { ip: string; hostnames: string[]; ports: OpenPort[] }
export interface DeclaredHost { ip: string; name: string; roles: string[]; ports: number[] | 'all' }
export interface Inventory { domain: string; subnet: string; gateway: string; scanner: string | null; hosts: DeclaredHost[] }
export interface Baseline { scannedAt: string; hosts: ScannedHost[] }
export interface Finding { kind: string; severity: 'info' | 'suspect' | 'critical'; ip: string; port?: number; detail: string }
export function parseNmapXml(xml: string): ScannedHost[];
export function baselineFromInventory(inventory: Inventory): Baseline;
export function compareScan(input: { scan: ScannedHost[]; inventory: Inventory; baseline: Baseline | null }): { findings: Finding[]; verdict: 'normal' | 'suspect' | 'critical'; undeclared: string[] };
export function portSpec(inventory: Inventory): string;
