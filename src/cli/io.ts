/** Where a command prints, and how. Built in src/bin; tests pass their own. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Colour only on a terminal, and never when NO_COLOR is set. */
  readonly color: boolean;
  /** A snapshot of the environment, read once in src/bin. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

const CODES = { red: 31, green: 32, yellow: 33, blue: 34, dim: 2, bold: 1 } as const;

export type Style = keyof typeof CODES;

export function paint(io: CliIo, style: Style, text: string): string {
  return io.color ? `\u001b[${CODES[style]}m${text}\u001b[0m` : text;
}

/** Exit statuses of every anklumectl command (DESIGN.md §2). */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/**
 * Progress on long work (issue 15): a line per step with the time elapsed
 * since the command started, dimmed on a terminal. Commands that print JSON
 * give an io whose stdout goes nowhere, so nothing extra reaches the document.
 */
export function progress(io: CliIo): (line: string) => void {
  const started = performance.now();
  return (line) => {
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    io.stdout(`${paint(io, 'dim', `[${seconds.padStart(5)}s]`)} ${line}\n`);
  };
}
