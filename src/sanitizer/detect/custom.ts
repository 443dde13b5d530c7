import { SanitizeError } from '../errors.js';
import { isWordChar, type Push } from './candidate.js';

export interface CustomPattern {
  readonly name: string;
  readonly regex: RegExp;
}

/**
 * Compile the per-domain extra patterns. A pattern that does not compile, or
 * that matches the empty string (it would match everywhere), is refused here,
 * when the sanitizer is built, not at the first prompt.
 */
export function compileCustomPatterns(patterns: readonly { readonly name: string; readonly regex: string }[]): CustomPattern[] {
  return patterns.map(({ name, regex }) => {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
      throw new SanitizeError(`extra pattern name ${JSON.stringify(name)} must be letters, digits, '.', '_' or '-'`);
    }
    let compiled: RegExp;
    try {
      compiled = new RegExp(regex, 'gd');
    } catch (err) {
      throw new SanitizeError(`extra pattern "${name}": invalid regular expression ${JSON.stringify(regex)}: ${(err as Error).message}`, { cause: err });
    }
    if (new RegExp(`^(?:${regex})$`).test('')) {
      throw new SanitizeError(`extra pattern "${name}": ${JSON.stringify(regex)} matches the empty string`);
    }
    return { name, regex: compiled };
  });
}

/**
 * Run each extra pattern over the text. The value is the group named `value`
 * when the pattern has one, else the whole match. A match counts only as a
 * whole token (not inside a longer word), so that its pseudonym is found again
 * on the way back.
 */
export function scanCustom(text: string, patterns: readonly CustomPattern[], push: Push): void {
  for (const { name, regex } of patterns) {
    regex.lastIndex = 0;
    for (let m = regex.exec(text); m !== null; m = regex.exec(text)) {
      if (m[0] === '') {
        regex.lastIndex++;
        continue;
      }
      const span = m.indices?.groups?.value ?? [m.index, m.index + m[0].length];
      const [start, end] = span;
      if (end === start) continue;
      if (isWordChar(text.charCodeAt(start)) && start > 0 && isWordChar(text.charCodeAt(start - 1))) continue;
      if (isWordChar(text.charCodeAt(end - 1)) && end < text.length && isWordChar(text.charCodeAt(end))) continue;
      push({ start, end, category: 'custom', pattern: `custom.${name}`, kind: 'custom', marker: `[${name.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}]` });
    }
  }
}
