import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { MCP_TOOL_TASKS } from '../schemas/tasks.js';

/**
 * anklume-mcp-local: explicit delegation to the domain's local model
 * (spec/000 §3 layer 1). Four tools — generate, review, fix, test — each one
 * request in Anthropic's Messages format to the way to the local model that
 * anklume wrote into the MCP config (the sanitizer, which routes the request
 * by its `x-anklume-task` local task type, or Ollama itself in a local
 * domain). It never names a cloud model and never asks to escalate, and the
 * MCP config exists only in domains that have a local route: a cloud domain
 * gets no such server (docs/claude-code.md).
 */

export interface LocalModelTarget {
  /** `http://<sanitizer or ollama>:<port>`, no trailing slash. */
  readonly baseUrl: string;
  readonly model: string;
  /** Most a tool's answer may take; Ollama's own default is unbounded. */
  readonly maxTokens?: number;
  readonly timeoutMs?: number;
}

/** What each tool asks the model, around what the caller gave. */
const INSTRUCTIONS: Record<keyof typeof MCP_TOOL_TASKS, string> = {
  generate: 'Write the code asked for. Answer with the code and nothing else unless asked.',
  review: 'Review this code: list bugs, risks and unclear parts, most important first, each with the line it is about.',
  fix: 'Fix the problem described in this code. Answer with the corrected code, then one line per change saying why.',
  test: 'Write tests for this code, in the language and test framework it already uses. Answer with the test code.',
};

export class LocalModelError extends Error {}

/** One request to the local model; the text of its answer. */
export async function askLocalModel(target: LocalModelTarget, task: string, system: string, prompt: string): Promise<string> {
  const res = await fetch(`${target.baseUrl}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'anklume-mcp-local', 'x-anklume-task': task },
    body: JSON.stringify({ model: target.model, max_tokens: target.maxTokens ?? 4096, system, messages: [{ role: 'user', content: prompt }] }),
    signal: AbortSignal.timeout(target.timeoutMs ?? 600_000),
  }).catch((err: unknown) => {
    throw new LocalModelError(`the local model at ${target.baseUrl} did not answer: ${(err as Error).message}`);
  });
  const text = await res.text();
  if (!res.ok) throw new LocalModelError(`the local model at ${target.baseUrl} answered ${res.status}: ${text.slice(0, 500)}`);
  let body: { content?: { type?: string; text?: string }[] };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new LocalModelError(`the local model at ${target.baseUrl} answered something that is not JSON: ${text.slice(0, 200)}`);
  }
  return (body.content ?? []).filter((b) => b.type === 'text').map((b) => b.text ?? '').join('');
}

export function createLocalServer(target: LocalModelTarget, version: string): McpServer {
  const server = new McpServer({ name: 'anklume-mcp-local', version });
  const describe = {
    generate: "Generate code with the domain's local model (nothing leaves for the cloud).",
    review: "Review code with the domain's local model (nothing leaves for the cloud).",
    fix: "Fix code with the domain's local model (nothing leaves for the cloud).",
    test: "Write tests with the domain's local model (nothing leaves for the cloud).",
  };
  for (const tool of Object.keys(MCP_TOOL_TASKS) as (keyof typeof MCP_TOOL_TASKS)[]) {
    server.registerTool(
      tool,
      {
        description: describe[tool],
        inputSchema: { prompt: z.string().min(1).describe('What to do, with the code it is about.') },
      },
      async ({ prompt }) => {
        try {
          const text = await askLocalModel(target, MCP_TOOL_TASKS[tool], INSTRUCTIONS[tool], prompt);
          return { content: [{ type: 'text' as const, text }] };
        } catch (err) {
          return { isError: true, content: [{ type: 'text' as const, text: (err as Error).message }] };
        }
      },
    );
  }
  return server;
}
