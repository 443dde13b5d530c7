import { async, error, operation, startFakeIncus, sync, type FakeIncus, type Reply, type SeenRequest } from './fake-incus.js';

type Obj = { name: string; description: string; config: Record<string, string>; devices?: Record<string, Record<string, string>>; [k: string]: unknown };

/**
 * An Incus that keeps projects, bridges, profiles and instances in memory,
 * behind a real HTTP server on a temporary unix socket: enough of the REST
 * API for the reconcilers (bulk lists, creates, ETag'd read-modify-write,
 * state changes, operations). `hold` makes matching requests hang until
 * released; `fail` makes them fail once: the error and deadline paths.
 */
export interface MemoryIncus {
  readonly fake: FakeIncus;
  readonly socketPath: string;
  readonly projects: Map<string, Obj>;
  readonly networks: Map<string, Obj>;
  /** By `project/name`. */
  readonly profiles: Map<string, Obj>;
  readonly instances: Map<string, Obj & { status: string; project: string }>;
  /** Requests other than GET, as `METHOD path`. */
  writes(): string[];
  /** Requests matching `pattern` (`METHOD path`; a create also as `POST path/name`) hang until the returned function is called. */
  hold(pattern: RegExp): () => void;
  /** The next request matching `pattern` fails with a 500 and this message. */
  fail(pattern: RegExp, message: string): void;
  /** How commands run in instances answer (the `timeout` wrapper taken off); default: exit 0, no output. */
  onExec(answer: (instance: string, command: readonly string[]) => { code: number; stdout?: string; stderr?: string }): void;
  /** Files pushed into instances, by `project/instance:path`. */
  readonly files: Map<string, string>;
  close(): Promise<void>;
}

const collections = ['projects', 'networks', 'profiles', 'instances'] as const;

export async function startMemoryIncus(): Promise<MemoryIncus> {
  const projects = new Map<string, Obj>([['default', { name: 'default', description: '', config: {} }]]);
  const networks = new Map<string, Obj>();
  const profiles = new Map<string, Obj>([['default/default', { name: 'default', description: '', config: {}, devices: { root: { type: 'disk', path: '/', pool: 'default' } } }]]);
  const instances = new Map<string, Obj & { status: string; project: string }>();
  const holds: { pattern: RegExp; release: Promise<void> }[] = [];
  const failures: { pattern: RegExp; message: string }[] = [];
  const files = new Map<string, string>();
  const opMetadata = new Map<string, unknown>();
  const logs = new Map<string, string>();
  let execAnswer: Parameters<MemoryIncus['onExec']>[0] = () => ({ code: 0 });
  let ops = 0;
  let etag = 0;

  const store = (c: (typeof collections)[number]): Map<string, Obj> => ({ projects, networks, profiles, instances })[c];
  const keyOf = (c: string, project: string, name: string): string => (c === 'profiles' || c === 'instances' ? `${project}/${name}` : name);
  const withProject = (c: string, o: Obj, project: string): Obj => (c === 'profiles' || c === 'instances' ? { ...o, project } : c === 'networks' ? { ...o, managed: true, type: 'bridge' } : o);

  const handle = (req: SeenRequest): Reply => {
    const line = `${req.method} ${req.path}`;
    const failure = failures.findIndex((f) => f.pattern.test(line));
    if (failure >= 0) {
      const [f] = failures.splice(failure, 1);
      return error(500, f?.message ?? 'failed');
    }
    const project = req.query.get('project') ?? 'default';
    const parts = req.path.split('/').filter((s) => s !== '');
    // The server itself: one Incus, not a cluster (what planning asks first).
    if (parts.length === 1 && req.method === 'GET') return sync({ api_extensions: [], api_status: 'stable', api_version: '1.0', auth: 'trusted', public: false, config: {}, environment: { server_version: '6.0.4', server_clustered: false, server_name: 'memory' } });
    if (parts[1] === 'operations') {
      const id = parts[2] ?? '';
      return sync({ ...operation(id, 200), metadata: opMetadata.get(id) ?? {} });
    }
    if (parts[3] === 'logs') {
      const log = logs.get(req.path);
      if (req.method === 'DELETE') logs.delete(req.path);
      return log === undefined ? error(404, 'not found') : req.method === 'DELETE' ? sync({}) : { status: 200, headers: { 'Content-Type': 'application/octet-stream' }, body: log };
    }
    const c = parts[1] as (typeof collections)[number];
    if (!collections.includes(c)) return error(404, 'not found');
    const map = store(c);
    const name = parts[2] === undefined ? undefined : decodeURIComponent(parts[2]);
    if (name === undefined && req.method === 'GET') {
      const all = req.query.get('all-projects') === 'true';
      const list = [...map.entries()].filter(([k]) => all || c === 'projects' || c === 'networks' || k.startsWith(`${project}/`)).map(([k, o]) => withProject(c, o, k.includes('/') ? k.slice(0, k.indexOf('/')) : project));
      return sync(list);
    }
    if (name === undefined && req.method === 'POST') {
      const body = req.body as Obj & { start?: boolean };
      const key = keyOf(c, project, body.name);
      if (map.has(key)) return error(409, `${c} ${body.name} already exists`);
      const obj: Obj = { name: body.name, description: body.description ?? '', config: { ...body.config }, ...(body.devices === undefined ? {} : { devices: body.devices }) };
      if (c === 'instances') {
        instances.set(key, { ...obj, devices: body.devices ?? {}, profiles: body['profiles'], status: body.start === true ? 'Running' : 'Stopped', project, type: body['type'] ?? 'container' });
        return async(`op-${++ops}`);
      }
      map.set(key, obj);
      if (c === 'projects') profiles.set(`${body.name}/default`, { name: 'default', description: 'Default Incus profile', config: {}, devices: {} });
      return sync({}, 201);
    }
    const key = keyOf(c, project, name ?? '');
    const current = map.get(key);
    if (current === undefined) return error(404, `${c.slice(0, -1)} not found`);
    if (parts[3] === 'state' && req.method === 'PUT') {
      const action = (req.body as { action: string }).action;
      (current as unknown as { status: string }).status = action === 'stop' ? 'Stopped' : 'Running';
      return async(`op-${++ops}`);
    }
    if (c === 'instances' && parts[3] === 'exec' && req.method === 'POST') {
      let command = (req.body as { command: string[] }).command;
      if (command[0] === 'timeout') command = command.slice(4); // timeout -k <grace> <seconds> ...
      const answer = execAnswer(name ?? '', command);
      const id = `op-${++ops}`;
      const out = `/1.0/instances/${name ?? ''}/logs/exec-output/${id}.stdout`;
      const err = `/1.0/instances/${name ?? ''}/logs/exec-output/${id}.stderr`;
      logs.set(out, answer.stdout ?? '');
      logs.set(err, answer.stderr ?? '');
      opMetadata.set(id, { return: answer.code, output: { '1': out, '2': err } });
      return async(id);
    }
    if (c === 'instances' && parts[3] === 'files' && req.method === 'POST') {
      files.set(`${project}/${name ?? ''}:${req.query.get('path') ?? ''}`, typeof req.body === 'string' ? req.body : JSON.stringify(req.body));
      return sync({});
    }
    if (parts[3] !== undefined) return error(404, 'not found');
    if (req.method === 'GET') return sync(withProject(c, current, project), 200, { ETag: `"${++etag}"` });
    if (req.method === 'PUT' || req.method === 'PATCH') {
      const body = req.body as Partial<Obj>;
      const next = req.method === 'PUT' ? { ...current, ...body, name: current.name } : { ...current, ...body, config: { ...current.config, ...body.config } };
      map.set(key, next);
      return c === 'instances' ? async(`op-${++ops}`) : sync({});
    }
    if (req.method === 'DELETE') {
      map.delete(key);
      return c === 'instances' ? async(`op-${++ops}`) : sync({});
    }
    return error(400, 'unsupported');
  };

  const fake = await startFakeIncus((req) => {
    const line = `${req.method} ${req.path}`;
    // A create is also matched as `POST <collection>/<name>`: one object's create can be held.
    const created = req.method === 'POST' && typeof (req.body as { name?: unknown } | null)?.name === 'string' ? `${line}/${(req.body as { name: string }).name}` : undefined;
    const held = holds.find((h) => h.pattern.test(line) || (created !== undefined && h.pattern.test(created)));
    if (held !== undefined) return held.release.then(() => handle(req));
    return handle(req);
  });
  return {
    fake,
    socketPath: fake.socketPath,
    projects,
    networks,
    profiles,
    instances: instances,
    writes: () => fake.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`),
    hold(pattern) {
      let release!: () => void;
      const entry = { pattern, release: new Promise<void>((resolve) => (release = resolve)) };
      holds.push(entry);
      return () => {
        holds.splice(holds.indexOf(entry), 1);
        release();
      };
    },
    fail(pattern, message) {
      failures.push({ pattern, message });
    },
    onExec(answer) {
      execAnswer = answer;
    },
    files,
    close: () => fake.close(),
  };
}
