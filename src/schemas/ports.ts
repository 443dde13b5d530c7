// The ports of the services anklume wires: one home, read by the schema's defaults and by everything that computes an address.

/** Ollama's native API port (the ai-tools server). */
export const OLLAMA_PORT = 11434;

/** anklume-sanitizer's port when infra.yml sets no `global.sanitizer.listen_port`. */
export const DEFAULT_SANITIZER_PORT = 8089;

/**
 * The domain view API (docs/monitoring.md): anklumed serves it on each
 * domain's gateway address at this port unless `global.domain_view.port` says
 * otherwise. Not 53 or 67: dnsmasq holds those on the gateway.
 */
export const DEFAULT_DOMAIN_VIEW_PORT = 8187;
