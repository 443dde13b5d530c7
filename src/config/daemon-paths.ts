/** Where anklumed listens for anklumectl (DESIGN.md §2). */
export const DEFAULT_CONTROL_SOCKET = '/run/anklume/anklumed.sock';

/** `--socket` first, then ANKLUME_SOCKET, then /run/anklume/anklumed.sock (the same for both programs). */
export function resolveControlSocket(options: { flag?: string | undefined; env: Readonly<Record<string, string | undefined>> }): string {
  return options.flag ?? options.env.ANKLUME_SOCKET ?? DEFAULT_CONTROL_SOCKET;
}

/** Where anklume keeps what it generates on the host (OpenClaw gateway tokens, ...). */
export const DEFAULT_STATE_DIR = '/var/lib/anklume';

export function resolveStateDir(env: Readonly<Record<string, string | undefined>>): string {
  return env.ANKLUME_STATE_DIR ?? DEFAULT_STATE_DIR;
}
