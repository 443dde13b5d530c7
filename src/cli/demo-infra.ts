/**
 * The infra `anklumectl demo up` converges (issue 15): three domains, a few
 * machines, two policies, exclusive AI access held by one domain, with a
 * CPU-only ai-tools domain — no GPU, no cloud key, nothing to download but
 * the image. Every name starts with `demo-` and the infra has a project_name
 * of its own, so the demo never touches (nor is confused with) a real infra.
 */
export const DEMO_INFRA_NAME = 'anklume-demo';

/** The local image alias scripts/incus-setup.sh provides; else the public image server's. */
export const DEMO_LOCAL_IMAGE = 'debian/13';
export const DEMO_REMOTE_IMAGE = 'images:debian/13';

export function demoInfraText(image: string): string {
  return `# The anklume demo (anklumectl demo up). Removed by anklumectl demo down.
project_name: ${DEMO_INFRA_NAME}
global:
  default_os_image: ${JSON.stringify(image)}
  ai_access_policy: exclusive   # one domain at a time reaches the AI tools
  ai_tools_domain: demo-ai
  ai_access_default: demo-work
  ai_vram_flush: false          # no GPU here, nothing to flush
domains:
  demo-work:
    description: Work; holds AI access at first
    trust_level: trusted
    ai_provider: local
    machines:
      demo-work-dev:
        description: Development box; the host may SSH into it
      demo-work-db:
        description: A database only demo-work reaches
  demo-lab:
    description: Untrusted experiments; reaches no other domain
    trust_level: untrusted
    machines:
      demo-lab-box:
        description: Throw-away box
  demo-ai:
    description: Local AI on the CPU; reached only by the holder of AI access
    trust_level: semi-trusted
    machines:
      demo-ai-cpu:
        description: Where Ollama would run (no GPU)
        roles: [ollama_server]
network_policies:
  - description: SSH from the host into the dev box
    from: host
    to: demo-work-dev
    ports: [22]
  - description: Ollama for the domain holding AI access (switch-ai moves it)
    from: demo-work
    to: demo-ai
    ports: [11434]
`;
}
