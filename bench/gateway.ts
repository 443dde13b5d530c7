// Benchmark of the sanitizing gateway (issue 7): the latency it adds to a
// request against a direct call to the same fake upstream (10 KB and 200 KB
// prompts), the time-to-first-byte overhead of a streamed answer, and its
// memory under 100 concurrent streams. The gateway runs as its own process
// (the real program, from source) so its RSS is its own; the fake upstream and
// the clients run here, on loopback. No Incus needed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GcStats } from './gateway-probe.js';
import { startFakeLlmUpstream, TEST_INFRA, type FakeLlmUpstream } from '../test/helpers/fake-llm-upstream.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
// One keep-alive pool per local address (a pooled socket keeps the address it was opened from).
const agents = new Map(['127.0.0.1', '127.0.0.2'].map((a) => [a, new http.Agent({ keepAlive: true, maxSockets: 256 })]));

/** A prompt of about `bytes` bytes, the way a coding assistant's context looks: prose, code, playbooks, addresses, instance names. */
function prompt(bytes: number): string {
  const parts = [
    'The deploy of the web tier failed on pro-dev (10.110.0.10); the database pro-db answers on 10.110.0.11:5432. ',
    'Here is the task that failed:\n- name: configure nginx\n  hosts: pro-dev\n  vars:\n    upstream: http://10.110.0.11:8080\n  tasks:\n    - template: { src: nginx.conf.j2, dest: /etc/nginx/nginx.conf }\n',
    'function retry(fn, attempts = 3) {\n  for (let i = 0; i < attempts; i++) {\n    try { return fn(); } catch (err) { if (i === attempts - 1) throw err; }\n  }\n}\n',
    'incus exec pro-dev --project pro -- systemctl status nginx; the bridge net-pro has 10.110.0.0/24 and client-gw sits at 10.120.1.10. ',
    'Version 1.2.3.4 of the library is fine and https://example.com/docs explains why the retry loop above is needed. ',
  ];
  let out = '';
  for (let i = 0; out.length < bytes; i++) out += parts[i % parts.length];
  return out.slice(0, bytes);
}

interface Timed {
  readonly ms: number;
  readonly ttfbMs: number;
}

/** One POST; `from` picks the local address, which is what the gateway maps to a domain. */
function post(url: string, body: string, from = '127.0.0.1'): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let ttfb = 0;
    const req = http.request(url, { method: 'POST', agent: agents.get(from), localAddress: from, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.once('data', () => (ttfb = performance.now() - t0));
      res.on('data', () => undefined);
      res.on('end', () => resolve({ ms: performance.now() - t0, ttfbMs: ttfb }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/**
 * `n` runs of each call, interleaved (a, b, a, b…) after a warm-up, so that
 * noise from the rest of the machine falls on both alike.
 */
async function interleaved(n: number, a: () => Promise<Timed>, b: () => Promise<Timed>): Promise<[Timed[], Timed[]]> {
  for (let i = 0; i < Math.min(100, n); i++) {
    await a();
    await b();
  }
  const ra: Timed[] = [];
  const rb: Timed[] = [];
  const cpu0 = gatewayCpuMs();
  const gc0 = await gcStats();
  for (let i = 0; i < n; i++) {
    ra.push(await a());
    rb.push(await b());
  }
  lastCpuPerRequest = (gatewayCpuMs() - cpu0) / n;
  const gc1 = await gcStats();
  lastGc = { n, minor: gc1.minor - gc0.minor, major: gc1.major - gc0.major, pauseMs: gc1.pauseMs - gc0.pauseMs, maxPauseMs: gc1.maxPauseMs };
  return [ra, rb];
}

/** The gateway's collections so far (the probe resets the longest pause at each reading). */
const gcStats = (): Promise<GcStats> => (gatewayChild === undefined ? Promise.resolve({ minor: NaN, major: NaN, pauseMs: NaN, maxPauseMs: NaN }) : ask<GcStats>(gatewayChild, 'gc-stats'));
let gatewayChild: ChildProcess | undefined;
let lastGc: GcStats & { n: number } = { n: 0, minor: NaN, major: NaN, pauseMs: NaN, maxPauseMs: NaN };

let gatewayPid = 0;
let lastCpuPerRequest = NaN;

/**
 * CPU time the gateway process has used (user + system, all its threads, in
 * ms; /proc ticks of 10 ms, fine over hundreds of requests). Per request, it is
 * what the gateway costs whatever else runs on the machine; latency
 * percentiles on a shared machine also count the moments it was not running.
 */
function gatewayCpuMs(): number {
  if (gatewayPid === 0) return NaN;
  const fields = readFileSync(`/proc/${gatewayPid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The gateway as a child process, sources mapping loopback to the `client` domain (cloud, sanitized, pseudonymize). */
async function startGateway(upstream: FakeLlmUpstream, dir: string): Promise<{ url: string; child: ChildProcess }> {
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  writeFileSync(join(dir, 'infra.yml'), TEST_INFRA);
  writeFileSync(
    join(dir, 'sanitizer.yml'),
    [
      `listen: 127.0.0.1:${port}`,
      `infra: ${join(dir, 'infra.yml')}`,
      `state_dir: ${join(dir, 'state')}`,
      `audit: { path: ${join(dir, 'audit.log')} }`,
      `upstreams: { anthropic: "${upstream.url}", openai: "${upstream.url}", ollama: "${upstream.url}" }`,
      // 127.0.0.2 plays a domain whose requests go out raw: the proxy's own cost, without the engine.
      'sources: [{ cidr: 127.0.0.2/32, domain: rawcloud }, { cidr: 127.0.0.0/8, domain: client }]',
    ].join('\n'),
  );
  // --expose-gc and the probe (bench/gateway-probe.ts): the memory rounds read the heap after a collection.
  const child = spawn(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', '--import', './bench/gateway-probe.ts', 'src/bin/anklume-sanitizer.ts', '--config', join(dir, 'sanitizer.yml'), '--log-format', 'json'],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) return { url, child };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  child.kill();
  throw new Error('the gateway did not start');
}

function rssMiB(pid: number): number {
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

const fmt = (n: number): string => n.toFixed(2);

interface Added {
  readonly directP50: number;
  readonly directP99: number;
  readonly p50: number;
  readonly p99: number;
  readonly cpu: number;
}

/**
 * One line: the direct call's percentiles, the gateway's, and the added
 * latency as this bench defines it (gateway percentile minus direct
 * percentile, each over its own `n` runs), with the gateway's CPU per request.
 * The direct call's own p99 is printed because on a shared machine it is
 * mostly scheduling jitter, and the gateway's p99 carries the same jitter.
 */
function report(label: string, direct: number[], proxied: number[]): Added {
  const [d50, d99, p50, p99] = [percentile(direct, 50), percentile(direct, 99), percentile(proxied, 50), percentile(proxied, 99)];
  console.log(`${label}: direct p50 ${fmt(d50)} p99 ${fmt(d99)} ms · via gateway p50 ${fmt(p50)} p99 ${fmt(p99)} ms · added p50 ${fmt(p50 - d50)} p99 ${fmt(p99 - d99)} ms · gateway CPU ${fmt(lastCpuPerRequest)} ms/request`);
  const g = lastGc;
  console.log(
    `${' '.repeat(label.length - label.trimStart().length)}  gateway GC: ${g.minor} scavenges + ${g.major} major in ${g.n} requests (one per ${fmt(g.n / Math.max(1, g.minor + g.major))} requests), pauses ${fmt(g.pauseMs / g.n)} ms/request, longest ${fmt(g.maxPauseMs)} ms`,
  );
  return { directP50: d50, directP99: d99, p50: p50 - d50, p99: p99 - d99, cpu: lastCpuPerRequest };
}

const loadAverage = (): string => loadavg().map((l) => l.toFixed(1)).join(' ');
const range = (values: readonly number[]): string => `${fmt(Math.min(...values))}–${fmt(Math.max(...values))}`;
const median = (values: readonly number[]): number => percentile([...values], 50);

/**
 * The 10 KB target (p99 added < 2 ms), measured honestly on a shared
 * machine: `rounds` rounds, each a sanitized run then a raw-route run of `n`
 * requests (the raw route is the proxy without the engine: the floor of
 * what any proxy adds here), with the load average at each round. The
 * summary gives the spread over rounds, not one lucky or unlucky run.
 */
async function tenKbRounds(upstream: FakeLlmUpstream, gw: string, rounds: number, n: number): Promise<void> {
  const sanitized: Added[] = [];
  const raw: Added[] = [];
  for (let r = 1; r <= rounds; r++) {
    console.log(`round ${r}/${rounds}, load average ${loadAverage()}`);
    sanitized.push(await latency(upstream, gw, '  10 KB request, sanitized', 10 * 1024, n));
    raw.push(await latency(upstream, gw, '  10 KB request, raw route (proxy only)', 10 * 1024, n, '127.0.0.2'));
  }
  const line = (label: string, a: readonly Added[]): string =>
    `${label}: added p50 ${range(a.map((x) => x.p50))} (median ${fmt(median(a.map((x) => x.p50)))}) · added p99 ${range(a.map((x) => x.p99))} (median ${fmt(median(a.map((x) => x.p99)))}) · CPU ${range(a.map((x) => x.cpu))} ms/request`;
  console.log(`10 KB over ${rounds} rounds of ${n} (ms, min–max of the rounds):`);
  console.log(`  ${line('sanitized', sanitized)}`);
  console.log(`  ${line('raw route', raw)}`);
  console.log(`  direct call alone: p50 ${range(sanitized.map((x) => x.directP50))} · p99 ${range([...sanitized, ...raw].map((x) => x.directP99))} (jitter of this machine: a p99 added latency far below it cannot be told apart)`);
  const met = sanitized.filter((x) => x.p99 < 2).length;
  console.log(`  target p99 added < 2 ms at 10 KB: met in ${met}/${rounds} rounds (median ${fmt(median(sanitized.map((x) => x.p99)))} ms); the engine's share is the CPU gap, sanitized minus raw: ${fmt(median(sanitized.map((x) => x.cpu)) - median(raw.map((x) => x.cpu)))} ms/request`);
}

/**
 * Each request's prompt starts with a number of its own, so the gateway never
 * saw it before: the engine scans all of it (no help from the sanitize cache).
 */
async function latency(upstream: FakeLlmUpstream, gw: string, label: string, size: number, n: number, from = '127.0.0.1'): Promise<Added> {
  const text = prompt(size);
  let i = 0;
  const body = (): string => JSON.stringify({ model: 'claude-x', max_tokens: 100, messages: [{ role: 'user', content: `${i++} ${text}` }] });
  const [direct, proxied] = await interleaved(
    n,
    () => post(`${upstream.url}/v1/messages`, body()),
    () => post(`${gw}/v1/messages`, body(), from),
  );
  return report(`${label} (${Buffer.byteLength(body())} B, ${n} runs)`, direct.map((t) => t.ms), proxied.map((t) => t.ms));
}

/**
 * A coding assistant's turn: the whole conversation again (20 messages of
 * 10 KB) plus one new 2 KB message. History strings were sanitized on
 * earlier turns and come from the cache; the new message is scanned.
 */
async function conversation(upstream: FakeLlmUpstream, gw: string, n: number): Promise<void> {
  const history = Array.from({ length: 20 }, (_, k) => ({ role: k % 2 === 0 ? 'user' : 'assistant', content: `${k} ${prompt(10 * 1024)}` }));
  let i = 0;
  const body = (): string => JSON.stringify({ model: 'claude-x', max_tokens: 100, messages: [...history, { role: 'user', content: `${i++} ${prompt(2 * 1024)}` }] });
  const [direct, proxied] = await interleaved(
    n,
    () => post(`${upstream.url}/v1/messages`, body()),
    () => post(`${gw}/v1/messages`, body()),
  );
  report(`conversation turn, 200 KB history + 2 KB new (${Buffer.byteLength(body())} B, ${n} runs)`, direct.map((t) => t.ms), proxied.map((t) => t.ms));
}

/** The text of the last message of a recorded request. */
function lastContent(body: unknown): string {
  const messages = (body as { messages?: { content?: unknown }[] } | undefined)?.messages ?? [];
  const content = messages[messages.length - 1]?.content;
  return typeof content === 'string' ? content : '';
}

/** The upstream's streamed answer for the stream benchmarks: message_start at once, then `events` text deltas `gapMs` apart. */
function streamingAnswer(upstream: FakeLlmUpstream, events: number, gapMs: number): void {
  upstream.override(async (req, res) => {
    const sent = lastContent(req.body);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { id: 'm', type: 'message', role: 'assistant', content: [] } })}\n\n`);
    res.write('event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n');
    for (let i = 0; i < events; i++) {
      if (res.destroyed) return true;
      const text = sent.slice((i * 7) % Math.max(1, sent.length - 40), ((i * 7) % Math.max(1, sent.length - 40)) + 40);
      res.write(`event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } })}\n\n`);
      await new Promise((r) => (gapMs === 0 ? setImmediate(r) : setTimeout(r, gapMs)));
    }
    res.end('event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n');
    return true;
  });
}

const MiB = 1024 * 1024;
/** ANKLUME_BENCH_GATEWAY=latency or =streams runs one part (both by default). */
const PARTS = new Set((process.env.ANKLUME_BENCH_GATEWAY ?? 'latency,streams').split(','));
const STREAM_ROUNDS = Number(process.env.ANKLUME_BENCH_STREAM_ROUNDS ?? 20);

/** Ask the probe in the gateway (bench/gateway-probe.ts) over the IPC channel; its answer. */
function ask<T>(child: ChildProcess, message: 'gc' | 'gc-stats'): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the gateway did not answer the probe's ${message} within 10 s`)), 10_000);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve(m as T);
    });
    child.send(message);
  });
}

/** The gateway's memory after a full collection. */
const memoryAfterGc = (child: ChildProcess): Promise<NodeJS.MemoryUsage> => ask(child, 'gc');

/** Least-squares slope of `ys` against 0, 1, 2…: growth per round. */
function slope(ys: readonly number[]): number {
  const n = ys.length;
  const mx = (n - 1) / 2;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  ys.forEach((y, x) => {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  });
  return den === 0 ? 0 : num / den;
}

/**
 * 100 streams at once, each ~200 events over ~1 s, STREAM_ROUNDS rounds. RSS
 * alone cannot tell a leak from a heap that has not finished growing (V8
 * grows its old space lazily and gives pages back late, and the C allocator
 * keeps freed socket buffers in its arenas): after each round the
 * gateway collects garbage and reports the heap still in use. A leak is heap
 * after GC that keeps climbing; flat means what a round allocates is freed.
 */
async function streamRounds(upstream: FakeLlmUpstream, url: string, child: ChildProcess): Promise<void> {
  const pid = child.pid ?? 0;
  streamingAnswer(upstream, 200, 5);
  const streamBody = JSON.stringify({ model: 'claude-x', max_tokens: 100, stream: true, messages: [{ role: 'user', content: prompt(20 * 1024) }] });
  const before = await memoryAfterGc(child);
  console.log(`gateway memory before the streams: RSS ${fmt(rssMiB(pid))} MiB, heap used after GC ${fmt(before.heapUsed / MiB)} MiB`);
  const heaps: number[] = [];
  const rows: string[] = [];
  for (let round = 1; round <= STREAM_ROUNDS; round++) {
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 50);
    const t0 = performance.now();
    const answers = await Promise.all(Array.from({ length: 100 }, () => post(`${url}/v1/messages`, streamBody)));
    clearInterval(sampler);
    const seconds = (performance.now() - t0) / 1000;
    if (answers.length !== 100) throw new Error('a stream went missing');
    const mem = await memoryAfterGc(child);
    heaps.push(mem.heapUsed / MiB);
    rows.push(`${String(round).padStart(2)}: ${seconds.toFixed(1)} s, RSS peak ${fmt(peak)} after ${fmt(rssMiB(pid))}, heap used after GC ${fmt(mem.heapUsed / MiB)} (V8 heap reserved ${fmt(mem.heapTotal / MiB)}), external ${fmt(mem.external / MiB)}`);
  }
  console.log(`gateway memory (MiB) over ${STREAM_ROUNDS} rounds of 100 concurrent streams:\n  ${rows.join('\n  ')}`);
  const tail = heaps.slice(Math.floor(heaps.length / 2));
  console.log(
    `heap used after GC: round 1 ${fmt(heaps[0] ?? NaN)} → round ${heaps.length} ${fmt(heaps[heaps.length - 1] ?? NaN)} MiB; growth over the last ${tail.length} rounds ${(slope(tail) * 1024).toFixed(1)} KiB/round (a leak of one 20 KB prompt per stream would be ~${((100 * 40 * 1024) / 1024).toFixed(0)} KiB/round)`,
  );
}

export async function run(): Promise<void> {
  console.log('\n# gateway');
  const upstream = await startFakeLlmUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'anklume-bench-gw-'));
  const { url, child } = await startGateway(upstream, dir);
  console.log(`gateway RSS at start ${fmt(rssMiB(child.pid ?? 0))} MiB, load average ${loadAverage()}`);
  gatewayPid = child.pid ?? 0;
  gatewayChild = child;
  try {
    // Answers stay small, as an LLM's are next to its context; they quote the prompt so restoring has work.
    upstream.override((req, res) => {
      const sent = lastContent(req.body);
      const text = JSON.stringify({ type: 'message', role: 'assistant', content: [{ type: 'text', text: `About ${sent.slice(0, 400)}` }], stop_reason: 'end_turn' });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return true;
    });
    if (PARTS.has('latency')) {
      await tenKbRounds(upstream, url, Number(process.env.ANKLUME_BENCH_ROUNDS ?? 3), Number(process.env.ANKLUME_BENCH_RUNS ?? 2000));
      await latency(upstream, url, '200 KB request, sanitized', 200 * 1024, 300);
      await latency(upstream, url, '200 KB request, raw route (proxy only)', 200 * 1024, 300, '127.0.0.2');
      await conversation(upstream, url, 300);

      streamingAnswer(upstream, 3, 0);
      const tenKb = prompt(10 * 1024);
      let n = 0;
      const body = (): string => JSON.stringify({ model: 'claude-x', max_tokens: 100, stream: true, messages: [{ role: 'user', content: `${n++} ${tenKb}` }] });
      const [direct, proxied] = await interleaved(
        500,
        () => post(`${upstream.url}/v1/messages`, body()),
        () => post(`${url}/v1/messages`, body()),
      );
      report('streaming time to first byte (10 KB prompt, sanitized, 500 runs)', direct.map((t) => t.ttfbMs), proxied.map((t) => t.ttfbMs));
    }
    if (PARTS.has('streams')) await streamRounds(upstream, url, child);
  } finally {
    upstream.override(undefined);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await upstream.close();
    for (const a of agents.values()) a.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

// `tsx bench/gateway.ts` runs it alone.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await run();
