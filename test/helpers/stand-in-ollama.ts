import type { IncusClient } from '../../src/incus/index.js';
import { incusExec, waitForAddress } from './incus.js';

/** Where the stand-in keeps the body of the last request it got. */
export const STAND_IN_REQUEST_LOG = '/var/log/ollama-request';

/**
 * A stand-in Ollama on port 11434 of an instance (the test image has no
 * Ollama and no model): systemd socket activation runs one shell per
 * connection, which keeps the request body in {@link STAND_IN_REQUEST_LOG}
 * and answers `reply` (a JSON text, without single quotes) with 200.
 */
export async function startStandInOllama(client: IncusClient, project: string, instance: string, address: string, reply: string): Promise<void> {
  if (reply.includes("'")) throw new Error('the stand-in reply is put in single quotes: it may not hold one');
  const script = [
    '#!/bin/sh',
    'len=0',
    'while IFS= read -r line; do',
    '  line=$(printf "%s" "$line" | tr -d "\\r")',
    '  [ -z "$line" ] && break',
    '  case "$line" in [Cc]ontent-[Ll]ength:*) len=$(printf "%s" "${line#*:}" | tr -d " ");; esac',
    'done',
    `[ "$len" -gt 0 ] && head -c "$len" > ${STAND_IN_REQUEST_LOG}`,
    `body='${reply}'`,
    'printf "HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: %s\\r\\nConnection: close\\r\\n\\r\\n%s" "${#body}" "$body"',
    '',
  ].join('\n');
  await waitForAddress(project, instance, address);
  await client.pushFile(project, instance, '/usr/local/bin/fake-ollama', script, { mode: 0o755 });
  await client.pushFile(project, instance, '/etc/systemd/system/fake-ollama.socket', '[Socket]\nListenStream=11434\nAccept=yes\n');
  await client.pushFile(project, instance, '/etc/systemd/system/fake-ollama@.service', '[Service]\nExecStart=/usr/local/bin/fake-ollama\nStandardInput=socket\n');
  const started = await incusExec(project, instance, ['sh', '-c', 'systemctl daemon-reload && systemctl start fake-ollama.socket']);
  if (started.code !== 0) throw new Error(`the stand-in Ollama did not start: ${started.stderr}`);
}
