import { Command, CommanderError, Option } from 'commander';
import { HOST_FILES, resolveInfraPath } from '../config/paths.js';
import { SCHEMA_KIND_NAMES } from '../schemas/schema-kinds.js';
import { AnklumeError, UsageError, describeError } from '../shared/errors.js';
import { EXIT, paint, type CliIo } from './io.js';
import type { AiEnvCommandOptions } from './ai-env.js';
import type { ApplyCommandOptions } from './apply.js';
import type { DemoCommandOptions } from './demo.js';
import type { InspectCommandOptions } from './inspect.js';
import { addIncusOptions } from './options.js';
import { DEFAULT_CONCURRENCY } from '../config/incus-endpoint.js';
import type { PlanCommandOptions } from './plan.js';
import type { ReconcileCommandOptions } from './reconcile.js';
import type { StatusCommandOptions } from './status.js';
import type { SwitchAiCommandOptions } from './switch-ai.js';
import type { VerifyCommandOptions } from './verify.js';
// Defaults only (no command code): the help text shows them.
import { VERIFY_DEFAULTS } from '../verify/defaults.js';

// Each action imports its command's module when it runs: `--version`,
// `--help` and a command load only what they need (the model, zod, the Incus
// client and the controllers are most of the start-up time).

const configOption = (): Option =>
  new Option('-f, --config <path>', `infra.yml to read (env ANKLUME_CONFIG, default ${HOST_FILES.infra})`);

const socketOption = (): Option =>
  new Option('--socket <path>', `anklumed control socket (env ANKLUME_SOCKET, default ${HOST_FILES.controlSocket})`);

const lockOption = (): Option =>
  new Option('--lock <path>', `without a daemon: the host's writer lock, an flock anklumed holds while it runs (env ANKLUME_LOCK, default ${HOST_FILES.writerLock})`);

const STATUS_EXIT_HELP = `
Without a running anklumed, the same view is computed from infra.yml and Incus
(no events, no queue, nothing applied).

Exit status:
  0  infra.yml is valid, Incus was read, the live firewall rules match
     infra.yml, and every domain is Ready
     (a disabled domain counts as Ready: it is left alone on purpose)
  1  a domain is Degraded or not converged yet, the firewall differs or
     cannot be managed, infra.yml is invalid, Incus is unreachable, or
     anklumed failed to answer
  2  usage error
With --watch: the status of the last refresh (Ctrl-C stops).
`;

const VERIFY_HELP = `
Every probe's expectation is the verdict of the table anklume renders from
infra.yml (with the AI access holder read from Incus) on its first packet.
A TCP pass is a real connect to a listener verify starts in the target for
the run (nc -lk under timeout, killed afterwards); a block is silence (the
table drops). Instances need nc, ping and timeout; one without them is
reported as not verifiable, never as passing. See docs/verify.md.

Exit status:
  0  every cell was verified and matches infra.yml
  1  a cell differs (an unexpected pass or block), something could not be
     verified, infra.yml is invalid, or Incus could not be used
  2  usage error (a flag value out of range)
`;

/**
 * Build anklumectl. Each command's action stores its exit status; errors are
 * mapped once, here: usage → 2, anything else → 1, with one clear line.
 */
export function buildProgram(io: CliIo, setStatus: (status: number) => void): Command {
  const program = new Command('anklumectl')
    .description('Drive anklume: validate infra.yml, plan and apply it, watch status, switch AI access.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride();

  program
    .command('validate')
    .description('Check infra.yml: syntax, schema and every rule. Prints all errors with file:line:col; changes nothing.')
    .addOption(configOption())
    .option('--json', 'print the result (errors, or the resolved model) as JSON')
    .action(async (opts: { config?: string; json?: boolean }) => {
      setStatus(await (await import('./validate.js')).runValidate({ file: resolveInfraPath({ flag: opts.config, env: io.env }), json: opts.json === true }, io));
    });

  addIncusOptions(
    program
      .command('plan')
      .description('Show what apply would do, per domain, each action with its reason. Read-only.')
      .addOption(configOption())
      .option('--json', 'print the plan as JSON')
      .option('--prune', 'include deleting managed objects that left infra.yml')
      .option('--force', 'plan as apply --force would: renumbering, protected instances, passes deleting over half of them')
      .option('--detailed-exitcode', 'exit 2 when changes are pending (0 when none)')
      .option('--storage-pool <pool>', 'pool for root disks (default: the pool of the default profile)'),
  ).action(async (opts: PlanCommandOptions) => {
    setStatus(await (await import('./plan.js')).runPlan(opts, io));
  });

  addIncusOptions(
    program
      .command('apply')
      .description('Converge Incus to infra.yml once: a line per action, a summary; exit 1 if anything failed. Through anklumed when it runs (on its own infra.yml only); otherwise directly, under the writer lock.')
      .addOption(configOption())
      .option('--prune', 'delete managed objects (only anklume\'s own) that left infra.yml')
      .option('--force', 'renumber a domain whose subnet changed; with --prune, also delete protected instances and allow deleting over half of them')
      .option('--parallel <n>', 'without a daemon: actions in flight at once', String(DEFAULT_CONCURRENCY))
      .option('--storage-pool <pool>', 'without a daemon: pool for root disks (default: the pool of the default profile)')
      .addOption(socketOption())
      .addOption(lockOption())
      .option('--no-wait', 'without a daemon: refuse at once when another writer holds the lock (default: wait up to 30 s)'),
  ).action(async (opts: ApplyCommandOptions) => {
    setStatus(await (await import('./apply.js')).runApply(opts, io));
  });

  addIncusOptions(
    program
      .command('status')
      .description('Show every domain and instance with its Ready/Progressing/Degraded state and reason: from anklumed, or computed without it.')
      .addOption(configOption())
      .option('--json', 'print the status document as JSON (with --watch: one document per line)')
      .option('-w, --watch', 'refresh every --interval seconds until Ctrl-C')
      .option('--interval <seconds>', 'seconds between refreshes with --watch', '2')
      .addOption(socketOption())
      .option('--storage-pool <pool>', 'without a daemon: pool for root disks (default: the pool of the default profile)')
      // Bounds --watch for tests; not a user feature.
      .addOption(new Option('--max-refreshes <n>').hideHelp()),
  )
    .addHelpText('after', STATUS_EXIT_HELP)
    .action(async (opts: StatusCommandOptions) => {
      // SIGINT ends --watch between refreshes (or aborts the one in flight) and the command returns normally.
      const stop = new AbortController();
      const onSigint = (): void => stop.abort();
      if (opts.watch === true) process.once('SIGINT', onSigint);
      try {
        setStatus(await (await import('./status.js')).runStatus(opts, io, { signal: stop.signal }));
      } finally {
        process.off('SIGINT', onSigint);
      }
    });

  addIncusOptions(
    program
      .command('switch-ai')
      .description('Give exclusive AI access to <domain>: record it as the wanted holder, then converge through recorded phases (revoke the holder, its open connections cut; stop the GPU services; flush VRAM; grant; restart) that resume after a crash. Through anklumed when it runs, else here under the writer lock.')
      .argument('<domain>', 'the domain that gets access to ai-tools')
      .addOption(configOption())
      .option('--no-flush', 'do not clear GPU memory between domains (prints a security warning)')
      .option('--dry-run', 'print the steps and change nothing')
      .option('--json', 'print the result as JSON')
      .addOption(socketOption())
      .option('--ai-state-file <path>', `without a daemon: the holder file (env ANKLUME_AI_STATE_FILE, default ${HOST_FILES.aiAccessState})`)
      .option('--ai-switch-log <path>', `without a daemon: the switch log (env ANKLUME_AI_SWITCH_LOG, default ${HOST_FILES.aiSwitchLog})`)
      .addOption(lockOption()),
  ).action(async (domain: string, opts: SwitchAiCommandOptions) => {
    setStatus(await (await import('./switch-ai.js')).runSwitchAi(domain, opts, io));
  });

  const demo = program
    .command('demo')
    .description('A demo on this host: three domains, two policies, exclusive AI access without a GPU. `demo up` converges it, `demo status` shows it, `demo down` removes everything it made.');
  addIncusOptions(
    demo
      .command('up')
      .description('Check the host (Incus reachable, no other anklume infra), write the demo\'s infra.yml under the state directory, converge it with progress, wait until every domain is Ready, print the status. Refuses, changing nothing, on a host another anklume infra manages.')
      .option('--image <image>', `image of the demo's instances (default: the local alias ${'debian/13'} when present, else images:debian/13)`)
      .option('--timeout <seconds>', 'how long to wait for every domain to be Ready', '180')
      .option('--json', 'print {infra, status} as JSON at the end, and no progress')
      .addOption(socketOption())
      .addOption(lockOption())
      .option('--no-wait', 'refuse at once when another writer holds the lock'),
  ).action(async (opts: DemoCommandOptions) => {
    setStatus(await (await import('./demo.js')).runDemoUp(opts, io));
  });
  addIncusOptions(
    demo
      .command('down')
      .description('Remove what `demo up` made: the demo\'s instances, profiles, projects and bridges (only objects marked as the demo\'s), its firewall table and its folder; then list Incus to check none is left.')
      .option('--json', 'print {removed, remaining, firewall, folder} as JSON, and no progress')
      .addOption(socketOption())
      .addOption(lockOption())
      .option('--no-wait', 'refuse at once when another writer holds the lock'),
  ).action(async (opts: DemoCommandOptions) => {
    setStatus(await (await import('./demo.js')).runDemoDown(opts, io));
  });
  addIncusOptions(
    demo
      .command('status')
      .description('`anklumectl status` on the demo\'s infra.yml.')
      .option('--json', 'print the status document as JSON')
      .addOption(socketOption()),
  ).action(async (opts: DemoCommandOptions) => {
    setStatus(await (await import('./demo.js')).runDemoStatus(opts, io));
  });

  const ai = program.command('ai').description("The domains' AI set-up for a developer's tools (docs/claude-code.md).");
  ai
    .command('env')
    .description("Print what routes a domain's Claude Code through anklume: ANTHROPIC_BASE_URL and the models (the sanitizer, or Ollama in a local domain), Anthropic's direct traffic off, the router to use per task and the MCP config of local delegation. Reads infra.yml; changes nothing.")
    .argument('<domain>', 'a domain with a machine of role claude_code')
    .addOption(configOption())
    .option('--shell', 'print only `export` lines, for eval "$(anklumectl ai env <domain> --shell)"')
    .option('--json', 'print {domain, via, env, router, mcp} as JSON')
    .action(async (domain: string, opts: Omit<AiEnvCommandOptions, 'config'> & { config?: string }) => {
      setStatus(await (await import('./ai-env.js')).runAiEnv(domain, { ...opts, config: resolveInfraPath({ flag: opts.config, env: io.env }) }, io));
    });

  addIncusOptions(
    program
      .command('inspect')
      .description('Inspect a domain\'s network from inside it (spec/000 §6): nmap, tcpdump headers, neighbours and sockets from its network_probe machine (else a short-lived probe), an inventory, and findings by code — hosts, ports and traffic infra.yml does not explain, changes since the baseline. Exit 1 on a critical or suspect finding.')
      .argument('<domain>', 'the domain to inspect')
      .addOption(configOption())
      .option('--scan', 'nmap the domain\'s subnet with service detection')
      .option('--capture <duration>', 'capture packet headers (never payloads) on the probe for this long: 30s, 2m (at most 5m)')
      .option('--max-packets <n>', 'stop a capture after this many packets', '10000')
      .option('--since <run>', 'compare with this run (and make it the baseline) instead of the recorded baseline')
      .option('--keep <n>', 'runs kept per domain (the baseline is always kept)', '20')
      .option('--no-triage', 'skip the local model\'s triage (level 2 stays by code)')
      .option('--model <name>', 'local model for the triage (default: the domain\'s OpenClaw local_model)')
      .option('--escalate <task-type>', 'level 3: send the inventory and findings (never a raw output or payload) to the cloud model through the sanitizer, as one of the cloud task types: correlation, forensics, incident-analysis, architecture, report')
      .option('--json', 'print the report as JSON'),
  ).action(async (domain: string, opts: InspectCommandOptions) => {
    setStatus(await (await import('./inspect.js')).runInspect(domain, opts, io));
  });

  addIncusOptions(
    program
      .command('verify')
      .description('Prove isolation with real packets: TCP connects (the ports the rules name, a closed control port) and ICMP from inside the instances and from the host, for every ordered pair of domains and every machine a policy names, compared with what the firewall rendered from infra.yml declares. Prints the matrix; exit 1 if a cell differs or could not be verified. Read-only.')
      .addOption(configOption())
      .option('--json', 'print the report as JSON (no progress lines)')
      .option('--parallel <n>', `probes in flight at once (1-64, default ${VERIFY_DEFAULTS.parallel})`)
      .option('--probe-timeout <seconds>', `how long one probe waits for an answer; silence after it is a block (1-30, default ${VERIFY_DEFAULTS.probeTimeoutSeconds})`)
      .option('--timeout <duration>', `the whole run, e.g. 90s or 5m; probes past it are not sent and their cells are not verifiable (default ${VERIFY_DEFAULTS.timeoutMs / 1000}s)`)
      .option('--max-probes <n>', `refuse, before sending anything, a run that needs more probes (default ${VERIFY_DEFAULTS.maxProbes})`)
      .option('--control-port <port>', `a TCP port no rule names, probed between every pair (default ${VERIFY_DEFAULTS.controlPort})`),
  )
    .addHelpText('after', VERIFY_HELP)
    .action(async (opts: VerifyCommandOptions) => {
      const stop = new AbortController();
      const onSigint = (): void => stop.abort();
      process.once('SIGINT', onSigint);
      try {
        setStatus(await (await import('./verify.js')).runVerifyCommand(opts, io, { signal: stop.signal }));
      } finally {
        process.off('SIGINT', onSigint);
      }
    });

  program
    .command('reconcile')
    .description('Ask anklumed to reconcile these domains (all when none) now, ahead of its own work. Needs the daemon; `apply` does the same without it.')
    .argument('[domain...]', 'domains to reconcile (default: all)')
    .addOption(socketOption())
    .action(async (domains: string[], opts: ReconcileCommandOptions) => {
      setStatus(await (await import('./reconcile.js')).runReconcile(domains, opts, io));
    });

  program
    .command('sanitize')
    .description('Preview the LLM gateway\'s sanitizing: read stdin, print what would leave (stdout) and a table of replacements (stderr).')
    .addOption(configOption())
    .addOption(new Option('--mode <mode>', 'mask or pseudonymize (default: global.sanitizer.mode of infra.yml)').choices(['mask', 'pseudonymize']))
    .option('--domain <domain>', 'the domain whose identifiers and policy apply (default: the first domain of infra.yml)')
    .option('--secret-file <path>', "the domain's pseudonym secret; without it a fixed preview secret is used and pseudonyms differ from the gateway's")
    .option('--json', 'print {domain, mode, text, replacements} as JSON')
    .action(async (opts: { config?: string; mode?: 'mask' | 'pseudonymize'; domain?: string; secretFile?: string; json?: boolean }) => {
      const file = resolveInfraPath({ flag: opts.config, env: io.env });
      const options = { file, json: opts.json === true, ...(opts.mode === undefined ? {} : { mode: opts.mode }), ...(opts.domain === undefined ? {} : { domain: opts.domain }), ...(opts.secretFile === undefined ? {} : { secretFile: opts.secretFile }) };
      setStatus(await (await import('./sanitize.js')).runSanitize(options, io, () => readStdin()));
    });

  program
    .command('schema')
    .description('Print the JSON Schema of infra.yml (or of one kind) generated from the zod schemas.')
    .argument('[kind]', `one of ${SCHEMA_KIND_NAMES.join(', ')}`, 'infra')
    .action(async (kind: string) => {
      setStatus((await import('./schema.js')).runSchema(kind, io));
    });

  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const command of all(program).slice(1)) command.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  return program;
}

/** All of stdin, as UTF-8 (the sanitize preview's input). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Run anklumectl with `argv` (without node and script); resolves to the exit status. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let status: number = EXIT.ok;
  const program = buildProgram(io, (s) => {
    status = s;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return status;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with exit code 0.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof UsageError) {
      io.stderr(`${paint(io, 'red', 'error:')} ${err.message}\n`);
      return EXIT.usage;
    }
    const prefix = err instanceof AnklumeError ? '' : 'unexpected error: ';
    io.stderr(`${paint(io, 'red', 'error:')} ${prefix}${describeError(err)}\n`);
    return EXIT.failure;
  }
}
