import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VerifyReportFile } from '../../src/daemon/verify-report-file.js';
import { SanitizerMetricsReader } from '../../src/daemon/web/sanitizer-metrics.js';
import { createLogger } from '../../src/shared/logger.js';
import { verifyReport } from '../helpers/status-doc.js';

const logger = createLogger({ name: 'test', level: 'silent', pretty: false });

describe("the status page's inputs", () => {
  it("reads the sanitizer's metrics at most once per period, one request at a time, and bounds what it reads", async () => {
    let requests = 0;
    let body = 'anklume_gateway_active_streams 2\n';
    const server = createServer((_req, res) => {
      requests++;
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      let now = 1_000_000;
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
      const reader = new SanitizerMetricsReader({ url: () => url, ttlMs: 10_000, maxBytes: 1000, now: () => now });
      expect(reader.current()).toEqual({ state: 'pending', url });
      const [a, b] = await Promise.all([reader.refresh(), reader.refresh()]);
      expect(a).toBe(b);
      expect(requests).toBe(1);
      await reader.refresh();
      expect(requests).toBe(1);
      expect(reader.current().state).toBe('ok');
      now += 10_000;
      body = `# ${'x'.repeat(2000)}\n`;
      const big = await reader.refresh();
      expect(requests).toBe(2);
      expect(big).toMatchObject({ state: 'unavailable', reason: 'answer larger than 1000 bytes' });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('says the sanitizer is unavailable when it does not answer in time', async () => {
    const server = createServer(() => undefined); // never answers
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const reader = new SanitizerMetricsReader({ url: () => `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`, timeoutMs: 200 });
      expect(await reader.refresh()).toMatchObject({ state: 'unavailable', reason: 'no answer within 0.2 s' });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('shows a verify report file, follows its changes, and shows none for a missing or malformed one', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'anklume-verify-')), 'verify.json');
    const reports = new VerifyReportFile(file, logger);
    expect(reports.current()).toBeNull();
    const report = verifyReport(['a', 'b']);
    writeFileSync(file, JSON.stringify(report));
    expect(reports.current()).toEqual(report);
    writeFileSync(file, JSON.stringify({ ...report, cells: [{ from: 'a', to: 'b', verdict: 'green' }] }));
    expect(reports.current()).toBeNull();
    writeFileSync(file, '{"half');
    expect(reports.current()).toBeNull();
  });
});
