#!/usr/bin/env node
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createLocalServer } from '../mcp/local-server.js';

/**
 * anklume-mcp-local: the stdio MCP server of explicit local delegation
 * (docs/claude-code.md). Claude Code starts it from the MCP config anklume
 * writes, which gives it ANKLUME_LOCAL_BASE_URL and ANKLUME_LOCAL_MODEL.
 * stdout is the protocol: messages go to stderr.
 */
const baseUrl = process.env.ANKLUME_LOCAL_BASE_URL;
const model = process.env.ANKLUME_LOCAL_MODEL;
if (baseUrl === undefined || !/^https?:\/\/[^\s/]+$/.test(baseUrl) || model === undefined || model.trim() === '') {
  process.stderr.write('anklume-mcp-local: ANKLUME_LOCAL_BASE_URL (http://host:port) and ANKLUME_LOCAL_MODEL must be set; anklume writes them into the MCP config of claude_code machines\n');
  process.exit(2);
}
const server = createLocalServer({ baseUrl, model }, '0.1.0');
await server.connect(new StdioServerTransport());
