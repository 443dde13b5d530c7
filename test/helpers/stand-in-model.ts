import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in Ollama for the heartbeat (the test machine has no GPU and no
 * model): a real HTTP server speaking Ollama's native `/api/chat` as OpenClaw
 * 2026.9.6 calls it (streamed NDJSON, tools offered as `{type:"function",
 * function:{name, parameters}}`, tool calls answered as `role:"tool"` messages
 * carrying `tool_name` and the raw output). Built from recorded requests of
 * the real gateway, not guessed.
 *
 * It plays a small, literal model that follows anklume's heartbeat prompt:
 * for each probe the prompt names, it reads the skill's SKILL.md at the
 * location OpenClaw lists in its system prompt, runs the command written
 * there, parses the JSON it prints; then appends the verdict line to the
 * memory file the prompt names, and answers `NO_REPLY` when the verdict is
 * normal or the verdict line and the findings otherwise. The verdict is
 * derived from the skills' real output only: the test proves the probes ran
 * in the assistant and what they saw, not what this file decides.
 */

export interface ProbeRun {
  readonly probe: string;
  readonly command: string;
  /** The probe's output as OpenClaw handed it back. */
  readonly output: string;
  /** Its JSON, or null when it printed something else. */
  readonly json: any;
}

export interface HeartbeatTurn {
  /** The prompt's first line (`anklume heartbeat of domain <d>. …`). */
  readonly prompt: string;
  readonly probes: readonly ProbeRun[];
  readonly verdict: 'normal' | 'suspect' | 'critical';
  /** The final answer the stand-in gave. */
  readonly reply: string;
}

export interface ChatRequest {
  readonly at: number;
  readonly body: any;
}

export interface StandInModel {
  readonly url: string;
  readonly port: number;
  readonly requests: ChatRequest[];
  /** Finished heartbeat turns, in order. */
  readonly heartbeats: HeartbeatTurn[];
  /** Requests that were neither a heartbeat turn nor a recap: kept so a test can say so. */
  readonly unexpected: ChatRequest[];
  close(): Promise<void>;
}

const HEARTBEAT_MARK = /^anklume heartbeat of domain /;
/** OpenClaw's utility model call that recaps a session (observed). */
const RECAP_MARK = /^Write an Activity recap/;
const SEVERITY = ['normal', 'suspect', 'critical'] as const;

interface Message {
  role: string;
  content?: string;
  tool_calls?: { id?: string; function: { name: string; arguments: Record<string, unknown> } }[];
  tool_name?: string;
}

type Answer = { content: string } | { call: { name: string; arguments: Record<string, unknown> } };

/** Skill name → SKILL.md location, from the `<skill>` entries of OpenClaw's system prompt. */
function skillLocations(system: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const m of system.matchAll(/<name>([^<]+)<\/name>[\s\S]*?<location>([^<]+)<\/location>/g)) found.set(m[1] ?? '', m[2] ?? '');
  return found;
}

/** The command a SKILL.md says to run (the fenced line after "Run:"), its `{baseDir}` filled in. */
function skillCommand(skillMd: string, location: string): string | null {
  const m = /Run:\s*```[a-z]*\n([^\n]+)\n/.exec(skillMd);
  if (m === null) return null;
  return (m[1] ?? '').trim().replaceAll('{baseDir}', location.slice(0, location.lastIndexOf('/')));
}

const quoteForShell = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

/** The memory file the prompt names (step 3). */
function memoryFile(prompt: string): string {
  return /at the end of (\S+\.md)/.exec(prompt)?.[1] ?? 'memory/anklume-heartbeat.md';
}

/** A probe's JSON; OpenClaw appends `(Command exited with code N)` to the output of a failed command (observed). */
function parseJson(text: string): any {
  try {
    return JSON.parse(text.replace(/\n*\(Command exited with code \d+\)\s*$/, '').trim());
  } catch {
    return null;
  }
}

/** Decide the next step of a heartbeat turn from the conversation so far. */
function heartbeatStep(messages: Message[], promptIndex: number, onDone: (turn: HeartbeatTurn) => void): Answer {
  const prompt = messages[promptIndex]?.content ?? '';
  const probes = [...prompt.matchAll(/^ {3}- (anklume-[a-z-]+)$/gm)].map((m) => m[1] ?? '');
  const locations = skillLocations(messages.find((m) => m.role === 'system')?.content ?? '');
  // Pair each of this turn's tool calls with its result.
  const steps: { name: string; args: Record<string, unknown>; output: string }[] = [];
  const after = messages.slice(promptIndex + 1);
  for (let i = 0; i < after.length; i++) {
    const call = after[i]?.tool_calls?.[0];
    if (after[i]?.role !== 'assistant' || call === undefined) continue;
    const result = after.slice(i + 1).find((m) => m.role === 'tool');
    steps.push({ name: call.function.name, args: call.function.arguments, output: result?.content ?? '' });
  }
  const runs: ProbeRun[] = [];
  for (const probe of probes) {
    const location = locations.get(probe);
    if (location === undefined) {
      runs.push({ probe, command: '', output: `no skill ${probe} offered`, json: null });
      continue;
    }
    const read = steps.find((s) => s.name === 'read' && s.args.path === location);
    if (read === undefined) return { call: { name: 'read', arguments: { path: location } } };
    const command = skillCommand(read.output, location);
    if (command === null) {
      runs.push({ probe, command: '', output: `SKILL.md of ${probe} names no command`, json: null });
      continue;
    }
    const exec = steps.find((s) => s.name === 'exec' && s.args.command === command);
    // OpenClaw backgrounds a command still running after yieldMs (10 s by default; a scan takes longer): wait for it instead.
    if (exec === undefined) return { call: { name: 'exec', arguments: { command, title: `heartbeat probe ${probe}`, yieldMs: 300_000, timeoutSeconds: 300 } } };
    runs.push({ probe, command, output: exec.output, json: parseJson(exec.output) });
  }
  // Triage as the prompt says: the worst probe verdict; a probe that could not run is suspect.
  let worst = 0;
  const findings: { probe: string; severity: string; summary: string }[] = [];
  for (const run of runs) {
    if (run.json?.ok !== true) {
      worst = Math.max(worst, 1);
      findings.push({ probe: run.probe, severity: 'suspect', summary: `the probe could not run: ${String(run.json?.error ?? run.output).slice(0, 200)}` });
      continue;
    }
    worst = Math.max(worst, Math.max(0, SEVERITY.indexOf(run.json.verdict)));
    for (const f of run.json.findings ?? []) if (f.severity !== 'info') findings.push({ probe: run.probe, severity: f.severity, summary: `${f.kind} ${f.ip ?? f.subject ?? ''}${f.port === undefined ? '' : `:${f.port}`}: ${f.detail}` });
  }
  const verdict = SEVERITY[worst] ?? 'suspect';
  const line = JSON.stringify({ time: new Date().toISOString(), verdict, findings });
  const file = memoryFile(prompt);
  const write = `mkdir -p ${quoteForShell(file.slice(0, file.lastIndexOf('/')) || '.')} && printf '%s\\n' ${quoteForShell(line)} >> ${quoteForShell(file)}`;
  if (!steps.some((s) => s.name === 'exec' && typeof s.args.command === 'string' && s.args.command.includes(`>> ${quoteForShell(file)}`))) {
    return { call: { name: 'exec', arguments: { command: write, title: 'heartbeat verdict to memory' } } };
  }
  const reply = verdict === 'normal' ? 'NO_REPLY' : [line, ...findings.slice(0, 5).map((f) => `- ${f.probe}: ${f.summary}`)].join('\n');
  onDone({ prompt: prompt.split('\n')[0] ?? '', probes: runs, verdict, reply });
  return { content: reply };
}

export async function startStandInModel(): Promise<StandInModel> {
  const requests: ChatRequest[] = [];
  const heartbeats: HeartbeatTurn[] = [];
  const unexpected: ChatRequest[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/api/chat') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"error":"the stand-in serves /api/chat only"}');
        return;
      }
      const body = JSON.parse(raw) as { model: string; messages: Message[]; tools?: unknown[] };
      const request = { at: Date.now(), body };
      requests.push(request);
      const messages = body.messages;
      const promptIndex = messages.map((m) => m.role === 'user' && HEARTBEAT_MARK.test(m.content ?? '')).lastIndexOf(true);
      let answer: Answer;
      if (promptIndex >= 0 && Array.isArray(body.tools)) answer = heartbeatStep(messages, promptIndex, (t) => heartbeats.push(t));
      else if (RECAP_MARK.test(messages.find((m) => m.role === 'system')?.content ?? '')) answer = { content: 'The domain heartbeat ran its probes.' };
      else {
        unexpected.push(request);
        answer = { content: 'NO_REPLY' };
      }
      const chunk = (message: object, done: boolean): string =>
        `${JSON.stringify({ model: body.model, created_at: new Date().toISOString(), message, done, ...(done ? { done_reason: 'stop', prompt_eval_count: 100, eval_count: 10 } : {}) })}\n`;
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(chunk('call' in answer ? { role: 'assistant', content: '', tool_calls: [{ function: answer.call }] } : { role: 'assistant', content: answer.content }, false));
      res.end(chunk({ role: 'assistant', content: '' }, true));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    heartbeats,
    unexpected,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
