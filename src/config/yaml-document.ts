import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import type { IssuePath, ValidationIssue } from './issues.js';

/** A parsed YAML file that can say where any path of it was written. */
export interface SourceDocument {
  /** The plain data (maps → objects, sequences → arrays). */
  readonly data: unknown;
  /** Syntax errors, each with its position. */
  readonly syntaxIssues: readonly (ValidationIssue & { line: number; column: number })[];
  /** 1-based line and column of the node at `path` (or of its key), falling back to the nearest ancestor. */
  locate(path: IssuePath, options?: { atKey?: boolean }): { line: number; column: number };
}

export function parseSource(text: string): SourceDocument {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const syntaxIssues = doc.errors.map((err) => {
    const pos = lineCounter.linePos(err.pos[0]);
    return {
      rule: 'yaml-syntax',
      path: [],
      message: `YAML syntax error: ${firstLine(err.message)}`,
      line: pos.line,
      column: pos.col,
    };
  });
  const data: unknown = doc.errors.length > 0 ? undefined : doc.toJS({ maxAliasCount: 100 });
  return {
    data,
    syntaxIssues,
    locate(path, options) {
      const offset = findOffset(doc, path, options?.atKey === true);
      const pos = lineCounter.linePos(offset);
      return { line: pos.line, column: pos.col };
    },
  };
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

/** Walk the document along `path`; stop at the deepest node that exists. */
function findOffset(doc: Document, path: IssuePath, atKey: boolean): number {
  let node: Node | null = doc.contents;
  let offset = node?.range?.[0] ?? 0;
  for (const [i, seg] of path.entries()) {
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (pair === undefined) return offset;
      const key = pair.key as Node;
      if (last && atKey) return key.range?.[0] ?? offset;
      const value = pair.value as Node | null;
      // A key with no value (`ip:`) has no range of its own: point at the key.
      offset = value?.range?.[0] ?? key.range?.[0] ?? offset;
      node = value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (item === undefined) return offset;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      return offset;
    }
  }
  return offset;
}
