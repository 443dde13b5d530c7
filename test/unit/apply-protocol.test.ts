import { describe, expect, it } from 'vitest';
import { outcomeEvent, parseApplyEvent, parseApplyRequest, parseApplySummary, startEvent, summarizeApply, type ApplyEvent } from '../../src/controllers/apply-protocol.js';
import type { Action } from '../../src/reconcile/action.js';
import type { Outcome } from '../../src/reconcile/execute.js';
import { describeHolder, parseHolder } from '../../src/shared/writer-lock.js';

const action = (name: string): Action => ({ id: `instance/pro/${name}`, group: 'pro', kind: 'instance', name, verb: 'create', reason: 'missing', changes: [{ key: 'a', to: 'b' }], after: [], payload: { secret: 'never on the wire' } });
const ref = { id: 'instance/pro/a', group: 'pro', kind: 'instance', name: 'a', verb: 'create', reason: 'missing' } as const;

describe('apply protocol events', () => {
  it('carry an action without its payload or changes', () => {
    expect(startEvent(action('a'))).toEqual({ type: 'start', action: ref });
    expect(JSON.stringify(startEvent(action('a')))).not.toContain('never on the wire');
  });

  it.each<[string, Outcome, ApplyEvent]>([
    ['done', { status: 'done', action: action('a'), ms: 12 }, { type: 'outcome', action: ref, status: 'done', ms: 12 }],
    ['failed', { status: 'failed', action: action('a'), ms: 3, error: 'boom', cause: new Error('boom') }, { type: 'outcome', action: ref, status: 'failed', ms: 3, error: 'boom' }],
    ['skipped', { status: 'skipped', action: action('a'), reason: 'interrupted' }, { type: 'outcome', action: ref, status: 'skipped', reason: 'interrupted' }],
  ])('turns a %s outcome into an event that survives JSON', (_name, outcome, event) => {
    expect(outcomeEvent(outcome)).toEqual(event);
    expect(parseApplyEvent(JSON.parse(JSON.stringify(outcomeEvent(outcome))))).toEqual(event);
  });

  it.each([
    ['a note', { type: 'note', message: 'waiting' }, { type: 'note', message: 'waiting' }],
    ['an unknown type', { type: 'progress', action: ref }, undefined],
    ['an unknown verb', { type: 'start', action: { ...ref, verb: 'explode' } }, undefined],
    ['a failure without its error', { type: 'outcome', action: ref, status: 'failed', ms: 1 }, undefined],
    ['not an object', 'start', undefined],
  ])('parses %s', (_name, value, expected) => {
    expect(parseApplyEvent(value)).toEqual(expected);
  });
});

describe('apply protocol summary and request', () => {
  it('counts a pass and survives JSON', () => {
    const a = action('a');
    const b = action('b');
    const summary = summarizeApply(
      { actions: [a, b], notes: [{ group: 'pro', kind: 'instance', name: 'old', message: 'kept' }] },
      [{ status: 'done', action: a, ms: 1 }, { status: 'skipped', action: b, reason: 'blocked' }],
      { ms: 40, requests: { requests: 9, writes: 2 } },
    );
    expect(summary).toEqual({ actions: 2, done: 1, failed: 0, skipped: 1, notes: [{ group: 'pro', kind: 'instance', name: 'old', message: 'kept' }], requests: { requests: 9, writes: 2 }, ms: 40 });
    expect(parseApplySummary(JSON.parse(JSON.stringify(summary)))).toEqual(summary);
  });

  it('refuses a summary with a missing count or a malformed note', () => {
    expect(parseApplySummary({ actions: 1, done: 1, failed: 0, notes: [], ms: 1 })).toBeUndefined();
    expect(parseApplySummary({ actions: 1, done: 1, failed: 0, skipped: 0, notes: [{ group: 'pro' }], ms: 1 })).toBeUndefined();
    expect(parseApplySummary({ actions: 1, done: 1, failed: 0, skipped: 0, notes: [], ms: 1, requests: { requests: 'many' } })).toBeUndefined();
  });

  it.each([
    [{}, { prune: false, force: false }],
    [{ prune: true }, { prune: true, force: false }],
    [{ prune: false, force: true }, { prune: false, force: true }],
    [{ prune: 'yes' }, undefined],
    [[], undefined],
  ])('reads the request %j', (body, expected) => {
    expect(parseApplyRequest(body)).toEqual(expected);
  });
});

describe('the writer lock file names its holder', () => {
  it.each([
    ['1234 anklumed\n', { pid: 1234, purpose: 'anklumed' }],
    ['1234 anklumectl apply\n', { pid: 1234, purpose: 'anklumectl apply' }],
    ['1234 anklumectl switch-ai pro', { pid: 1234, purpose: 'anklumectl switch-ai pro' }],
    ['', undefined],
    ['0 nobody\n', undefined],
    ['abc anklumed\n', undefined],
    ['1234 two\nlines\n', undefined],
  ])('parses %j', (text, expected) => {
    expect(parseHolder(text)).toEqual(expected);
  });

  it('says whom it names, or that it names nobody yet', () => {
    expect(describeHolder({ pid: 1234, purpose: 'anklumectl apply' })).toBe('pid 1234 (anklumectl apply)');
    expect(describeHolder(undefined)).toBe('a process that has not written its name yet');
  });
});
