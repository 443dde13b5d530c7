import { spawnSync } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askLocalModel } from '../../src/mcp/local-server.js';
import { MCP_TOOL_TASKS } from '../../src/schemas/tasks.js';
import { startFakeLlmUpstream, startTestGateway, type FakeLlmUpstream, type TestGateway } from '../helpers/fake-llm-upstream.js';

// anklume-mcp-local as Claude Code runs it (a child process on stdio), driven
// by the MCP SDK's own client, through the real gateway on loopback: the
// local-first domain `pro` (loopback is mapped to it), a stand-in Ollama and
// a recording fake cloud. Each tool's request must reach the stand-in and
// nothing the fake cloud.

const ENTRY = ['--import', 'tsx', 'src/bin/anklume-mcp-local.ts'];
let cloud: FakeLlmUpstream;
let ollama: FakeLlmUpstream;
let gateway: TestGateway;
let client: Client;

beforeAll(async () => {
  cloud = await startFakeLlmUpstream();
  ollama = await startFakeLlmUpstream();
  gateway = await startTestGateway({
    upstream: cloud,
    sourceHeader: false,
    config: { upstreams: { ollama: ollama.url }, sources: [{ cidr: '127.0.0.0/8', domain: 'pro' }] },
  });
  client = new Client({ name: 'anklume-test', version: '0' });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: ENTRY, env: { PATH: process.env.PATH ?? '', ANKLUME_LOCAL_BASE_URL: gateway.url, ANKLUME_LOCAL_MODEL: 'qwen2.5-coder:32b' }, stderr: 'pipe' }));
}, 60_000);
afterAll(async () => {
  await client.close();
  await gateway.close();
  await ollama.close();
  await cloud.close();
});

describe('anklume-mcp-local', () => {
  it('offers generate, review, fix and test', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['fix', 'generate', 'review', 'test']);
  });

  it('each tool asks the local model through the gateway with its local task type; the cloud receives nothing', async () => {
    const tasks = { generate: 'codegen', review: 'triage', fix: 'codegen', test: 'codegen' } as const;
    for (const [tool, task] of Object.entries(tasks)) {
      const before = ollama.requests.length;
      const result = await client.callTool({ name: tool, arguments: { prompt: `${tool} the parser of pro-db` } });
      expect(result.isError).toBeFalsy();
      const text = (result.content as { type: string; text: string }[]).map((c) => c.text).join('');
      // The stand-in echoes what it was asked: the answer came from it.
      expect(text).toContain(`${tool} the parser of pro-db`);
      const seen = ollama.requests.slice(before);
      expect(seen).toHaveLength(1);
      expect(seen[0]?.url).toBe('/v1/messages');
      expect(seen[0]?.body.model).toBe('qwen2.5-coder:32b');
      expect(seen[0]?.body.messages[0].content).toBe(`${tool} the parser of pro-db`);
      // The gateway keeps x-anklume-* to itself.
      expect(seen[0]?.headers['x-anklume-task']).toBeUndefined();
      expect(MCP_TOOL_TASKS[tool as keyof typeof MCP_TOOL_TASKS]).toBe(task);
    }
    expect(ollama.requests).toHaveLength(4);
    expect(cloud.requests).toHaveLength(0);
    expect(cloud.started).toHaveLength(0);
  });

  it('sends each tool\'s local task type as x-anklume-task (seen by a recorder in the gateway\'s place)', async () => {
    const before = ollama.requests.length;
    await askLocalModel({ baseUrl: ollama.url, model: 'm' }, MCP_TOOL_TASKS.review, 'sys', 'look');
    expect(ollama.requests[before]?.headers['x-anklume-task']).toBe('triage');
    expect(ollama.requests[before]?.headers['x-anklume-escalate']).toBeUndefined();
    expect(ollama.requests[before]?.body.system).toBe('sys');
  });

  it('an error of the local route comes back as a tool error, not a cloud fallback', async () => {
    ollama.override((_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"error":"model not loaded"}');
      return true;
    });
    try {
      const result = await client.callTool({ name: 'generate', arguments: { prompt: 'x' } });
      expect(result.isError).toBe(true);
      expect(JSON.stringify(result.content)).toMatch(/answered 50\d/);
      expect(cloud.requests).toHaveLength(0);
    } finally {
      ollama.override(undefined);
    }
  });

  it('refuses to start without the way to the local model, saying what is missing', () => {
    const run = spawnSync(process.execPath, ENTRY, { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, input: '' });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('ANKLUME_LOCAL_BASE_URL (http://host:port) and ANKLUME_LOCAL_MODEL must be set');
    expect(run.stdout).toBe('');
  });
});
