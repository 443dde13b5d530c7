// The ports of the services anklume wires: one home, read by the schema's defaults and by everything that computes an address.

/** Ollama's native API port (the ai-tools server). */
export const OLLAMA_PORT = 11434;

/** anklume-sanitizer's port when infra.yml sets no `global.sanitizer.listen_port`. */
export const DEFAULT_SANITIZER_PORT = 8089;
